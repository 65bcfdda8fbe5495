"""orchestrator-blocks: a local-first workflow engine built from blocks.

``import orchestrator_blocks as ob`` gives the user-facing API::

    w = ob.new_workflow("hello")
    greet = ob.Block.custom_transform(lambda name: f"hello {name}")
    w.add(greet)
    result = w.run("world")
    result.status, result.output(greet)      # RunStatus.SUCCEEDED, "hello world"

Plugin authors import ``orchestrator_blocks.sdk`` and nothing else.
"""

from __future__ import annotations

from orchestrator_blocks.kernel import (
    DEFAULT_ITERATION_BUDGET,
    Block,
    BlockId,
    RunResult,
    Workflow,
    new_workflow,
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
    PluginConflict,
    Policy,
    RetryDisposition,
    RunContext,
    RunStatus,
    Severity,
    Text,
    UnknownBlockType,
    Value,
)

__version__ = "0.1.0"

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
