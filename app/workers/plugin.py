"""Workers as a plugin: the ``procrastinate`` executor, and fan-out chunks on workers.

Inside a ``worker`` process (:func:`serving`), runs get an ``sdk.ItemDispatcher``: a fan-out
they run hands its items to the ``items`` queue, so every worker takes a share.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.hookspecs import Executors

__all__ = ["serving"]

_worker_app: Any = None


def serving(app: Any) -> None:
    """Mark this process as a worker taking jobs from ``app`` (``None``: not any more)."""
    global _worker_app
    _worker_app = app


def _executor(settings: sdk.Settings) -> Any:
    from .executor import ProcrastinateExecutor

    return ProcrastinateExecutor(settings)


@sdk.hookimpl
def register_executors(executors: Executors) -> None:
    executors.add("procrastinate", _executor)


@sdk.hookimpl
def provide_services(settings: sdk.Settings, store: Any) -> Mapping[type, object] | None:
    if _worker_app is None or store is None:
        return None
    from .executor import ChunkDispatcher

    return {sdk.ItemDispatcher: ChunkDispatcher(_worker_app, settings)}
