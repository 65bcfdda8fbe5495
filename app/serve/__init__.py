"""``serve``: the loop (:mod:`.server`), its triggers (:mod:`.triggers`) and executors.

Names resolve lazily (PEP 562): the plugin module :mod:`.plugin` is loaded at every CLI
start and must not pull in the store.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import Served, Server, discover_workflows, executor_for, iso, triggers_of

__all__ = ["Served", "Server", "discover_workflows", "executor_for", "iso", "triggers_of"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(".server", __name__), name)
