"""The engine's durable local store (DESIGN §6), reached by plugins only through services.

:func:`open_store` gives the store for the current settings: SQLite at
``$ORCHESTRATOR_BLOCKS_HOME/state.db`` by default, or ``ORCHESTRATOR_BLOCKS_DB_URL``; it is
migrated on first open in a process. :class:`Databases` is the SDK's ``SqlDatabases``
service (``local`` plus the ``databases:`` of the config file); :class:`SendLog` and
:class:`SwitchBoard` are its ``SendLog`` and ``KillSwitches``. The store reaches runs
through the hooks in :mod:`.plugin`.

Names resolve lazily (PEP 562) so that loading the store's plugin module, which every CLI
start does, does not import SQLAlchemy.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import (
        Databases,
        DurableRuns,
        EventRecord,
        ItemLog,
        OutboundLog,
        Proposal,
        Proposals,
        SendLog,
        SendRecord,
        Store,
        SwitchBoard,
        VerifyCheck,
        classify,
        describe,
        forget_stores,
        open_store,
        store_url,
    )

__all__ = [
    "Databases",
    "DurableRuns",
    "EventRecord",
    "ItemLog",
    "OutboundLog",
    "Proposal",
    "Proposals",
    "SendLog",
    "SendRecord",
    "Store",
    "SwitchBoard",
    "VerifyCheck",
    "classify",
    "describe",
    "forget_stores",
    "open_store",
    "store_url",
]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(".store", __name__), name)
