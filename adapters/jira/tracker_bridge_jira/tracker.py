"""The Jira tracker plugin: opens confidential issues and reads changes through python-jira."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tracker_bridge.ports import IssueDraft, IssueRef, IssueSnapshot, IssueUpdate


class JiraSettings(BaseModel):
    """The ``[tracker.jira]`` section."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Jira base URL, e.g. https://example.atlassian.net")
    project: str = Field(description="Project path (key, e.g. SEC")
    token: SecretStr = Field(description="API token (Cloud) or personal access token (Data Center), or token_file")


class JiraTracker:
    """Confidential CVD issues in one Jira project."""

    kind: ClassVar[str] = "jira"
    Settings: ClassVar[type[JiraSettings]] = JiraSettings

    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: object) -> JiraTracker:
        """Build from a validated ``JiraSettings``."""
        if not isinstance(settings, JiraSettings):
            raise TypeError("JiraTracker needs JiraSettings")
        return cls(settings)

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Not yet built (issue 5)."""
        raise NotImplementedError

    def find_issue(self, report_id: str) -> IssueRef | None:
        """Not yet built (issue 5)."""
        raise NotImplementedError

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Not yet built (issue 5)."""
        raise NotImplementedError

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Not yet built (issue 5)."""
        raise NotImplementedError

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Not yet built (issue 5)."""
        raise NotImplementedError
