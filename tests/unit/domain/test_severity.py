"""CVSS v3.1 and v4.0 vectors land in the right severity band."""

from __future__ import annotations

import pytest

from tracker_bridge.domain.errors import InvalidSeverity
from tracker_bridge.domain.severity import Severity
from tracker_bridge.scoring import base_score, severity_from_vector


@pytest.mark.parametrize(
    ("vector", "score", "band"),
    [
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "9.8", Severity.CRITICAL),
        ("CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", "8.8", Severity.HIGH),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N", "6.1", Severity.MEDIUM),
        ("CVSS:3.1/AV:P/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N", "1.6", Severity.LOW),
        ("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", "0.0", Severity.NONE),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "9.3",
            Severity.CRITICAL,
        ),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:H/VI:L/VA:N/SC:N/SI:N/SA:N", "7.1", Severity.HIGH),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", "5.3", Severity.MEDIUM),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", "1.0", Severity.LOW),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", "0.0", Severity.NONE),
    ],
)
def test_vector_scores_and_bands(vector: str, score: str, band: Severity) -> None:
    """Each vector scores as the CVSS calculators do and falls in its band."""
    assert str(base_score(vector)) == score
    assert severity_from_vector(vector) is band


@pytest.mark.parametrize(
    ("score", "band"),
    [
        ("0.0", Severity.NONE),
        ("0.1", Severity.LOW),
        ("3.9", Severity.LOW),
        ("4.0", Severity.MEDIUM),
        ("6.9", Severity.MEDIUM),
        ("7.0", Severity.HIGH),
        ("8.9", Severity.HIGH),
        ("9.0", Severity.CRITICAL),
        ("10.0", Severity.CRITICAL),
    ],
)
def test_band_edges(score: str, band: Severity) -> None:
    """The band boundaries are exactly low 0.1-3.9, medium 4.0-6.9, high 7.0-8.9, critical 9.0+."""
    assert Severity.from_score(score) is band


@pytest.mark.parametrize("score", ["-0.1", "10.1", "high"])
def test_out_of_range_score_is_refused(score: str) -> None:
    """Scores outside 0-10 or not numbers are refused."""
    with pytest.raises(InvalidSeverity):
        Severity.from_score(score)


@pytest.mark.parametrize(
    "vector",
    ["CVSS:3.1/AV:X/AC:L", "CVSS:2.0/AV:N", "AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", ""],
)
def test_bad_vector_is_refused_with_the_vector_named(vector: str) -> None:
    """A malformed or unsupported vector raises InvalidSeverity quoting the vector."""
    with pytest.raises(InvalidSeverity) as caught:
        severity_from_vector(vector)
    assert repr(vector.strip()) in str(caught.value)


def test_severity_set_by_hand() -> None:
    """A band name typed by a person parses case-insensitively; unassessed is the default."""
    assert Severity.parse(" High ") is Severity.HIGH
    with pytest.raises(InvalidSeverity, match="expected one of"):
        Severity.parse("urgent")
