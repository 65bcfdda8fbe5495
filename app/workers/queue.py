"""The job queue workers take runs and fan-out chunks from: Procrastinate on PostgreSQL.

We do not write our own distributed queue. Two tasks:

* ``orchestrator_blocks.run`` (queue ``runs``): run, continue or retry one run. The worker
  loads the workflow by its reference (a file relative to its own workflows directory, and
  that file's hash) and runs it on the kernel's runtime; the run's lease (the durable-run
  protocol) makes sure one process owns it at a time.
* ``orchestrator_blocks.items`` (queue ``items``): run some items of a fan-out. The worker
  runs the fan-out's own block with the chunk's items, as a piece of the run that fans out;
  each item is claimed on its row first, so two workers never run one item.

Procrastinate's ``SELECT ... FOR UPDATE SKIP LOCKED`` fetch hands each job to one worker.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from orchestrator_blocks.kernel.block import Block
from orchestrator_blocks.kernel.durable import lease_seconds, owner_id
from orchestrator_blocks.kernel.loader import file_hash, load_workflow
from orchestrator_blocks.kernel.runtime import run_workflow
from orchestrator_blocks.kernel.telemetry import get_logger
from orchestrator_blocks.kernel.workflow import Workflow
from orchestrator_blocks.sdk import Settings
from orchestrator_blocks.sdk.durable import RunOwned, RunRefused

__all__ = [
    "ITEMS_QUEUE",
    "ITEMS_TASK",
    "RUNS_QUEUE",
    "RUN_TASK",
    "QueueError",
    "build_app",
    "conninfo",
    "ensure_schema",
]

RUN_TASK, RUNS_QUEUE = "orchestrator_blocks.run", "runs"
ITEMS_TASK, ITEMS_QUEUE = "orchestrator_blocks.items", "items"
CHUNK = "fan_out.chunk"  # what the for_each family reads with ctx.services.lent(...)
_SCHEMA_LOCK = 7294114


class QueueError(Exception):
    """The queue cannot be used with these settings (one line says why)."""


def conninfo(settings: Settings) -> str:
    """The PostgreSQL connection string of the store, for psycopg (workers need it)."""
    from ..config import app_config

    url = app_config(settings).db_url or ""
    scheme, _, rest = url.partition("://")
    if not scheme.startswith(("postgresql", "postgres")):
        shown = scheme or "the embedded SQLite store"
        raise QueueError(
            f"workers need PostgreSQL, and the store is {shown}: set "
            "ORCHESTRATOR_BLOCKS_DB_URL=postgresql://USER@HOST/DB on every machine"
        )
    return f"postgresql://{rest}"


def build_app(settings: Settings) -> Any:
    """A Procrastinate app on the store's PostgreSQL, with the two tasks registered."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(settings)))
    jobs = _Jobs(settings)
    app.task(name=RUN_TASK, queue=RUNS_QUEUE)(jobs.run)
    app.task(name=ITEMS_TASK, queue=ITEMS_QUEUE)(jobs.items)
    return app


async def ensure_schema(app: Any, settings: Settings) -> None:
    """Create Procrastinate's tables once; several workers and ``serve`` may start together.

    The advisory lock is held on one dedicated connection: a session lock taken through the
    app's pool could be released on another pooled connection, and never be released."""
    import psycopg

    exists = "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"
    async with await psycopg.AsyncConnection.connect(conninfo(settings), autocommit=True) as conn:
        if (await (await conn.execute(exists)).fetchone() or (False,))[0]:
            return
        await conn.execute(f"SELECT pg_advisory_lock({_SCHEMA_LOCK})")
        try:
            if not (await (await conn.execute(exists)).fetchone() or (False,))[0]:
                async with conn.transaction():
                    await conn.execute(app.schema_manager.get_schema())
        finally:
            await conn.execute(f"SELECT pg_advisory_unlock({_SCHEMA_LOCK})")


class _Jobs:
    """What a worker does with each job; workflows are loaded once per file content."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.workflows: dict[tuple[str, str], Workflow] = {}

    def _store(self) -> Any:
        from ..store import open_store

        return open_store(self.settings)

    def _load(self, ref: str | None, source: str | None, expected: str | None) -> Workflow:
        """The workflow a run names, from this worker's workflows directory."""
        directory = Path(self.settings.get("WORKFLOWS_DIR") or "workflows")
        candidates = [directory / ref] if ref and not Path(ref).is_absolute() else []
        candidates += [Path(p) for p in (ref, source) if p and Path(p).is_absolute()]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            raise RunRefused(f"workflow {ref or source} is not in {directory} on this worker")
        digest = file_hash(path)
        if expected and digest != expected:
            raise RunRefused(
                f"workflow {ref} on this worker differs from the one the run started with "
                f"(sha256 {expected} then, {digest} here); deploy the same file everywhere"
            )
        key = (str(path.resolve()), digest)
        if key not in self.workflows:
            self.workflows[key] = load_workflow(path)
        return self.workflows[key]

    async def run(
        self,
        run_id: str,
        mode: str,
        workflow_ref: str | None,
        source_hash: str | None,
        input: Any = None,
    ) -> None:
        row = await asyncio.to_thread(self._store().durable.get, run_id)
        if row is not None:
            workflow_ref, source_hash = row.workflow_ref, row.source_hash
            mode = "continue" if mode == "new" else mode  # a job handed out again
        log = get_logger()
        try:
            workflow = self._load(workflow_ref, row.source if row else None, source_hash)
            await run_workflow(
                workflow,
                input,
                run_id=run_id,
                settings=self.settings,
                mode=mode,  # type: ignore[arg-type]
            )
        except RunOwned:
            return  # another process holds the run: it goes on there
        except RunRefused as exc:
            log.error("worker.run_refused", run_id=run_id, origin="runtime", message=str(exc))

    async def items(self, run_id: str, block_id: str, items: list[dict[str, Any]]) -> None:
        row = await asyncio.to_thread(self._store().durable.get, run_id)
        if row is None:
            return
        workflow = self._load(row.workflow_ref, row.source, row.source_hash)
        node = workflow.plan().nodes[block_id]
        carrier = Workflow(workflow.id)
        carrier.add(Block(node.block_type, **node.config).named(block_id))
        chunk = {
            "run_id": run_id,
            "block_id": block_id,
            "owner": owner_id(),
            "lease_s": lease_seconds(self.settings),
        }
        await run_workflow(
            carrier, {"items": items}, settings=self.settings, part_of=run_id, lent={CHUNK: chunk}
        )
