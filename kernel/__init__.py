"""The microkernel: workflow graph, runtime, plugin host, telemetry, store and CLI.

Users import the facade (``import orchestrator_blocks as ob``); plugins import only
``orchestrator_blocks.sdk``. Nothing here imports a concrete plugin: built-in families are
found through the same entry points as third-party ones.
"""

from __future__ import annotations

from .block import Block, BlockId
from .plugin_host import PluginHost, default_host, register_plugin
from .result import RunResult
from .workflow import DEFAULT_ITERATION_BUDGET, Workflow, new_workflow

__all__ = [
    "DEFAULT_ITERATION_BUDGET",
    "Block",
    "BlockId",
    "PluginHost",
    "RunResult",
    "Workflow",
    "default_host",
    "new_workflow",
    "register_plugin",
]
