"""init writes the operator's answers into program.toml, keeping the file's comments."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tracker_bridge.domain.severity import Severity
from tracker_bridge.errors import ConfigurationError
from tracker_bridge.starter import DEFAULT_FIX, InitChoices, initialise, program_toml

TEMPLATE = (Path(__file__).resolve().parents[3] / "mappings" / "program.toml").read_text(
    encoding="utf-8"
)


def test_answers_land_in_program_toml() -> None:
    """Every policy answer is written under its key and reads back as TOML."""
    choices = InitChoices(
        organisation='Gemeente "Voorbeeld"',
        contact="cvd@gemeente.example",
        acknowledge="2 working days",
        assessment="14 days",
        fix={**DEFAULT_FIX, Severity.CRITICAL: "7 days"},
        progress_update="10 days",
        disclosure="90 days",
        languages=("nl",),
    )
    data = tomllib.loads(program_toml(TEMPLATE, choices))
    assert (
        'Gemeente "Voorbeeld"',
        "cvd@gemeente.example",
        ["nl"],
        {
            "acknowledge": "2 working days",
            "assessment": "14 days",
            "progress_update": "10 days",
            "disclosure": "90 days",
            "critical": "7 days",
            "low": "90 days",
        },
    ) == (
        data["program"]["name"],
        data["program"]["contact"],
        data["program"]["languages"],
        {
            key: data["deadlines"][key]
            for key in ("acknowledge", "assessment", "progress_update", "disclosure")
        }
        | {key: data["deadlines"]["fix"][key] for key in ("critical", "low")},
    )


def test_comments_stay_in_their_column() -> None:
    """A longer answer keeps the line's explaining comment."""
    text = program_toml(TEMPLATE, InitChoices(acknowledge="10 working days"))
    line = next(line for line in text.splitlines() if line.startswith("acknowledge ="))
    assert 'acknowledge = "10 working days"    # confirm receipt with a report id' == line


@pytest.mark.parametrize(
    ("choices", "problem"),
    [
        (InitChoices(acknowledge="soon"), "--ack: 'soon' is not a span"),
        (InitChoices(fix={Severity.HIGH: "a month"}), "--fix-high: 'a month' is not a span"),
        (InitChoices(languages=("de",)), "--languages 'de': choose from en, nl"),
        (
            InitChoices(contact='a"b@example.org'),
            "--contact 'a\"b@example.org': not a mail address",
        ),
        (InitChoices(organisation="A\nB"), "--org 'A\\nB': give a name on one line"),
    ],
)
def test_bad_answers_are_refused_before_writing(
    tmp_path: Path, choices: InitChoices, problem: str
) -> None:
    """A bad answer names its flag, and nothing is written."""
    with pytest.raises(ConfigurationError) as caught:
        initialise(tmp_path / "new", choices)
    assert (True, False) == (str(caught.value).startswith(problem), (tmp_path / "new").exists())
