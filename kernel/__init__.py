"""The microkernel: workflow graph, runtime, plugin host, logging/tracing and the CLI shell.

Users import the facade (``import orchestrator_blocks as ob``); plugins import only
``orchestrator_blocks.sdk``. Nothing here imports a concrete plugin or a feature built on
the kernel: block families, the store, YAML workflows and serve all plug in through
the hooks of ``orchestrator_blocks.sdk.hookspecs``, found through entry points.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks.sdk.lazy import lazy_attributes

from .plugin_host import PluginHost, default_host, register_plugin

if TYPE_CHECKING:
    from .block import Block, BlockId
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
# Blocks, results, the workflow graph and the runtime (asyncio) are imported on first use,
# not by the CLI shell.
_WHERE = dict.fromkeys(("Block", "BlockId"), ".block") | {"RunResult": ".result"}
_WHERE |= dict.fromkeys(("DEFAULT_ITERATION_BUDGET", "Workflow", "new_workflow"), ".workflow")
__getattr__, __dir__ = lazy_attributes(__name__, _WHERE)
