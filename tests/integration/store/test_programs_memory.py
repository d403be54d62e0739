"""The store's memory of committed programs rows heals after a failed unit of work."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text

from tracker_bridge.domain.report import Report, ReportId
from tracker_bridge.ports.openpgp import SignatureCheck, SignatureStatus
from tracker_bridge.ports.store import ReportContent
from tracker_bridge.store import Store, StoreError, open_store

if TYPE_CHECKING:
    from pathlib import Path

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _add(store: Store, number: int) -> None:
    report_id = f"CVD-2026-{number:04d}"
    with store.unit_of_work() as uow:
        uow.reports.add(
            Report(report_id=ReportId.parse(report_id), program="acme", received_at=T0),
            "alice@example.org",
            ReportContent(report_id, "s", "b", False, SignatureCheck(SignatureStatus.NONE)),
        )
        uow.commit()


def test_a_programs_row_gone_from_under_the_store_costs_one_failed_unit_only(
    tmp_path: Path,
) -> None:
    """After the programs row vanished (a database replaced under `run --every`), one add fails, the next succeeds."""
    store = open_store(f"sqlite:///{tmp_path / 'bridge.db'}")
    try:
        _add(store, 1)
        with store.engine.begin() as connection:
            connection.execute(text("DELETE FROM reports"))
            connection.execute(text("DELETE FROM programs"))
        with pytest.raises(StoreError):
            _add(store, 2)
        _add(store, 3)
        with store.engine.connect() as connection:
            names = connection.execute(text("SELECT name FROM programs")).scalars().all()
        assert ["acme"] == names
    finally:
        store.dispose()
