"""Post actions: what is recorded after every root run, failed ones included.

They hang on the kernel's ``run_finished`` hook (:func:`run_finished` below):

1. one ``workflow_run_log`` row (run_id, workflow_type, status, started/completed, summary
   with step counts and errors);
2. a ``reflexion_log`` narrative built from the run's facts, when reflexion is enabled;
3. one ledger event ``workflow.completed | workflow.partial | workflow.failed`` per attempt
   of the run (its idempotency key is the run id and attempt), so a retried post action, a
   recovered run or two concurrent resumes never record it twice;
4. every declared verify check, staged ``pending`` with its due time.

Each write is idempotent and retried briefly (the SDK's :class:`Backoff`); a write that
still fails is logged as ``post_action.failed`` (code ``state_store.write_failed``) with
the data it could not store, so nothing is lost silently: the JSON log keeps it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import RunStatus, StateStoreError
from orchestrator_blocks.sdk.errors import STATE_STORE_WRITE_FAILED

if TYPE_CHECKING:
    from orchestrator_blocks.sdk.run import FinishedRun

    from .card import WorkflowSpec
    from .store import Store

    RunResult = FinishedRun

__all__ = [
    "LEDGER_EVENT",
    "ledger_event_type",
    "ledger_key",
    "narrative",
    "run_facts",
    "run_finished",
    "run_post_actions",
    "write_with_retry",
]

LEDGER_EVENT = {
    RunStatus.SUCCEEDED: "workflow.completed",
    RunStatus.PARTIAL: "workflow.partial",
}
_ATTEMPTS = 4


def ledger_event_type(status: RunStatus) -> str:
    return LEDGER_EVENT.get(status, "workflow.failed")


def run_facts(result: RunResult) -> dict[str, Any]:
    """What verify expectations and narratives may refer to, frozen at the end of a run."""
    outputs = {}
    for block_id, value in result.values.items():
        payload = value.payload
        if isinstance(payload, str) and len(payload) > 2_000:
            continue
        if isinstance(payload, bytes):
            continue
        outputs[block_id] = sdk.to_jsonable(payload)
    run_input = sdk.to_jsonable(result.input)
    return {
        "run_id": result.run_id,
        "workflow_id": result.workflow_id,
        "status": str(result.status),
        "outputs": outputs,
        "inputs": run_input if isinstance(run_input, dict) else {},
        "summary": result.summary(),
    }


def narrative(spec: WorkflowSpec, result: RunResult) -> str:
    """A few sentences a person (or a model) can read later to learn from this run."""
    summary = result.summary()
    counts = summary["blocks"]
    parts = [
        f"{spec.workflow_type} run {result.run_id} ended {result.status} after "
        f"{result.duration_ms / 1000:.1f} s: {counts.get('succeeded', 0)} steps succeeded, "
        f"{counts.get('failed', 0)} failed, {counts.get('skipped', 0)} skipped."
    ]
    retries = result.events_of("block.retry_scheduled")
    if retries:
        blocks = sorted({e["block_id"] for e in retries if e["run_id"] == result.run_id})
        parts.append(f"{len(retries)} retries were needed ({', '.join(blocks)}).")
    warned = result.events_of("precondition.warned")
    for w in warned:
        parts.append(f"Precondition {w.get('precondition')} warned: {w.get('message')}.")
    if result.error is not None:
        env = result.error.root_cause
        parts.append(
            f"It failed at {result.error.block_id} with {result.error.code}"
            + (
                f" (root cause {env.code} in {env.workflow_id}: {env.message})"
                if env is not result.error
                else f": {result.error.message}"
            )
            + "."
        )
    handlers = result.events_of("on_error.handler_failed") + result.events_of(
        "on_error.handler_succeeded"
    )
    for h in handlers:
        outcome = "succeeded" if h["event"].endswith("succeeded") else "failed"
        parts.append(f"Error handler {h['block_id']} {outcome}.")
    return " ".join(parts)


async def write_with_retry(
    log: Any, action: str, write: Callable[[], Any], payload: dict[str, Any]
) -> bool:
    """Run the blocking ``write`` in a thread, retried briefly on ``StateStoreError``; a write
    that still fails is logged as ``post_action.failed`` with ``payload``. True if written."""
    import asyncio  # (this module is loaded with the plugins, on every CLI start)

    for attempt in range(1, _ATTEMPTS + 1):
        try:
            await asyncio.to_thread(write)
            return True
        except StateStoreError as exc:
            if attempt == _ATTEMPTS:
                log.error(
                    "post_action.failed",
                    action=action,
                    origin="runtime",
                    code=STATE_STORE_WRITE_FAILED,
                    message=str(exc),
                    payload=payload,
                )
                return False
            retry = sdk.Backoff.exponential(50, 4.0, jitter=0.0, cap_ms=500)  # 50, 200, 500 ms
            await asyncio.sleep(retry.delay_ms(attempt, seed=action) / 1000)
    return False


def ledger_key(run_id: str, attempt: int = 1) -> str:
    """One ``workflow.*`` event per attempt of a run, whatever it ended as, however many
    processes (or concurrent resumes) try to record it."""
    return f"workflow:{run_id}:{attempt}"


async def run_post_actions(
    spec: WorkflowSpec, result: RunResult, store: Store | None, log: Any, *, attempt: int = 1
) -> dict[str, bool]:
    """Record the run; returns ``{action: written}``."""
    from orchestrator_blocks.sdk.services import utc_now_iso

    summary = result.summary()
    actions: list[tuple[str, Callable[[], Any], dict[str, Any]]] = []
    run_row: dict[str, Any] = {
        "run_id": result.run_id,
        "workflow_type": spec.workflow_type,
        "status": str(result.status),
        "started_at": result.started_at,
        "completed_at": result.finished_at,
        "summary": summary,
    }
    if result.status is RunStatus.AWAITING_APPROVAL:
        # Not an end: remember what `runs resume` needs; the rest comes when the run ends.
        summary["resume"] = {
            "source": spec.source,
            "input": sdk.to_jsonable(result.input),
            "proposal_id": result.waiting_on.get("proposal_id"),
        }
        run_row["completed_at"] = None
        return {
            "log_run": await write_with_retry(
                log, "log_run", lambda: _require(store).runs.record(**run_row), run_row
            )
        }
    if result.partial:
        summary["fan_out"] = [dict(p) for p in result.partial]
    actions.append(("log_run", lambda: _require(store).runs.record(**run_row), run_row))
    if spec.reflexion:
        refl: dict[str, Any] = {
            "run_id": result.run_id,
            "workflow_type": spec.workflow_type,
            "narrative": narrative(spec, result),
            "tags": list(spec.tags) or [spec.workflow_type],
        }
        actions.append(("reflexion", lambda: _require(store).runs.record_reflexion(**refl), refl))
    event_type = ledger_event_type(result.status)
    event: dict[str, Any] = {
        "event_type": event_type,
        "payload": {**summary, "workflow_type": spec.workflow_type},
        "idempotency_key": ledger_key(result.run_id, attempt),
        "workflow_id": result.workflow_id,
        "run_id": result.run_id,
    }
    actions.append(
        (
            "event",
            lambda: _require(store).ledger.record(
                event["event_type"],
                event["payload"],
                event["idempotency_key"],
                workflow_id=result.workflow_id,
                run_id=result.run_id,
            ),
            event,
        )
    )
    if spec.verify:
        facts = run_facts(result)
        completed = datetime.fromisoformat(result.finished_at.replace("Z", "+00:00"))
        for check in spec.verify:
            row = {
                "run_id": result.run_id,
                "workflow_type": spec.workflow_type,
                "check_name": check.name,
                "database": check.database,
                "sql_check": check.sql_check,
                "params": {**check.params, "run_id": result.run_id},
                "expectation": {"rule": check.expect, "facts": facts},
                "due_at": utc_now_iso(completed + timedelta(seconds=check.window_s)),
                "timeout_ms": check.timeout_ms,
            }
            actions.append((f"verify:{check.name}", _stage(store, row), row))
    done: dict[str, bool] = {}
    for name, write, payload in actions:
        done[name] = await write_with_retry(log, name, write, payload)
    return done


def _stage(store: Store | None, row: dict[str, Any]) -> Callable[[], Any]:
    return lambda: _require(store).verify.stage(**row)


def _require(store: Store | None) -> Store:
    if store is None:
        raise StateStoreError("the state store is not available (see store.unavailable)")
    return store


@sdk.hookimpl
def run_finished(run: sdk.RunView, result: FinishedRun) -> Awaitable[dict[str, bool]] | None:
    """Record every root run (child runs, fan-out items included, are part of their root)."""
    if run.parent_run_id is not None:
        return None
    from orchestrator_blocks.kernel.telemetry import get_logger

    from .card import WorkflowSpec
    from .store import open_store

    try:
        store: Store | None = open_store(run.settings)
    except StateStoreError:
        store = None
    spec = WorkflowSpec(run.traits, run.workflow_id, run.source)
    return run_post_actions(spec, result, store, get_logger(), attempt=run.run_attempt)
