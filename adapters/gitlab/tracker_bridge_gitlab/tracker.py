"""The GitLab tracker plugin: opens confidential issues and reads changes through python-gitlab."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar

import gitlab
import gitlab.exceptions
import requests
from gitlab.v4.objects import Project, ProjectIssue
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tracker_bridge.errors import (
    ConfidentialityError,
    FatalError,
    ForeignIssueError,
    NotFoundError,
    RetriableError,
    TrackerAuthError,
    TrackerError,
    TrackerUnavailable,
)
from tracker_bridge.ports import (
    IssueDraft,
    IssueRef,
    IssueSnapshot,
    IssueUpdate,
    TrackerNote,
)
from tracker_bridge_gitlab.markup import inert_block, inert_inline, inert_title, withhold_addresses

MARKER_PREFIX = "cvd-report::"
# With the report marker, names the store that opened the issue: idempotency is by both.
STORE_PREFIX = "cvd-store::"
PER_PAGE = 100
REPORTER = 20  # GitLab access level of the Reporter role


class GitLabSettings(BaseModel):
    """The ``[tracker.gitlab]`` section."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="GitLab base URL, e.g. https://gitlab.example.org")
    project: str = Field(description="Project path (group/project) or numeric id")
    token: SecretStr = Field(description="Access token with api scope (the core reads token_file)")
    timeout: float = Field(default=10.0, gt=0, description="Seconds before one request times out")
    max_retries: int = Field(
        default=3,
        ge=0,
        description="Retries after 429, 5xx or a timeout (python-gitlab's backoff, honouring "
        "Retry-After); 0 switches retries and their waits off",
    )
    upload_attachments: bool = Field(
        default=False,
        description="Upload attachments to the issue (uploads on confidential issues in public "
        "projects are reachable by URL); otherwise they are listed with size and sha256",
    )
    show_researcher_address: bool = Field(
        default=False, description="Keep mail addresses in the summary block"
    )
    bridge_username: str | None = Field(
        default=None,
        description="The token's username; when unset it is read once from GET /user",
    )


class GitLabTracker:
    """Confidential CVD issues in one GitLab project.

    Every call to GitLab goes through :meth:`_seam`, which turns python-gitlab and requests
    errors into ``tracker_bridge.errors`` without any report text or token in the message.
    """

    kind: ClassVar[str] = "gitlab"
    Settings: ClassVar[type[GitLabSettings]] = GitLabSettings

    def __init__(self, settings: GitLabSettings) -> None:
        self.settings = settings
        self._client: gitlab.Gitlab | None = None
        self._project: Project | None = None
        self._bridge_username = settings.bridge_username

    @classmethod
    def from_settings(cls, settings: object) -> GitLabTracker:
        """Build from a validated ``GitLabSettings`` (no network until the first call)."""
        if not isinstance(settings, GitLabSettings):
            raise TypeError("GitLabTracker needs GitLabSettings")
        return cls(settings)

    # ------------------------------------------------------------------ the Tracker protocol

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Open (or find and complete, after a crash) the confidential issue for the report.

        A placeholder (title = report id, no content, confidential, marker label) is created
        only when no issue carries the marker; it is read back, and the content is written
        only once GitLab shows it confidential.

        Raises:
            ConfidentialityError: GitLab does not show the issue as confidential.
            TrackerUnavailable: GitLab is rate limiting, failing or slow, after retries.
        """
        marker = MARKER_PREFIX + draft.report_id
        if draft.installation:
            marker += f",{STORE_PREFIX}{draft.installation}"
        found = self._find(draft.report_id)
        if found is not None:
            theirs = _installation(str(label) for label in found.labels)
            if theirs != (draft.installation or None):
                raise ForeignIssueError(
                    f"GitLab issue {found.attributes.get('web_url') or found.iid} in project "
                    f"{self.settings.project} carries the marker of {draft.report_id} but was "
                    f"opened by store {theirs or '(none: no cvd-store label)'}, not by this store "
                    f"{draft.installation or '(none)'}; it is not adopted. "
                    + ForeignIssueError.advice(
                        draft.report_id,
                        MARKER_PREFIX + draft.report_id,
                        theirs and STORE_PREFIX + theirs,
                        STORE_PREFIX + (draft.installation or "(none)"),
                    )
                )
        if found is None:
            with self._seam("create the placeholder issue"):
                # A 5xx or timeout on a POST may still have created the issue; retrying it
                # here could make a second one. The marker lookup on the next pass finds it.
                created = self._issues.create(
                    {
                        "title": draft.report_id,
                        "description": "",
                        "confidential": True,
                        "labels": marker,
                    },
                    retry_transient_errors=False,
                    max_retries=self.settings.max_retries,
                )
            iid = int(created.iid)
        else:
            iid = int(found.iid)
        with self._seam("read the issue back"):
            issue = self._issues.get(iid, **self._retry)
        if issue.confidential is not True and found is not None and not issue.description:
            # Our own empty placeholder from a pass that could not make it confidential: try
            # again (the token may have been given the permission since), then read back.
            with self._seam("make the placeholder confidential"):
                self._issues.update(iid, {"confidential": True}, **self._retry)
                issue = self._issues.get(iid, **self._retry)
        ref = self._ref(issue)
        if issue.confidential is not True:
            raise ConfidentialityError(
                f"GitLab issue {ref.url} for {draft.report_id} is not confidential (the token "
                "may lack permission to set it); no report text was written"
            )
        if found is not None and issue.description:
            # Already complete: a second open must not undo the team's later edits.
            return ref
        uploads = self._upload(draft) if self.settings.upload_attachments else []
        payload: dict[str, Any] = {
            "title": f"{draft.report_id}: {inert_title(draft.title)}"[:255],
            "description": self._description(draft, uploads),
            "add_labels": ",".join(sorted(draft.labels)),
            "due_date": draft.due_date.isoformat() if draft.due_date else None,
        }
        with self._seam("write the report to the issue"):
            self._issues.update(iid, payload, **self._retry)
        return ref

    def find_issue(self, report_id: str) -> IssueRef | None:
        """The issue carrying the report's marker label, or None."""
        found = self._find(report_id)
        return None if found is None else self._ref(found)

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Add and remove labels and set or clear the due date, in one PUT."""
        if update.is_empty:
            return
        payload: dict[str, Any] = {}
        if update.add_labels:
            payload["add_labels"] = ",".join(sorted(update.add_labels))
        if update.remove_labels:
            payload["remove_labels"] = ",".join(sorted(update.remove_labels))
        if update.set_due_date:
            payload["due_date"] = update.due_date.isoformat() if update.due_date else None
        with self._seam(f"update issue {ref.key}"):
            self._issues.update(int(ref.key), payload, **self._retry)

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add an internal note: the bridge's ``text``, then ``untrusted`` as an inert block."""
        body = text if untrusted is None else f"{text}\n\n{inert_block(untrusted)}"
        issue = self._issues.get(int(ref.key), lazy=True)
        with self._seam(f"add a note to issue {ref.key}"):
            # Not retried on 5xx/timeouts: a repeated POST could double the note.
            issue.notes.create(
                {"body": body, "internal": True},
                retry_transient_errors=False,
                max_retries=self.settings.max_retries,
            )

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Issues updated at or after ``since`` (all when None), oldest change first.

        One paginated listing (``updated_after``, ``order_by=updated_at``, ``sort=asc``) and,
        only when something changed, one paginated project events listing for the new
        comments (a comment always moves its issue's ``updated_at``): no request per issue.
        """
        query: dict[str, Any] = {"order_by": "updated_at", "sort": "asc"}
        if since is not None:
            query["updated_after"] = _gitlab_time(since)
        with self._seam("list changed issues"):
            issues = list(
                self._issues.list(iterator=True, per_page=PER_PAGE, **query, **self._retry)
            )
        if not issues:
            return
        notes = self._new_notes(since)
        for issue in issues:
            snapshot = self._snapshot(issue, tuple(notes.get(int(issue.iid), ())))
            yield snapshot

    def check_access(self) -> list[str]:
        """What ``check --online`` needs to know: the token, the project, the role.

        Setting an issue confidential after creation and editing its labels need the
        Reporter role (access level 20) or higher (GitLab's ``admin_issue`` permission,
        https://docs.gitlab.com/user/permissions/); reads ``GET /user`` and
        ``GET /projects/:id``, writes nothing.
        """
        where = f"GitLab {self.settings.url} project {self.settings.project}"
        try:
            username = self._bridge_user()
            with self._seam("read the project"):
                project = self._gl.projects.get(self.settings.project, **self._retry)
        except NotFoundError:
            return [f"{where}: the project does not exist or the token cannot see it"]
        except (TrackerError, FatalError, RetriableError) as err:
            return [str(err)]
        permissions = project.attributes.get("permissions") or {}
        levels = [
            int((permissions.get(scope) or {}).get("access_level") or 0)
            for scope in ("project_access", "group_access")
        ]
        level = max(levels)
        if level < REPORTER:
            return [
                f"{where}: the token's account {username!r} has access level {level}; making "
                f"issues confidential and labelling them needs Reporter ({REPORTER}) or higher"
            ]
        return []

    # ------------------------------------------------------------------ reading helpers

    def _find(self, report_id: str) -> ProjectIssue | None:
        with self._seam("look up the report's marker label"):
            found = self._issues.list(
                labels=MARKER_PREFIX + report_id, per_page=2, get_all=False, **self._retry
            )
        return found[0] if found else None

    def _new_notes(self, since: datetime | None) -> dict[int, list[TrackerNote]]:
        """Non-system issue comments created at or after ``since``, by issue iid."""
        query: dict[str, Any] = {"target_type": "note", "action": "commented", "sort": "asc"}
        if since is not None:
            # ``after`` is a date and exclusive: start the day before, filter exactly below.
            query["after"] = (since.astimezone(UTC).date() - timedelta(days=1)).isoformat()
        with self._seam("list new comments"):
            events = list(
                self._project_api.events.list(
                    iterator=True, per_page=PER_PAGE, **query, **self._retry
                )
            )
        notes: dict[int, list[TrackerNote]] = {}
        for event in events:
            note = event.attributes.get("note")
            if (
                not isinstance(note, dict)
                or note.get("system")
                or note.get("noteable_type") != "Issue"
            ):
                continue
            created = _parse_time(str(note["created_at"]))
            if since is not None and created < since:
                continue
            author = str((note.get("author") or {}).get("username", ""))
            notes.setdefault(int(note["noteable_iid"]), []).append(
                TrackerNote(
                    note_id=str(note["id"]),
                    author=author,
                    body=str(note.get("body") or ""),
                    created_at=created,
                    internal=bool(note.get("internal", note.get("confidential", False))),
                    by_bridge=author == self._bridge_user(),
                )
            )
        return notes

    def _bridge_user(self) -> str:
        if self._bridge_username is None:
            client = self._gl
            with self._seam("read the token's user"):
                client.auth()
            user = client.user
            self._bridge_username = "" if user is None else str(user.username)
        return self._bridge_username

    def _snapshot(self, issue: ProjectIssue, notes: tuple[TrackerNote, ...]) -> IssueSnapshot:
        labels = frozenset(str(label) for label in issue.labels)
        marker = next((lab for lab in sorted(labels) if lab.startswith(MARKER_PREFIX)), None)
        due = issue.attributes.get("due_date")
        return IssueSnapshot(
            ref=self._ref(issue),
            report_id=marker[len(MARKER_PREFIX) :] if marker else None,
            status=str(issue.state),
            labels=labels,
            due_date=date.fromisoformat(due) if due else None,
            updated_at=_parse_time(str(issue.updated_at)),
            notes=notes,
            confidential=issue.attributes.get("confidential") is True,
            installation=_installation(labels),
        )

    def _ref(self, issue: ProjectIssue) -> IssueRef:
        return IssueRef(
            tracker=self.kind,
            project=self.settings.project,
            key=str(issue.iid),
            url=str(issue.attributes.get("web_url") or ""),
        )

    # ------------------------------------------------------------------ writing helpers

    def _description(self, draft: IssueDraft, uploads: Sequence[str] = ()) -> str:
        """The summary block the team reads first, then the researcher's words, inert."""
        lines = ["**Reported to the security team through tracker-bridge**", ""]
        for label, value in draft.summary:
            shown = value if self.settings.show_researcher_address else withhold_addresses(value)
            lines.append(f"- {inert_title(label)}: {inert_inline(shown)}")
        if draft.unencrypted_parts:
            lines += ["", "**Parts that arrived unencrypted**", ""]
            lines += [f"- {inert_inline(part)}" for part in draft.unencrypted_parts]
        if draft.attachments:
            where = "uploaded to this issue" if uploads else "kept in the bridge's store"
            lines += ["", f"**Attachments** ({where})", ""]
            for index, item in enumerate(draft.attachments):
                # GitLab's own upload path (relative, on this instance): nothing loads from outside.
                name = inert_inline(item.filename)
                # The untrusted name stays a code span; the link text is ours.
                shown = f"{name} ([file]({uploads[index]}))" if index < len(uploads) else name
                lines.append(
                    f"- {shown} ({inert_inline(item.content_type)}, "
                    f"{item.size} bytes, sha256 {item.sha256})"
                )
        lines += [
            "",
            "**Report as the researcher wrote it** (shown verbatim; links and markup are inert)",
            "",
            inert_block(draft.body),
        ]
        return "\n".join(lines)

    def _upload(self, draft: IssueDraft) -> list[str]:
        """Upload the attachment files (only after confidentiality was verified); their URLs."""
        urls: list[str] = []
        if draft.attachment_files:
            # python-gitlab double-encodes a path-style project id in the upload URL
            # (security%252Fcvd): upload through the numeric id, fetched once.
            with self._seam("look up the project for uploads"):
                numeric = self._gl.projects.get(self.settings.project, **self._retry)
        for attachment in draft.attachment_files:
            with self._seam("upload an attachment"):
                # The researcher's file name never reaches GitLab's URL as written.
                safe_name = re.sub(r"[^\w.\-+]", "_", attachment.filename)[:100] or "attachment"
                answer = numeric.upload(safe_name, filedata=attachment.content)
            urls.append(str(answer["url"]))
        return urls

    # ------------------------------------------------------------------ python-gitlab plumbing

    @property
    def _retry(self) -> dict[str, Any]:
        return {"max_retries": self.settings.max_retries}

    @property
    def _gl(self) -> gitlab.Gitlab:
        if self._client is None:
            self._client = gitlab.Gitlab(
                self.settings.url,
                private_token=self.settings.token.get_secret_value(),
                timeout=self.settings.timeout,
                retry_transient_errors=self.settings.max_retries > 0,
                per_page=PER_PAGE,
            )
        return self._client

    @property
    def _project_api(self) -> Project:
        if self._project is None:
            # Lazy: no GET /projects/:id; the first real call shows a wrong path as a 404.
            self._project = self._gl.projects.get(self.settings.project, lazy=True)
        return self._project

    @property
    def _issues(self) -> Any:
        return self._project_api.issues

    @contextmanager
    def _seam(self, operation: str) -> Iterator[None]:
        """Translate vendor errors for ``operation``; messages name the project, never text."""
        where = f"GitLab {self.settings.url} project {self.settings.project}"
        try:
            yield
        except gitlab.exceptions.GitlabAuthenticationError as err:
            raise TrackerAuthError(
                f"{where}: could not {operation}: the token was refused (HTTP 401)"
            ) from err
        except gitlab.exceptions.GitlabError as err:
            code = err.response_code
            if code == 403:
                raise TrackerAuthError(
                    f"{where}: could not {operation}: the token lacks permission (HTTP 403)"
                ) from err
            if code == 404:
                raise NotFoundError(
                    f"{where}: could not {operation}: not found (HTTP 404)"
                ) from err
            if code is not None and (code == 429 or code >= 500):
                raise TrackerUnavailable(
                    f"{where}: could not {operation}: HTTP {code} after "
                    f"{self.settings.max_retries} retries"
                ) from err
            raise TrackerError(f"{where}: could not {operation}: HTTP {code}") from err
        except (requests.Timeout, requests.ConnectionError) as err:
            raise TrackerUnavailable(
                f"{where}: could not {operation}: {type(err).__name__} after "
                f"{self.settings.max_retries} retries"
            ) from err


def _installation(labels: Iterable[str]) -> str | None:
    """The store id in a ``cvd-store::`` label, or None."""
    found = sorted(lab for lab in labels if lab.startswith(STORE_PREFIX))
    return found[0][len(STORE_PREFIX) :] if found else None


def _gitlab_time(moment: datetime) -> str:
    """An ISO 8601 UTC time as GitLab reads it; milliseconds are rounded down (inclusive bound)."""
    if moment.tzinfo is None:
        raise ValueError("changes_since needs a time-zone aware datetime")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


__all__ = ["MARKER_PREFIX", "STORE_PREFIX", "GitLabSettings", "GitLabTracker"]
