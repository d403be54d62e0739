"""Builds the domain's working-day calendar from the pinned ``holidays`` package."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from tracker_bridge.domain.deadlines import WorkingCalendar
from tracker_bridge.errors import ConfigurationError


def working_calendar(
    timezone: str = "Europe/Amsterdam", country: str = "NL", subdivision: str | None = None
) -> WorkingCalendar:
    """A calendar that skips weekends and the public holidays of ``country`` in ``timezone``."""
    try:
        tz = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigurationError(f"unknown time zone {timezone!r}") from err
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as err:
        raise ConfigurationError(
            f"the holidays package has no calendar for country {country!r}"
            + (f" subdivision {subdivision!r}" if subdivision else "")
        ) from err

    # One small set per year: membership is a hash lookup, and memory does not grow with the
    # number of distinct days asked about (a per-day cache did, with many reports).
    @lru_cache(maxsize=32)
    def holidays_in(year: int) -> frozenset[date]:
        return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))

    def is_holiday(day: date) -> bool:
        return day in holidays_in(day.year)

    return WorkingCalendar(tz=tz, is_holiday=is_holiday)
