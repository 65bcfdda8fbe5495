"""``serve``: the loop (:mod:`.server`), its triggers (:mod:`.triggers`) and executors."""

from __future__ import annotations

from .server import Served, Server, discover_workflows, executor_for, iso, triggers_of

__all__ = ["Served", "Server", "discover_workflows", "executor_for", "iso", "triggers_of"]
