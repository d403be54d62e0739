"""Start and stop the Jira sandbox, and the security team's hands on it for tests."""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tracker_bridge.testing.sandbox import Fault, SandboxServer, ServedSandbox
from tracker_bridge_jira.markup import adf_to_text
from tracker_bridge_jira.sandbox.models import PRIORITIES, STATUSES, TEAM_TOKEN, SandboxIssue
from tracker_bridge_jira.sandbox.server import JiraApp
from tracker_bridge_jira.sandbox.state import SandboxState


@dataclass(frozen=True)
class IssueView:
    """An issue as stored, with rich text flattened to what a reader sees."""

    key: str
    summary: str
    description: str
    labels: frozenset[str]
    duedate: date | None
    priority: str | None
    status: str
    status_category: str
    security_level: str | None
    comments: tuple[str, ...]
    comment_visibility: tuple[dict[str, str] | None, ...]
    updated: datetime


class SandboxTeam:
    """The security team and the test operator: edit issues, inspect, inject faults, move time."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    # -- the team's edits, through the REST API (v2) with alice's own token, as a person or
    # their script would: Jira records alice, not the bridge, as the author

    def transition(self, key: str, status: str) -> None:
        """Move an issue to a workflow status (To Do, In Progress, Done)."""
        if status not in STATUSES:
            msg = f"unknown sandbox status {status!r}; use one of {sorted(STATUSES)}"
            raise ValueError(msg)
        offered = self._api("GET", f"issue/{key}/transitions")["transitions"]
        wanted = next(t["id"] for t in offered if t["name"] == status)
        self._api("POST", f"issue/{key}/transitions", {"transition": {"id": wanted}})

    def relabel(
        self,
        key: str,
        add: set[str] | frozenset[str] = frozenset(),
        remove: set[str] | frozenset[str] = frozenset(),
    ) -> None:
        """Add and remove labels."""
        operations = [{"remove": x} for x in sorted(remove)] + [{"add": x} for x in sorted(add)]
        self._api("PUT", f"issue/{key}", {"update": {"labels": operations}})

    def set_due_date(self, key: str, due: date | None) -> None:
        """Set or clear the due date."""
        self._api("PUT", f"issue/{key}", {"fields": {"duedate": due.isoformat() if due else None}})

    def set_priority(self, key: str, priority: str) -> None:
        """Set the priority by name."""
        if priority not in PRIORITIES:
            msg = f"unknown sandbox priority {priority!r}"
            raise ValueError(msg)
        self._api("PUT", f"issue/{key}", {"fields": {"priority": {"name": priority}}})

    def comment(self, key: str, body: str, *, visibility: dict[str, str] | None = None) -> None:
        """A team member comments (wiki text through REST v2; shown as ADF on Cloud v3)."""
        payload: dict[str, Any] = {"body": body}
        if visibility is not None:
            payload["visibility"] = visibility
        self._api("POST", f"issue/{key}/comment", payload)

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One REST v2 call as alice, with her own token."""
        state = self._state
        member = state.team_member
        if state.flavor == "cloud":
            pair = f"{member.email}:{state.team_token}".encode()
            authorization = "Basic " + base64.b64encode(pair).decode("ascii")
        else:
            authorization = f"Bearer {state.team_token}"
        request = urllib.request.Request(  # noqa: S310 - our own loopback sandbox
            f"{state.base_url}/rest/api/2/{path}",
            data=None if body is None else json.dumps(body).encode("utf-8"),
            method=method,
            headers={"Authorization": authorization, "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")

    # -- inspection

    def issue(self, key: str) -> IssueView:
        """One issue as stored."""
        with self._state.lock:
            issue = self._issue(key)
            return IssueView(
                key=issue.key,
                summary=issue.summary,
                description=adf_to_text(issue.description),
                labels=frozenset(issue.labels),
                duedate=date.fromisoformat(issue.duedate) if issue.duedate else None,
                priority=issue.priority,
                status=issue.status,
                status_category=STATUSES[issue.status][2],
                security_level=issue.security,
                comments=tuple(adf_to_text(c.body) for c in issue.comments),
                comment_visibility=tuple(c.visibility for c in issue.comments),
                updated=issue.updated,
            )

    def issue_keys(self) -> list[str]:
        """Every issue key, oldest first."""
        with self._state.lock:
            return [
                i.key for i in sorted(self._state.issues.values(), key=lambda i: int(i.issue_id))
            ]

    def raw_texts(self) -> list[Any]:
        """Every stored summary, description and comment body, as stored (wiki or ADF)."""
        with self._state.lock:
            texts: list[Any] = []
            for issue in self._state.issues.values():
                texts.extend([issue.summary, issue.description, *(c.body for c in issue.comments)])
            return texts

    @property
    def notifications(self) -> list[str]:
        """Mentions Jira notified while rendering stored text."""
        return list(self._state.notifications)

    @property
    def fetches(self) -> list[str]:
        """Images, media and cards Jira fetched while rendering (recorded, never fetched)."""
        return list(self._state.fetches)

    def side_effects(self) -> list[str]:
        """Every notification and fetch, in order of kind."""
        return self.notifications + self.fetches

    def request_count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests were answered, optionally only those matching a method and path regex."""
        return self._state.request_log.count(method, path_pattern=path)

    # -- faults and settings

    def inject(
        self,
        status: int,
        *,
        method: str | None = None,
        path: str | None = None,
        times: int = 1,
        retry_after: int | None = None,
        delay: float = 0.0,
        after: tuple[str, str] | None = None,
        applied: bool = False,
    ) -> None:
        """Make the next ``times`` matching requests answer ``status`` (0: answer normally after ``delay``).

        Args:
            status: HTTP status to answer (429, 500, 503 ...), or 0 for a slow but normal answer.
            method: Only requests with this method.
            path: Only requests whose path matches this regex.
            times: How many requests to affect.
            retry_after: Integer seconds for the ``Retry-After`` header.
            delay: Seconds to stall before answering (a timeout for a short-timeout client).
            after: (method, route regex): stay dormant until such a request has succeeded.
            applied: do the request first, then stall or fail, so the change is made but the
                client never hears of it (a create that timed out but succeeded).
        """
        fault = Fault(
            status=status,
            method=method,
            path=re.compile(path) if path else None,
            remaining=times,
            retry_after=retry_after,
            delay=delay,
            arm_on=(after[0], re.compile(after[1])) if after else None,
            applied=applied,
        )
        self._state.faults.add(fault)

    def lag_search(self, seconds: float) -> None:
        """Cloud search/jql leaves out issues created or changed in the last ``seconds``.

        Issues named in the request's ``reconcileIssues`` are shown anyway, as Atlassian
        documents for reading one's own writes. 0 ends the lag.
        """
        with self._state.lock:
            self._state.search_lag = timedelta(seconds=seconds)

    def refuse_edits(
        self, key: str, *, status: int = 400, field: str = "labels", message: str = "invalid"
    ) -> None:
        """API edits of issue ``key`` answer ``status`` with ``{"errors": {field: message}}``."""
        with self._state.lock:
            self._state.refused_edits[key] = (status, field, message)

    def drop_security(self, drop: bool = True) -> None:
        """Silently ignore the security level on create (a token without Set Issue Security)."""
        self._state.drop_security = drop

    def heal(self) -> None:
        """Remove every injected fault and stop dropping the security level."""
        with self._state.lock:
            self._state.faults.clear()
            self._state.drop_security = False
            self._state.search_lag = timedelta(0)
            self._state.refused_edits.clear()

    def set_time_zone(self, zone: str) -> None:
        """Change the bridge account's time zone (JQL dates are read in it)."""
        self._state.bridge.time_zone = zone

    # -- time

    def advance_clock(self, **delta: float) -> None:
        """Move the sandbox clock forward by ``timedelta(**delta)``."""
        self._state.clock.advance(timedelta(**delta))

    def now(self) -> datetime:
        """The sandbox's current time (each call is at least a millisecond later)."""
        return self._state.clock.now()

    def _issue(self, key: str) -> SandboxIssue:
        try:
            return self._state.issues[key]
        except KeyError:
            msg = f"no sandbox issue {key}"
            raise KeyError(msg) from None


class JiraSandbox(ServedSandbox):
    """A running sandbox: ``url`` to point clients at, ``team`` to act and inspect, ``stop``."""

    def __init__(self, state: SandboxState, *, port: int = 0) -> None:
        self._server = SandboxServer(
            JiraApp(state), host="127.0.0.1", port=port, name=f"jira-sandbox-{state.flavor}"
        )
        self.url = self._server.url
        state.base_url = self.url
        self.team = SandboxTeam(state)
        self.flavor = state.flavor
        self.token = state.token
        self.email = state.bridge.email


def start_sandbox(
    port: int = 0,
    flavor: str = "cloud",
    token: str = "sandbox-token",  # noqa: S107 - the sandbox's documented demo token
    state_file: str | Path | None = None,
    log_file: str | Path | None = None,
    security_field: bool = True,
    team_token: str = TEAM_TOKEN,
) -> JiraSandbox:
    """Start a Jira sandbox on 127.0.0.1 in a background thread.

    Args:
        port: TCP port; 0 picks a free one.
        flavor: ``cloud`` (deploymentType Cloud, REST v2 and v3) or ``datacenter`` (Server, v2).
        token: The API token (Cloud, basic auth with the user's email) or personal access
            token (Data Center, bearer) the sandbox accepts.
        state_file: JSON file to keep issues in across restarts.
        log_file: File to append one JSON line per request to (method, path, status, ms).
        security_field: False takes ``security`` off the create screen.
        team_token: The team member's (alice@example.org) token; the team's hands use it.

    Returns:
        The running sandbox.

    Raises:
        ValueError: ``flavor`` is neither ``cloud`` nor ``datacenter``.
        OSError: The port cannot be bound.
    """
    state = SandboxState(
        flavor=flavor,
        token=token,
        security_field=security_field,
        state_file=Path(state_file) if state_file else None,
        log_file=Path(log_file) if log_file else None,
    )
    state.team_token = team_token
    return JiraSandbox(state, port=port).start()
