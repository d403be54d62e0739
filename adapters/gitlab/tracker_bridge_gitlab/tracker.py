"""The GitLab tracker plugin: opens confidential issues and reads changes through python-gitlab."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tracker_bridge.ports import IssueDraft, IssueRef, IssueSnapshot, IssueUpdate


class GitLabSettings(BaseModel):
    """The ``[tracker.gitlab]`` section."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="GitLab base URL, e.g. https://gitlab.example.org")
    project: str = Field(description="Project path (group/project) or numeric id")
    token: SecretStr = Field(description="Access token with api scope (or token_file)")


class GitLabTracker:
    """Confidential CVD issues in one GitLab project."""

    kind: ClassVar[str] = "gitlab"
    Settings: ClassVar[type[GitLabSettings]] = GitLabSettings

    def __init__(self, settings: GitLabSettings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: object) -> GitLabTracker:
        """Build from a validated ``GitLabSettings``."""
        if not isinstance(settings, GitLabSettings):
            raise TypeError("GitLabTracker needs GitLabSettings")
        return cls(settings)

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Not yet built (issue 4)."""
        raise NotImplementedError

    def find_issue(self, report_id: str) -> IssueRef | None:
        """Not yet built (issue 4)."""
        raise NotImplementedError

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Not yet built (issue 4)."""
        raise NotImplementedError

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Not yet built (issue 4)."""
        raise NotImplementedError

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Not yet built (issue 4)."""
        raise NotImplementedError
