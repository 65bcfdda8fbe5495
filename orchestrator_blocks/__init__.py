"""orchestrator-blocks: a local-first workflow engine built from blocks.

``import orchestrator_blocks as ob`` gives the user-facing API::

    w = ob.new_workflow("hello")
    greet = ob.Block.custom_transform(lambda name: f"hello {name}")
    w.add(greet)
    result = w.run("world")
    result.status, result.output(greet)      # RunStatus.SUCCEEDED, "hello world"

Plugin authors import ``orchestrator_blocks.sdk`` and nothing else. Names here resolve
lazily (PEP 562): importing the SDK, which imports this package first, does not import the
kernel.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from orchestrator_blocks.app.card import Workflow, new_workflow

    # Type checkers see a ``Block`` with a typed constructor per built-in block type
    # (generated); at run time it is the kernel's class, which resolves any installed type.
    from orchestrator_blocks.app.typed_block import Block
    from orchestrator_blocks.kernel import (
        DEFAULT_ITERATION_BUDGET,
        BlockId,
        RunResult,
        register_plugin,
    )
    from orchestrator_blocks.sdk import (
        Backoff,
        BlockError,
        Bytes,
        Empty,
        ErrorEnvelope,
        GraphInvalid,
        InvalidBlockConfig,
        Json,
        OrchestratorError,
        Origin,
        Policy,
        RetryDisposition,
        RunContext,
        RunStatus,
        Severity,
        Text,
        Value,
    )
    from orchestrator_blocks.sdk.errors import PluginConflict, UnknownBlockType

__version__ = "0.1.0"

_SDK = "orchestrator_blocks.sdk"
_WHERE = {
    "DEFAULT_ITERATION_BUDGET": "orchestrator_blocks.kernel",
    "Block": "orchestrator_blocks.kernel",
    "BlockId": "orchestrator_blocks.kernel",
    "RunResult": "orchestrator_blocks.kernel",
    "register_plugin": "orchestrator_blocks.kernel",
    "Workflow": "orchestrator_blocks.app.card",
    "new_workflow": "orchestrator_blocks.app.card",
    "PluginConflict": "orchestrator_blocks.sdk.errors",
    "UnknownBlockType": "orchestrator_blocks.sdk.errors",
    **dict.fromkeys(
        (
            "Backoff",
            "BlockError",
            "Bytes",
            "Empty",
            "ErrorEnvelope",
            "GraphInvalid",
            "InvalidBlockConfig",
            "Json",
            "OrchestratorError",
            "Origin",
            "Policy",
            "RetryDisposition",
            "RunContext",
            "RunStatus",
            "Severity",
            "Text",
            "Value",
        ),
        _SDK,
    ),
}

__all__ = [
    "DEFAULT_ITERATION_BUDGET",
    "Backoff",
    "Block",
    "BlockError",
    "BlockId",
    "Bytes",
    "Empty",
    "ErrorEnvelope",
    "GraphInvalid",
    "InvalidBlockConfig",
    "Json",
    "OrchestratorError",
    "Origin",
    "PluginConflict",
    "Policy",
    "RetryDisposition",
    "RunContext",
    "RunResult",
    "RunStatus",
    "Severity",
    "Text",
    "UnknownBlockType",
    "Value",
    "Workflow",
    "__version__",
    "new_workflow",
    "register_plugin",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'orchestrator_blocks' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
