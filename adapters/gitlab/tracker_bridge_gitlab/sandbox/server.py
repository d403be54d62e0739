"""The GitLab REST API v4 on loopback: routing, auth, pagination, faults, request log; and the team's hands.

Answers python-gitlab the way GitLab 17.x does for the endpoints the plugin uses. Project
paths are routed on the raw, URL-encoded segment (``security%2Fcvd``), as GitLab's router does.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

from tracker_bridge_gitlab.sandbox.state import (
    BRIDGE_USER,
    TEAM_TOKEN,
    TEAM_USER,
    ApiError,
    Issue,
    ProjectState,
    issue_json,
    note_json,
    user_json,
)

GITLAB_VERSION = "17.11.0"


@dataclass
class Fault:
    """An injected failure: the next ``remaining`` matching requests answer ``status`` or stall."""

    status: int
    remaining: int
    method: str | None = None
    path_pattern: str | None = None
    retry_after: int | None = 0
    delay: float = 0.0
    applied: bool = False  # do the request, then stall or fail: the answer is lost

    def matches(self, method: str, path: str) -> bool:
        """Whether this fault applies to the request."""
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_pattern is None or re.search(self.path_pattern, path) is not None


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the sandbox answered it."""

    method: str
    path: str
    query: dict[str, list[str]]
    status: int


@dataclass
class _Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class Team:
    """The security team's hands, and the test's view into the sandbox."""

    def __init__(self, sandbox: GitLabSandbox) -> None:
        self._sandbox = sandbox
        self._state = sandbox.state

    # -- acting on issues through the REST API with the team member's own token, as a person
    # (or their script) would: GitLab records them, not the bridge, as the author

    def set_labels(
        self, iid: int, add: AbstractSet[str] = frozenset(), remove: AbstractSet[str] = frozenset()
    ) -> None:
        """Add and remove labels."""
        self._edit(
            iid, {"add_labels": ",".join(sorted(add)), "remove_labels": ",".join(sorted(remove))}
        )

    def close(self, iid: int) -> None:
        """Close the issue."""
        self._edit(iid, {"state_event": "close"})

    def reopen(self, iid: int) -> None:
        """Reopen the issue."""
        self._edit(iid, {"state_event": "reopen"})

    def set_due_date(self, iid: int, due: date | None) -> None:
        """Set or clear the due date."""
        self._edit(iid, {"due_date": due.isoformat() if due else None})

    def set_confidential(self, iid: int, confidential: bool) -> None:
        """Flip the confidential flag."""
        self._edit(iid, {"confidential": confidential})

    def comment(self, iid: int, body: str, *, internal: bool = False) -> None:
        """Comment (quick actions in the body run, as they would for a person)."""
        self._api("POST", f"issues/{iid}/notes", {"body": body, "internal": internal})

    def _edit(self, iid: int, fields: dict[str, Any]) -> None:
        self._api("PUT", f"issues/{iid}", {k: v for k, v in fields.items() if v != ""})

    def _api(self, method: str, path: str, body: dict[str, Any]) -> Any:
        """One REST call as the team member (PRIVATE-TOKEN: the team token)."""
        url = f"{self._sandbox.url}/api/v4/projects/{self._state.project_id}/{path}"
        request = urllib.request.Request(  # noqa: S310 - our own loopback sandbox
            url,
            data=json.dumps(body).encode("utf-8"),
            method=method,
            headers={
                "PRIVATE-TOKEN": self._sandbox.team_token,
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.loads(answer.read() or b"null")

    # -- looking

    def issue(self, iid: int) -> Issue:
        """The stored issue."""
        with self._state.lock:
            return self._state.issue(iid)

    def issues(self) -> list[Issue]:
        """Every issue in the project."""
        with self._state.lock:
            return list(self._state.issues.values())

    def notes(self, iid: int) -> list[str]:
        """The bodies of an issue's non-system notes, oldest first."""
        with self._state.lock:
            return [n.body for n in self._state.notes_of(iid) if not n.system]

    def side_effects(self) -> list[str]:
        """Everything GitLab did on its own: quick actions, notifications, loads, cross-references."""
        with self._state.lock:
            return list(self._state.side_effects)

    def all_text(self) -> str:
        """Every title, description, note and label stored, for leak checks."""
        with self._state.lock:
            parts = [
                f"{i.title}\n{i.description}\n{' '.join(i.labels)}"
                for i in self._state.issues.values()
            ]
            parts += [n.body for n in self._state.notes]
            return "\n".join(parts)

    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far."""
        with self._sandbox.log_lock:
            return list(self._sandbox.requests)

    def request_count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many requests matched."""
        return sum(
            1
            for r in self.requests()
            if (method is None or r.method == method.upper())
            and (path_contains is None or path_contains in r.path)
        )

    def reset_request_log(self) -> None:
        """Forget the requests answered so far (for counting one step)."""
        with self._sandbox.log_lock:
            self._sandbox.requests.clear()

    # -- breaking things

    def inject_fault(
        self,
        status: int,
        count: int = 1,
        *,
        method: str | None = None,
        path_pattern: str | None = None,
        retry_after: int | None = 0,
        delay: float = 0.0,
        applied: bool = False,
    ) -> None:
        """The next ``count`` requests matching ``method``/``path_pattern`` answer ``status``.

        ``status`` 0 with a ``delay`` stalls the request (a slow GitLab) and then answers normally.
        ``applied`` does the request first and then stalls or fails, so the change is made but
        the client never hears of it (a create that timed out but succeeded).
        """
        with self._sandbox.log_lock:
            self._sandbox.faults.append(
                Fault(status, count, method, path_pattern, retry_after, delay, applied)
            )

    def refuse_edits(
        self, iid: int, *, status: int = 422, field: str = "labels", reason: str = "is invalid"
    ) -> None:
        """API edits (PUT) of issue ``iid`` answer ``status`` with ``{"message": {field: [reason]}}``.

        The team's own edits still work; ``heal`` ends it.
        """
        with self._state.lock:
            self._state.refused_edits[iid] = (status, field, reason)

    def keep_updated_at_on_label_edits(self, seconds: float) -> None:
        """Label-only edits within ``seconds`` of an issue's last update keep its ``updated_at``."""
        with self._state.lock:
            self._state.sticky_updated_at = timedelta(seconds=seconds)

    def drop_fields(self, *names: str) -> None:
        """Silently drop these fields on create and edit (a token lacking permission)."""
        with self._state.lock:
            self._state.drop_fields = set(names)

    def heal(self) -> None:
        """Remove every fault and dropped field."""
        with self._sandbox.log_lock:
            self._sandbox.faults.clear()
        with self._state.lock:
            self._state.drop_fields = set()
            self._state.refused_edits.clear()


class GitLabSandbox:
    """A running sandbox: ``url`` to point python-gitlab at, ``team`` to play the security team."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = "sandbox-token",  # noqa: S107 - the sandbox's published demo token
        state_file: Path | None = None,
        log_file: Path | None = None,
        drop_fields: tuple[str, ...] = (),
        team_token: str = TEAM_TOKEN,
    ) -> None:
        self.token = token
        self.team_token = team_token
        # Every token the sandbox accepts and whose account it acts as.
        self.accounts = {token: BRIDGE_USER, team_token: TEAM_USER}
        self.state = ProjectState(state_file=state_file, drop_fields=drop_fields)
        self.log_file = log_file
        self.log_lock = threading.Lock()
        self.requests: list[LoggedRequest] = []
        self.faults: list[Fault] = []
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self.team = Team(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="gitlab-sandbox",
            daemon=True,
        )

    def start(self) -> GitLabSandbox:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until :meth:`stop` is called from another one."""
        self._server.serve_forever()

    def stop(self) -> None:
        """Stop serving and release the port."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> GitLabSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def take_fault(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this request, used up by one."""
        with self.log_lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.matches(method, path):
                    fault.remaining -= 1
                    return fault
        return None

    def record(self, entry: LoggedRequest) -> None:
        """Remember a request and append it to the JSON-lines log."""
        with self.log_lock:
            self.requests.append(entry)
            if self.log_file is not None:
                with self.log_file.open("a", encoding="utf-8") as log:
                    log.write(
                        json.dumps(
                            {
                                "method": entry.method,
                                "path": entry.path,
                                "query": entry.query,
                                "status": entry.status,
                            }
                        )
                        + "\n"
                    )


def start_sandbox(
    port: int = 0,
    token: str = "sandbox-token",  # noqa: S107 - the sandbox's published demo token
    state_file: Path | str | None = None,
    log_file: Path | str | None = None,
    drop_fields: tuple[str, ...] | list[str] = (),
    team_token: str = TEAM_TOKEN,
) -> GitLabSandbox:
    """Start a GitLab sandbox on loopback in a background thread.

    Args:
        port: TCP port, 0 for any free one.
        token: The bridge's private token.
        team_token: A team member's (alice's) token; the team's hands act through it.
        state_file: JSON file the issues persist in (read at start when it exists).
        log_file: JSON-lines file with one line per request.
        drop_fields: Fields silently dropped on create and edit (``confidential``, ``due_date``).

    Returns:
        The running sandbox; call ``stop()`` when done.
    """
    return GitLabSandbox(
        port=port,
        token=token,
        state_file=Path(state_file) if state_file else None,
        log_file=Path(log_file) if log_file else None,
        drop_fields=tuple(drop_fields),
        team_token=team_token,
    ).start()


# ---------------------------------------------------------------------------- HTTP


def _handler_for(sandbox: GitLabSandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        pass

    Handler.sandbox = sandbox
    return Handler


class _Handler(BaseHTTPRequestHandler):
    sandbox: GitLabSandbox
    protocol_version = "HTTP/1.1"
    server_version = "gitlab-sandbox"

    def setup(self) -> None:
        """Send headers and body without Nagle's delay (each answer is two small writes)."""
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests go to the JSON-lines log instead."""

    def do_GET(self) -> None:
        """Answer a GET."""
        self._serve("GET")

    def do_POST(self) -> None:
        """Answer a POST."""
        self._serve("POST")

    def do_PUT(self) -> None:
        """Answer a PUT."""
        self._serve("PUT")

    def do_DELETE(self) -> None:
        """Answer a DELETE."""
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        raw_path = split.path
        query = parse_qs(split.query, keep_blank_values=True)
        body = self._read_body()
        answer = self._answer(method, raw_path, query, body)
        self.sandbox.record(LoggedRequest(method, raw_path, query, answer.status))
        payload = b"" if answer.body is None else json.dumps(answer.body).encode("utf-8")
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (a timeout it asked for); nothing left to tell it.
            self.close_connection = True

    def _read_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        raw = self.rfile.read(length)
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            return _multipart_fields(content_type, raw)
        if "json" in content_type:
            try:
                decoded = json.loads(raw or b"{}")
            except ValueError:
                return {}
            return decoded if isinstance(decoded, dict) else {}
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        return {k.removesuffix("[]"): v if k.endswith("[]") else v[-1] for k, v in form.items()}

    def _answer(
        self, method: str, raw_path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> _Answer:
        caller = self._caller()
        # Injected faults play GitLab failing the bridge; the team's hands stay unaffected.
        fault = None if caller == TEAM_USER else self.sandbox.take_fault(method, raw_path)
        if fault is not None and fault.applied:
            self._route_or_error(method, raw_path, query, body, caller)
            if fault.delay:
                time.sleep(fault.delay)
            return _fault_answer(fault) if fault.status else _Answer(504, {"message": "timeout"})
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return _fault_answer(fault)
        if caller is None:
            return _Answer(401, {"message": "401 Unauthorized"})
        return self._route_or_error(method, raw_path, query, body, caller)

    def _route_or_error(
        self,
        method: str,
        raw_path: str,
        query: dict[str, list[str]],
        body: dict[str, Any],
        caller: str | None,
    ) -> _Answer:
        try:
            with self.sandbox.state.lock:
                self.sandbox.state.caller = caller or BRIDGE_USER
                return _route(self.sandbox, self._base_url(), method, raw_path, query, body)
        except ApiError as err:
            return _Answer(err.status, {"message": err.message})

    def _caller(self) -> str | None:
        """The account of the request's token (bridge or team member), or None when unknown."""
        token = self.headers.get("PRIVATE-TOKEN")
        bearer = self.headers.get("Authorization", "")
        if bearer.startswith("Bearer "):
            token = bearer.removeprefix("Bearer ")
        return self.sandbox.accounts.get(token or "")

    def _base_url(self) -> str:
        host = self.headers.get("Host")
        return f"http://{host}" if host else self.sandbox.url


def _fault_answer(fault: Fault) -> _Answer:
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(int(fault.retry_after))
    messages = {
        401: "401 Unauthorized",
        403: "403 Forbidden",
        404: "404 Not Found",
        429: "Retry later",
        500: "500 Internal Server Error",
        502: "502 Bad Gateway",
        503: "503 Service Unavailable",
    }
    if fault.status == 429:
        reset = int(time.time()) + int(fault.retry_after or 0)
        headers.update(
            {
                "RateLimit-Name": "throttle_authenticated_api",
                "RateLimit-Limit": "60",
                "RateLimit-Observed": "61",
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
                "RateLimit-ResetTime": formatdate(reset, usegmt=True),
            }
        )
        return _Answer(429, {"message": messages[429]}, headers)
    return _Answer(fault.status, {"message": messages.get(fault.status, "error")}, headers)


def _multipart_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """Form fields of a multipart/form-data body; a file field becomes (filename, bytes)."""
    message = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw, policy=email.policy.HTTP
    )
    fields: dict[str, Any] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        fields[name] = (filename, data) if filename is not None else data.decode("utf-8", "replace")
    return fields


def _upload_file(request: _Request) -> _Answer:
    """POST /projects/:id/uploads: store the file, answer as GitLab does (doc/api/project_markdown_uploads.md)."""
    field = request.body.get("file")
    if not isinstance(field, tuple):
        raise ApiError(400, "400 Bad request - file is missing")
    filename, data = field
    upload = request.state.add_upload(str(filename), bytes(data))
    image = str(filename).lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp"))
    link = f"{'!' if image else ''}[{upload.alt}]({upload.url})"
    return _Answer(
        201,
        {
            "id": upload.id,
            "alt": upload.alt,
            "url": upload.url,
            "full_path": f"/-/project/{request.state.project_id}{upload.url}",
            "markdown": link,
        },
    )


# ---------------------------------------------------------------------------- routes

_Route = Callable[["_Request"], _Answer]


@dataclass
class _Request:
    sandbox: GitLabSandbox
    base_url: str
    method: str
    query: dict[str, list[str]]
    body: dict[str, Any]
    params: list[str]
    raw_path: str

    @property
    def state(self) -> ProjectState:
        return self.sandbox.state

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query or body parameter (query first, as Grape merges them)."""
        if name in self.query:
            return self.query[name][-1]
        value = self.body.get(name, default)
        return (
            None
            if value is None
            else str(value)
            if not isinstance(value, list)
            else ",".join(map(str, value))
        )


def _route(
    sandbox: GitLabSandbox,
    base_url: str,
    method: str,
    raw_path: str,
    query: dict[str, list[str]],
    body: dict[str, Any],
) -> _Answer:
    if not raw_path.startswith("/api/v4/"):
        raise ApiError(404, "404 Not Found")
    # Split on the raw path so "security%2Fcvd" stays one segment, as in GitLab's router.
    segments = [unquote(s) for s in raw_path[len("/api/v4/") :].strip("/").split("/")]
    for pattern, verb, route in _ROUTES:
        if verb != method or len(pattern) != len(segments):
            continue
        params: list[str] = []
        for want, got in zip(pattern, segments, strict=True):
            if want == "*":
                params.append(got)
            elif want != got:
                break
        else:
            request = _Request(sandbox, base_url, method, query, body, params, raw_path)
            if pattern[0] == "projects":
                _check_project(request.state, params[0])
            return route(request)
    raise ApiError(404, "404 Not Found")


def _check_project(state: ProjectState, ident: str) -> None:
    if ident not in (str(state.project_id), state.path):
        raise ApiError(404, "404 Project Not Found")


def _iid(request: _Request) -> int:
    try:
        return int(request.params[1])
    except ValueError as err:
        raise ApiError(404, "404 Issue Not Found") from err


def _get_user(request: _Request) -> _Answer:
    caller = request.state.caller
    user = user_json(caller, request.base_url)
    return _Answer(200, {**user, "email": f"{caller}@sandbox.example", "bot": False})


def _get_version(request: _Request) -> _Answer:
    return _Answer(200, {"version": GITLAB_VERSION, "revision": "sandbox", "enterprise": False})


def _get_project(request: _Request) -> _Answer:
    state = request.state
    namespace, _, name = state.path.rpartition("/")
    return _Answer(
        200,
        {
            "id": state.project_id,
            "name": name,
            "path": name,
            "path_with_namespace": state.path,
            "name_with_namespace": f"{namespace} / {name}",
            "namespace": {"id": 10, "name": namespace, "path": namespace, "kind": "group"},
            "default_branch": "main",
            "visibility": "private",
            "web_url": f"{request.base_url}/{state.path}",
            "issues_enabled": True,
            "created_at": "2026-01-05T09:00:00.000Z",
            # The caller's role: the bridge is a Developer (30), alice a Maintainer (40); a
            # bridge token whose confidential flag is dropped is a Guest (10), as in GitLab.
            "permissions": {
                "project_access": {"access_level": _access_level(state), "notification_level": 3},
                "group_access": None,
            },
        },
    )


def _access_level(state: ProjectState) -> int:
    if state.caller == TEAM_USER:
        return 40
    return 10 if "confidential" in state.drop_fields else 30


def _issue_answer(request: _Request, issue: Issue, status: int = 200) -> _Answer:
    state = request.state
    return _Answer(status, issue_json(issue, request.base_url, state.project_id, state.path))


def _create_issue(request: _Request) -> _Answer:
    caller = request.state.caller
    issue = request.state.create_issue(request.body | _flat(request.query), author=caller)
    request.state.record_title(issue, caller)
    return _issue_answer(request, issue, 201)


def _get_issue(request: _Request) -> _Answer:
    return _issue_answer(request, request.state.issue(_iid(request)))


def _edit_issue(request: _Request) -> _Answer:
    refused = request.state.refused_edits.get(_iid(request))
    if refused is not None and request.state.caller != TEAM_USER:  # the team's edits still work
        status, field_name, reason = refused
        raise ApiError(status, {field_name: [reason]})
    fields = request.body | _flat(request.query)
    issue = request.state.edit_issue(_iid(request), fields, author=request.state.caller)
    if "title" in fields:
        request.state.record_title(issue, request.state.caller)
    return _issue_answer(request, issue)


def _flat(query: dict[str, list[str]]) -> dict[str, Any]:
    return {k: v[-1] for k, v in query.items()}


def _list_issues(request: _Request) -> _Answer:
    issues = list(request.state.issues.values())
    state_filter = request.arg("state") or "all"
    if state_filter in ("opened", "closed"):
        issues = [i for i in issues if i.state == state_filter]
    labels = request.arg("labels")
    if labels:
        wanted = [lab.strip() for lab in labels.split(",") if lab.strip()]
        if wanted == ["None"]:
            issues = [i for i in issues if not i.labels]
        elif wanted == ["Any"]:
            issues = [i for i in issues if i.labels]
        else:
            issues = [i for i in issues if all(w in i.labels for w in wanted)]
    if request.arg("confidential") is not None:
        flag = request.arg("confidential") == "true"
        issues = [i for i in issues if i.confidential is flag]
    for bound, keep in (("updated_after", True), ("updated_before", False)):
        value = request.arg(bound)
        if value:
            moment = _parse_time(value)
            issues = [
                i
                for i in issues
                if (_parse_time(i.updated_at) >= moment) is keep
                or (not keep and _parse_time(i.updated_at) == moment)
            ]
    order_by = request.arg("order_by") or "created_at"
    if order_by not in ("created_at", "updated_at"):
        raise ApiError(400, "order_by does not have a valid value")
    descending = (request.arg("sort") or "desc") == "desc"
    issues.sort(key=lambda i: (getattr(i, order_by), i.id), reverse=descending)
    rows = [
        issue_json(i, request.base_url, request.state.project_id, request.state.path)
        for i in issues
    ]
    return _paginate(request, rows)


def _parse_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError as err:
        raise ApiError(400, "updated_after is invalid") from err
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _paginate(request: _Request, rows: list[Any]) -> _Answer:
    """Offset pagination with GitLab's headers (X-Page ... and an RFC 8288 ``Link``)."""
    try:
        per_page = min(max(int(request.arg("per_page") or 20), 1), 100)
        page = max(int(request.arg("page") or 1), 1)
    except ValueError as err:
        raise ApiError(400, "page is invalid") from err
    total = len(rows)
    pages = max(1, -(-total // per_page))
    chunk = rows[(page - 1) * per_page : page * per_page]

    def link(target: int) -> str:
        params = {k: v[-1] for k, v in request.query.items()}
        params.update({"page": str(target), "per_page": str(per_page)})
        return f"{request.base_url}{request.raw_path}?{urlencode(params)}"

    links = []
    if page > 1:
        links.append(f'<{link(page - 1)}>; rel="prev"')
    if page < pages:
        links.append(f'<{link(page + 1)}>; rel="next"')
    links.append(f'<{link(1)}>; rel="first"')
    links.append(f'<{link(pages)}>; rel="last"')
    headers = {
        "X-Page": str(page),
        "X-Per-Page": str(per_page),
        "X-Total": str(total),
        "X-Total-Pages": str(pages),
        "X-Next-Page": str(page + 1) if page < pages else "",
        "X-Prev-Page": str(page - 1) if page > 1 else "",
        "Link": ", ".join(links),
    }
    return _Answer(200, chunk, headers)


def _list_notes(request: _Request) -> _Answer:
    iid = _iid(request)
    issue = request.state.issue(iid)
    notes = request.state.notes_of(iid)
    # Notes are never edited here, so updated_at equals created_at for either order_by.
    notes.sort(
        key=lambda n: (n.created_at, n.id), reverse=(request.arg("sort") or "desc") == "desc"
    )
    rows = [note_json(n, issue, request.base_url, request.state.project_id) for n in notes]
    return _paginate(request, rows)


def _create_note(request: _Request) -> _Answer:
    iid = _iid(request)
    body = request.arg("body") or ""
    if not body.strip():
        raise ApiError(400, "400 Bad request - body is missing")
    internal = (request.arg("internal") or request.arg("confidential") or "false").lower() == "true"
    note = request.state.add_note(iid, body, author=request.state.caller, internal=internal)
    if note is None:
        # Only quick actions: GitLab answers 202 with what the commands changed.
        return _Answer(202, {"commands_changes": {}, "summary": ["Commands applied"]})
    return _Answer(
        201, note_json(note, request.state.issue(iid), request.base_url, request.state.project_id)
    )


def _edit_note(request: _Request) -> _Answer:
    iid = _iid(request)
    body = request.arg("body") or ""
    if not body.strip():
        raise ApiError(400, "400 Bad request - body is missing")
    try:
        note_id = int(request.params[2])
    except ValueError as err:
        raise ApiError(404, "404 Note Not Found") from err
    note = request.state.edit_note(iid, note_id, body, author=BRIDGE_USER)
    return _Answer(
        200, note_json(note, request.state.issue(iid), request.base_url, request.state.project_id)
    )


def _resource_events(kind: str) -> _Route:
    def answer(request: _Request) -> _Answer:
        iid = _iid(request)
        issue = request.state.issue(iid)
        rows = []
        for event in request.state.events:
            if event.kind != kind or event.issue_iid != iid:
                continue
            row: dict[str, Any] = {
                "id": event.id,
                "user": user_json(event.user, request.base_url),
                "created_at": event.created_at,
                "resource_type": "Issue",
                "resource_id": issue.id,
            }
            if kind == "state":
                row["state"] = event.action
            else:
                label = request.state.labels.get(event.label or "", {"id": 0, "name": event.label})
                row["label"] = {k: label.get(k) for k in ("id", "name", "color", "description")}
                row["action"] = event.action
            rows.append(row)
        return _paginate(request, rows)

    return answer


def _list_labels(request: _Request) -> _Answer:
    return _paginate(request, sorted(request.state.labels.values(), key=lambda lab: lab["name"]))


def _create_label(request: _Request) -> _Answer:
    name = request.arg("name") or ""
    if not name:
        raise ApiError(400, "name is missing")
    if name in request.state.labels:
        raise ApiError(409, "Label already exists")
    label = request.state._ensure_label(name)
    if request.arg("color"):
        label["color"] = request.arg("color")
    return _Answer(201, label)


def _list_events(request: _Request) -> _Answer:
    state = request.state
    target_type = (request.arg("target_type") or "").lower()
    action = (request.arg("action") or "").lower()
    after = request.arg("after")
    before = request.arg("before")
    rows = []
    notes = {n.id: n for n in state.notes}
    for event in state.events:
        if event.kind != "project":
            continue
        is_note = event.note_id is not None
        if target_type == "note" and not is_note:
            continue
        if target_type == "issue" and is_note:
            continue
        if action:
            wanted = {"commented": "commented on", "created": "opened"}.get(action, action)
            if event.action != wanted:
                continue
        day = event.created_at[:10]
        if after and not day > after:
            continue
        if before and not day < before:
            continue
        issue = state.issues[event.issue_iid]
        row: dict[str, Any] = {
            "id": event.id,
            "title": None,
            "project_id": state.project_id,
            "action_name": event.action,
            "target_id": event.note_id if is_note else issue.id,
            "target_iid": event.note_id if is_note else issue.iid,
            "target_type": "Note" if is_note else "Issue",
            "author_id": user_json(event.user, request.base_url)["id"],
            "target_title": issue.title,
            "created_at": event.created_at,
            "author": user_json(event.user, request.base_url),
            "imported": False,
            "imported_from": "none",
            "author_username": event.user,
        }
        if is_note and event.note_id in notes:
            row["note"] = note_json(notes[event.note_id], issue, request.base_url, state.project_id)
        rows.append(row)
    rows.sort(
        key=lambda r: (r["created_at"], r["id"]), reverse=(request.arg("sort") or "desc") == "desc"
    )
    return _paginate(request, rows)


_ROUTES: list[tuple[tuple[str, ...], str, _Route]] = [
    (("user",), "GET", _get_user),
    (("version",), "GET", _get_version),
    (("projects", "*"), "GET", _get_project),
    (("projects", "*", "issues"), "GET", _list_issues),
    (("projects", "*", "issues"), "POST", _create_issue),
    (("projects", "*", "issues", "*"), "GET", _get_issue),
    (("projects", "*", "issues", "*"), "PUT", _edit_issue),
    (("projects", "*", "issues", "*", "notes"), "GET", _list_notes),
    (("projects", "*", "issues", "*", "notes"), "POST", _create_note),
    (("projects", "*", "issues", "*", "notes", "*"), "PUT", _edit_note),
    (("projects", "*", "issues", "*", "resource_state_events"), "GET", _resource_events("state")),
    (("projects", "*", "issues", "*", "resource_label_events"), "GET", _resource_events("label")),
    (("projects", "*", "labels"), "GET", _list_labels),
    (("projects", "*", "labels"), "POST", _create_label),
    (("projects", "*", "events"), "GET", _list_events),
    (("projects", "*", "uploads"), "POST", _upload_file),
]
