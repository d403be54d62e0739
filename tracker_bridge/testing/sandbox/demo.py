"""What the demo's sandboxes share: where their files live, and the hands every kind has."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from pathlib import Path


class SideEffectSource(Protocol):
    """The team's view of what the tracker did on its own (quick actions, mentions, fetches)."""

    def side_effects(self) -> list[str]:
        """Every side effect so far, oldest first."""

    def advance_clock(self, **delta: float) -> None:
        """Move the sandbox's clock (its notes' and issues' times) forward by ``timedelta(**delta)``."""


class RunningSandbox(Protocol):
    """A started sandbox as the demo needs it."""

    @property
    def url(self) -> str:
        """The base URL clients point at."""

    @property
    def team(self) -> SideEffectSource:
        """The security team's hands and view."""

    def stop(self) -> None:
        """Stop serving and release the port."""


SandboxT = TypeVar("SandboxT", bound=RunningSandbox)


def demo_files(directory: Path, kind: str) -> tuple[Path, Path]:
    """The state file and request log of a ``kind`` sandbox in ``directory`` (created if missing).

    Returns:
        ``(directory/KIND-state.json, directory/KIND-requests.jsonl)``.

    Raises:
        OSError: ``directory`` cannot be created.
    """
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f"{kind}-state.json", directory / f"{kind}-requests.jsonl"


class DemoSandbox(Generic[SandboxT]):
    """Base of a demo sandbox (the ``tracker_bridge.demo_sandboxes`` entry point's product).

    Subclasses set ``kind`` and add the team's hands keyed by the tracker's issue key.
    """

    kind = ""

    def __init__(self, sandbox: SandboxT) -> None:
        self._sandbox = sandbox
        self.url = sandbox.url

    def side_effects(self) -> list[str]:
        """What the tracker did because of stored text: quick actions, notifications, fetches."""
        return list(self._sandbox.team.side_effects())

    def advance_clock(self, **delta: float) -> None:
        """Move the tracker's clock forward by ``timedelta(**delta)``, as a test's clock moves."""
        self._sandbox.team.advance_clock(**delta)

    def stop(self) -> None:
        """Stop serving."""
        self._sandbox.stop()
