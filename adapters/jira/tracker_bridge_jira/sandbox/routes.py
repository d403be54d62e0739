"""The Jira REST resources the sandbox serves, one function each: ``(state, api, query, body, *path params)``.

Each returns ``(status, body)`` or raises :class:`~tracker_bridge_jira.sandbox.models.ApiError`;
``ROUTES`` maps a path regex (after ``/rest/api/{2,3,latest}``) and a method to it. Shapes
follow Atlassian's Jira Cloud platform REST API v3 OpenAPI description (../shared/specs) and
the Jira Data Center 9.x REST API v2 reference.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING, Any

from tracker_bridge_jira.sandbox import views
from tracker_bridge_jira.sandbox.jql import run_jql
from tracker_bridge_jira.sandbox.models import (
    CREATE_FIELDS,
    FIELD_SCHEMAS,
    GONE_SEARCH,
    ISSUE_TYPE_ID,
    PRIORITIES,
    PROJECT_ID,
    SECURITY_LEVELS,
    STATUSES,
    TRANSITIONS,
    ApiError,
    SandboxComment,
    SandboxIssue,
    SandboxUser,
)

if TYPE_CHECKING:
    from tracker_bridge_jira.sandbox.state import SandboxState

RouteFn = Callable[..., tuple[int, Any]]


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
            "serverTime": views.timestamp(state, now),
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
        "serverTime": views.timestamp(state, now),
        "scmInfo": "sandbox",
        "serverTitle": "Jira",
    }


def myself(state: SandboxState, api: str, query: Any, body: Any) -> tuple[int, Any]:
    """GET myself: the calling token's account, with its time zone."""
    return 200, {**views.user_json(state, state.caller, api), "locale": "en_US"}


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
    return 200, views.project_json(state, api)


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
        meta["allowedValues"] = [views.level_json(state, x["id"], api) for x in SECURITY_LEVELS]
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
    types = [views.issuetype_json(state, api)]
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
    issuetype = views.issuetype_json(state, api)
    if "projects.issuetypes.fields" in (_one(query, "expand") or ""):
        issuetype["fields"] = {f: _field_meta(state, api, f) for f in _screen(state)}
    proj = {
        k: v
        for k, v in views.project_json(state, api).items()
        if k in ("self", "id", "key", "name")
    }
    return 200, {"expand": "projects", "projects": [{**proj, "issuetypes": [issuetype]}]}


def security_levels(
    state: SandboxState, api: str, query: Any, body: Any, key: str
) -> tuple[int, Any]:
    """GET project/{key}/securitylevel: the levels the caller may set."""
    if key not in ("SEC", PROJECT_ID):
        raise ApiError(404, [f"No project could be found with key '{key}'."])
    return 200, {"levels": [views.level_json(state, x["id"], api) for x in SECURITY_LEVELS]}


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
    return 200, views.issue_json(state, issue, api, wanted, set(_params(query, "expand")))


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
        raise ApiError(
            400, [], dict.fromkeys(both, "Field specified in both 'fields' and 'update'")
        )
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
    before = _editable(issue)
    _apply_fields(state, api, issue, values, creating=False)
    if operations:
        issue.labels = list(dict.fromkeys(labels))
    if before != _editable(issue):
        state.touch(issue)
    return 204, None


def _editable(issue: SandboxIssue) -> tuple[Any, ...]:
    """The fields an edit can change; ``updated`` moves only when one of them did."""
    return (
        issue.summary,
        issue.description,
        list(issue.labels),
        issue.duedate,
        issue.priority,
        issue.security,
    )


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
    return 201, views.comment_json(state, issue, comment, api)


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
    return 200, views.comment_json(state, issue, comment, api)


def list_comments(
    state: SandboxState, api: str, query: Any, body: Any, ref: str
) -> tuple[int, Any]:
    """GET issue/{key}/comment."""
    issue = _issue(state, ref)
    comments = [views.comment_json(state, issue, c, api) for c in issue.comments]
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
                "to": views.status_json(state, target, api),
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
        "issues": [views.issue_json(state, i, api, wanted, expand) for i in page],
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
        "issues": [views.issue_json(state, i, api, wanted, expand) for i in page],
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


ROUTES: list[tuple[str, str, RouteFn]] = [
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
