"""The sandbox's GitLab project: issues, notes, labels, events, and the side effects GitLab would cause.

Shapes follow the GitLab 17.x REST API v4 documentation (issues, notes, resource state and
label events, labels, project events). One lock guards everything; the HTTP handler and the
test-facing team control both go through :class:`ProjectState`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tracker_bridge.testing.sandbox import SandboxClock
from tracker_bridge_gitlab.sandbox.markdown import QuickAction, extract_quick_actions, scan

USERS: dict[str, dict[str, Any]] = {
    "tracker-bridge": {"id": 2, "username": "tracker-bridge", "name": "Tracker Bridge"},
    "alice": {"id": 3, "username": "alice", "name": "Alice (security team)"},
    "root": {"id": 1, "username": "root", "name": "Administrator"},
}
BRIDGE_USER = "tracker-bridge"
TEAM_USER = "alice"
# The team member's personal access token (the bridge has its own, "sandbox-token").
TEAM_TOKEN = "team-token"


def _stamp(moment: datetime) -> str:
    """GitLab's timestamp format: UTC, milliseconds, ``Z``."""
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


@dataclass
class Issue:
    """An issue as the sandbox keeps it."""

    id: int
    iid: int
    title: str
    description: str
    author: str
    created_at: str
    updated_at: str
    state: str = "opened"
    confidential: bool = False
    labels: list[str] = field(default_factory=list)
    due_date: str | None = None
    closed_at: str | None = None
    assignees: list[str] = field(default_factory=list)
    discussion_locked: bool = False


@dataclass
class Note:
    """A note (comment) on an issue; ``system`` for GitLab's own activity notes."""

    id: int
    issue_iid: int
    body: str
    author: str
    created_at: str
    internal: bool = False
    system: bool = False


@dataclass
class ResourceEvent:
    """A resource state or label event, or a project event (``kind`` tells which)."""

    id: int
    kind: str
    issue_iid: int
    user: str
    created_at: str
    action: str
    label: str | None = None
    note_id: int | None = None


class ApiError(Exception):
    """An error answer: HTTP status and GitLab's ``{"message": ...}`` body."""

    def __init__(self, status: int, message: object) -> None:
        super().__init__(str(message))
        self.status = status
        self.message = message


@dataclass
class Upload:
    """A file uploaded to the project (``POST /projects/:id/uploads``)."""

    id: int
    alt: str
    url: str
    data: bytes


class ProjectState:
    """One GitLab project (``security/cvd``, id 1) with its issues, and what GitLab did on its own."""

    def __init__(
        self,
        *,
        project_id: int = 1,
        path: str = "security/cvd",
        state_file: Path | None = None,
        drop_fields: tuple[str, ...] = (),
    ) -> None:
        self.lock = threading.RLock()
        self.project_id = project_id
        self.path = path
        self.state_file = state_file
        self.drop_fields: set[str] = set(drop_fields)
        # Issue iid -> (status, field, reason): the API refuses edits of that issue, as
        # GitLab answers 400/422 for a label or field it will not take.
        self.refused_edits: dict[int, tuple[int, str, str]] = {}
        # GitLab touches ``updated_at`` at most once per short window on consecutive label
        # edits (python-gitlab#743): a label-only edit this soon after the last update keeps
        # the old ``updated_at``. Zero (the default) moves it on every edit.
        self.sticky_updated_at = timedelta(0)
        # The account of the request being answered (set under the lock by the HTTP handler).
        self.caller = BRIDGE_USER
        self.issues: dict[int, Issue] = {}
        self.notes: list[Note] = []
        self.events: list[ResourceEvent] = []
        self.labels: dict[str, dict[str, Any]] = {}
        self.side_effects: list[str] = []
        # Uploaded files live only in memory; the --state file keeps issues, not uploads.
        self.uploads: list[Upload] = []
        self._next_id = 1
        self.clock = SandboxClock()
        if state_file is not None and state_file.exists():
            self._load(state_file)

    def add_upload(self, filename: str, data: bytes) -> Upload:
        """Keep an uploaded file under a random secret, as GitLab's upload URLs have one."""
        secret = secrets.token_hex(16)
        # GitLab's uploader (CarrierWave) keeps word characters, dot, dash and plus only.
        name = re.sub(r"[^\w.\-+]", "_", filename.rsplit("/", 1)[-1]) or "file"
        upload = Upload(
            len(self.uploads) + 1, name.rsplit(".", 1)[0], f"/uploads/{secret}/{name}", data
        )
        self.uploads.append(upload)
        return upload

    # ------------------------------------------------------------------ time and ids

    def tick(self) -> str:
        """A strictly increasing ``updated_at`` (GitLab shows milliseconds)."""
        return _stamp(self.clock.now())

    def _new_id(self) -> int:
        value = self._next_id
        self._next_id += 1
        return value

    # ------------------------------------------------------------------ issues

    def issue(self, iid: int) -> Issue:
        """The issue with this iid or a 404."""
        issue = self.issues.get(iid)
        if issue is None:
            raise ApiError(404, "404 Issue Not Found")
        return issue

    def create_issue(self, fields: dict[str, Any], *, author: str) -> Issue:
        """POST /projects/:id/issues: create, then run quick actions in the description."""
        if author == BRIDGE_USER:  # a token lacking permission: the team's own may set them
            fields = {k: v for k, v in fields.items() if k not in self.drop_fields}
        title = str(fields.get("title") or "").strip()
        if not title:
            raise ApiError(400, {"title": ["can't be blank"]})
        if len(title) > 255:
            raise ApiError(400, {"title": ["is too long (maximum is 255 characters)"]})
        iid = max(self.issues, default=0) + 1
        stamp = self.tick()
        issue = Issue(
            id=1000 + iid,
            iid=iid,
            title=title,
            description="",
            author=author,
            created_at=stamp,
            updated_at=stamp,
            confidential=_truthy(fields.get("confidential", False)),
            due_date=_due(fields.get("due_date")),
        )
        self.issues[iid] = issue
        self._event("project", iid, author, "opened")
        labels = _label_list(fields.get("labels"))
        self._change_labels(issue, labels, [], author)
        self._write_text(issue, str(fields.get("description") or ""), author, is_new=True)
        self.save()
        return issue

    def edit_issue(self, iid: int, fields: dict[str, Any], *, author: str) -> Issue:
        """PUT /projects/:id/issues/:iid with GitLab's edit parameters."""
        issue = self.issue(iid)
        if author == BRIDGE_USER:  # a token lacking permission: the team's own may set them
            fields = {k: v for k, v in fields.items() if k not in self.drop_fields}
        before = issue.updated_at
        sticky = self._label_edit_keeps_updated_at(issue, fields)
        if "title" in fields:
            issue.title = str(fields["title"]).strip() or issue.title
        if "confidential" in fields:
            issue.confidential = _truthy(fields["confidential"])
        if "due_date" in fields:
            self._set_due(issue, _due(fields["due_date"]), author)
        if "labels" in fields:
            wanted = _label_list(fields["labels"])
            self._change_labels(
                issue, wanted, [lab for lab in issue.labels if lab not in wanted], author
            )
        self._change_labels(
            issue,
            _label_list(fields.get("add_labels")),
            _label_list(fields.get("remove_labels")),
            author,
        )
        if "discussion_locked" in fields:
            issue.discussion_locked = _truthy(fields["discussion_locked"])
        event = fields.get("state_event")
        if event in ("close", "reopen"):
            self._set_state(issue, "closed" if event == "close" else "opened", author)
        if "description" in fields:
            self._write_text(issue, str(fields["description"] or ""), author, is_new=False)
        issue.updated_at = before if sticky else self.tick()
        self.save()
        return issue

    def _label_edit_keeps_updated_at(self, issue: Issue, fields: dict[str, Any]) -> bool:
        if not self.sticky_updated_at or not set(fields) <= {
            "labels",
            "add_labels",
            "remove_labels",
        }:
            return False
        last = datetime.fromisoformat(issue.updated_at)
        return self.clock.peek() - last < self.sticky_updated_at

    def _set_state(self, issue: Issue, state: str, author: str) -> None:
        if issue.state == state:
            return
        issue.state = state
        issue.closed_at = self.tick() if state == "closed" else None
        action = "closed" if state == "closed" else "reopened"
        self._event("state", issue.iid, author, action)
        self._event("project", issue.iid, author, action)
        issue.updated_at = self.tick()

    def _set_due(self, issue: Issue, due: str | None, author: str) -> None:
        if issue.due_date == due:
            return
        issue.due_date = due
        text = f"changed due date to {due}" if due else "removed due date"
        self._system_note(issue, text, author)

    def _change_labels(self, issue: Issue, add: list[str], remove: list[str], author: str) -> None:
        for name in remove:
            if name in issue.labels:
                issue.labels.remove(name)
                self._event("label", issue.iid, author, "remove", label=name)
        for name in add:
            self._ensure_label(name)
            if name not in issue.labels:
                issue.labels.append(name)
                self._event("label", issue.iid, author, "add", label=name)
        issue.labels.sort()
        if add or remove:
            issue.updated_at = self.tick()

    def _ensure_label(self, name: str) -> dict[str, Any]:
        if name not in self.labels:
            self.labels[name] = {
                "id": 100 + len(self.labels),
                "name": name,
                "color": "#6699cc",
                "description": None,
                "text_color": "#FFFFFF",
            }
        return self.labels[name]

    # ------------------------------------------------------------------ notes

    def add_note(self, iid: int, body: str, *, author: str, internal: bool) -> Note | None:
        """POST /projects/:id/issues/:iid/notes; None when the body held only quick actions."""
        issue = self.issue(iid)
        extraction = extract_quick_actions(body)
        self._run_actions(issue, extraction.actions, author)
        note = None
        if extraction.content:
            note = Note(
                id=self._new_id(),
                issue_iid=iid,
                body=extraction.content,
                author=author,
                created_at=self.tick(),
                internal=internal,
            )
            self.notes.append(note)
            self._event("project", iid, author, "commented on", note_id=note.id)
            self._record_rendering(issue, extraction.content, author)
        issue.updated_at = self.tick()
        self.save()
        return note

    def _system_note(self, issue: Issue, body: str, author: str) -> None:
        self.notes.append(
            Note(self._new_id(), issue.iid, body, author, self.tick(), internal=False, system=True)
        )

    def notes_of(self, iid: int) -> list[Note]:
        """Every note on an issue, oldest first."""
        self.issue(iid)
        return [n for n in self.notes if n.issue_iid == iid]

    def edit_note(self, iid: int, note_id: int, body: str, *, author: str) -> Note:
        """PUT /projects/:id/issues/:iid/notes/:note_id: only the note's author may edit it."""
        issue = self.issue(iid)
        note = next((n for n in self.notes if n.issue_iid == iid and n.id == note_id), None)
        if note is None or note.system:
            raise ApiError(404, "404 Note Not Found")
        if note.author != author:
            raise ApiError(403, "403 Forbidden")
        # Editing a note does not run quick actions again; its text is rendered anew.
        note.body = body
        self._record_rendering(issue, body, author)
        issue.updated_at = self.tick()
        self.save()
        return note

    # ------------------------------------------------------------------ text with live markup

    def _write_text(self, issue: Issue, text: str, author: str, *, is_new: bool) -> None:
        extraction = extract_quick_actions(text)
        issue.description = extraction.content
        self._run_actions(issue, extraction.actions, author)
        self._record_rendering(issue, extraction.content, author)

    def _record_rendering(self, issue: Issue, text: str, author: str) -> None:
        rendering = scan(text)
        for name in rendering.mentions:
            self.side_effects.append(f"notify {name} (mentioned by {author} in #{issue.iid})")
        for url in rendering.image_loads:
            self.side_effects.append(f"load {url} (image in #{issue.iid})")
        for ref in rendering.references:
            target = _issue_target(ref, self.path)
            if target is not None and target != issue.iid and target in self.issues:
                self.side_effects.append(f"cross-reference #{issue.iid} -> #{target}")
                self._system_note(self.issues[target], f"mentioned in #{issue.iid}", author)

    def record_title(self, issue: Issue, author: str) -> None:
        """Mentions in titles notify too (titles are mentionable attributes in GitLab)."""
        for name in scan(issue.title).mentions:
            self.side_effects.append(f"notify {name} (mentioned by {author} in a title)")

    def _run_actions(self, issue: Issue, actions: list[QuickAction], author: str) -> None:
        for action in actions:
            self.side_effects.append(
                f"quick action /{action.name}{' ' + action.arg if action.arg else ''}"
                f" by {author} on #{issue.iid}"
            )
            self._apply(issue, action, author)

    def _apply(self, issue: Issue, action: QuickAction, author: str) -> None:
        name, arg = action.name, action.arg
        if name == "close":
            self._set_state(issue, "closed", author)
        elif name in ("reopen", "open"):
            self._set_state(issue, "opened", author)
        elif name in ("label", "labels"):
            self._change_labels(issue, _quick_labels(arg), [], author)
        elif name in ("unlabel", "remove_label"):
            names = _quick_labels(arg) or list(issue.labels)
            self._change_labels(issue, [], names, author)
        elif name == "relabel":
            wanted = _quick_labels(arg)
            self._change_labels(issue, wanted, [x for x in issue.labels if x not in wanted], author)
        elif name == "confidential":
            issue.confidential = True
        elif name == "title" and arg:
            issue.title = arg
        elif name == "due":
            self._set_due(issue, _due(arg), author)
        elif name == "remove_due_date":
            self._set_due(issue, None, author)
        elif name in ("assign", "reassign", "cc"):
            for user in re.findall(r"@([\w.\-]+)", arg):
                if name != "cc":
                    issue.assignees.append(user)
                self.side_effects.append(f"notify @{user} (/{name} on #{issue.iid})")
        elif name == "lock":
            issue.discussion_locked = True
        elif name in ("move", "clone"):
            self.side_effects.append(f"issue #{issue.iid} copied to {arg or '?'} by /{name}")
            if name == "move":
                self._set_state(issue, "closed", author)
        elif name == "add_email":
            self.side_effects.append(f"external participant {arg} added to #{issue.iid}")
        issue.updated_at = self.tick()

    # ------------------------------------------------------------------ events

    def _event(
        self,
        kind: str,
        iid: int,
        user: str,
        action: str,
        *,
        label: str | None = None,
        note_id: int | None = None,
    ) -> None:
        self.events.append(
            ResourceEvent(self._new_id(), kind, iid, user, self.tick(), action, label, note_id)
        )

    # ------------------------------------------------------------------ persistence

    def save(self) -> None:
        """Write the project to the state file, atomically, when one was given."""
        if self.state_file is None:
            return
        payload = {
            "next_id": self._next_id,
            "issues": [asdict(i) for i in self.issues.values()],
            "notes": [asdict(n) for n in self.notes],
            "events": [asdict(e) for e in self.events],
            "labels": list(self.labels.values()),
            "side_effects": self.side_effects,
        }
        directory = self.state_file.parent
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sandbox-state-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
        Path(tmp).replace(self.state_file)

    def _load(self, path: Path) -> None:
        payload = json.loads(path.read_text(encoding="utf-8"))
        self._next_id = int(payload["next_id"])
        self.issues = {int(i["iid"]): Issue(**i) for i in payload["issues"]}
        self.notes = [Note(**n) for n in payload["notes"]]
        self.events = [ResourceEvent(**e) for e in payload["events"]]
        self.labels = {lab["name"]: lab for lab in payload["labels"]}
        self.side_effects = list(payload.get("side_effects", []))


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _due(value: object) -> str | None:
    """A due date as GitLab stores it (``YYYY-MM-DD``) or None; bad dates are a 400."""
    if value in (None, ""):
        return None
    try:
        return date.fromisoformat(str(value).strip()).isoformat()
    except ValueError as err:
        raise ApiError(400, {"due_date": ["is not a valid date"]}) from err


def _label_list(value: object) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [str(item).strip() for item in items if str(item).strip()]


def _quick_labels(arg: str) -> list[str]:
    """Labels named in a /label argument: ``~foo ~"bar baz"`` (the tilde is optional)."""
    return [a or b for a, b in re.findall(r'~?"([^"]+)"|~?([^\s~"]+)', arg)]


def _issue_target(ref: str, own_path: str) -> int | None:
    match = re.fullmatch(r"(?P<project>.*)#(?P<iid>\d+)", ref)
    if match is None or match["project"] not in ("", own_path):
        return None
    return int(match["iid"])


def issue_json(issue: Issue, base_url: str, project_id: int, path: str) -> dict[str, Any]:
    """An issue in the shape of GitLab's ``GET /projects/:id/issues/:iid``."""
    web_url = f"{base_url}/{path}/-/issues/{issue.iid}"
    author = user_json(issue.author, base_url)
    assignees = [user_json(u, base_url) for u in issue.assignees]
    return {
        "id": issue.id,
        "iid": issue.iid,
        "project_id": project_id,
        "title": issue.title,
        "description": issue.description,
        "state": issue.state,
        "created_at": issue.created_at,
        "updated_at": issue.updated_at,
        "closed_at": issue.closed_at,
        "closed_by": author if issue.state == "closed" else None,
        "labels": list(issue.labels),
        "milestone": None,
        "assignees": assignees,
        "assignee": assignees[0] if assignees else None,
        "author": author,
        "type": "ISSUE",
        "issue_type": "issue",
        "user_notes_count": 0,
        "merge_requests_count": 0,
        "upvotes": 0,
        "downvotes": 0,
        "due_date": issue.due_date,
        "confidential": issue.confidential,
        "discussion_locked": issue.discussion_locked,
        "web_url": web_url,
        "time_stats": {
            "time_estimate": 0,
            "total_time_spent": 0,
            "human_time_estimate": None,
            "human_total_time_spent": None,
        },
        "task_completion_status": {"count": 0, "completed_count": 0},
        "has_tasks": False,
        "references": {
            "short": f"#{issue.iid}",
            "relative": f"#{issue.iid}",
            "full": f"{path}#{issue.iid}",
        },
        "severity": "UNKNOWN",
        "moved_to_id": None,
        "service_desk_reply_to": None,
        "_links": {
            "self": f"{base_url}/api/v4/projects/{project_id}/issues/{issue.iid}",
            "notes": f"{base_url}/api/v4/projects/{project_id}/issues/{issue.iid}/notes",
            "award_emoji": f"{base_url}/api/v4/projects/{project_id}/issues/{issue.iid}/award_emoji",
            "project": f"{base_url}/api/v4/projects/{project_id}",
        },
    }


def user_json(username: str, base_url: str) -> dict[str, Any]:
    """A user in the shape of GitLab's basic user entity."""
    known = USERS.get(username, {"id": 99, "username": username, "name": username})
    return {
        **known,
        "state": "active",
        "locked": False,
        "avatar_url": None,
        "web_url": f"{base_url}/{known['username']}",
    }


def note_json(note: Note, issue: Issue, base_url: str, project_id: int) -> dict[str, Any]:
    """A note in the shape of GitLab's ``GET .../issues/:iid/notes``."""
    return {
        "id": note.id,
        "type": None,
        "body": note.body,
        "attachment": None,
        "author": user_json(note.author, base_url),
        "created_at": note.created_at,
        "updated_at": note.created_at,
        "system": note.system,
        "noteable_id": issue.id,
        "noteable_type": "Issue",
        "project_id": project_id,
        "resolvable": False,
        "confidential": note.internal,
        "internal": note.internal,
        "imported": False,
        "imported_from": "none",
        "noteable_iid": issue.iid,
        "commands_changes": {},
    }
