"""Every request a sandbox answered, in memory and optionally as a JSON-lines file."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the sandbox answered it.

    Attributes:
        method: HTTP method, upper case.
        path: The raw (still percent-encoded) URL path, without the query.
        query: Query parameters as ``urllib.parse.parse_qs`` gives them.
        status: The HTTP status answered.
        ms: Milliseconds from reading the request to the end of the answer.
    """

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    status: int = 0
    ms: float = 0.0


LOG_FIELDS = ("method", "path", "query", "status", "ms")


class RequestLog:
    """The requests answered so far; each also becomes one JSON line in ``file`` when given.

    Args:
        file: JSON-lines file to append to (created when missing), or None for memory only.
        file_fields: Which :class:`LoggedRequest` attributes each line carries, in order.

    Raises:
        ValueError: ``file_fields`` names something a :class:`LoggedRequest` does not have.
    """

    def __init__(
        self, file: Path | None = None, file_fields: Sequence[str] = ("method", "path", "status")
    ) -> None:
        unknown = [name for name in file_fields if name not in LOG_FIELDS]
        if unknown:
            msg = f"request log fields {unknown} are unknown; choose from {', '.join(LOG_FIELDS)}"
            raise ValueError(msg)
        self.file = file
        self.file_fields = tuple(file_fields)
        self._entries: list[LoggedRequest] = []
        self._lock = threading.Lock()

    def record(self, entry: LoggedRequest) -> None:
        """Remember one answered request and append its line to the file."""
        with self._lock:
            self._entries.append(entry)
            if self.file is not None:
                line = {name: getattr(entry, name) for name in self.file_fields}
                with self.file.open("a", encoding="utf-8") as out:
                    out.write(json.dumps(line) + "\n")

    def entries(self) -> list[LoggedRequest]:
        """Every request answered so far, oldest first (a copy)."""
        with self._lock:
            return list(self._entries)

    def count(
        self,
        method: str | None = None,
        *,
        path_contains: str | None = None,
        path_pattern: str | None = None,
    ) -> int:
        """How many requests matched ``method``, a path substring and a path regex (all optional)."""
        pattern = re.compile(path_pattern) if path_pattern else None
        return sum(
            1
            for entry in self.entries()
            if (method is None or entry.method == method.upper())
            and (path_contains is None or path_contains in entry.path)
            and (pattern is None or pattern.search(entry.path) is not None)
        )

    def clear(self) -> None:
        """Forget the requests answered so far (the file keeps its lines)."""
        with self._lock:
            self._entries.clear()
