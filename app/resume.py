"""Continue or retry a durable run, under the same run id (DESIGN §10).

A run's row in the ``runs`` table names its workflow (a file relative to the workflows
directory, and that file's hash) and holds its input. **Continuing** (``runs resume``, an
approval decision, recovery after a crash) loads that file again and goes on from the run's
checkpoints: blocks that finished are not run again, a decided gate is not asked again, a
fan-out starts only its unfinished items. **Retrying** (``runs retry``; also what resuming
a ``partial`` run does) starts a new attempt that reuses what succeeded and runs again what
failed. A file whose content changed since the run started is refused (both hashes are
named); the run stays resumable once the file is restored.
"""

from __future__ import annotations

from pathlib import Path

from orchestrator_blocks.kernel.loader import WorkflowLoadError, load_workflow
from orchestrator_blocks.kernel.result import RunResult
from orchestrator_blocks.kernel.runtime import run_workflow
from orchestrator_blocks.kernel.workflow import Workflow
from orchestrator_blocks.sdk import OrchestratorError, Settings
from orchestrator_blocks.sdk.durable import RunMode

from .store import Store
from .store.durable import RETRYABLE, RunRow

__all__ = ["ResumeError", "find_run", "load_for", "mode_for", "resume_run", "workflow_file"]


class ResumeError(OrchestratorError):
    code = "runtime.resume_failed"


def find_run(store: Store, run_id: str) -> RunRow:
    """The durable run ``run_id`` names (a full id or a unique prefix), or raise."""
    from .run_ids import RunIdError, resolve_run_id

    try:
        full_id = resolve_run_id(run_id, store=store)
    except RunIdError as exc:
        raise ResumeError(str(exc)) from None
    row = store.durable.get(full_id)
    if row is None:
        raise ResumeError(
            f"run {full_id} has no durable row (it ran with ORCHESTRATOR_BLOCKS_DURABLE=off): "
            "there is nothing to continue"
        )
    return row


def workflow_file(row: RunRow, workflows_dir: Path) -> Path | None:
    """Where this process finds the run's workflow: its reference under the workflows
    directory, else the file the starting process named."""
    if row.workflow_ref is not None and not Path(row.workflow_ref).is_absolute():
        candidate = workflows_dir / row.workflow_ref
        if candidate.is_file() or row.source is None:
            return candidate
    return Path(row.source) if row.source else None


def load_for(row: RunRow, workflows_dir: Path) -> Workflow:
    """The run's workflow, loaded again from its file."""
    path = workflow_file(row, workflows_dir)
    if path is None:
        raise ResumeError(
            f"run {row.run_id} came from a workflow built in code, not from a file; "
            "run that program again to continue it"
        )
    try:
        return load_workflow(path)
    except WorkflowLoadError as exc:
        raise ResumeError(f"run {row.run_id}: cannot load its workflow again: {exc}") from None


def mode_for(row: RunRow) -> RunMode:
    """``retry`` for a run that ended partial or failed, else ``continue``."""
    return "retry" if row.status in RETRYABLE else "continue"


async def resume_run(
    store: Store, settings: Settings, run_id: str, *, mode: RunMode | None = None
) -> RunResult:
    """Continue (or retry) ``run_id`` in this process from its checkpoints."""
    row = find_run(store, run_id)
    workflow = load_for(row, store.durable.workflows_dir)
    return await run_workflow(
        workflow, None, run_id=row.run_id, settings=settings, mode=mode or mode_for(row)
    )
