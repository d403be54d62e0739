"""A Jira REST API on loopback (Cloud v2/v3 or Data Center v2): authentication, faults, routing.

Shapes follow Atlassian's Jira Cloud platform REST API v3 OpenAPI description (December 2025,
../shared/specs) and the Jira Data Center 9.x REST API v2 reference: serverInfo, myself, field,
project, createmeta (modern per-issue-type form and legacy ``expand=projects.issuetypes.fields``),
project security levels, issues, comments with visibility, transitions, changelog, and search
(Cloud ``search/jql`` with ``nextPageToken``; the old Cloud ``search`` answers 410 as it has
since 2025; Data Center ``search`` with ``startAt``/``maxResults``/``total``). The resources are
in ``routes``, their JSON in ``views``, the JQL subset in ``jql``; the HTTP plumbing is the
plugin kit's (:mod:`tracker_bridge.testing.sandbox`).
"""

from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING

from tracker_bridge.testing.sandbox import (
    Answer,
    Fault,
    SandboxApp,
    SandboxRequest,
    answer_with_fault,
)
from tracker_bridge_jira.sandbox.models import ApiError, SandboxUser
from tracker_bridge_jira.sandbox.routes import ROUTES

if TYPE_CHECKING:
    from tracker_bridge_jira.sandbox.state import SandboxState


class JiraApp(SandboxApp):
    """Answers one Jira REST request from the sandbox state."""

    content_type = "application/json;charset=UTF-8"

    def __init__(self, state: SandboxState) -> None:
        super().__init__(state.request_log)
        self.state = state

    def respond(self, request: SandboxRequest) -> Answer:
        """Faults first (the team's own requests are exempt), then authentication and routing."""
        state = self.state
        try:
            caller: SandboxUser | None = self._authenticate(request)
        except ApiError:
            caller = None
        # Injected faults play Jira failing the bridge; the team's hands stay unaffected.
        fault = (
            None if caller is state.team_member else state.faults.take(request.method, request.path)
        )
        return answer_with_fault(fault, lambda: self._serve(request), _fault_answer)

    def internal_error(self, error: Exception) -> Answer:
        """500 in Jira's ErrorCollection shape, naming only the exception's type."""
        return _error_answer(ApiError(500, [f"sandbox error: {type(error).__name__}"]))

    def _serve(self, request: SandboxRequest) -> Answer:
        try:
            return self._route(request)
        except ApiError as err:
            return _error_answer(err)

    def _route(self, request: SandboxRequest) -> Answer:
        state = self.state
        method = request.method
        caller = self._authenticate(request)
        match = re.fullmatch(r"/rest/api/(2|3|latest)(/.*)", request.path)
        if match is None:
            raise ApiError(404, ["Not found"])
        api, route = match.group(1), match.group(2)
        if api == "latest":
            api = "2"
        if api == "3" and state.flavor == "datacenter":
            raise ApiError(404, ["REST API version 3 is not available on Jira Data Center"])
        body = json.loads(request.body) if request.body else None
        with state.lock:
            state.caller = caller
            for pattern, verb, handler in ROUTES:
                found = re.fullmatch(pattern, route)
                if found and verb == method:
                    status, answer = handler(state, api, request.query, body, *found.groups())
                    if method != "GET":
                        state.save()
                    if status < 300:
                        state.faults.succeeded(method, route)
                    return Answer(status, answer)
        raise ApiError(404, [f"No resource at {method} {route}"])

    def _authenticate(self, request: SandboxRequest) -> SandboxUser:
        """The account whose token the request carries: the bridge's or a team member's."""
        state = self.state
        accounts = ((state.token, state.bridge), (state.team_token, state.team_member))
        header = request.header("Authorization")
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


def _error_answer(err: ApiError) -> Answer:
    return Answer(err.status, err.body, dict(err.headers))


def _fault_answer(fault: Fault, lost: bool) -> Answer:
    """An injected failure in Jira's shape; a lost answer is a gateway timeout."""
    if lost:
        # Done, but the client never hears of it: a stall past its timeout, or an error.
        return _error_answer(ApiError(fault.status or 504, ["Gateway timeout"]))
    message = "Rate limit exceeded." if fault.status == 429 else "Internal server error"
    return _error_answer(ApiError(fault.status, [message], headers=fault.retry_after_header()))


__all__ = ["JiraApp"]
