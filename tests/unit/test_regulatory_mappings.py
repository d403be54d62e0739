"""The [regulatory] tables of mappings/: every regime off by default, bad values named by file and key."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from tracker_bridge.domain.regulatory import Regime
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.mappings import load_mappings

PACKAGED = Path(__file__).resolve().parents[2] / "mappings"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "mappings"
    shutil.copytree(PACKAGED, target)
    return target


def test_packaged_mappings_keep_every_regime_off() -> None:
    """The shipped program.toml turns no legal clock on; GitLab start labels are scoped."""
    mappings = load_mappings(PACKAGED, "gitlab")
    assert frozenset() == mappings.regulatory.enabled
    assert timedelta(hours=6) == mappings.regulatory.due_soon
    assert "reg::personal-data-breach" == mappings.regulatory.start_labels[Regime.GDPR]
    assert "reg-due::24h" == mappings.regulatory.due_label_for("24h")


def test_jira_mapping_spells_labels_with_a_dash() -> None:
    """Jira labels are not scoped: reg-actively-exploited and reg-due-72h."""
    mappings = load_mappings(PACKAGED, "jira")
    assert "reg-actively-exploited" == mappings.regulatory.start_labels[Regime.CRA]
    assert "reg-due-72h" == mappings.regulatory.due_label_for("72h")
    assert None is mappings.regulatory.regime_started_by("reg-actively-exploited")  # cra is off


def test_enabled_regimes_start_only_by_their_label(tmp_path: Path) -> None:
    """Turning nis2 on makes its label start a clock; a disabled regime's label starts nothing."""
    directory = _copy(tmp_path)
    program = directory / "program.toml"
    program.write_text(program.read_text().replace("nis2 = false", "nis2 = true"), encoding="utf-8")
    policy = load_mappings(directory, "gitlab").regulatory
    assert frozenset({Regime.NIS2}) == policy.enabled
    assert Regime.NIS2 == policy.regime_started_by("reg::significant-incident")
    assert None is policy.regime_started_by("reg::personal-data-breach")


def test_bad_regulatory_values_name_file_and_key(tmp_path: Path) -> None:
    """A wrong type in program.toml and a due template without {due} are both reported."""
    directory = _copy(tmp_path)
    program = directory / "program.toml"
    program.write_text(
        program.read_text().replace("due_soon_hours = 6", 'due_soon_hours = "six"'),
        encoding="utf-8",
    )
    gitlab = directory / "gitlab.toml"
    gitlab.write_text(
        gitlab.read_text().replace('due = "reg-due::{due}"', 'due = "reg-due"'), encoding="utf-8"
    )
    with pytest.raises(ConfigurationError) as raised:
        load_mappings(directory, "gitlab")
    lines = str(raised.value).splitlines()
    assert any(
        line.startswith(f"{program}:") and "regulatory.due_soon_hours" in line for line in lines
    )
    assert any(line.startswith(f"{gitlab}:") and "regulatory.due" in line for line in lines)


def test_unknown_regulatory_key_is_refused(tmp_path: Path) -> None:
    """A typo such as `gpdr = true` is an unknown key, not a silently ignored setting."""
    directory = _copy(tmp_path)
    program = directory / "program.toml"
    program.write_text(program.read_text().replace("gdpr = false", "gpdr = true"), encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"regulatory\.gpdr: unknown key"):
        load_mappings(directory, "gitlab")
