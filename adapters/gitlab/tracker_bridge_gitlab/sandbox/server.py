"""The GitLab REST API v4 on loopback: authentication, faults, request bodies; and the team's hands.

Answers python-gitlab the way GitLab 17.x does for the endpoints the plugin uses; the resources
are in ``routes``, the project in ``state``, and the HTTP plumbing (server, fault schedule,
request log) is the plugin kit's (:mod:`tracker_bridge.testing.sandbox`).
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import time
import urllib.request
from datetime import date, timedelta
from email.utils import formatdate
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from tracker_bridge.testing.sandbox import (
    Answer,
    Fault,
    FaultSchedule,
    LoggedRequest,
    RequestLog,
    SandboxApp,
    SandboxRequest,
    SandboxServer,
    ServedSandbox,
    answer_with_fault,
)
from tracker_bridge_gitlab.sandbox.routes import GITLAB_VERSION, route
from tracker_bridge_gitlab.sandbox.state import (
    BRIDGE_USER,
    TEAM_TOKEN,
    TEAM_USER,
    ApiError,
    Issue,
    ProjectState,
)

if TYPE_CHECKING:
    from collections.abc import Set as AbstractSet

__all__ = [
    "GITLAB_VERSION",
    "Fault",
    "GitLabSandbox",
    "LoggedRequest",
    "Team",
    "start_sandbox",
]


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
        return self._sandbox.request_log.entries()

    def request_count(self, method: str | None = None, path_contains: str | None = None) -> int:
        """How many requests matched."""
        return self._sandbox.request_log.count(method, path_contains=path_contains)

    def reset_request_log(self) -> None:
        """Forget the requests answered so far (for counting one step)."""
        self._sandbox.request_log.clear()

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
        self._sandbox.faults.add(
            Fault(
                status,
                count,
                method,
                re.compile(path_pattern) if path_pattern else None,
                retry_after,
                delay,
                applied,
            )
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

    # -- time

    def advance_clock(self, **delta: float) -> None:
        """Move the sandbox clock (``created_at``, ``updated_at``) forward by ``timedelta(**delta)``."""
        self._state.clock.advance(timedelta(**delta))

    def heal(self) -> None:
        """Remove every fault and dropped field."""
        self._sandbox.faults.clear()
        with self._state.lock:
            self._state.drop_fields = set()
            self._state.refused_edits.clear()


class GitLabSandbox(SandboxApp, ServedSandbox):
    """A running sandbox: ``url`` to point python-gitlab at, ``team`` to play the security team."""

    server_version = "gitlab-sandbox"

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
        super().__init__(RequestLog(log_file, file_fields=("method", "path", "query", "status")))
        self.token = token
        self.team_token = team_token
        # Every token the sandbox accepts and whose account it acts as.
        self.accounts = {token: BRIDGE_USER, team_token: TEAM_USER}
        self.state = ProjectState(state_file=state_file, drop_fields=drop_fields)
        self.log_file = log_file
        self.faults = FaultSchedule()
        self._server = SandboxServer(self, host=host, port=port, name="gitlab-sandbox")
        self.url = self._server.url
        self.team = Team(self)

    @property
    def requests(self) -> list[LoggedRequest]:
        """Every request answered so far, oldest first (a copy)."""
        return self.request_log.entries()

    def respond(self, request: SandboxRequest) -> Answer:
        """Faults first (the team's own requests are exempt), then authentication and routing."""
        body = _read_body(request)
        caller = self._caller(request)
        base_url = f"http://{request.header('Host')}" if request.header("Host") else self.url
        # Injected faults play GitLab failing the bridge; the team's hands stay unaffected.
        fault = None if caller == TEAM_USER else self.faults.take(request.method, request.path)

        def serve() -> Answer:
            if caller is None:
                return Answer(401, {"message": "401 Unauthorized"})
            try:
                with self.state.lock:
                    self.state.caller = caller
                    answer = route(
                        self.state, base_url, request.method, request.path, request.query, body
                    )
            except ApiError as err:
                return Answer(err.status, {"message": err.message})
            if answer.status < 300:
                self.faults.succeeded(request.method, request.path)
            return answer

        return answer_with_fault(fault, serve, _fault_answer)

    def _caller(self, request: SandboxRequest) -> str | None:
        """The account of the request's token (bridge or team member), or None when unknown."""
        token = request.headers.get("PRIVATE-TOKEN")
        bearer = request.header("Authorization")
        if bearer.startswith("Bearer "):
            token = bearer.removeprefix("Bearer ")
        return self.accounts.get(str(token or ""))


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


def _read_body(request: SandboxRequest) -> dict[str, Any]:
    """Request parameters from a JSON, form or multipart body, as Grape reads them."""
    raw = request.body
    if not raw:
        return {}
    content_type = request.header("Content-Type")
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


def _fault_answer(fault: Fault, lost: bool) -> Answer:
    """An injected failure in GitLab's shape; a lost answer without a status is a timeout."""
    if lost and not fault.status:
        return Answer(504, {"message": "timeout"})
    headers = fault.retry_after_header()
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
        return Answer(429, {"message": messages[429]}, headers)
    return Answer(fault.status, {"message": messages.get(fault.status, "error")}, headers)


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
