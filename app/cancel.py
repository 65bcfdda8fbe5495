"""Ending a run by hand (``runs cancel``) and settling a send whose outcome is unknown
(``runs settle``), with the same records a run's own end leaves: its ``workflow_run_log``
row and one ledger event."""

from __future__ import annotations

from orchestrator_blocks.sdk import OrchestratorError, Settings
from orchestrator_blocks.sdk.services import utc_now_iso

from .post_actions import ledger_key
from .store import Store
from .store.durable import RunRow

__all__ = ["CancelError", "cancel_run", "settle_send"]


class CancelError(OrchestratorError):
    code = "runtime.cancel_refused"


def cancel_run(store: Store, settings: Settings, row: RunRow) -> str:
    """Cancel ``row``'s run; returns one line saying what happened."""
    from orchestrator_blocks.kernel.durable import lease_seconds

    if row.status not in ("created", "running", "awaiting_approval"):
        raise CancelError(f"run {row.run_id} already ended ({row.status}); nothing to cancel")
    if row.owner is not None and not row.owner_lost:
        store.durable.request_cancel(row.run_id)
        every = lease_seconds(settings) / 3
        return (
            f"cancel requested: {row.owner} stops run {row.run_id} at its next heartbeat "
            f"(within about {every:.0f} s)"
        )
    if not store.durable.cancel_now(row.run_id):
        raise CancelError(f"run {row.run_id} was just taken by another process; try again")
    unknown = store.outbound.mark_unknown(row.run_id)
    summary = {
        "workflow_id": row.workflow_id,
        "run_id": row.run_id,
        "status": "canceled",
        "attempt": row.attempt,
        "canceled_from": row.status,
        "unknown_sends": unknown,
    }
    now = utc_now_iso()
    store.runs.record(
        run_id=row.run_id,
        workflow_type=row.workflow_id,
        status="canceled",
        started_at=row.created_at,
        completed_at=now,
        summary=summary,
    )
    store.ledger.record(
        "workflow.failed",
        {**summary, "workflow_type": row.workflow_id},
        ledger_key(row.run_id, row.attempt),
        workflow_id=row.workflow_id,
        run_id=row.run_id,
    )
    return f"run {row.run_id} canceled (it was {row.shown_status})"


def settle_send(
    store: Store, settings: Settings, row: RunRow, key: str, status: str, by: str
) -> str:
    """Record what happened to an unknown send of ``row``'s run; returns one line."""
    from .approvals import NotApprover, configured_approver

    approver = configured_approver(settings)
    if not approver:
        raise CancelError(
            "no approver is configured: set `approver:` in the config file or "
            "ORCHESTRATOR_BLOCKS_APPROVER"
        )
    if by != approver:
        error = CancelError(f"only the configured approver ({approver}) can settle; {by!r} cannot")
        error.exit_code = NotApprover.exit_code  # type: ignore[attr-defined]
        raise error
    sends = {s["idempotency_key"]: s for s in store.outbound.for_run(row.run_id)}
    send = sends.get(key)
    if send is None:
        raise CancelError(f"run {row.run_id} has no send with key {key!r}")
    settled = store.outbound.settle(key, status, by=by)
    if settled is None:
        raise CancelError(
            f"send {key} is {send['status']}, not unknown: only unknown sends are settled"
        )
    item = str(send.get("customer_id") or key.rsplit(":", 1)[-1])
    store.items.settle_item(row.run_id, item, status if status == "failed" else "sent")
    store.ledger.record(
        "send.settled",
        {"key": key, "status": status, "by": by, "at": utc_now_iso(), "run_id": row.run_id},
        f"send.settled:{key}:{status}",
        workflow_id=row.workflow_id,
        run_id=row.run_id,
    )
    hint = "; `runs resume` sends it again under the same key" if status == "failed" else ""
    return f"send {key} settled as {status} by {by}{hint}"
