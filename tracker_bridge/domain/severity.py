"""Severity bands and the CVSS score boundaries that map onto them."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from tracker_bridge.domain.errors import InvalidSeverity


class Severity(StrEnum):
    """How bad a finding is; ``unassessed`` until the team or a CVSS vector says."""

    UNASSESSED = "unassessed"
    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def from_score(cls, score: Decimal | float | str) -> Severity:
        """Band a CVSS base score (v3.1 and v4.0 share the bands).

        Bands: none 0.0, low 0.1-3.9, medium 4.0-6.9, high 7.0-8.9, critical 9.0-10.0.
        """
        try:
            value = Decimal(str(score))
        except ArithmeticError as err:
            msg = f"CVSS score {score!r} is not a number"
            raise InvalidSeverity(msg) from err
        if not Decimal("0.0") <= value <= Decimal("10.0"):
            msg = f"CVSS score {score} is outside 0.0-10.0"
            raise InvalidSeverity(msg)
        if value == 0:
            return cls.NONE
        if value < Decimal("4.0"):
            return cls.LOW
        if value < Decimal("7.0"):
            return cls.MEDIUM
        if value < Decimal("9.0"):
            return cls.HIGH
        return cls.CRITICAL

    @classmethod
    def parse(cls, name: str) -> Severity:
        """Read a band name set by hand; raise InvalidSeverity listing the names otherwise."""
        try:
            return cls(name.strip().lower())
        except ValueError:
            names = ", ".join(member.value for member in cls)
            msg = f"unknown severity {name!r} (expected one of {names})"
            raise InvalidSeverity(msg) from None
