"""Builds the domain's working-day calendar from the pinned ``holidays`` package.

Loading one country's holidays imports every country module of the package (its
``holidays.countries`` package imports all of them, about 0.1 s of CPU), so a calendar loads
them on the first day it is asked about, not when it is built: a pass that computes no
deadline never pays for them. The country code is checked up front against the package's
registry of codes, which loads nothing. The registry does not list subdivisions, so a calendar
with a subdivision is loaded when built: a wrong one still fails at start, never mid-pass.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker_bridge.domain.deadlines import WorkingCalendar
from tracker_bridge.errors import ConfigurationError


def working_calendar(
    timezone: str = "Europe/Amsterdam",
    country: str = "NL",
    subdivision: str | None = None,
    *,
    load_now: bool = False,
) -> WorkingCalendar:
    """A calendar that skips weekends and the public holidays of ``country`` in ``timezone``.

    Args:
        timezone: IANA time zone name, e.g. ``Europe/Amsterdam``.
        country: ISO 3166-1 alpha-2 (or alpha-3) code the ``holidays`` package knows.
        subdivision: A province or state code of that country, or None.
        load_now: Load the country's holidays now (what ``check`` does) instead of on the first
            day asked about; always so with a subdivision.

    Raises:
        ConfigurationError: Unknown time zone, country or subdivision.
    """
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        msg = f"unknown time zone {timezone!r}"
        raise ConfigurationError(msg) from err
    if country not in _country_codes():
        raise _unknown(country, None)

    # One small set per year: membership is a hash lookup, and memory does not grow with the
    # number of distinct days asked about (a per-day cache did, with many reports).
    @lru_cache(maxsize=32)
    def holidays_in(year: int) -> frozenset[date]:
        return frozenset(_country_holidays(country, subdivision, year))

    def is_holiday(day: date) -> bool:
        return day in holidays_in(day.year)

    if load_now or subdivision is not None:
        holidays_in(datetime.now(tz).year)  # this year where the calendar works
    return WorkingCalendar(tz=tz, is_holiday=is_holiday)


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    """Every country code the ``holidays`` registry names, without importing a country module."""
    from holidays.registry import COUNTRIES

    return frozenset(code for names in COUNTRIES.values() for code in names[1:] if code.isupper())


def _country_holidays(country: str, subdivision: str | None, year: int) -> Any:
    import holidays

    try:
        return holidays.country_holidays(country, subdiv=subdivision, years=year)
    except NotImplementedError as err:
        raise _unknown(country, subdivision) from err


def _unknown(country: str, subdivision: str | None) -> ConfigurationError:
    return ConfigurationError(
        f"the holidays package has no calendar for country {country!r}"
        + (f" subdivision {subdivision!r}" if subdivision else "")
    )
