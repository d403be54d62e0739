"""What one step of a pass did: the counts and problems behind the summary line and ``--json``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PassSummary:
    """What one step of a pass did, for the one-line summary and ``--json``."""

    step: str
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def bump(self, key: str, by: int = 1) -> None:
        """Count one more of ``key``."""
        self.counts[key] = self.counts.get(key, 0) + by
