"""The GitLab REST API v4 resources the sandbox serves: one function each, and the router.

Answers python-gitlab the way GitLab 17.x does for the endpoints the plugin uses (issues, notes,
resource state and label events, labels, project events, uploads). Project paths are routed on
the raw, URL-encoded segment (``security%2Fcvd``), as GitLab's router does; lists page with
GitLab's offset headers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode

from tracker_bridge.testing.sandbox import Answer
from tracker_bridge_gitlab.sandbox.state import (
    BRIDGE_USER,
    TEAM_USER,
    ApiError,
    Issue,
    ProjectState,
    issue_json,
    note_json,
    user_json,
)

GITLAB_VERSION = "17.11.0"


def _upload_file(request: _Request) -> Answer:
    """POST /projects/:id/uploads: store the file, answer as GitLab does (doc/api/project_markdown_uploads.md)."""
    field = request.body.get("file")
    if not isinstance(field, tuple):
        raise ApiError(400, "400 Bad request - file is missing")
    filename, data = field
    upload = request.state.add_upload(str(filename), bytes(data))
    image = str(filename).lower().endswith((".png", ".jpg", ".jpeg", ".gif", ".webp"))
    link = f"{'!' if image else ''}[{upload.alt}]({upload.url})"
    return Answer(
        201,
        {
            "id": upload.id,
            "alt": upload.alt,
            "url": upload.url,
            "full_path": f"/-/project/{request.state.project_id}{upload.url}",
            "markdown": link,
        },
    )


_Route = Callable[["_Request"], Answer]


@dataclass
class _Request:
    state: ProjectState
    base_url: str
    method: str
    query: dict[str, list[str]]
    body: dict[str, Any]
    params: list[str]
    raw_path: str

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


def route(
    state: ProjectState,
    base_url: str,
    method: str,
    raw_path: str,
    query: dict[str, list[str]],
    body: dict[str, Any],
) -> Answer:
    """The answer of the resource at ``raw_path`` (after ``/api/v4/``) for ``method``.

    Raises:
        ApiError: 404 for an unknown path or project, or the resource's own refusal.
    """
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
            request = _Request(state, base_url, method, query, body, params, raw_path)
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


def _get_user(request: _Request) -> Answer:
    caller = request.state.caller
    user = user_json(caller, request.base_url)
    return Answer(200, {**user, "email": f"{caller}@sandbox.example", "bot": False})


def _get_version(request: _Request) -> Answer:
    return Answer(200, {"version": GITLAB_VERSION, "revision": "sandbox", "enterprise": False})


def _get_project(request: _Request) -> Answer:
    state = request.state
    namespace, _, name = state.path.rpartition("/")
    return Answer(
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


def _issue_answer(request: _Request, issue: Issue, status: int = 200) -> Answer:
    state = request.state
    return Answer(status, issue_json(issue, request.base_url, state.project_id, state.path))


def _create_issue(request: _Request) -> Answer:
    caller = request.state.caller
    issue = request.state.create_issue(request.body | _flat(request.query), author=caller)
    request.state.record_title(issue, caller)
    return _issue_answer(request, issue, 201)


def _get_issue(request: _Request) -> Answer:
    return _issue_answer(request, request.state.issue(_iid(request)))


def _edit_issue(request: _Request) -> Answer:
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


def _list_issues(request: _Request) -> Answer:
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


def _paginate(request: _Request, rows: list[Any]) -> Answer:
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
    return Answer(200, chunk, headers)


def _list_notes(request: _Request) -> Answer:
    iid = _iid(request)
    issue = request.state.issue(iid)
    notes = request.state.notes_of(iid)
    # Notes are never edited here, so updated_at equals created_at for either order_by.
    notes.sort(
        key=lambda n: (n.created_at, n.id), reverse=(request.arg("sort") or "desc") == "desc"
    )
    rows = [note_json(n, issue, request.base_url, request.state.project_id) for n in notes]
    return _paginate(request, rows)


def _create_note(request: _Request) -> Answer:
    iid = _iid(request)
    body = request.arg("body") or ""
    if not body.strip():
        raise ApiError(400, "400 Bad request - body is missing")
    internal = (request.arg("internal") or request.arg("confidential") or "false").lower() == "true"
    note = request.state.add_note(iid, body, author=request.state.caller, internal=internal)
    if note is None:
        # Only quick actions: GitLab answers 202 with what the commands changed.
        return Answer(202, {"commands_changes": {}, "summary": ["Commands applied"]})
    return Answer(
        201, note_json(note, request.state.issue(iid), request.base_url, request.state.project_id)
    )


def _edit_note(request: _Request) -> Answer:
    iid = _iid(request)
    body = request.arg("body") or ""
    if not body.strip():
        raise ApiError(400, "400 Bad request - body is missing")
    try:
        note_id = int(request.params[2])
    except ValueError as err:
        raise ApiError(404, "404 Note Not Found") from err
    note = request.state.edit_note(iid, note_id, body, author=BRIDGE_USER)
    return Answer(
        200, note_json(note, request.state.issue(iid), request.base_url, request.state.project_id)
    )


def _resource_events(kind: str) -> _Route:
    def answer(request: _Request) -> Answer:
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


def _list_labels(request: _Request) -> Answer:
    return _paginate(request, sorted(request.state.labels.values(), key=lambda lab: lab["name"]))


def _create_label(request: _Request) -> Answer:
    name = request.arg("name") or ""
    if not name:
        raise ApiError(400, "name is missing")
    if name in request.state.labels:
        raise ApiError(409, "Label already exists")
    label = request.state._ensure_label(name)  # noqa: SLF001 - the route creates the label as the state does for issues
    if request.arg("color"):
        label["color"] = request.arg("color")
    return Answer(201, label)


def _list_events(request: _Request) -> Answer:
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
