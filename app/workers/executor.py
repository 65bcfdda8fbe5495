"""``serve`` hands runs to workers (the ``procrastinate`` executor), and a fan-out running on a
worker hands its items to the others (the ``ItemDispatcher`` service)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator_blocks.kernel.ids import new_run_id
from orchestrator_blocks.kernel.workflow import Workflow
from orchestrator_blocks.sdk import Settings
from orchestrator_blocks.sdk.durable import RunMode

from ..store.durable import workflow_ref
from .queue import ITEMS_TASK, RUN_TASK, build_app, ensure_schema

__all__ = ["ChunkDispatcher", "ProcrastinateExecutor", "Queued"]


@dataclass(frozen=True)
class Queued:
    """What ``serve`` learns of a run handed to the workers: its id, and that it is queued."""

    run_id: str
    status: str = "queued"


class ProcrastinateExecutor:
    """Runs go to the ``runs`` queue; any worker on the store's PostgreSQL takes them."""

    name = "procrastinate"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = build_app(settings)  # raises QueueError on a store that is not PostgreSQL
        self._opened = False

    async def run(
        self,
        workflow: Workflow,
        input: Any,
        *,
        run_id: str | None = None,
        mode: RunMode = "new",
    ) -> Queued:
        if workflow.source is None:
            raise ValueError(f"{workflow.id}: a workflow built in code cannot run on a worker")
        if not self._opened:
            await self.app.open_async()
            await ensure_schema(self.app, self.settings)
            self._opened = True
        run_id = run_id or new_run_id()
        directory = Path(self.settings.get("WORKFLOWS_DIR") or "workflows")
        await self.app.configure_task(RUN_TASK).defer_async(
            run_id=run_id,
            mode=mode,
            workflow_ref=workflow_ref(workflow.source, directory),
            source_hash=workflow.source_hash,
            input=_jsonable(input),
        )
        return Queued(run_id)

    async def aclose(self) -> None:
        if self._opened:
            await self.app.close_async()
            self._opened = False


class ChunkDispatcher:
    """The SDK's ``ItemDispatcher`` inside a worker: chunks go to the ``items`` queue."""

    def __init__(self, app: Any, settings: Settings) -> None:
        from orchestrator_blocks.kernel.durable import lease_seconds

        self.app = app
        self.lease_s = lease_seconds(settings)
        self.chunk_size = int(settings.get("CHUNK_SIZE") or 25)
        self.poll_s = float(settings.get("FAN_OUT_POLL_S") or 0.5)

    async def dispatch(
        self, run_id: str, block_id: str, payloads: Sequence[Mapping[str, Any]]
    ) -> None:
        await self.app.configure_task(ITEMS_TASK).defer_async(
            run_id=run_id, block_id=block_id, items=[_jsonable(p) for p in payloads]
        )


def _jsonable(value: Any) -> Any:
    from orchestrator_blocks.sdk import to_jsonable

    return to_jsonable(value)
