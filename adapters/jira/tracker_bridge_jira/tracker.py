"""The Jira tracker plugin: confidential CVD issues (issue security levels) through the jira library."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

import requests
import stamina
from jira import JIRA, JIRAError
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from tracker_bridge.errors import (
    BridgeError,
    ConfidentialityError,
    ConfigurationError,
    ForeignIssueError,
    NotFoundError,
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
from tracker_bridge_jira.markup import (
    adf_document,
    adf_map_text,
    adf_to_text,
    one_line_summary,
    wiki_document,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

T = TypeVar("T")

MARKER_PREFIX = "cvd-report-"
# With the report marker, names the store that opened the issue: idempotency is by both.
STORE_PREFIX = "cvd-store-"
SEARCH_FIELDS = ["status", "labels", "duedate", "updated", "comment", "security"]
# Jira answers these when it did not process the request, so even a POST may be resent.
_NOT_PROCESSED = {429, 503}
_RETRIABLE = {429, 500, 502, 503, 504}
# search/jql accepts at most this many reconcileIssues ids (Atlassian's OpenAPI, POST
# /rest/api/3/search/jql, SearchAndReconcileRequestBean.reconcileIssues).
RECONCILE_LIMIT = 50


class CommentVisibility(BaseModel):
    """Who may read the bridge's comments: a project role or a group."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["role", "group"]
    value: str = Field(min_length=1)


class JiraSettings(RetrySettings):
    """The ``[tracker.jira]`` section."""

    model_config = ConfigDict(extra="forbid")

    url: str = Field(description="Jira base URL, e.g. https://example.atlassian.net")
    project: str = Field(min_length=1, description="Project key, e.g. SEC")
    issue_type: str = Field(default="Bug", description="Issue type name or id")
    email: str | None = Field(
        default=None, description="Cloud: the account's email (basic auth with the API token)"
    )
    token: SecretStr = Field(
        description="Cloud API token, or Data Center personal access token (bearer)"
    )
    security_level: str = Field(
        min_length=1, description="Issue security level (name or id) for every CVD issue"
    )
    comment_visibility: CommentVisibility | None = Field(
        default=None, description="Restrict the bridge's comments to this role or group"
    )
    priority_by_severity: dict[str, str] = Field(
        default_factory=dict, description="Severity band -> Jira priority name"
    )
    overlap_minutes: float = Field(
        default=2.0, ge=0, description="Re-read this far before the bookmark (search lag)"
    )
    search_lag_seconds: float = Field(
        default=10.0,
        ge=0,
        description="How long Cloud search may miss a fresh write: ids written this long ago "
        "are sent as reconcileIssues, and a create whose answer was lost is looked for this long",
    )
    timeout: float = Field(default=30.0, gt=0, description="Seconds per HTTP request")
    # The one default Jira keeps apart from RetrySettings: its first wait is 1 s (GitLab 0.1 s).
    retry_wait_seconds: float = Field(
        default=1.0,
        ge=0,
        description="First backoff wait; doubles per retry; 0 switches every wait off, "
        "a Retry-After's too",
    )
    page_size: int = Field(default=50, ge=1, le=100, description="Issues per search page")


class JiraTracker:
    """Confidential CVD issues in one Jira project (Cloud REST v3 or Data Center REST v2)."""

    kind: ClassVar[str] = "jira"
    Settings: ClassVar[type[JiraSettings]] = JiraSettings

    def __init__(self, settings: JiraSettings) -> None:
        self.settings = settings
        self._client: JIRA | None = None
        self._cloud = False
        self._own_account: str | None = None
        self._screen: dict[str, Any] | None = None
        self._level_id: str | None = None
        self._issue_type_id: str | None = None
        self._project_id: str | None = None
        # (key, updated) pairs already listed, so the overlap window lists each change once.
        self._listed: dict[tuple[str, str], datetime] = {}
        # Plain REST calls (edits, createmeta, Cloud search) go through this session, with
        # the same credentials as the jira client: no private attributes of the jira package.
        self._http: requests.Session | None = None
        self._api = ""
        # Issue ids this tracker wrote, with when: sent as reconcileIssues so Cloud search
        # reads the bridge's own writes (search/jql is eventually consistent).
        self._written: dict[int, float] = {}
        # Issue key -> id, learned from creates and searches (reconcileIssues takes ids).
        self._ids: dict[str, str] = {}

    @classmethod
    def from_settings(cls, settings: object) -> JiraTracker:
        """Build from a validated ``JiraSettings``; no network until the first call.

        Raises:
            TypeError: ``settings`` is not a ``JiraSettings``.
        """
        if not isinstance(settings, JiraSettings):
            msg = "JiraTracker needs JiraSettings"
            raise TypeError(msg)
        return cls(settings)

    # ------------------------------------------------------------------ the Tracker protocol

    def open_issue(self, draft: IssueDraft) -> IssueRef:
        """Open (or find, after a crash) the confidential issue for ``draft.report_id``.

        A placeholder carrying only the report id, the marker label and the security level is
        created first and read back; report text is written only once the level is proven.

        Returns:
            The issue's reference (``key`` is the Jira issue key, e.g. ``SEC-12``).

        Raises:
            ForeignIssueError: an issue carries the report's marker label with another store id
                (``cvd-store-`` label) or none where this installation has one.
            ConfidentialityError: the Security Level field is not on the create screen, or the
                issue came back without the level; no report text was sent.
            ConfigurationError: a label has a space or quote, the project, issue type or
                security level does not exist (HTTP 404/410 on the project), or Jira Cloud
                is configured without ``email``.
            TrackerRefused: Jira refused a write (HTTP 400, 409, 422, ...; field names only).
            NotFoundError: the issue was deleted while it was being completed (HTTP 404/410).
            TrackerAuthError: the token was refused or lacks permission (HTTP 401/403).
            TrackerUnavailable: Jira rate limiting, failing or slow after ``max_retries`` + 1
                attempts; on Cloud, a create whose answer was lost is looked for by its marker
                for up to ``search_lag_seconds`` (seconds) instead of being resent.
        """
        marker = self._marker(draft.report_id)
        markers = [marker]
        if draft.installation:
            markers.append(STORE_PREFIX + draft.installation)
            self._check_label(markers[-1])
        self._load_create_screen()
        ref = None
        found = self._find(draft.report_id)
        if found is not None:
            ref = self._ref(str(found["key"]))
            theirs = _installation((found.get("fields") or {}).get("labels") or [])
            if theirs != (draft.installation or None):
                msg = f"Jira issue {ref.url} in project {self.settings.project}"
                raise ForeignIssueError.not_adopted(
                    msg,
                    draft.report_id,
                    marker_prefix=MARKER_PREFIX,
                    store_prefix=STORE_PREFIX,
                    theirs=theirs,
                    ours=draft.installation,
                )
        if ref is None:
            ref = self._create_placeholder(draft.report_id, markers)
        if found is not None and not self._has_level(ref):
            # Our own placeholder from a pass that could not set the level: try again (the
            # token may have been given Set Issue Security since); verified just below.
            self._edit(
                ref,
                fields={"security": {"id": self._level_id}},
                update={},
                doing=f"setting the security level of {ref.key}",
            )
        self._verify_security(ref, draft.report_id)
        fields: dict[str, Any] = {
            "summary": one_line_summary(f"{draft.report_id}: {draft.title}"),
            "description": self._rich_text(
                [f"{label}: {value}" for label, value in draft.summary], draft.body
            ),
            "duedate": draft.due_date.isoformat() if draft.due_date else None,
        }
        priority = self._priority_for(draft.labels)
        if priority is not None:
            fields["priority"] = {"name": priority}
        labels = [{"add": label} for label in sorted({*markers, *draft.labels})]
        self._edit(
            ref, fields=fields, update={"labels": labels}, doing=f"writing {draft.report_id}"
        )
        return ref

    def _create_placeholder(self, report_id: str, markers: list[str]) -> IssueRef:
        """POST the placeholder; after a lost answer, look for it instead of making a second."""
        placeholder = {
            "project": {"id": self._project_id},
            "issuetype": {"id": self._issue_type_id},
            "summary": report_id,
            "labels": markers,
            "security": {"id": self._level_id},
        }
        try:
            created = self._call(
                f"creating the placeholder for {report_id}",
                lambda client: client.create_issue(fields=placeholder, prefetch=False),
                idempotent=False,
            )
        except TrackerUnavailable as err:
            if not (self._cloud and _answer_lost(err.__cause__)):
                raise
            # A timeout or 5xx after Jira may have created it. Cloud search lags behind writes
            # and the new id is unknown (reconcileIssues cannot help), so look for the marker
            # until the lag has passed: found, it is the one; not found, nothing was made.
            found = self._find_after_lost_answer(report_id)
            if found is None:
                raise
            return found
        self._ids[str(created.key)] = str(created.id)
        self._remember_write(str(created.id))
        return self._ref(str(created.key))

    def _find_after_lost_answer(self, report_id: str) -> IssueRef | None:
        """The marker's issue once search has caught up, or None after ``search_lag_seconds``."""
        try:
            for attempt in stamina.retry_context(
                on=(_NotYetSearchable, TrackerUnavailable),
                attempts=None,
                timeout=self.settings.search_lag_seconds,
                wait_initial=0.25,
                wait_max=1.0,
                wait_jitter=0.1,
            ):
                with attempt:
                    found = self.find_issue(report_id)
                    if found is None:
                        raise _NotYetSearchable(report_id)  # noqa: TRY301 - raising inside the attempt is how stamina retries a not-yet-indexed issue
                    return found
        except (_NotYetSearchable, TrackerUnavailable):
            return None
        return None  # pragma: no cover - stamina ends with an answer or an error

    def find_issue(self, report_id: str) -> IssueRef | None:
        """An issue carrying the report's marker label (any installation's), or None.

        Raises:
            ConfigurationError: the report id makes a label Jira refuses (space or quote), or
                the project was not found (HTTP 404/410).
            TrackerUnavailable: Jira rate limiting, failing or slow, after retries.
            TrackerAuthError: the token was refused or lacks permission (HTTP 401/403).
            TrackerRefused: any other HTTP 4xx answer.
        """
        found = self._find(report_id)
        return None if found is None else self._ref(str(found["key"]))

    def _find(self, report_id: str) -> dict[str, Any] | None:
        jql = f'project = "{self.settings.project}" AND labels = "{self._marker(report_id)}"'
        for raw in self._search(jql, fields=["labels"], expand=None, limit=1):
            return raw
        return None

    def update_issue(self, ref: IssueRef, update: IssueUpdate) -> None:
        """Add and remove labels and set the due date in one PUT (none when empty).

        Raises:
            ConfigurationError: a label to add has a space or quote, which Jira refuses.
            TrackerRefused: Jira refused the edit (HTTP 400, 409, 422, ...).
            NotFoundError: the issue was deleted (HTTP 404/410).
            TrackerAuthError: the token was refused or lacks permission (HTTP 401/403).
            TrackerUnavailable: Jira rate limiting, failing or slow, after retries.
        """
        if update.is_empty:
            return
        for label in update.add_labels:
            self._check_label(label)
        operations = [{"add": label} for label in sorted(update.add_labels)]
        operations += [{"remove": label} for label in sorted(update.remove_labels)]
        fields: dict[str, Any] = {}
        if update.set_due_date:
            fields["duedate"] = update.due_date.isoformat() if update.due_date else None
        self._edit(
            ref,
            fields=fields,
            update={"labels": operations} if operations else {},
            doing=f"updating {ref.key}",
        )

    def add_note(self, ref: IssueRef, text: str, *, untrusted: str | None = None) -> None:
        """Add a restricted comment: the bridge's ``text``, then ``untrusted`` rendered inert.

        Raises:
            TrackerRefused: Jira refused the comment (HTTP 400, 409, 422, ...).
            NotFoundError: the issue was deleted (HTTP 404/410).
            TrackerAuthError: the token was refused or lacks permission (HTTP 401/403).
            TrackerUnavailable: Jira rate limiting, failing or slow; a comment whose answer was
                lost is not resent, so it is never doubled.
        """
        body = self._rich_text(text.splitlines() or [text], untrusted)
        visibility = (
            self.settings.comment_visibility.model_dump()
            if self.settings.comment_visibility
            else None
        )
        self._call(
            f"commenting on {ref.key}",
            lambda client: client.add_comment(ref.key, body, visibility=visibility),
            idempotent=False,
            issue=ref.key,
        )

    def erase_bridge_text(self, ref: IssueRef, erasure: TextErasure) -> int:
        """Erase in the description and in the comments written by the bridge's account.

        Wiki text (Data Center) is replaced as written; ADF (Cloud) text node by text node, so
        the document stays text-only. Team comments are skipped by author.

        Returns:
            How many texts (the description, comments) were changed; 0 when none held the words.

        Raises:
            NotFoundError: an edit found the issue deleted (HTTP 404/410). A 404 on the first
                read is reported as ConfigurationError (the read names no issue).
            ConfigurationError: see above; also a 404/410 on reading the comments.
            TrackerRefused: Jira refused a rewrite (HTTP 400, 409, 422, ...).
            TrackerAuthError: the token was refused or lacks permission (HTTP 401/403).
            TrackerUnavailable: Jira rate limiting, failing or slow, after retries.
        """
        client = self._connected()
        raw = self._call(
            f"reading {ref.key}",
            lambda c: c._get_json(f"issue/{ref.key}", params={"fields": "description"}),
        )
        changed = 0
        description = (raw.get("fields") or {}).get("description")
        erased = self._erase_words(description, erasure)
        if erased != description:
            self._edit(
                ref,
                fields={"description": erased},
                update={},
                doing=f"erasing text in the description of {ref.key}",
            )
            changed += 1
        listing = self._call(
            f"reading the comments of {ref.key}",
            lambda c: c._get_json(f"issue/{ref.key}/comment", params={"maxResults": 5000}),
        )
        for comment in listing.get("comments") or []:
            author = comment.get("author") or {}
            author_id = str(author.get("accountId") or author.get("name") or "")
            if not self._own_account or author_id != self._own_account:
                continue
            body = comment.get("body")
            text = (
                self._rich_text([erasure.note_replacement], None)
                if erasure.replaces_note(adf_to_text(body))
                else self._erase_words(body, erasure)
            )
            if text == body:
                continue
            url = client._get_url(f"issue/{ref.key}/comment/{comment['id']}")

            def put(session_owner: JIRA, url: str = url, text: Any = text) -> None:
                session_owner._session.put(url, json={"body": text})

            self._call(f"erasing text in a comment on {ref.key}", put)
            changed += 1
        return changed

    @staticmethod
    def _erase_words(text: Any, erasure: TextErasure) -> Any:
        if isinstance(text, str):
            return erasure.erase_words(text)
        if isinstance(text, dict):
            return adf_map_text(text, erasure.erase_words)
        return text

    def changes_since(self, since: datetime | None) -> Iterator[IssueSnapshot]:
        """Issues updated at or after ``since`` (minus the overlap window), oldest first.

        The JQL uses epoch milliseconds, which Jira reads the same in every time zone; the
        overlap window catches changes the search index showed late, and changes already
        listed by this tracker inside that window are not listed again.

        Args:
            since: a time-zone aware moment (the sync bookmark), or None for every issue.
                ``overlap_minutes`` (minutes) is subtracted before searching.

        Raises:
            ValueError: ``since`` is naive (no time zone).
            ConfigurationError: the project was not found (HTTP 404/410).
            TrackerUnavailable: Jira rate limiting, failing or slow, after retries.
            TrackerAuthError: the token was refused or lacks permission (HTTP 401/403).
            TrackerRefused: any other HTTP 4xx answer.
        """
        clauses = [f'project = "{self.settings.project}"']
        if since is not None:
            if since.tzinfo is None:
                msg = "changes_since needs a time-zone aware bookmark"
                raise ValueError(msg)
            window = since - timedelta(minutes=self.settings.overlap_minutes)
            clauses.append(f"updated >= {int(window.timestamp() * 1000)}")
        jql = " AND ".join(clauses) + " ORDER BY updated ASC"
        seen: set[tuple[str, str]] = set()
        for raw in self._search(jql, fields=SEARCH_FIELDS, expand="changelog", limit=None):
            fields = raw.get("fields") or {}
            identity = (str(raw["key"]), str(fields.get("updated")))
            if identity in seen:
                continue
            seen.add(identity)
            snapshot = self._snapshot(raw, since)
            if since is not None and snapshot.updated_at < since and identity in self._listed:
                continue
            self._listed[identity] = snapshot.updated_at
            yield snapshot
        self._forget_listed(since)

    def check_access(self) -> list[str]:
        """What ``check --online`` needs to know: the token, the project, the security level.

        Reads ``myself``, the project and its create screen (createmeta): the security level
        must be offered there for this account, which is how Jira says the token may set it.
        Writes nothing.

        Returns:
            One line per problem found, naming the instance and project; empty when all is well.
            Every ``BridgeError`` is turned into such a line: this method raises nothing of its own.
        """
        try:
            self._connected()
            self._load_create_screen()
        except (NotFoundError, ConfigurationError) as err:
            if isinstance(err, ConfigurationError) and not str(err).startswith(
                "tracker.jira.project:"
            ):
                return [str(err)]
            return [
                (
                    f"Jira {self.settings.url}: project {self.settings.project} does not exist or "
                    "the token cannot see it"
                )
            ]
        except BridgeError as err:
            return [str(err)]
        return []

    # ------------------------------------------------------------------ reading Jira

    def _snapshot(self, raw: Mapping[str, Any], since: datetime | None) -> IssueSnapshot:
        fields = raw.get("fields") or {}
        labels = frozenset(str(x) for x in fields.get("labels") or [])
        marker = next((x for x in labels if x.startswith(MARKER_PREFIX)), None)
        status = fields.get("status") or {}
        notes = []
        for comment in (fields.get("comment") or {}).get("comments") or []:
            created = parse_jira_time(comment["created"])
            if since is not None and created < since:
                continue
            author = comment.get("author") or {}
            author_id = str(author.get("accountId") or author.get("name") or "")
            notes.append(
                TrackerNote(
                    note_id=str(comment["id"]),
                    author=str(author.get("displayName") or author_id),
                    body=adf_to_text(comment.get("body")),
                    created_at=created,
                    internal=comment.get("visibility") is not None,
                    by_bridge=author_id == self._own_account,
                )
            )
        due = fields.get("duedate")
        security = fields.get("security") or {}
        return IssueSnapshot(
            ref=self._ref(str(raw["key"])),
            report_id=marker[len(MARKER_PREFIX) :] if marker else None,
            status=str(status.get("name", "")),
            status_category=(status.get("statusCategory") or {}).get("key"),
            labels=labels,
            due_date=date.fromisoformat(due) if due else None,
            updated_at=parse_jira_time(fields["updated"]),
            notes=tuple(notes),
            confidential=str(security.get("id", "")) == self._level_id
            if self._level_id
            else bool(security),
            installation=_installation(labels),
        )

    def _search(
        self, jql: str, *, fields: list[str], expand: str | None, limit: int | None
    ) -> Iterator[dict[str, Any]]:
        """Page through a JQL search: ``search/jql`` tokens on Cloud, ``search`` offsets on DC."""
        page_size = min(self.settings.page_size, limit or self.settings.page_size)
        yielded = 0
        token: str | None = None
        reconcile: list[int] = []
        start = 0
        while True:
            if self._connected().deploymentType == "Cloud":
                # The same reconcile ids on every page, as the API asks.
                reconcile = self._reconcile_ids() if token is None else reconcile
                page = self._call(
                    "searching issues",
                    self._cloud_page(jql, token, page_size, fields, expand, reconcile),
                )
                issues = page.get("issues") or []
                token = page.get("nextPageToken")
                last = bool(page.get("isLast", token is None)) or not token
            else:
                page = self._call(
                    "searching issues", self._dc_page(jql, start, page_size, fields, expand)
                )
                issues = page.get("issues") or []
                start += len(issues)
                last = not issues or start >= int(page.get("total", 0))
            for raw in issues:
                if raw.get("id") is not None:
                    self._ids[str(raw["key"])] = str(raw["id"])
                yield raw
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            if last:
                return

    def _cloud_page(
        self,
        jql: str,
        token: str | None,
        size: int,
        fields: list[str],
        expand: str | None,
        reconcile: list[int],
    ) -> Callable[[JIRA], dict[str, Any]]:
        """POST search/jql (Cloud), with ``reconcileIssues`` so our own writes are read back."""
        body: dict[str, Any] = {"jql": jql, "maxResults": size, "fields": list(fields)}
        if token:
            body["nextPageToken"] = token
        if expand:
            body["expand"] = expand
        if reconcile:
            body["reconcileIssues"] = reconcile

        def fetch(_client: JIRA) -> dict[str, Any]:
            page: dict[str, Any] = self._rest("POST", "search/jql", body)
            return page

        return fetch

    def _remember_write(self, issue_id: str) -> None:
        if issue_id.isdigit():
            self._written[int(issue_id)] = time.monotonic()

    def _reconcile_ids(self) -> list[int]:
        """Ids this tracker wrote within the search lag, newest first, at most 50."""
        horizon = time.monotonic() - self.settings.search_lag_seconds
        self._written = {k: v for k, v in self._written.items() if v >= horizon}
        newest = sorted(self._written, key=self._written.__getitem__, reverse=True)
        return newest[:RECONCILE_LIMIT]

    @staticmethod
    def _dc_page(
        jql: str, start: int, size: int, fields: list[str], expand: str | None
    ) -> Callable[[JIRA], dict[str, Any]]:
        def fetch(client: JIRA) -> dict[str, Any]:
            return client.search_issues(
                jql,
                startAt=start,
                maxResults=size,
                fields=list(fields),
                expand=expand,
                json_result=True,
            )

        return fetch

    def _forget_listed(self, since: datetime | None) -> None:
        # Pairs older than the overlap window can never be listed again by a forward bookmark.
        if since is None:
            return
        horizon = since - timedelta(minutes=self.settings.overlap_minutes)
        self._listed = {k: v for k, v in self._listed.items() if v >= horizon}

    # ------------------------------------------------------------------ writing Jira

    def _has_level(self, ref: IssueRef) -> bool:
        issue = self._call(
            f"reading back {ref.key}",
            lambda client: client.issue(ref.key, fields="security,labels"),
            issue=ref.key,
        )
        security = issue.raw.get("fields", {}).get("security") or {}
        return str(security.get("id", "")) == self._level_id

    def _verify_security(self, ref: IssueRef, report_id: str) -> None:
        if not self._has_level(ref):
            msg = (
                f"Jira issue {ref.key} for {report_id} in project {self.settings.project} "
                f"came back without security level {self.settings.security_level!r} (the token "
                "may lack the Set Issue Security permission); no report text was written"
            )
            raise ConfidentialityError(msg)

    def _edit(
        self, ref: IssueRef, *, fields: dict[str, Any], update: dict[str, Any], doing: str
    ) -> None:
        # One plain PUT, no reload: the jira Issue.update() would GET before and after.
        self._call(
            doing,
            lambda _client: self._rest(
                "PUT", f"issue/{ref.key}", {"fields": fields, "update": update}
            ),
            issue=ref.key,
        )
        issue_id = self._ids.get(ref.key)
        if issue_id is not None:
            self._remember_write(issue_id)

    def _rich_text(self, bridge_lines: list[str], untrusted: str | None) -> Any:
        if self._connected().deploymentType == "Cloud":
            return adf_document(bridge_lines, untrusted)
        return wiki_document(bridge_lines, untrusted)

    def _priority_for(self, labels: frozenset[str]) -> str | None:
        if not self.settings.priority_by_severity or "priority" not in (self._screen or {}):
            return None
        for label in labels:
            for prefix in ("severity-", "severity::"):
                if label.startswith(prefix):
                    return self.settings.priority_by_severity.get(label[len(prefix) :])
        return None

    # ------------------------------------------------------------------ connection and metadata

    def _connected(self) -> JIRA:
        if self._client is None:
            self._client = self._call("connecting", lambda _: self._connect(), connect=True)
        return self._client

    def _connect(self) -> JIRA:
        settings = self.settings
        token = settings.token.get_secret_value()
        auth: dict[str, Any] = (
            {"basic_auth": (settings.email, token)} if settings.email else {"token_auth": token}
        )
        common: dict[str, Any] = {
            "max_retries": 0,  # stamina's bounded retries in _call decide, with Retry-After
            "timeout": settings.timeout,
            "logging": False,
            **auth,
        }
        client = JIRA(settings.url, options={"rest_api_version": "2"}, **common)
        self._cloud = client.deploymentType == "Cloud"
        if self._cloud:
            if not settings.email:
                msg = (
                    f"tracker.jira: {settings.url} is Jira Cloud, which needs `email` with the "
                    "API token; set tracker.jira.email"
                )
                raise ConfigurationError(msg)
            client.close()  # type: ignore[no-untyped-call]  # untyped in jira 3.10
            client = JIRA(settings.url, options={"rest_api_version": "3"}, **common)
        me = client.myself()
        self._own_account = str(me.get("accountId") or me.get("name") or "")
        http = requests.Session()
        if settings.email:
            http.auth = (settings.email, token)
        else:
            http.headers["Authorization"] = f"Bearer {token}"
        http.headers["Accept"] = "application/json"
        self._http = http
        self._api = f"{settings.url.rstrip('/')}/rest/api/{'3' if self._cloud else '2'}/"
        return client

    def _rest(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One plain REST call on our session; the parsed JSON answer or None.

        An error answer raises ``JIRAError`` as the jira client's own calls do, so ``_call``
        translates both the same way.
        """
        if self._http is None:
            self._connected()
        assert self._http is not None  # noqa: S101 - set by _connect
        response = self._http.request(
            method, self._api + path, json=body, timeout=self.settings.timeout
        )
        if response.status_code >= 400:
            raise JIRAError(
                text=response.text[:200],
                status_code=response.status_code,
                url=response.url,
                response=response,
            )
        return response.json() if response.content else None

    def _load_create_screen(self) -> None:
        """Read createmeta once: project, issue type, fields on the create screen, the level."""
        if self._screen is not None:
            return
        key = self.settings.project
        project = self._call(f"reading project {key}", lambda c: c.project(key), project=True)
        self._project_id = str(project.id)
        types = self._call(
            f"reading issue types of {key}",
            lambda _c: self._rest("GET", f"issue/createmeta/{key}/issuetypes"),
            project=True,
        )
        listed = types.get("issueTypes") or types.get("values") or []
        wanted = self.settings.issue_type
        issue_type = next((t for t in listed if wanted in (t.get("name"), t.get("id"))), None)
        if issue_type is None:
            msg = (
                f"tracker.jira.issue_type: project {key} has no issue type {wanted!r} on its "
                f"create screen (it has {sorted(str(t.get('name')) for t in listed)})"
            )
            raise ConfigurationError(msg)
        self._issue_type_id = str(issue_type["id"])
        metas = self._call(
            f"reading the create screen of {key}",
            lambda _c: self._rest(
                "GET", f"issue/createmeta/{key}/issuetypes/{self._issue_type_id}"
            ),
            project=True,
        )
        screen = {
            str(m.get("fieldId") or m.get("key")): m
            for m in (metas.get("fields") or metas.get("values") or [])
        }
        if "security" not in screen:
            # Without the field, Jira would create the issue visible to everyone on the project.
            msg = (
                f"Jira project {key}: the Security Level field is not on the create screen of "
                f"issue type {wanted!r} for this account, so no issue can be opened confidential; "
                "add it to the screen and grant Set Issue Security"
            )
            raise ConfidentialityError(msg)
        levels = screen["security"].get("allowedValues") or []
        level = next(
            (x for x in levels if self.settings.security_level in (x.get("name"), x.get("id"))),
            None,
        )
        if level is None:
            msg = (
                f"tracker.jira.security_level: {self.settings.security_level!r} is not a security "
                f"level of project {key} (it has {sorted(str(x.get('name')) for x in levels)})"
            )
            raise ConfigurationError(msg)
        self._level_id = str(level["id"])
        self._screen = screen

    # ------------------------------------------------------------------ the seam

    def _call(
        self,
        doing: str,
        action: Callable[[JIRA], T],
        *,
        idempotent: bool = True,
        connect: bool = False,
        issue: str | None = None,
        project: bool = False,
    ) -> T:
        """Run one call with bounded retries (stamina); translate what still fails.

        ``idempotent`` False (a POST that creates) resends only what Jira did not process
        (429, 503) or a request that never connected. ``issue`` names the issue the call is
        about (its 404: the issue is gone, skippable); ``project`` marks a call whose 404
        means the configured project is wrong (fatal).
        """
        settings = self.settings
        try:
            for attempt in retry_attempts(settings, self._backoff(idempotent)):
                with attempt:
                    client = None if connect else self._connected()
                    return action(client)  # type: ignore[arg-type]
        except JIRAError as err:
            status = err.status_code or 0
            raise self._translate(doing, status, err, _retry_after(err), issue, project) from err
        except (requests.Timeout, requests.ConnectionError) as err:
            msg = (
                f"Jira at {settings.url} did not answer while {doing} "
                f"({type(err).__name__}, after at most {settings.max_retries + 1} attempts)"
            )
            raise TrackerUnavailable(msg) from err
        msg = "stamina ended without an answer or an error"
        raise AssertionError(msg)  # pragma: no cover

    def _backoff(self, idempotent: bool) -> Callable[[Exception], bool | float]:
        """Stamina's hook (``tracker_bridge.retry``); Retry-After is obeyed unless waits are 0."""
        return backoff_hook(
            BackoffRule(
                transient=_RETRIABLE,
                not_processed=_NOT_PROCESSED,
                connect_failed=(requests.ConnectTimeout,),
                dropped=(requests.Timeout, requests.ConnectionError),
                status=lambda err: (err.status_code or 0) if isinstance(err, JIRAError) else None,
                retry_after=lambda err: _retry_after(err) if isinstance(err, JIRAError) else None,
                wait_max_seconds=self.settings.longest_wait_seconds,
            ),
            idempotent=idempotent,
        )

    def _translate(
        self,
        doing: str,
        status: int,
        err: JIRAError,
        retry_after: float | None,
        issue: str | None,
        project: bool,
    ) -> Exception:
        where = f"Jira at {self.settings.url} answered {status} while {doing}"
        if status in (401, 403):
            return TrackerAuthError(f"{where}: the token was refused or lacks permission")
        if status in _RETRIABLE or status in {408, 0}:
            return TrackerUnavailable(
                f"{where} (after at most {self.settings.max_retries + 1} attempts)",
                retry_after=retry_after,
            )
        if status in (404, 410):
            if project or issue is None:
                return ConfigurationError(
                    f"tracker.jira.project: {where}: not found; check the project key "
                    f"{self.settings.project!r} and that the account may browse it"
                )
            return NotFoundError(f"{where}: issue {issue} is gone")
        # 400, 409, 422 ...: Jira refused this write. Field names only: Jira's messages can
        # quote the values we sent.
        named = sorted(_error_fields(err))
        detail = f" (fields: {', '.join(named)})" if named else ""
        return TrackerRefused(f"{where}{detail}")

    # ------------------------------------------------------------------ small helpers

    def _ref(self, key: str) -> IssueRef:
        return IssueRef(
            "jira", self.settings.project, key, f"{self.settings.url.rstrip('/')}/browse/{key}"
        )

    @staticmethod
    def _marker(report_id: str) -> str:
        marker = MARKER_PREFIX + report_id
        JiraTracker._check_label(marker)
        return marker

    @staticmethod
    def _check_label(label: str) -> None:
        if not label or any(ch.isspace() or ch == '"' for ch in label):
            msg = (
                f"Jira label {label!r} is empty or has a space or quote, which Jira refuses; "
                "check the label names in mappings/jira.toml and the report id format"
            )
            raise ConfigurationError(msg)


def _installation(labels: Iterable[object]) -> str | None:
    """The store id in a ``cvd-store-`` label, or None."""
    found = sorted(str(lab) for lab in labels if str(lab).startswith(STORE_PREFIX))
    return found[0][len(STORE_PREFIX) :] if found else None


def parse_jira_time(value: str) -> datetime:
    """Parse Jira's ``2026-11-02T01:00:00.000-0800`` into an aware datetime (kept in UTC)."""
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(UTC)


class _NotYetSearchable(Exception):
    """The marker's issue is not in search results yet (Cloud search lags behind writes)."""


def _answer_lost(cause: BaseException | None) -> bool:
    """Whether Jira may have done the work although we got no answer (timeout, 500, 502, 504)."""
    if isinstance(cause, requests.Timeout | requests.ConnectionError):
        return not isinstance(cause, requests.ConnectTimeout)
    if isinstance(cause, JIRAError):
        return (cause.status_code or 0) in _RETRIABLE - _NOT_PROCESSED
    return False


def _retry_after(err: JIRAError) -> float | None:
    response = getattr(err, "response", None)
    header = response.headers.get("Retry-After") if response is not None else None
    try:
        return float(header) if header is not None else None
    except ValueError:
        return None


def _error_fields(err: JIRAError) -> set[str]:
    response = getattr(err, "response", None)
    try:
        body = response.json() if response is not None else {}
    except ValueError:
        return set()
    errors = body.get("errors") if isinstance(body, dict) else None
    return {str(k) for k in errors} if isinstance(errors, dict) else set()
