"""Continue a run that paused at an approval gate, under the same run_id.

A paused run left a ``workflow_run_log`` row in ``awaiting_approval`` whose summary holds
what resuming needs: the workflow's source file and the run's input. Resuming loads that
workflow again and runs it with the same run_id and input. Everything before the gate is
read-only, so replaying it is safe; the gate finds its proposal decided (approved: the run
goes on; rejected or expired: the run ends ``rejected``); sends carry idempotency keys built
from the run_id, so a run resumed after its process died mid-fan-out sends nothing twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator_blocks.kernel.loader import WorkflowLoadError, load_workflow
from orchestrator_blocks.kernel.result import RunResult
from orchestrator_blocks.kernel.runtime import run_workflow
from orchestrator_blocks.kernel.workflow import Workflow
from orchestrator_blocks.sdk import OrchestratorError, Settings

from .store import Store

__all__ = ["ResumeError", "resumable", "resumable_workflow", "resume_run"]

RESUMABLE = ("awaiting_approval",)


class ResumeError(OrchestratorError):
    code = "runtime.resume_failed"


def resumable(store: Store, run_id: str) -> dict[str, Any]:
    """The resume facts of ``run_id`` (``source``, ``input``, ``proposal_id``), or raise."""
    row = store.runs.get(run_id)
    if row is None:
        raise ResumeError(f"no run {run_id} in the store; see `orchestrator-blocks runs`")
    info = (row.get("summary") or {}).get("resume")
    if row["status"] not in RESUMABLE or not info:
        raise ResumeError(
            f"run {run_id} is {row['status']}; only runs waiting for approval can be resumed"
        )
    if not info.get("source"):
        raise ResumeError(
            f"run {run_id} came from a workflow built in code, not from a file; "
            "run that program again to continue it"
        )
    return dict(info)


def resumable_workflow(store: Store, run_id: str) -> tuple[Workflow, dict[str, Any]]:
    """The paused run's workflow, loaded again from its source, and its resume facts."""
    info = resumable(store, run_id)
    try:
        workflow = load_workflow(Path(info["source"]))
    except WorkflowLoadError as exc:
        raise ResumeError(f"run {run_id}: cannot load its workflow again: {exc}") from None
    return workflow, info


async def resume_run(store: Store, settings: Settings, run_id: str) -> RunResult:
    """Run the paused ``run_id`` again from its source with its input and run_id."""
    workflow, info = resumable_workflow(store, run_id)
    return await run_workflow(workflow, info.get("input"), run_id=run_id, settings=settings)
