"""The plugin kit's sandbox plumbing: serving, request log, faults, clock, as a third sandbox uses them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
import requests

from tracker_bridge.testing.sandbox import (
    Answer,
    Fault,
    FaultSchedule,
    RequestLog,
    SandboxApp,
    SandboxClock,
    SandboxRequest,
    SandboxServer,
    ServedSandbox,
    answer_with_fault,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


class TallyApp(SandboxApp, ServedSandbox):
    """A tracker with one resource: POST /items adds one, GET /items counts them; /boom is a bug."""

    def __init__(self, log_file: Path | None = None) -> None:
        super().__init__(RequestLog(log_file, file_fields=("method", "path", "query", "status")))
        self.items = 0
        self.faults = FaultSchedule()
        self._server = SandboxServer(self, name="tally-sandbox")
        self.url = self._server.url

    def respond(self, request: SandboxRequest) -> Answer:
        """Faults first, then the resource."""
        fault = self.faults.take(request.method, request.path)
        return answer_with_fault(fault, lambda: self._serve(request), self._fail)

    def _serve(self, request: SandboxRequest) -> Answer:
        if request.path == "/boom":
            msg = "secret detail that must not be answered"
            raise RuntimeError(msg)
        if request.method == "POST":
            self.items += 1
            self.faults.succeeded("POST", request.path)
            return Answer(201, {"items": self.items})
        return Answer(200, {"items": self.items})

    @staticmethod
    def _fail(fault: Fault, lost: bool) -> Answer:
        return Answer(fault.status or 504, {"lost": lost}, fault.retry_after_header())


@pytest.fixture
def tally(tmp_path: Path) -> Iterator[TallyApp]:
    """A started tally sandbox logging to tmp_path/requests.jsonl."""
    with TallyApp(tmp_path / "requests.jsonl").start() as app:
        yield app


def test_answers_json_and_logs_each_request_before_answering(
    tally: TallyApp, tmp_path: Path
) -> None:
    """Each answer is JSON; the in-memory log and the JSON-lines file already hold it."""
    answer = requests.get(f"{tally.url}/items?x=1", timeout=5)
    assert (200, "application/json", {"items": 0}) == (
        answer.status_code,
        answer.headers["Content-Type"],
        answer.json(),
    )
    assert [("GET", "/items", {"x": ["1"]}, 200)] == [
        (r.method, r.path, r.query, r.status) for r in tally.request_log.entries()
    ]
    lines = (tmp_path / "requests.jsonl").read_text(encoding="utf-8").splitlines()
    assert [{"method": "GET", "path": "/items", "query": {"x": ["1"]}, "status": 200}] == [
        json.loads(line) for line in lines
    ]


def test_a_bug_in_the_app_answers_500_naming_only_the_exception_type(tally: TallyApp) -> None:
    """An exception in respond is a 500 with the type's name, never its message."""
    answer = requests.get(f"{tally.url}/boom", timeout=5)
    assert (500, {"message": "sandbox error: RuntimeError"}) == (
        answer.status_code,
        answer.json(),
    )


def test_a_fault_answers_its_status_and_retry_after_then_is_used_up(tally: TallyApp) -> None:
    """A 429 fault with Retry-After takes one matching request; the next is served."""
    tally.faults.add(Fault(429, method="get", path=re.compile(r"^/items$"), retry_after=3))
    first = requests.get(f"{tally.url}/items", timeout=5)
    second = requests.get(f"{tally.url}/items", timeout=5)
    assert [(429, "3"), (200, None)] == [
        (first.status_code, first.headers.get("Retry-After")),
        (second.status_code, second.headers.get("Retry-After")),
    ]


def test_an_applied_fault_does_the_request_and_loses_the_answer(tally: TallyApp) -> None:
    """With applied, the item is added but the client hears 504 (a create that timed out)."""
    tally.faults.add(Fault(0, method="POST", applied=True))
    lost = requests.post(f"{tally.url}/items", timeout=5)
    assert (504, {"lost": True}, 1) == (lost.status_code, lost.json(), tally.items)


def test_a_dormant_fault_arms_only_after_a_matching_success(tally: TallyApp) -> None:
    """A fault with arm_on leaves GETs alone until a POST succeeded, then takes the next GET."""
    tally.faults.add(Fault(503, method="GET", arm_on=("POST", re.compile(r"/items"))))
    before = requests.get(f"{tally.url}/items", timeout=5).status_code
    requests.post(f"{tally.url}/items", timeout=5)
    after = requests.get(f"{tally.url}/items", timeout=5).status_code
    assert (200, 503) == (before, after)


def test_request_log_counts_by_method_substring_and_regex(tally: TallyApp) -> None:
    """The log counts requests by method (any case), a path substring and a path regex."""
    requests.get(f"{tally.url}/items", timeout=5)
    requests.post(f"{tally.url}/items", timeout=5)
    requests.get(f"{tally.url}/other", timeout=5)
    log = tally.request_log
    assert (2, 2, 1) == (
        log.count("get"),
        log.count(path_contains="items"),
        log.count("GET", path_pattern=r"^/oth"),
    )


def test_request_log_refuses_an_unknown_file_field() -> None:
    """A file field a LoggedRequest lacks is a ValueError naming it."""
    with pytest.raises(ValueError, match="'headers'"):
        RequestLog(None, file_fields=("method", "headers"))


def test_clock_is_strictly_increasing_in_milliseconds_and_moves_forward() -> None:
    """Readings differ by at least 1 ms, carry whole milliseconds, and advance adds its offset."""
    clock = SandboxClock()
    first, second = clock.now(), clock.now()
    clock.advance(timedelta(hours=2))
    third = clock.now()
    assert (True, 0, True) == (
        second - first >= timedelta(milliseconds=1),
        second.microsecond % 1000,
        third - second >= timedelta(hours=2) - timedelta(milliseconds=1),
    )
