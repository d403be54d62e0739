"""CVSS v3.x and v4.0 vectors scored with the pinned ``cvss`` package, banded by the domain."""

from __future__ import annotations

from decimal import Decimal

from cvss import CVSS3, CVSS4
from cvss.exceptions import CVSSError

from tracker_bridge.domain.errors import InvalidSeverity
from tracker_bridge.domain.severity import Severity


def base_score(vector: str) -> Decimal:
    """The CVSS base score of a v3.0/v3.1 or v4.0 vector; InvalidSeverity names a bad vector."""
    text = vector.strip()
    try:
        if text.startswith("CVSS:4.0/"):
            return Decimal(str(CVSS4(text).base_score))
        if text.startswith(("CVSS:3.1/", "CVSS:3.0/")):
            return Decimal(str(CVSS3(text).scores()[0]))
    except CVSSError as err:
        msg = f"invalid CVSS vector {text!r}: {err}"
        raise InvalidSeverity(msg) from err
    msg = f"unsupported CVSS vector {text!r} (expected it to start with CVSS:3.1/ or CVSS:4.0/)"
    raise InvalidSeverity(msg)


def severity_from_vector(vector: str) -> Severity:
    """The severity band of a CVSS vector."""
    return Severity.from_score(base_score(vector))
