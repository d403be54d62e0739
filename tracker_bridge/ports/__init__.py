"""The boundaries as typing.Protocol, and the small data objects that cross them, by boundary.

Services depend on these protocols only; adapters (store, intake, mail, tracker plugins)
implement them, and ``app.py`` wires the concrete classes together. Submodules:
``tracker`` (the plugin boundary), ``intake`` (inbound mail), ``openpgp``, ``mail`` (outbound
mail), ``store`` (repositories), ``privacy`` (audit, retention, erasure), ``unit_of_work``,
``clock`` and ``summary``.

This package re-exports only the plugin surface: what a tracker plugin imports and implements.
Everything else is imported from its submodule.
"""

from tracker_bridge.ports.tracker import (
    IssueDraft,
    IssueRef,
    IssueSnapshot,
    IssueUpdate,
    TextErasure,
    Tracker,
    TrackerAccessCheck,
    TrackerNote,
    TrackerPlugin,
)

__all__ = [
    "IssueDraft",
    "IssueRef",
    "IssueSnapshot",
    "IssueUpdate",
    "TextErasure",
    "Tracker",
    "TrackerAccessCheck",
    "TrackerNote",
    "TrackerPlugin",
]
