"""The holiday calendar: loaded on the first day asked about, refused early when misconfigured."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from tracker_bridge.calendars import working_calendar
from tracker_bridge.errors import ConfigurationError

_COUNTRY_MODULES_BEFORE_AND_AFTER = """
import sys
from datetime import date
from tracker_bridge.calendars import working_calendar

def loaded():
    return sum(1 for name in sys.modules if name.startswith("holidays.countries."))

calendar = working_calendar("Europe/Amsterdam", "NL")
before = loaded()
working = calendar.nth_working_day_after(date(2026, 4, 24), 1)
print(before, loaded() > 0, working.isoformat())
"""


def test_building_a_calendar_loads_no_country_until_a_day_is_asked() -> None:
    """Building the calendar imports no holidays country module; the first question does."""
    done = subprocess.run(
        [sys.executable, "-c", _COUNTRY_MODULES_BEFORE_AND_AFTER],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    # Friday 24 April 2026 + 1 working day skips the weekend and Koningsdag's Monday 27 April.
    assert (0, "0 True 2026-04-28") == (done.returncode, done.stdout.strip()), done.stderr


@pytest.mark.parametrize(
    ("country", "subdivision", "message"),
    [
        ("XX", None, "no calendar for country 'XX'"),
        ("nl", None, "no calendar for country 'nl'"),
        ("DE", "ZZ", "no calendar for country 'DE' subdivision 'ZZ'"),
    ],
)
def test_unknown_country_or_subdivision_is_refused_when_built(
    country: str, subdivision: str | None, message: str
) -> None:
    """A country or subdivision the holidays package lacks fails when the calendar is built."""
    with pytest.raises(ConfigurationError, match=message):
        working_calendar("Europe/Amsterdam", country, subdivision)


def test_a_subdivision_counts_its_own_holidays() -> None:
    """A subdivision's own holiday (Bavaria's Epiphany) is skipped like a national one."""
    bavaria = working_calendar("Europe/Berlin", "DE", "BY")
    berlin = working_calendar("Europe/Berlin", "DE", "BE")
    monday = date(2026, 1, 5)
    assert (date(2026, 1, 7), date(2026, 1, 6)) == (
        bavaria.nth_working_day_after(monday, 1),
        berlin.nth_working_day_after(monday, 1),
    )
