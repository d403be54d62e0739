"""A Jira REST API on loopback (Cloud v2/v3 or Data Center v2) for tests and the demo.

Shapes follow Atlassian's Jira Cloud platform REST API v3 OpenAPI description (December 2025,
../shared/specs) and the Jira Data Center 9.x REST API v2 reference: serverInfo, myself, field,
project, createmeta (modern per-issue-type form and legacy ``expand=projects.issuetypes.fields``),
project security levels, issues, comments with visibility, transitions, changelog, and search
(Cloud ``search/jql`` with ``nextPageToken``; the old Cloud ``search`` answers 410 as it has
since 2025; Data Center ``search`` with ``startAt``/``maxResults``/``total``).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from tracker_bridge_jira.sandbox.render import adf_side_effects, wiki_side_effects

PROJECT_ID = "10000"
ISSUE_TYPE_ID = "10004"
SECURITY_LEVELS = (
    {"id": "10100", "name": "Security team", "description": "Only the security team"},
    {"id": "10101", "name": "Developers", "description": "Security team and developers"},
)
STATUSES = {
    "To Do": ("10000", 2, "new", "blue-gray", "To Do"),
    "In Progress": ("3", 4, "indeterminate", "yellow", "In Progress"),
    "Done": ("10001", 3, "done", "green", "Done"),
}
TRANSITIONS = (("11", "To Do"), ("21", "In Progress"), ("31", "Done"))
PRIORITIES = ("Highest", "High", "Medium", "Low", "Lowest")
CREATE_FIELDS = ("summary", "description", "labels", "duedate", "priority", "security")
FIELD_SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "summary": ("Summary", {"type": "string", "system": "summary"}),
    "description": ("Description", {"type": "string", "system": "description"}),
    "labels": ("Labels", {"type": "array", "items": "string", "system": "labels"}),
    "duedate": ("Due date", {"type": "date", "system": "duedate"}),
    "priority": ("Priority", {"type": "priority", "system": "priority"}),
    "security": ("Security Level", {"type": "securitylevel", "system": "security"}),
    "issuetype": ("Issue Type", {"type": "issuetype", "system": "issuetype"}),
    "project": ("Project", {"type": "project", "system": "project"}),
    "status": ("Status", {"type": "status", "system": "status"}),
    "comment": ("Comment", {"type": "comments-page", "system": "comment"}),
    "created": ("Created", {"type": "datetime", "system": "created"}),
    "updated": ("Updated", {"type": "datetime", "system": "updated"}),
}
GONE_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)


# The team member's API token; the bridge's is the sandbox's ``token``.
TEAM_TOKEN = "team-token"


class SandboxClock:
    """The sandbox's "now": real time plus an offset tests can move, strictly increasing."""

    def __init__(self) -> None:
        self.offset = timedelta(0)
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The next moment, at millisecond precision like Jira's timestamps."""
        with self._lock:
            moment = datetime.now(UTC) + self.offset
            moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
            if moment <= self._last:
                moment = self._last + timedelta(milliseconds=1)
            self._last = moment
            return moment

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        with self._lock:
            self.offset += delta


@dataclass
class SandboxUser:
    """A Jira user: Cloud knows it by accountId, Data Center by name/key."""

    account_id: str
    name: str
    email: str
    display_name: str
    time_zone: str


@dataclass
class SandboxComment:
    """A comment and who may see it."""

    comment_id: str
    author: SandboxUser
    body: Any
    created: datetime
    visibility: dict[str, str] | None = None


@dataclass
class SandboxIssue:
    """An issue as the sandbox stores it."""

    issue_id: str
    key: str
    summary: str
    description: Any
    labels: list[str]
    duedate: str | None
    priority: str | None
    status: str
    security: str | None
    created: datetime
    updated: datetime
    reporter: SandboxUser
    comments: list[SandboxComment] = field(default_factory=list)
    histories: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Fault:
    """An injected failure: the next ``times`` matching requests answer ``status`` (or stall)."""

    status: int
    method: str | None
    path: re.Pattern[str] | None
    times: int
    retry_after: int | None = None
    delay: float = 0.0
    armed: bool = True
    arm_on: tuple[str, re.Pattern[str]] | None = None
    applied: bool = False  # do the request, then stall or fail: the answer is lost

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to a request."""
        return (
            self.armed
            and self.times > 0
            and (self.method is None or self.method == method)
            and (self.path is None or bool(self.path.search(path)))
        )


class ApiError(Exception):
    """An error answer in Jira's shape."""

    def __init__(
        self,
        status: int,
        messages: list[str] | None = None,
        errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = {"errorMessages": messages or [], "errors": errors or {}}
        self.headers = headers or {}


class SandboxState:
    """Everything the sandbox holds, behind one lock."""

    def __init__(
        self,
        flavor: str,
        token: str,
        security_field: bool,
        state_file: Path | None,
        log_file: Path | None,
    ) -> None:
        if flavor not in ("cloud", "datacenter"):
            raise ValueError(f"unknown Jira sandbox flavor {flavor!r}; use cloud or datacenter")
        self.flavor = flavor
        self.token = token
        self.security_field = security_field
        self.state_file = state_file
        self.log_file = log_file
        self.lock = threading.RLock()
        self.clock = SandboxClock()
        self.base_url = ""
        # The bridge account lives west of UTC on purpose: JQL minute dates are read in its zone, so
        # a bridge that wrote UTC digits there would ask for a later bound and miss changes.
        self.bridge = SandboxUser(
            "712020:5a1d0c3e-bridge",
            "tracker-bridge",
            "sandbox@example.org",
            "Tracker Bridge",
            "America/Los_Angeles",
        )
        self.team_member = SandboxUser(
            "712020:9b7e4f21-alice",
            "alice",
            "alice@example.org",
            "Alice Security",
            "America/New_York",
        )
        # The team member's own API token (Cloud: with alice's email; Data Center: bearer).
        self.team_token = TEAM_TOKEN
        # The account of the request being answered (set under the lock by the handler).
        self.caller = self.bridge
        self.issues: dict[str, SandboxIssue] = {}
        self.next_issue = 10001
        self.next_comment = 20001
        self.next_history = 30001
        self.notifications: list[str] = []
        self.fetches: list[str] = []
        self.requests: list[tuple[str, str]] = []
        self.faults: list[Fault] = []
        self.drop_security = False
        # Cloud search/jql is eventually consistent: an issue created or changed within this
        # long is missing from search results unless its id is in ``reconcileIssues``.
        self.search_lag = timedelta(0)
        # Issue key -> (status, field, message): edits of that issue are refused, as Jira
        # answers 400 for a field the project requires or a label it will not take.
        self.refused_edits: dict[str, tuple[int, str, str]] = {}
        self._load()

    # -- persistence

    def _load(self) -> None:
        if self.state_file is None or not self.state_file.exists():
            return
        saved = json.loads(self.state_file.read_text(encoding="utf-8"))
        users = {u.name: u for u in (self.bridge, self.team_member)}
        for raw in saved.get("issues", []):
            comments = [
                SandboxComment(
                    c["id"],
                    users.get(c["author"], self.team_member),
                    c["body"],
                    datetime.fromisoformat(c["created"]),
                    c.get("visibility"),
                )
                for c in raw.pop("comments")
            ]
            raw["created"] = datetime.fromisoformat(raw["created"])
            raw["updated"] = datetime.fromisoformat(raw["updated"])
            raw["reporter"] = users.get(raw["reporter"], self.bridge)
            issue = SandboxIssue(**raw, comments=comments)
            self.issues[issue.key] = issue
        self.next_issue = saved.get("next_issue", self.next_issue)
        self.next_comment = saved.get("next_comment", self.next_comment)
        self.next_history = saved.get("next_history", self.next_history)

    def save(self) -> None:
        """Write the issues to the state file, if there is one."""
        if self.state_file is None:
            return
        issues = []
        for issue in self.issues.values():
            issues.append(
                {
                    "issue_id": issue.issue_id,
                    "key": issue.key,
                    "summary": issue.summary,
                    "description": issue.description,
                    "labels": issue.labels,
                    "duedate": issue.duedate,
                    "priority": issue.priority,
                    "status": issue.status,
                    "security": issue.security,
                    "created": issue.created.isoformat(),
                    "updated": issue.updated.isoformat(),
                    "reporter": issue.reporter.name,
                    "histories": issue.histories,
                    "comments": [
                        {
                            "id": c.comment_id,
                            "author": c.author.name,
                            "body": c.body,
                            "created": c.created.isoformat(),
                            "visibility": c.visibility,
                        }
                        for c in issue.comments
                    ],
                }
            )
        payload = {
            "issues": issues,
            "next_issue": self.next_issue,
            "next_comment": self.next_comment,
            "next_history": self.next_history,
        }
        self.state_file.write_text(json.dumps(payload, indent=1), encoding="utf-8")

    def log(self, entry: dict[str, Any]) -> None:
        """Append one JSON line per request to the log file, if there is one."""
        if self.log_file is None:
            return
        with self.log_file.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    # -- rendering side effects

    def render(self, text: Any) -> None:
        """Do what Jira does when it renders stored text: notify mentions, fetch images."""
        effects = adf_side_effects(text) if isinstance(text, dict) else wiki_side_effects(text)
        for effect in effects:
            if effect.startswith("mention:"):
                self.notifications.append(effect)
            else:
                self.fetches.append(effect)

    # -- representations

    def time(self, moment: datetime, user: SandboxUser | None = None) -> str:
        """Jira's timestamp form, in the user's time zone: 2026-11-02T01:00:00.000-0800."""
        local = moment.astimezone(ZoneInfo((user or self.bridge).time_zone))
        return (
            local.strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{local.microsecond // 1000:03d}"
            + (local.strftime("%z"))
        )

    def user_json(self, user: SandboxUser, api: str) -> dict[str, Any]:
        """A user as Cloud (accountId) or Data Center (name, key) shows it."""
        avatars = {
            size: f"{self.base_url}/avatar/{size}" for size in ("16x16", "24x24", "32x32", "48x48")
        }
        common = {
            "emailAddress": user.email,
            "displayName": user.display_name,
            "active": True,
            "timeZone": user.time_zone,
            "avatarUrls": avatars,
        }
        if self.flavor == "cloud":
            return {
                "self": f"{self.base_url}/rest/api/{api}/user?accountId={user.account_id}",
                "accountId": user.account_id,
                "accountType": "atlassian",
                **common,
            }
        return {
            "self": f"{self.base_url}/rest/api/2/user?username={user.name}",
            "key": user.name,
            "name": user.name,
            **common,
        }

    def status_json(self, name: str, api: str) -> dict[str, Any]:
        """A status with its category."""
        status_id, category_id, category_key, colour, category_name = STATUSES[name]
        return {
            "self": f"{self.base_url}/rest/api/{api}/status/{status_id}",
            "description": "",
            "iconUrl": f"{self.base_url}/images/icons/statuses/generic.png",
            "name": name,
            "id": status_id,
            "statusCategory": {
                "self": f"{self.base_url}/rest/api/{api}/statuscategory/{category_id}",
                "id": category_id,
                "key": category_key,
                "colorName": colour,
                "name": category_name,
            },
        }

    def level_json(self, level_id: str, api: str) -> dict[str, Any]:
        """A security level."""
        level = next(x for x in SECURITY_LEVELS if x["id"] == level_id)
        return {"self": f"{self.base_url}/rest/api/{api}/securitylevel/{level_id}", **level}

    def issuetype_json(self, api: str) -> dict[str, Any]:
        """The Bug issue type."""
        return {
            "self": f"{self.base_url}/rest/api/{api}/issuetype/{ISSUE_TYPE_ID}",
            "id": ISSUE_TYPE_ID,
            "description": "A problem which impairs or prevents the functions of the product.",
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/bug.svg",
            "name": "Bug",
            "subtask": False,
        }

    def project_json(self, api: str) -> dict[str, Any]:
        """Project SEC with its issue types."""
        return {
            "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
            "self": f"{self.base_url}/rest/api/{api}/project/{PROJECT_ID}",
            "id": PROJECT_ID,
            "key": "SEC",
            "name": "Security",
            "description": "Coordinated vulnerability disclosure",
            "projectTypeKey": "software",
            "issueTypes": [self.issuetype_json(api)],
            "simplified": False,
            "style": "classic",
            "isPrivate": False,
            "properties": {},
        }

    def text_for(self, stored: Any, api: str) -> Any:
        """Stored rich text as the API version shows it: ADF in v3, wiki markup in v2."""
        if stored is None:
            return None
        if api == "3":
            if isinstance(stored, dict):
                return stored
            return {
                "type": "doc",
                "version": 1,
                "content": [
                    {
                        "type": "paragraph",
                        "content": [{"type": "text", "text": line}] if line else [],
                    }
                    for line in str(stored).split("\n")
                ],
            }
        if isinstance(stored, dict):
            from tracker_bridge_jira.markup import adf_to_text

            return adf_to_text(stored)
        return stored

    def comment_json(
        self, issue: SandboxIssue, comment: SandboxComment, api: str
    ) -> dict[str, Any]:
        """A comment with its author and visibility."""
        body: dict[str, Any] = {
            "self": f"{self.base_url}/rest/api/{api}/issue/{issue.issue_id}/comment/{comment.comment_id}",
            "id": comment.comment_id,
            "author": self.user_json(comment.author, api),
            "body": self.text_for(comment.body, api),
            "updateAuthor": self.user_json(comment.author, api),
            "created": self.time(comment.created),
            "updated": self.time(comment.created),
        }
        if comment.visibility:
            body["visibility"] = dict(comment.visibility)
        if self.flavor == "cloud":
            body["jsdPublic"] = True
        return body

    def issue_json(
        self, issue: SandboxIssue, api: str, wanted: set[str] | None, expand: set[str]
    ) -> dict[str, Any]:
        """An issue, its fields filtered like Jira's ``fields`` parameter, changelog on request."""
        every: dict[str, Any] = {
            "summary": issue.summary,
            "description": self.text_for(issue.description, api),
            "labels": list(issue.labels),
            "duedate": issue.duedate,
            "priority": (
                {
                    "self": f"{self.base_url}/rest/api/{api}/priority/{PRIORITIES.index(issue.priority) + 1}",
                    "id": str(PRIORITIES.index(issue.priority) + 1),
                    "name": issue.priority,
                }
                if issue.priority
                else None
            ),
            "status": self.status_json(issue.status, api),
            "security": self.level_json(issue.security, api) if issue.security else None,
            "issuetype": self.issuetype_json(api),
            "project": {
                "self": f"{self.base_url}/rest/api/{api}/project/{PROJECT_ID}",
                "id": PROJECT_ID,
                "key": "SEC",
                "name": "Security",
            },
            "reporter": self.user_json(issue.reporter, api),
            "created": self.time(issue.created),
            "updated": self.time(issue.updated),
            "comment": {
                "comments": [self.comment_json(issue, c, api) for c in issue.comments],
                "self": f"{self.base_url}/rest/api/{api}/issue/{issue.issue_id}/comment",
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            },
        }
        if wanted and "*all" not in wanted and "*navigable" not in wanted:
            every = {k: v for k, v in every.items() if k in wanted}
        body: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.issue_id,
            "self": f"{self.base_url}/rest/api/{api}/issue/{issue.issue_id}",
            "key": issue.key,
            "fields": every,
        }
        if "changelog" in expand:
            histories = [
                {
                    **h,
                    "author": self.user_json(
                        self.team_member if h["author"] == "alice" else self.bridge, api
                    ),
                    "created": self.time(datetime.fromisoformat(h["created"])),
                }
                for h in issue.histories
            ]
            body["changelog"] = {
                "startAt": 0,
                "maxResults": len(histories),
                "total": len(histories),
                "histories": histories,
            }
        return body

    def touch(self, issue: SandboxIssue) -> datetime:
        """Move an issue's ``updated`` to now."""
        issue.updated = self.clock.now()
        return issue.updated

    def add_history(
        self, issue: SandboxIssue, author: SandboxUser, items: list[dict[str, Any]]
    ) -> None:
        """Record a changelog entry."""
        issue.histories.append(
            {
                "id": str(self.next_history),
                "author": author.name,
                "created": issue.updated.isoformat(),
                "items": items,
            }
        )
        self.next_history += 1


_HandlerFn = Callable[..., tuple[int, Any]]


class JiraHandler(BaseHTTPRequestHandler):
    """Routes Jira REST requests to the sandbox state."""

    server: JiraHTTPServer
    protocol_version = "HTTP/1.1"
    # Keep-alive with separate header and body writes meets delayed ACKs: 40 ms per request.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the JSON log file is the record."""

    def do_GET(self) -> None:
        """Serve a GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Serve a POST."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Serve a PUT."""
        self._serve("PUT")

    def do_DELETE(self) -> None:
        """Serve a DELETE."""
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        state = self.server.state
        parts = urlsplit(self.path)
        path = parts.path
        query = {k: v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers: dict[str, str] = {}
        started = time.monotonic()
        try:
            status, body = self._answer(method, path, query, raw, headers)
        except ApiError as err:
            status, body = err.status, err.body
            headers.update(err.headers)
        except Exception as err:  # noqa: BLE001 - a sandbox bug must answer 500, not hang
            status, body = (
                500,
                {"errorMessages": [f"sandbox error: {type(err).__name__}"], "errors": {}},
            )
        data = b"" if body is None else json.dumps(body).encode("utf-8")
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)
        state.log(
            {
                "method": method,
                "path": path,
                "status": status,
                "ms": round((time.monotonic() - started) * 1000, 1),
            }
        )

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        raw: bytes,
        headers: dict[str, str],
    ) -> tuple[int, Any]:
        state = self.server.state
        try:
            caller: SandboxUser | None = self._authenticate()
        except ApiError:
            caller = None
        with state.lock:
            state.requests.append((method, path))
            # Injected faults play Jira failing the bridge; the team's hands stay unaffected.
            fault = (
                None
                if caller is state.team_member
                else next((f for f in state.faults if f.matches(method, path)), None)
            )
            if fault is not None:
                fault.times -= 1
        if fault is not None and not fault.applied:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                extra = (
                    {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                )
                message = "Rate limit exceeded." if fault.status == 429 else "Internal server error"
                raise ApiError(fault.status, [message], headers=extra)
        caller = self._authenticate()
        match = re.fullmatch(r"/rest/api/(2|3|latest)(/.*)", path)
        if match is None:
            raise ApiError(404, ["Not found"])
        api, route = match.group(1), match.group(2)
        if api == "latest":
            api = "2"
        if api == "3" and state.flavor == "datacenter":
            raise ApiError(404, ["REST API version 3 is not available on Jira Data Center"])
        body = json.loads(raw) if raw else None
        with state.lock:
            state.caller = caller
            for pattern, verb, handler in ROUTES:
                found = re.fullmatch(pattern, route)
                if found and verb == method:
                    status, answer = handler(state, api, query, body, *found.groups())
                    if method != "GET":
                        state.save()
                    self._after(method, route, status)
                    break
            else:
                raise ApiError(404, [f"No resource at {method} {route}"])
        if fault is not None and fault.applied:
            # Done, but the client never hears of it: a stall past its timeout, or an error.
            if fault.delay:
                time.sleep(fault.delay)
            raise ApiError(fault.status or 504, ["Gateway timeout"])
        return status, answer

    def _after(self, method: str, route: str, status: int) -> None:
        state = self.server.state
        if status >= 300:
            return
        for fault in state.faults:
            if fault.arm_on is not None and not fault.armed:
                verb, pattern = fault.arm_on
                if verb == method and pattern.search(route):
                    fault.armed = True

    def _authenticate(self) -> SandboxUser:
        """The account whose token the request carries: the bridge's or a team member's."""
        state = self.server.state
        accounts = ((state.token, state.bridge), (state.team_token, state.team_member))
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") and state.flavor == "datacenter":
            for token, account in accounts:
                if header[len("Bearer ") :] == token:
                    return account
        elif header.startswith("Basic "):
            try:
                user, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except ValueError:
                user, secret = "", ""
            for token, account in accounts:
                if secret == token and user in (account.email, account.name):
                    return account
        raise ApiError(
            401, ["You are not authenticated. Authentication required to perform this operation."]
        )


class JiraHTTPServer(ThreadingHTTPServer):
    """The HTTP server carrying the sandbox state."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: SandboxState) -> None:
        super().__init__(address, JiraHandler)
        self.state = state

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet when a client hangs up first (a timeout test); report anything else."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


# ---------------------------------------------------------------------------- routes


def _params(query: dict[str, list[str]], name: str) -> list[str]:
    values: list[str] = []
    for value in query.get(name, []):
        values.extend(v for v in value.split(",") if v)
    return values


def _one(query: dict[str, list[str]], name: str, default: str | None = None) -> str | None:
    values = query.get(name)
    return values[0] if values else default


def server_info(state: SandboxState, api: str, query: Any, body: Any) -> tuple[int, Any]:
    """GET serverInfo."""
    now = state.clock.now()
    if state.flavor == "cloud":
        return 200, {
            "baseUrl": state.base_url,
            "displayUrl": state.base_url,
            "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0],
            "deploymentType": "Cloud",
            "buildNumber": 100296,
            "buildDate": "2025-12-01T00:00:00.000+0000",
            "serverTime": state.time(now),
            "scmInfo": "57a0ca5b4a0bb0ac5f3fee4764acb1c14e4d7e71",
            "serverTitle": "Jira",
            "serverTimeZone": "Etc/UTC",
        }
    return 200, {
        "baseUrl": state.base_url,
        "version": "9.12.15",
        "versionNumbers": [9, 12, 15],
        "deploymentType": "Server",
        "buildNumber": 9120015,
        "buildDate": "2024-10-01T00:00:00.000+0000",
        "serverTime": state.time(now),
        "scmInfo": "sandbox",
        "serverTitle": "Jira",
    }


def myself(state: SandboxState, api: str, query: Any, body: Any) -> tuple[int, Any]:
    """GET myself: the calling token's account, with its time zone."""
    return 200, {**state.user_json(state.caller, api), "locale": "en_US"}


def fields(state: SandboxState, api: str, query: Any, body: Any) -> tuple[int, Any]:
    """GET field."""
    return 200, [
        {
            "id": fid,
            "key": fid,
            "name": name,
            "custom": False,
            "orderable": fid not in ("status", "created", "updated"),
            "navigable": True,
            "searchable": True,
            "clauseNames": [fid],
            "schema": schema,
        }
        for fid, (name, schema) in FIELD_SCHEMAS.items()
    ]


def project(state: SandboxState, api: str, query: Any, body: Any, key: str) -> tuple[int, Any]:
    """GET project/{key or id}."""
    if key not in ("SEC", PROJECT_ID):
        raise ApiError(404, [f"No project could be found with key '{key}'."])
    return 200, state.project_json(api)


def _field_meta(state: SandboxState, api: str, fid: str) -> dict[str, Any]:
    name, schema = FIELD_SCHEMAS[fid]
    meta: dict[str, Any] = {
        "required": fid == "summary",
        "schema": schema,
        "name": name,
        "fieldId": fid,
        "hasDefaultValue": False,
        "operations": ["set"],
    }
    if state.flavor == "cloud":
        meta["key"] = fid
    if fid == "labels":
        meta["operations"] = ["add", "set", "remove"]
    if fid == "security":
        meta["allowedValues"] = [state.level_json(x["id"], api) for x in SECURITY_LEVELS]
    if fid == "priority":
        meta["allowedValues"] = [
            {"self": f"{state.base_url}/rest/api/{api}/priority/{n}", "id": str(n), "name": p}
            for n, p in enumerate(PRIORITIES, start=1)
        ]
    return meta


def _screen(state: SandboxState) -> list[str]:
    return [f for f in CREATE_FIELDS if f != "security" or state.security_field]


def createmeta_issuetypes(
    state: SandboxState, api: str, query: Any, body: Any, key: str
) -> tuple[int, Any]:
    """GET issue/createmeta/{project}/issuetypes: Cloud says issueTypes, Data Center values."""
    if key not in ("SEC", PROJECT_ID):
        raise ApiError(400, ["The project is not found or you do not have permission to view it."])
    types = [state.issuetype_json(api)]
    page = {"maxResults": 50, "startAt": 0, "total": 1}
    if state.flavor == "cloud":
        return 200, {**page, "issueTypes": types}
    return 200, {**page, "isLast": True, "values": types}


def createmeta_fields(
    state: SandboxState, api: str, query: Any, body: Any, key: str, type_id: str
) -> tuple[int, Any]:
    """GET issue/createmeta/{project}/issuetypes/{id}: the fields on the create screen."""
    if key not in ("SEC", PROJECT_ID) or type_id != ISSUE_TYPE_ID:
        raise ApiError(
            400, ["The issue type is not found or you do not have permission to view it."]
        )
    metas = [_field_meta(state, api, f) for f in _screen(state)]
    page = {"maxResults": 50, "startAt": 0, "total": len(metas)}
    if state.flavor == "cloud":
        return 200, {**page, "fields": metas}
    return 200, {**page, "isLast": True, "values": metas}


def createmeta_legacy(
    state: SandboxState, api: str, query: dict[str, list[str]], body: Any
) -> tuple[int, Any]:
    """GET issue/createmeta?expand=projects.issuetypes.fields (deprecated, still served)."""
    if state.flavor == "datacenter":
        raise ApiError(
            404,
            [
                "The createmeta resource was removed in Jira 9.0; use issue/createmeta/{project}/issuetypes"
            ],
        )
    issuetype = state.issuetype_json(api)
    if "projects.issuetypes.fields" in (_one(query, "expand") or ""):
        issuetype["fields"] = {f: _field_meta(state, api, f) for f in _screen(state)}
    proj = {k: v for k, v in state.project_json(api).items() if k in ("self", "id", "key", "name")}
    return 200, {"expand": "projects", "projects": [{**proj, "issuetypes": [issuetype]}]}


def security_levels(
    state: SandboxState, api: str, query: Any, body: Any, key: str
) -> tuple[int, Any]:
    """GET project/{key}/securitylevel: the levels the caller may set."""
    if key not in ("SEC", PROJECT_ID):
        raise ApiError(404, [f"No project could be found with key '{key}'."])
    return 200, {"levels": [state.level_json(x["id"], api) for x in SECURITY_LEVELS]}


def _check_text(api: str, name: str, value: Any) -> None:
    if value is None:
        return
    if api == "3" and not (isinstance(value, dict) and value.get("type") == "doc"):
        raise ApiError(
            400,
            [],
            {
                name: "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
            },
        )
    if api == "2" and not isinstance(value, str):
        raise ApiError(400, [], {name: "Operation value must be a string"})


def _apply_fields(
    state: SandboxState, api: str, issue: SandboxIssue, values: dict[str, Any], creating: bool
) -> list[dict[str, Any]]:
    screen = _screen(state) if creating else [*CREATE_FIELDS]
    errors: dict[str, str] = {}
    for name in values:
        if name in ("project", "issuetype"):
            continue
        if name not in screen:
            errors[name] = (
                f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
            )
    if errors:
        raise ApiError(400, [], errors)
    items: list[dict[str, Any]] = []
    if "summary" in values:
        summary = values["summary"]
        if not isinstance(summary, str) or not summary.strip():
            raise ApiError(400, [], {"summary": "You must specify a summary of the issue."})
        if "\n" in summary or "\r" in summary:
            raise ApiError(
                400,
                [],
                {"summary": "The summary is invalid because it contains newline characters."},
            )
        if len(summary) > 255:
            raise ApiError(400, [], {"summary": "Summary must be less than 255 characters."})
        issue.summary = summary
    if "description" in values:
        _check_text(api, "description", values["description"])
        issue.description = values["description"]
        state.render(issue.description)
    if "labels" in values:
        issue.labels = _valid_labels(values["labels"] or [])
    if "duedate" in values:
        due = values["duedate"]
        if due is not None:
            try:
                date.fromisoformat(due)
            except (TypeError, ValueError):
                raise ApiError(
                    400, [], {"duedate": "Error parsing date string: " + str(due)}
                ) from None
        issue.duedate = due
    if "priority" in values:
        wanted = values["priority"] or {}
        priority_name: str | None = wanted.get("name") or (
            PRIORITIES[int(wanted["id"]) - 1]
            if wanted.get("id", "").isdigit() and 0 < int(wanted["id"]) <= 5
            else None
        )
        if priority_name not in PRIORITIES:
            raise ApiError(
                400, [], {"priority": "Specify the Priority (name) in the string format"}
            )
        issue.priority = priority_name
    if "security" in values:
        wanted = values["security"]
        if wanted is None:
            issue.security = None
        else:
            level = next(
                (
                    x
                    for x in SECURITY_LEVELS
                    if x["id"] == wanted.get("id") or x["name"] == wanted.get("name")
                ),
                None,
            )
            if level is None:
                raise ApiError(400, [], {"security": "Security level does not exist."})
            if not state.drop_security:
                issue.security = level["id"]
    return items


def _valid_labels(labels: list[Any]) -> list[str]:
    for label in labels:
        if not isinstance(label, str) or not label:
            raise ApiError(400, [], {"labels": "Labels must be non-empty strings."})
        if any(ch.isspace() for ch in label):
            raise ApiError(
                400, [], {"labels": f"The label '{label}' contains spaces which is invalid."}
            )
        if len(label) > 255:
            raise ApiError(400, [], {"labels": "The label must not exceed 255 characters."})
    return list(dict.fromkeys(labels))


def create_issue(state: SandboxState, api: str, query: Any, body: Any) -> tuple[int, Any]:
    """POST issue."""
    values = dict((body or {}).get("fields") or {})
    proj = values.get("project") or {}
    if proj.get("id") != PROJECT_ID and proj.get("key") != "SEC":
        raise ApiError(400, [], {"project": "Specify a valid project ID or key"})
    itype = values.get("issuetype") or {}
    if itype.get("id") != ISSUE_TYPE_ID and itype.get("name") != "Bug":
        raise ApiError(400, [], {"issuetype": "Specify an issue type"})
    now = state.clock.now()
    issue_id = str(state.next_issue)
    issue = SandboxIssue(
        issue_id=issue_id,
        key=f"SEC-{state.next_issue - 10000}",
        summary="",
        description=None,
        labels=[],
        duedate=None,
        priority="Medium",
        status="To Do",
        security=None,
        created=now,
        updated=now,
        reporter=state.caller,
    )
    _apply_fields(state, api, issue, values, creating=True)
    state.next_issue += 1
    state.issues[issue.key] = issue
    return 201, {
        "id": issue_id,
        "key": issue.key,
        "self": f"{state.base_url}/rest/api/{api}/issue/{issue_id}",
    }


def _issue(state: SandboxState, ref: str) -> SandboxIssue:
    for issue in state.issues.values():
        if ref in (issue.key, issue.issue_id):
            return issue
    raise ApiError(404, ["Issue does not exist or you do not have permission to see it."])


def get_issue(
    state: SandboxState, api: str, query: dict[str, list[str]], body: Any, ref: str
) -> tuple[int, Any]:
    """GET issue/{key or id}."""
    issue = _issue(state, ref)
    wanted = set(_params(query, "fields")) or None
    return 200, state.issue_json(issue, api, wanted, set(_params(query, "expand")))


def edit_issue(state: SandboxState, api: str, query: Any, body: Any, ref: str) -> tuple[int, Any]:
    """PUT issue/{key}: ``fields`` set values, ``update`` applies add/remove/set operations."""
    issue = _issue(state, ref)
    refused = state.refused_edits.get(issue.key)
    if refused is not None and state.caller is not state.team_member:  # the team's still work
        status, field_name, message = refused
        raise ApiError(status, [], {field_name: message})
    values = dict((body or {}).get("fields") or {})
    operations = (body or {}).get("update") or {}
    both = set(values) & set(operations)
    if both:
        raise ApiError(400, [], {f: "Field specified in both 'fields' and 'update'" for f in both})
    labels = list(issue.labels)
    for name, ops in operations.items():
        if name != "labels":
            raise ApiError(
                400,
                [],
                {
                    name: f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                },
            )
        for op in ops:
            if "add" in op:
                labels = [*labels, *_valid_labels([op["add"]])]
            elif "remove" in op:
                labels = [x for x in labels if x != op["remove"]]
            elif "set" in op:
                labels = _valid_labels(op["set"] or [])
    before = (
        issue.summary,
        issue.description,
        issue.labels,
        issue.duedate,
        issue.priority,
        issue.security,
    )
    _apply_fields(state, api, issue, values, creating=False)
    if operations:
        issue.labels = list(dict.fromkeys(labels))
    if before != (
        issue.summary,
        issue.description,
        issue.labels,
        issue.duedate,
        issue.priority,
        issue.security,
    ):
        state.touch(issue)
    return 204, None


def add_comment(state: SandboxState, api: str, query: Any, body: Any, ref: str) -> tuple[int, Any]:
    """POST issue/{key}/comment, with optional visibility."""
    issue = _issue(state, ref)
    text = (body or {}).get("body")
    _check_text(api, "comment", text)
    if not text:
        raise ApiError(400, [], {"comment": "Comment body can not be empty!"})
    visibility = (body or {}).get("visibility")
    if visibility is not None:
        if visibility.get("type") not in ("role", "group") or not visibility.get("value"):
            raise ApiError(
                400,
                [],
                {"commentLevel": "You are currently not a member of the project role or group."},
            )
        visibility = {"type": visibility["type"], "value": visibility["value"]}
        if state.flavor == "cloud":
            visibility["identifier"] = visibility["value"]
    comment = SandboxComment(
        str(state.next_comment), state.caller, text, state.clock.now(), visibility
    )
    state.next_comment += 1
    issue.comments.append(comment)
    issue.updated = comment.created
    state.render(text)
    return 201, state.comment_json(issue, comment, api)


def edit_comment(
    state: SandboxState, api: str, query: Any, body: Any, ref: str, comment_id: str
) -> tuple[int, Any]:
    """PUT issue/{key}/comment/{id}: a user edits their own comment (Edit Own Comments)."""
    issue = _issue(state, ref)
    comment = next((c for c in issue.comments if c.comment_id == comment_id), None)
    if comment is None:
        raise ApiError(404, [f"Can not find a comment for the id: {comment_id}."])
    if comment.author is not state.bridge:
        raise ApiError(403, ["You do not have the permission to edit this comment."])
    text = (body or {}).get("body")
    _check_text(api, "comment", text)
    if not text:
        raise ApiError(400, [], {"comment": "Comment body can not be empty!"})
    comment.body = text
    state.touch(issue)
    state.render(text)
    return 200, state.comment_json(issue, comment, api)


def list_comments(
    state: SandboxState, api: str, query: Any, body: Any, ref: str
) -> tuple[int, Any]:
    """GET issue/{key}/comment."""
    issue = _issue(state, ref)
    comments = [state.comment_json(issue, c, api) for c in issue.comments]
    return 200, {
        "startAt": 0,
        "maxResults": len(comments),
        "total": len(comments),
        "comments": comments,
    }


def list_transitions(
    state: SandboxState, api: str, query: Any, body: Any, ref: str
) -> tuple[int, Any]:
    """GET issue/{key}/transitions: every status but the current one."""
    issue = _issue(state, ref)
    return 200, {
        "expand": "transitions",
        "transitions": [
            {
                "id": tid,
                "name": target,
                "to": state.status_json(target, api),
                "hasScreen": False,
                "isGlobal": True,
                "isInitial": False,
                "isAvailable": True,
                "isConditional": False,
                "isLooped": False,
            }
            for tid, target in TRANSITIONS
            if target != issue.status
        ],
    }


def do_transition(
    state: SandboxState, api: str, query: Any, body: Any, ref: str
) -> tuple[int, Any]:
    """POST issue/{key}/transitions."""
    issue = _issue(state, ref)
    wanted = str(((body or {}).get("transition") or {}).get("id", ""))
    target = next((t for tid, t in TRANSITIONS if tid == wanted and t != issue.status), None)
    if target is None:
        raise ApiError(400, [f"Transition id '{wanted}' is not valid for this issue."])
    transition(state, issue, target, state.caller)
    return 204, None


def transition(state: SandboxState, issue: SandboxIssue, target: str, author: SandboxUser) -> None:
    """Move an issue to ``target`` and record the status change in the changelog."""
    before = issue.status
    issue.status = target
    state.touch(issue)
    state.add_history(
        issue,
        author,
        [
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": STATUSES[before][0],
                "fromString": before,
                "to": STATUSES[target][0],
                "toString": target,
            }
        ],
    )


def search_gone(state: SandboxState, api: str, query: Any, body: Any) -> tuple[int, Any]:
    """GET/POST search: gone on Cloud since 2025, the paging search on Data Center."""
    if state.flavor == "cloud":
        raise ApiError(410, [GONE_SEARCH])
    params = _search_params(query, body)
    found = run_jql(state, _first(params.get("jql")) or "")
    start = int(_first(params.get("startAt")) or 0)
    size = min(int(_first(params.get("maxResults")) or 50), 100)
    page = found[start : start + size]
    wanted = set(_flat(params.get("fields"))) or None
    expand = set(_flat(params.get("expand")))
    return 200, {
        "expand": "schema,names",
        "startAt": start,
        "maxResults": size,
        "total": len(found),
        "issues": [state.issue_json(i, api, wanted, expand) for i in page],
    }


def search_jql(state: SandboxState, api: str, query: Any, body: Any) -> tuple[int, Any]:
    """GET/POST search/jql (Cloud): token paging with ``nextPageToken`` and ``isLast``."""
    if state.flavor == "datacenter":
        raise ApiError(404, ["No resource at search/jql on Jira Data Center"])
    params = _search_params(query, body)
    jql = _first(params.get("jql")) or ""
    found = _indexed(state, run_jql(state, jql), _flat(params.get("reconcileIssues")))
    token = _first(params.get("nextPageToken"))
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().split(":")[1])
        except (ValueError, IndexError):
            raise ApiError(400, ["The provided next page token is invalid or expired."]) from None
    size = min(int(_first(params.get("maxResults")) or 50), 5000)
    page = found[start : start + size]
    wanted = set(_flat(params.get("fields"))) or {"id"}
    expand = set(_flat(params.get("expand")))
    answer: dict[str, Any] = {
        "issues": [state.issue_json(i, api, wanted, expand) for i in page],
        "isLast": start + size >= len(found),
    }
    if not answer["isLast"]:
        answer["nextPageToken"] = base64.urlsafe_b64encode(f"page:{start + size}".encode()).decode()
    return 200, answer


def _indexed(
    state: SandboxState, found: list[SandboxIssue], reconcile: list[str]
) -> list[SandboxIssue]:
    """What an eventually consistent search index shows: fresh writes only when reconciled.

    Atlassian's OpenAPI (POST /rest/api/3/search/jql): ``reconcileIssues`` holds at most 50
    issue ids whose latest state the results must reflect.
    """
    if len(reconcile) > 50:
        raise ApiError(400, ["reconcileIssues accepts at most 50 issue ids."])
    if not state.search_lag:
        return found
    settled = state.clock.now() - state.search_lag
    wanted = set(reconcile)
    return [i for i in found if i.updated <= settled or i.issue_id in wanted]


def _search_params(query: dict[str, list[str]], body: Any) -> dict[str, Any]:
    if isinstance(body, dict):
        return {k: (v if isinstance(v, list) else [v]) for k, v in body.items() if v is not None}
    return query


def _first(values: Any) -> str | None:
    if not values:
        return None
    return str(values[0])


def _flat(values: Any) -> list[str]:
    out: list[str] = []
    for value in values or []:
        if isinstance(value, list):
            out.extend(str(v) for v in value)
        else:
            out.extend(v for v in str(value).split(",") if v)
    return out


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
        return lambda i: True
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
            local = datetime.strptime(value, pattern)
        except ValueError:
            continue
        return local.replace(tzinfo=ZoneInfo(state.bridge.time_zone))
    raise ApiError(
        400,
        [
            f"Date value '{value}' for field 'updated' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
        ],
    )


ROUTES: list[tuple[str, str, _HandlerFn]] = [
    (r"/serverInfo", "GET", server_info),
    (r"/myself", "GET", myself),
    (r"/field", "GET", fields),
    (r"/project/([^/]+)/securitylevel", "GET", security_levels),
    (r"/project/([^/]+)", "GET", project),
    (r"/issue/createmeta/([^/]+)/issuetypes", "GET", createmeta_issuetypes),
    (r"/issue/createmeta/([^/]+)/issuetypes/([^/]+)", "GET", createmeta_fields),
    (r"/issue/createmeta", "GET", createmeta_legacy),
    (r"/issue", "POST", create_issue),
    (r"/issue/([^/]+)", "GET", get_issue),
    (r"/issue/([^/]+)", "PUT", edit_issue),
    (r"/issue/([^/]+)/comment", "POST", add_comment),
    (r"/issue/([^/]+)/comment", "GET", list_comments),
    (r"/issue/([^/]+)/comment/([^/]+)", "PUT", edit_comment),
    (r"/issue/([^/]+)/transitions", "GET", list_transitions),
    (r"/issue/([^/]+)/transitions", "POST", do_transition),
    (r"/search", "GET", search_gone),
    (r"/search", "POST", search_gone),
    (r"/search/jql", "GET", search_jql),
    (r"/search/jql", "POST", search_jql),
]
