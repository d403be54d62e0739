"""The GitLab tracker plugin: opens confidential issues and reads changes through python-gitlab."""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import gitlab
import gitlab.exceptions
import requests
from pydantic import ConfigDict, Field, SecretStr

from tracker_bridge.errors import (
    ConfidentialityError,
    ConfigurationError,
    FatalError,
    ForeignIssueError,
    NotFoundError,
    RetriableError,
    TrackerAuthError,
    TrackerRefused,
    TrackerUnavailable,
)
from tracker_bridge.ports import (
    IssueDraft,
    IssueRef,
    IssueSnapshot,
    IssueUpdate,
    TextErasure,
    TrackerNote,
)
from tracker_bridge.retry import BackoffRule, RetrySettings, backoff_hook, retry_attempts
from tracker_bridge_gitlab.markup import inert_block, inert_inline, inert_title, withhold_addresses

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    from gitlab.v4.objects import Project, ProjectIssue

T = TypeVar("T")

MARKER_PREFIX = "cvd-report::"
# With the report marker, names the store that opened the issue: idempotency is by both.
STORE_PREFIX = "cvd-store::"
PER_PAGE = 100
REPORTER = 20  # GitLab access level of the Reporter role
# GitLab answers these when it did not do the work: any request, even a POST, may be resent.
_NOT_PROCESSED = frozenset({429})
# Transient for a request that changes nothing (or the same thing again): GET, PUT.
_TRANSIENT = frozenset({429, 500, 502, 503, 504})
# python-gitlab's own retries are switched off on every call: stamina decides (see _call).
_NO_LIBRARY_RETRIES: dict[str, Any] = {"max_retries": 0, "obey_rate_limit": False}


class GitLabSettings(RetrySettings):
    """The ``[tracker.gitlab]`` section."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="GitLab base URL, e.g. https://gitlab.example.org")
    project: str = Field(description="Project path (group/project) or numeric id")
    token: SecretStr = Field(description="Access token with api scope (the core reads token_file)")
    timeout: float = Field(default=10.0, gt=0, description="Seconds before one request times out")
    overlap_minutes: float = Field(
        default=2.0,
        ge=0,
        description="Re-read this far before the bookmark: GitLab may leave updated_at "
        "unchanged on consecutive edits of an issue (python-gitlab#743)",
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

    Every call to GitLab goes through :meth:`_call`: bounded retries with stamina (switched
    off in tests with ``stamina.set_testing``), then python-gitlab and requests errors
    turned into ``tracker_bridge.errors`` without any report text or token in the message.
    """

    kind: ClassVar[str] = "gitlab"
    Settings: ClassVar[type[GitLabSettings]] = GitLabSettings

    def __init__(self, settings: GitLabSettings) -> None:
        self.settings = settings
        self._client: gitlab.Gitlab | None = None
        self._project: Project | None = None
        self._bridge_username = settings.bridge_username
        # Retry-After of the last 429, read by a response hook on our requests session:
        # python-gitlab's exceptions do not carry the headers.
        self._retry_after: float | None = None
        # What each re-read issue looked like when last listed, so the overlap window lists
        # an unchanged issue once and a changed one (same updated_at, new labels) again.
        self._listed: dict[tuple[object, ...], datetime] = {}

    @classmethod
    def from_settings(cls, settings: object) -> GitLabTracker:
        """Build from a validated ``GitLabSettings`` (no network until the first call).

        Raises:
            TypeError: ``settings`` is not a ``GitLabSettings``.
        """
        if not isinstance(settings, GitLabSettings):
            msg = "GitLabTracker needs GitLabSettings"
            raise TypeError(msg)
        return cls(settings)

    # ------------------------------------------------------------------ the Tracker protocol

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Open (or find and complete, after a crash) the confidential issue for the report.

        A placeholder (title = report id, no content, confidential, marker label) is created
        only when no issue carries the marker; it is read back, and the content is written
        only once GitLab shows it confidential.

        Returns:
            The issue's reference (``key`` is the project-scoped iid).

        Raises:
            ForeignIssueError: an issue carries the report's marker label with another store id
                (``cvd-store::`` label) or none where this installation has one.
            ConfidentialityError: GitLab does not show the issue as confidential after the
                placeholder was written; no report text was sent.
            TrackerRefused: GitLab refused a write (HTTP 400, 409, 422, ...; field names only).
            NotFoundError: the issue was deleted while it was being completed (HTTP 404/410).
            TrackerAuthError: the token was refused (HTTP 401) or lacks permission (403).
            ConfigurationError: the project was not found (HTTP 404/410 on the project).
            TrackerUnavailable: GitLab is rate limiting (429), failing (5xx) or slow (408,
                timeouts) after ``max_retries`` + 1 attempts; a create whose answer was lost
                is not resent (the marker lookup of the next pass finds it).
        """
        marker = MARKER_PREFIX + draft.report_id
        if draft.installation:
            marker += f",{STORE_PREFIX}{draft.installation}"
        found = self._find(draft.report_id)
        if found is not None:
            theirs = _installation(str(label) for label in found.labels)
            if theirs != (draft.installation or None):
                msg = (
                    f"GitLab issue {found.attributes.get('web_url') or found.iid} in project "
                    f"{self.settings.project}"
                )
                raise ForeignIssueError.not_adopted(
                    msg,
                    draft.report_id,
                    marker_prefix=MARKER_PREFIX,
                    store_prefix=STORE_PREFIX,
                    theirs=theirs,
                    ours=draft.installation,
                )
        if found is None:
            # A 5xx or timeout on a POST may still have created the issue; resending it could
            # make a second one. The marker lookup on the next call finds it instead.
            created = self._call(
                "create the placeholder issue",
                lambda: self._issues.create(
                    {
                        "title": draft.report_id,
                        "description": "",
                        "confidential": True,
                        "labels": marker,
                    },
                    **_NO_LIBRARY_RETRIES,
                ),
                idempotent=False,
            )
            iid = int(created.iid)
        else:
            iid = int(found.iid)
        issue = self._call(
            "read the issue back",
            lambda: self._issues.get(iid, **_NO_LIBRARY_RETRIES),
            issue=str(iid),
        )
        if issue.confidential is not True and found is not None and not issue.description:
            # Our own empty placeholder from a pass that could not make it confidential: try
            # again (the token may have been given the permission since), then read back.
            self._call(
                "make the placeholder confidential",
                lambda: self._issues.update(iid, {"confidential": True}, **_NO_LIBRARY_RETRIES),
                issue=str(iid),
            )
            issue = self._call(
                "read the issue back",
                lambda: self._issues.get(iid, **_NO_LIBRARY_RETRIES),
                issue=str(iid),
            )
        ref = self._ref(issue)
        if issue.confidential is not True:
            msg = (
                f"GitLab issue {ref.url} for {draft.report_id} is not confidential (the token "
                "may lack permission to set it); no report text was written"
            )
            raise ConfidentialityError(msg)
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
        self._call(
            "write the report to the issue",
            lambda: self._issues.update(iid, payload, **_NO_LIBRARY_RETRIES),
            issue=str(iid),
        )
        return ref

    def find_issue(self, report_id: str) -> IssueRef | None:
        """The issue carrying the report's marker label, or None.

        Raises:
            TrackerUnavailable: GitLab rate limiting, failing or slow, after retries.
            TrackerAuthError: the token was refused (HTTP 401) or lacks permission (403).
            ConfigurationError: the project was not found (HTTP 404/410).
            TrackerRefused: any other HTTP 4xx answer.
        """
        found = self._find(report_id)
        return None if found is None else self._ref(found)

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Add and remove labels and set or clear the due date, in one PUT (none when empty).

        Raises:
            TrackerRefused: GitLab refused the edit (HTTP 400, 409, 422, ...).
            NotFoundError: the issue was deleted (HTTP 404/410).
            TrackerAuthError: the token was refused (HTTP 401) or lacks permission (403).
            TrackerUnavailable: GitLab rate limiting, failing or slow, after retries.
        """
        if update.is_empty:
            return
        payload: dict[str, Any] = {}
        if update.add_labels:
            payload["add_labels"] = ",".join(sorted(update.add_labels))
        if update.remove_labels:
            payload["remove_labels"] = ",".join(sorted(update.remove_labels))
        if update.set_due_date:
            payload["due_date"] = update.due_date.isoformat() if update.due_date else None
        self._call(
            "update the issue",
            lambda: self._issues.update(int(ref.key), payload, **_NO_LIBRARY_RETRIES),
            issue=ref.key,
        )

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add an internal note: the bridge's ``text``, then ``untrusted`` as an inert block.

        Raises:
            TrackerRefused: GitLab refused the note (HTTP 400, 409, 422, ...).
            NotFoundError: the issue was deleted (HTTP 404/410).
            TrackerAuthError: the token was refused (HTTP 401) or lacks permission (403).
            TrackerUnavailable: GitLab rate limiting, failing or slow; a note whose answer was
                lost (5xx, read timeout) is not resent, so it is never doubled.
        """
        body = text if untrusted is None else f"{text}\n\n{inert_block(untrusted)}"
        issue = self._issues.get(int(ref.key), lazy=True)
        # Not resent after a 5xx or a read timeout: a repeated POST could double the note.
        self._call(
            "add a note",
            lambda: issue.notes.create({"body": body, "internal": True}, **_NO_LIBRARY_RETRIES),
            idempotent=False,
            issue=ref.key,
        )

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Issues updated at or after ``since`` (all when None), oldest change first.

        One paginated listing (``updated_after``, ``order_by=updated_at``, ``sort=asc``) and,
        only when something changed, one paginated project events listing for the new
        comments: no request per issue. GitLab sometimes keeps ``updated_at`` on consecutive
        edits (python-gitlab#743), so the listing starts ``overlap_minutes`` before ``since``;
        an issue re-read there is listed again only when its labels, state, due date or
        confidentiality differ from what this tracker listed last.

        Args:
            since: a time-zone aware moment (the sync bookmark), or None for every issue.
                ``overlap_minutes`` (minutes) is subtracted before asking GitLab.

        Raises:
            ValueError: ``since`` is naive (no time zone).
            TrackerUnavailable: GitLab rate limiting, failing or slow, after retries.
            TrackerAuthError: the token was refused (HTTP 401) or lacks permission (403).
            ConfigurationError: the project was not found (HTTP 404/410).
            TrackerRefused: any other HTTP 4xx answer.
        """
        query: dict[str, Any] = {"order_by": "updated_at", "sort": "asc"}
        if since is not None:
            window = since - timedelta(minutes=self.settings.overlap_minutes)
            query["updated_after"] = _gitlab_time(window)
        issues = self._call(
            "list changed issues",
            lambda: list(
                self._issues.list(iterator=True, per_page=PER_PAGE, **query, **_NO_LIBRARY_RETRIES)
            ),
        )
        fresh = [issue for issue in issues if not self._listed_before(issue, since)]
        if not fresh:
            return
        notes = self._new_notes(since)
        for issue in fresh:
            snapshot = self._snapshot(issue, tuple(notes.get(int(issue.iid), ())))
            self._listed[_fingerprint(issue)] = snapshot.updated_at
            yield snapshot
        if since is not None:
            # Issues older than the overlap window can never be re-read by a forward bookmark.
            horizon = since - timedelta(minutes=self.settings.overlap_minutes)
            self._listed = {k: v for k, v in self._listed.items() if v >= horizon}

    def _listed_before(self, issue: ProjectIssue, since: datetime | None) -> bool:
        """Whether ``issue`` is only in the overlap window and unchanged since listed."""
        if since is None or _parse_time(str(issue.updated_at)) >= since:
            return False
        return _fingerprint(issue) in self._listed

    def erase_bridge_text(self, ref: IssueRef, erasure: TextErasure) -> int:
        """Erase in the description and in the notes written by the bridge's account.

        The description is the bridge's own (it opened the issue); the researcher's words in it
        are code spans and fences, so a plain replacement stays inert. Team notes are skipped by
        author. Edits are PUTs of the whole text, so a retried one changes nothing twice.

        Returns:
            How many texts (the description, notes) were changed; 0 when none held the words.

        Raises:
            NotFoundError: the issue was deleted (HTTP 404/410).
            TrackerRefused: GitLab refused a rewrite (HTTP 400, 409, 422, ...).
            TrackerAuthError: the token was refused (HTTP 401) or lacks permission (403).
            TrackerUnavailable: GitLab rate limiting, failing or slow; these calls are not
                retried here (the next pass repeats the erasure).
        """
        iid = int(ref.key)
        with self._seam(f"read issue {ref.key}"):
            issue = self._issues.get(iid, **self._retry)
        changed = 0
        description = str(issue.attributes.get("description") or "")
        erased = erasure.erase_words(description)
        if erased != description:
            with self._seam(f"erase text in the description of issue {ref.key}"):
                self._issues.update(iid, {"description": erased}, **self._retry)
            changed += 1
        bridge = self._bridge_user()
        with self._seam(f"list the notes of issue {ref.key}"):
            notes = list(issue.notes.list(iterator=True, per_page=PER_PAGE, **self._retry))
        for note in notes:
            attributes = note.attributes
            author = str((attributes.get("author") or {}).get("username", ""))
            if attributes.get("system") or not bridge or author != bridge:
                continue
            body = str(attributes.get("body") or "")
            text = (
                erasure.note_replacement
                if erasure.replaces_note(body)
                else erasure.erase_words(body)
            )
            if text != body:
                with self._seam(f"erase text in a note on issue {ref.key}"):
                    issue.notes.update(note.get_id(), {"body": text}, **self._retry)
                changed += 1
        return changed

    def check_access(self) -> list[str]:
        """What ``check --online`` needs to know: the token, the project, the role.

        Setting an issue confidential after creation and editing its labels need the
        Reporter role (access level 20) or higher (GitLab's ``admin_issue`` permission,
        https://docs.gitlab.com/user/permissions/); reads ``GET /user`` and
        ``GET /projects/:id``, writes nothing.

        Returns:
            One line per problem found, naming the instance and project; empty when all is well.
            Every tracker error is turned into such a line: this method raises nothing of its own.
        """
        where = f"GitLab {self.settings.url} project {self.settings.project}"
        try:
            username = self._bridge_user()
            project = self._call(
                "read the project",
                lambda: self._gl.projects.get(self.settings.project, **_NO_LIBRARY_RETRIES),
            )
        except (NotFoundError, ConfigurationError):
            return [f"{where}: the project does not exist or the token cannot see it"]
        except (FatalError, RetriableError, TrackerRefused) as err:
            return [str(err)]
        permissions = project.attributes.get("permissions") or {}
        levels = [
            int((permissions.get(scope) or {}).get("access_level") or 0)
            for scope in ("project_access", "group_access")
        ]
        level = max(levels)
        if level < REPORTER:
            return [
                (
                    f"{where}: the token's account {username!r} has access level {level}; making "
                    f"issues confidential and labelling them needs Reporter ({REPORTER}) or higher"
                )
            ]
        return []

    # ------------------------------------------------------------------ reading helpers

    def _find(self, report_id: str) -> ProjectIssue | None:
        found: list[ProjectIssue] = self._call(
            "look up the report's marker label",
            lambda: self._issues.list(
                labels=MARKER_PREFIX + report_id, per_page=2, get_all=False, **_NO_LIBRARY_RETRIES
            ),
        )
        return found[0] if found else None

    def _new_notes(self, since: datetime | None) -> dict[int, list[TrackerNote]]:
        """Non-system issue comments created at or after ``since``, by issue iid."""
        query: dict[str, Any] = {"target_type": "note", "action": "commented", "sort": "asc"}
        if since is not None:
            # ``after`` is a date and exclusive: start the day before, filter exactly below.
            query["after"] = (since.astimezone(UTC).date() - timedelta(days=1)).isoformat()
        events = self._call(
            "list new comments",
            lambda: list(
                self._project_api.events.list(
                    iterator=True, per_page=PER_PAGE, **query, **_NO_LIBRARY_RETRIES
                )
            ),
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
            self._call("read the token's user", client.auth)
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
            numeric = self._call(
                "look up the project for uploads",
                lambda: self._gl.projects.get(self.settings.project, **_NO_LIBRARY_RETRIES),
            )
        for attachment in draft.attachment_files:
            # The researcher's file name never reaches GitLab's URL as written.
            safe_name = re.sub(r"[^\w.\-+]", "_", attachment.filename)[:100] or "attachment"
            content = attachment.content

            def upload(name: str = safe_name, data: bytes = content) -> dict[str, Any]:
                answer: dict[str, Any] = numeric.upload(name, filedata=data, **_NO_LIBRARY_RETRIES)
                return answer

            answer = self._call("upload an attachment", upload, idempotent=False)
            urls.append(str(answer["url"]))
        return urls

    # ------------------------------------------------------------------ python-gitlab plumbing

    @property
    def _gl(self) -> gitlab.Gitlab:
        if self._client is None:
            session = requests.Session()
            session.hooks["response"].append(self._note_retry_after)
            self._client = gitlab.Gitlab(
                self.settings.url,
                private_token=self.settings.token.get_secret_value(),
                timeout=self.settings.timeout,
                retry_transient_errors=False,
                per_page=PER_PAGE,
                session=session,
            )
        return self._client

    def _note_retry_after(self, response: requests.Response, *_: Any, **__: Any) -> None:
        header = response.headers.get("Retry-After") if response.status_code == 429 else None
        try:
            self._retry_after = float(header) if header is not None else None
        except ValueError:
            self._retry_after = None

    @property
    def _project_api(self) -> Project:
        if self._project is None:
            # Lazy: no GET /projects/:id; the first real call shows a wrong path as a 404.
            self._project = self._gl.projects.get(self.settings.project, lazy=True)
        return self._project

    @property
    def _issues(self) -> Any:
        return self._project_api.issues

    @property
    def _retry(self) -> dict[str, Any]:
        """Per-call options that switch python-gitlab's own retries off (stamina decides)."""
        return dict(_NO_LIBRARY_RETRIES)

    @contextmanager
    def _seam(self, operation: str, *, issue: str | None = None) -> Iterator[None]:
        """Translate vendor errors for ``operation`` without retrying (prefer :meth:`_call`)."""
        try:
            yield
        except (gitlab.exceptions.GitlabError, requests.RequestException) as err:
            raise self._translate(operation, err, issue) from err

    def _call(
        self,
        operation: str,
        action: Callable[[], T],
        *,
        idempotent: bool = True,
        issue: str | None = None,
    ) -> T:
        """Run one python-gitlab call with bounded retries; translate what still fails.

        ``idempotent`` False (a POST that creates) resends only what GitLab did not process
        (429) or a request that never connected. ``issue`` names the issue the call is about:
        its 404 means the issue is gone (skippable); without it a 404 is the project.
        """
        try:
            for attempt in retry_attempts(self.settings, self._backoff(idempotent)):
                with attempt:
                    return action()
        except (gitlab.exceptions.GitlabError, requests.RequestException) as err:
            raise self._translate(operation, err, issue) from err
        msg = "stamina ended without an answer or an error"
        raise AssertionError(msg)  # pragma: no cover

    def _backoff(self, idempotent: bool) -> Callable[[Exception], bool | float]:
        """Stamina's hook (``tracker_bridge.retry``); a 429's Retry-After is obeyed."""
        return backoff_hook(
            BackoffRule(
                transient=_TRANSIENT,
                not_processed=_NOT_PROCESSED,
                connect_failed=(requests.ConnectTimeout,),
                dropped=(requests.Timeout, requests.ConnectionError),
                status=lambda err: (
                    (err.response_code or 0)
                    if isinstance(err, gitlab.exceptions.GitlabError)
                    else None
                ),
                retry_after=lambda err: (
                    self._retry_after
                    if isinstance(err, gitlab.exceptions.GitlabError) and err.response_code == 429
                    else None
                ),
                wait_max_seconds=self.settings.longest_wait_seconds,
            ),
            idempotent=idempotent,
        )

    def _translate(
        self,
        operation: str,
        err: gitlab.exceptions.GitlabError | requests.RequestException,
        issue: str | None,
    ) -> Exception:
        """The tracker_bridge error for what GitLab answered; names the project, never text."""
        where = f"GitLab {self.settings.url} project {self.settings.project}"
        what = f"could not {operation}" + (f" on issue {issue}" if issue else "")
        tries = f"after {self.settings.max_retries + 1} attempts"
        if isinstance(err, requests.RequestException):
            return TrackerUnavailable(f"{where}: {what}: {type(err).__name__} {tries}")
        code = err.response_code
        if isinstance(err, gitlab.exceptions.GitlabAuthenticationError) or code == 401:
            return TrackerAuthError(f"{where}: {what}: the token was refused (HTTP 401)")
        if code == 403:
            return TrackerAuthError(f"{where}: {what}: the token lacks permission (HTTP 403)")
        if code in (404, 410):
            if issue is not None:
                return NotFoundError(f"{where}: {what}: the issue is gone (HTTP {code})")
            return ConfigurationError(
                f"tracker.gitlab.project: {where}: {what}: the project was not found (HTTP "
                f"{code}); check the project path and that the token's user is a member"
            )
        if code is None or code in {408, 429} or code >= 500:
            return TrackerUnavailable(
                f"{where}: {what}: HTTP {code} {tries}", retry_after=self._retry_after
            )
        # 400, 409, 422, ...: GitLab refused this write; field names only, never values.
        return TrackerRefused(f"{where}: {what}: HTTP {code}{_refused_fields(err)}")


def _installation(labels: Iterable[str]) -> str | None:
    """The store id in a ``cvd-store::`` label, or None."""
    found = sorted(lab for lab in labels if lab.startswith(STORE_PREFIX))
    return found[0][len(STORE_PREFIX) :] if found else None


def _gitlab_time(moment: datetime) -> str:
    """An ISO 8601 UTC time as GitLab reads it; milliseconds are rounded down (inclusive bound)."""
    if moment.tzinfo is None:
        msg = "changes_since needs a time-zone aware datetime"
        raise ValueError(msg)
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _fingerprint(issue: ProjectIssue) -> tuple[object, ...]:
    """What the bridge compares on an issue, beyond ``updated_at`` that GitLab may keep."""
    attributes = issue.attributes
    return (
        int(issue.iid),
        str(issue.updated_at),
        tuple(sorted(str(label) for label in issue.labels)),
        str(issue.state),
        attributes.get("due_date"),
        attributes.get("confidential"),
    )


def _refused_fields(err: gitlab.exceptions.GitlabError) -> str:
    """`` (fields: labels, title)`` from GitLab's ``{"message": {field: [...]}}``, else empty."""
    try:
        body = json.loads(err.response_body or b"{}")
    except ValueError:
        return ""
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, dict) and message:
        return f" (fields: {', '.join(sorted(str(k) for k in message))})"
    return ""


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value).astimezone(UTC)


__all__ = ["MARKER_PREFIX", "STORE_PREFIX", "GitLabSettings", "GitLabTracker"]
