"""Where ``serve`` runs workflows (the ``register_executors`` hook).

``in_process`` (the default): each run is a task in the serving process's event loop, on
the same kernel runtime as ``orchestrator-blocks run``.
"""

from __future__ import annotations

from typing import Any

from orchestrator_blocks.kernel.result import RunResult
from orchestrator_blocks.kernel.runtime import run_workflow
from orchestrator_blocks.kernel.workflow import Workflow
from orchestrator_blocks.sdk import Settings
from orchestrator_blocks.sdk.durable import RunMode

__all__ = ["InProcessExecutor"]


class InProcessExecutor:
    """Runs each workflow in this process, concurrently with the serve loop."""

    name = "in_process"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def run(
        self,
        workflow: Workflow,
        input: Any,
        *,
        run_id: str | None = None,
        mode: RunMode = "new",
    ) -> RunResult:
        return await run_workflow(workflow, input, run_id=run_id, settings=self.settings, mode=mode)

    async def aclose(self) -> None:
        return None
