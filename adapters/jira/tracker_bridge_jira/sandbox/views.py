"""How the Jira sandbox shows what it stores: users, statuses, levels, issues and comments as JSON.

Shapes follow Atlassian's Jira Cloud platform REST API v3 OpenAPI description (December 2025,
../shared/specs): Cloud users carry ``accountId``, Data Center users ``name`` and ``key``;
rich text is ADF in v3 and wiki markup in v2; timestamps are in the reader's time zone.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from tracker_bridge_jira.sandbox.models import (
    ISSUE_TYPE_ID,
    PRIORITIES,
    PROJECT_ID,
    SECURITY_LEVELS,
    STATUSES,
    SandboxComment,
    SandboxIssue,
    SandboxUser,
)

if TYPE_CHECKING:
    from tracker_bridge_jira.sandbox.state import SandboxState


def timestamp(state: SandboxState, moment: datetime, user: SandboxUser | None = None) -> str:
    """Jira's timestamp form, in the user's time zone: 2026-11-02T01:00:00.000-0800."""
    local = moment.astimezone(ZoneInfo((user or state.bridge).time_zone))
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + (local.strftime("%z"))
    )


def user_json(state: SandboxState, user: SandboxUser, api: str) -> dict[str, Any]:
    """A user as Cloud (accountId) or Data Center (name, key) shows it."""
    avatars = {
        size: f"{state.base_url}/avatar/{size}" for size in ("16x16", "24x24", "32x32", "48x48")
    }
    common = {
        "emailAddress": user.email,
        "displayName": user.display_name,
        "active": True,
        "timeZone": user.time_zone,
        "avatarUrls": avatars,
    }
    if state.flavor == "cloud":
        return {
            "self": f"{state.base_url}/rest/api/{api}/user?accountId={user.account_id}",
            "accountId": user.account_id,
            "accountType": "atlassian",
            **common,
        }
    return {
        "self": f"{state.base_url}/rest/api/2/user?username={user.name}",
        "key": user.name,
        "name": user.name,
        **common,
    }


def status_json(state: SandboxState, name: str, api: str) -> dict[str, Any]:
    """A status with its category."""
    status_id, category_id, category_key, colour, category_name = STATUSES[name]
    return {
        "self": f"{state.base_url}/rest/api/{api}/status/{status_id}",
        "description": "",
        "iconUrl": f"{state.base_url}/images/icons/statuses/generic.png",
        "name": name,
        "id": status_id,
        "statusCategory": {
            "self": f"{state.base_url}/rest/api/{api}/statuscategory/{category_id}",
            "id": category_id,
            "key": category_key,
            "colorName": colour,
            "name": category_name,
        },
    }


def level_json(state: SandboxState, level_id: str, api: str) -> dict[str, Any]:
    """A security level."""
    level = next(x for x in SECURITY_LEVELS if x["id"] == level_id)
    return {"self": f"{state.base_url}/rest/api/{api}/securitylevel/{level_id}", **level}


def issuetype_json(state: SandboxState, api: str) -> dict[str, Any]:
    """The Bug issue type."""
    return {
        "self": f"{state.base_url}/rest/api/{api}/issuetype/{ISSUE_TYPE_ID}",
        "id": ISSUE_TYPE_ID,
        "description": "A problem which impairs or prevents the functions of the product.",
        "iconUrl": f"{state.base_url}/images/icons/issuetypes/bug.svg",
        "name": "Bug",
        "subtask": False,
    }


def project_json(state: SandboxState, api: str) -> dict[str, Any]:
    """Project SEC with its issue types."""
    return {
        "expand": "description,lead,issueTypes,url,projectKeys,permissions,insight",
        "self": f"{state.base_url}/rest/api/{api}/project/{PROJECT_ID}",
        "id": PROJECT_ID,
        "key": "SEC",
        "name": "Security",
        "description": "Coordinated vulnerability disclosure",
        "projectTypeKey": "software",
        "issueTypes": [issuetype_json(state, api)],
        "simplified": False,
        "style": "classic",
        "isPrivate": False,
        "properties": {},
    }


def text_for(state: SandboxState, stored: Any, api: str) -> Any:
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
    state: SandboxState, issue: SandboxIssue, comment: SandboxComment, api: str
) -> dict[str, Any]:
    """A comment with its author and visibility."""
    body: dict[str, Any] = {
        "self": f"{state.base_url}/rest/api/{api}/issue/{issue.issue_id}/comment/{comment.comment_id}",
        "id": comment.comment_id,
        "author": user_json(state, comment.author, api),
        "body": text_for(state, comment.body, api),
        "updateAuthor": user_json(state, comment.author, api),
        "created": timestamp(state, comment.created),
        "updated": timestamp(state, comment.created),
    }
    if comment.visibility:
        body["visibility"] = dict(comment.visibility)
    if state.flavor == "cloud":
        body["jsdPublic"] = True
    return body


def issue_json(
    state: SandboxState, issue: SandboxIssue, api: str, wanted: set[str] | None, expand: set[str]
) -> dict[str, Any]:
    """An issue, its fields filtered like Jira's ``fields`` parameter, changelog on request."""
    every: dict[str, Any] = {
        "summary": issue.summary,
        "description": text_for(state, issue.description, api),
        "labels": list(issue.labels),
        "duedate": issue.duedate,
        "priority": (
            {
                "self": f"{state.base_url}/rest/api/{api}/priority/{PRIORITIES.index(issue.priority) + 1}",
                "id": str(PRIORITIES.index(issue.priority) + 1),
                "name": issue.priority,
            }
            if issue.priority
            else None
        ),
        "status": status_json(state, issue.status, api),
        "security": level_json(state, issue.security, api) if issue.security else None,
        "issuetype": issuetype_json(state, api),
        "project": {
            "self": f"{state.base_url}/rest/api/{api}/project/{PROJECT_ID}",
            "id": PROJECT_ID,
            "key": "SEC",
            "name": "Security",
        },
        "reporter": user_json(state, issue.reporter, api),
        "created": timestamp(state, issue.created),
        "updated": timestamp(state, issue.updated),
        "comment": {
            "comments": [comment_json(state, issue, c, api) for c in issue.comments],
            "self": f"{state.base_url}/rest/api/{api}/issue/{issue.issue_id}/comment",
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
        "self": f"{state.base_url}/rest/api/{api}/issue/{issue.issue_id}",
        "key": issue.key,
        "fields": every,
    }
    if "changelog" in expand:
        histories = [
            {
                **h,
                "author": user_json(
                    state, state.team_member if h["author"] == "alice" else state.bridge, api
                ),
                "created": timestamp(state, datetime.fromisoformat(h["created"])),
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
