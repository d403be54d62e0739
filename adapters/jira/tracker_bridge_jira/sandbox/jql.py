"""The JQL subset the Jira plugin needs: project, labels, key, updated; ORDER BY updated, key, created.

JQL dates are minute-precise and read in the searching user's time zone (Atlassian's JQL
reference, "Date and time"); epoch milliseconds are exact. Anything else answers 400, so a
plugin that starts relying on more JQL fails loudly against the sandbox.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tracker_bridge_jira.sandbox.models import PROJECT_ID, ApiError, SandboxIssue

if TYPE_CHECKING:
    from collections.abc import Callable

    from tracker_bridge_jira.sandbox.state import SandboxState


_CLAUSE = re.compile(
    r'\s*(project|labels|updated|key)\s*(>=|<=|=|>|<|!=|in)\s*("(?:[^"\\]|\\.)*"|\([^)]*\)|[^\s()]+)\s*',
    re.IGNORECASE,
)


def run_jql(state: SandboxState, jql: str) -> list[SandboxIssue]:
    """The JQL subset the plugin needs: project, labels, key, updated (epoch ms or local minutes)."""
    text = re.split(r"(?i)\border\s+by\b", jql, maxsplit=1)[0]
    order_match = re.search(r"(?i)\border\s+by\s+(updated|key|created)\s*(asc|desc)?\s*$", jql)
    if re.search(r"(?i)\border\s+by\b", jql) and order_match is None:
        raise ApiError(400, [f"Error in the JQL Query: unsupported ORDER BY in '{jql}'."])
    predicates: list[Callable[[SandboxIssue], bool]] = []
    for clause in [c for c in re.split(r"(?i)\s+and\s+", text.strip()) if c.strip()]:
        found = _CLAUSE.fullmatch(clause)
        if found is None:
            raise ApiError(
                400,
                [
                    f"Error in the JQL Query: the clause '{clause.strip()}' is not understood by the sandbox."
                ],
            )
        predicates.append(
            _predicate(state, found.group(1).lower(), found.group(2).lower(), found.group(3))
        )
    issues = [i for i in state.issues.values() if all(p(i) for p in predicates)]
    field_name = order_match.group(1).lower() if order_match else "key"
    descending = bool(order_match and (order_match.group(2) or "").lower() == "desc")
    keyed: dict[str, Callable[[SandboxIssue], Any]] = {
        "updated": lambda i: (i.updated, int(i.issue_id)),
        "created": lambda i: (i.created, int(i.issue_id)),
        "key": lambda i: int(i.issue_id),
    }
    return sorted(issues, key=keyed[field_name], reverse=descending if order_match else True)


def _unquote(value: str) -> str:
    if value.startswith('"') and value.endswith('"'):
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _predicate(state: SandboxState, name: str, op: str, raw: str) -> Callable[[SandboxIssue], bool]:
    if name == "project":
        value = _unquote(raw)
        if value not in ("SEC", PROJECT_ID) or op != "=":
            raise ApiError(400, [f"The value '{value}' does not exist for the field 'project'."])
        return lambda i: True  # noqa: ARG005 - every JQL clause compiles to a predicate on an issue
    if name == "key":
        value = _unquote(raw)
        return lambda i: (i.key == value) == (op == "=")
    if name == "labels":
        if op == "in":
            wanted = {_unquote(v.strip()) for v in raw.strip("()").split(",")}
            return lambda i: bool(wanted & set(i.labels))
        value = _unquote(raw)
        if op == "=":
            return lambda i: value in i.labels
        if op == "!=":
            return lambda i: value not in i.labels
    if name == "updated" and op in (">=", ">", "<=", "<"):
        bound = _moment(state, raw)
        compare: dict[str, Callable[[datetime], bool]] = {
            ">=": lambda u: u >= bound,
            ">": lambda u: u > bound,
            "<=": lambda u: u <= bound,
            "<": lambda u: u < bound,
        }
        return lambda i: compare[op](i.updated)
    raise ApiError(
        400, [f"Error in the JQL Query: operator '{op}' is not supported for field '{name}'."]
    )


def _moment(state: SandboxState, raw: str) -> datetime:
    """A JQL date: epoch milliseconds, or "yyyy/MM/dd HH:mm" in the searching user's zone."""
    value = _unquote(raw)
    if re.fullmatch(r"-?\d+", value):
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    for pattern in ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d"):
        try:
            local = datetime.strptime(value, pattern).replace(
                tzinfo=ZoneInfo(state.bridge.time_zone)
            )
        except ValueError:
            continue
        return local
    raise ApiError(
        400,
        [
            f"Date value '{value}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        ],
    )
