"""What the Jira sandbox stores and answers with: the fixed project, users, issues, comments, errors.

Names and ids follow Atlassian's Jira Cloud platform REST API v3 OpenAPI description (December
2025, ../shared/specs) and the Jira Data Center 9.x REST API v2 reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

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
