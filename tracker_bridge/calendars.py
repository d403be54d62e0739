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
        table = holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as err:
        raise ConfigurationError(
            f"the holidays package has no calendar for country {country!r}"
            + (f" subdivision {subdivision!r}" if subdivision else "")
        ) from err

    @lru_cache(maxsize=4096)
    def is_holiday(day: date) -> bool:
        return day in table

    return WorkingCalendar(tz=tz, is_holiday=is_holiday)
