"""The ``hitl_gate`` and ``hitl_review`` block types (imported when block types are
registered; the gate rule itself, ``block_guard``, is in the package)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from orchestrator_blocks import sdk

from .sample import render_sample

__all__ = [
    "BLOCK_TYPES",
    "CODES",
    "DEFAULT_WINDOW_MINUTES",
    "DOMAIN",
    "EXPIRED",
    "FAMILY",
    "INVALID",
    "REJECTED",
    "UNAVAILABLE",
    "entity_ref",
    "hitl_gate",
    "hitl_review",
]

DOMAIN = "hitl"
REJECTED = "hitl.rejected"
EXPIRED = "hitl.expired"
UNAVAILABLE = "hitl.store_unavailable"
INVALID = "hitl.invalid"
CODES = (REJECTED, EXPIRED, UNAVAILABLE, INVALID)
FAMILY = sdk.family(
    "hitl",
    domain=DOMAIN,
    codes=[
        sdk.Code(REJECTED, "never", "the approver rejected the proposal: the run ends rejected"),
        sdk.Code(EXPIRED, "never", "nobody decided within the window: the run ends rejected"),
        sdk.Code(UNAVAILABLE, "manual", "no approval desk: the local store is not available"),
        sdk.Code(INVALID, "never", "the item lacks the key a per-item review needs"),
    ],
    description="a human approves before any write",
)
DEFAULT_WINDOW_MINUTES = 60.0


def entity_ref(workflow_id: str, run_id: str) -> str:
    return f"workflow:{workflow_id}:run_{run_id}"


def _desk(ctx: sdk.RunContext) -> sdk.ApprovalDesk:
    try:
        return ctx.service(sdk.ApprovalDesk)
    except LookupError as exc:
        raise sdk.BlockError(
            UNAVAILABLE,
            f"an approval gate needs the local store: {exc}",
            retry_disposition=sdk.RetryDisposition.MANUAL,
        ) from None


def _validate_gate(config: dict[str, Any]) -> None:
    for name in ("sample_size",):
        if not isinstance(config[name], int) or config[name] < 0:
            raise ValueError(f"{name} must be a non-negative integer")
    window = config["window_minutes"]
    if window is not None and (not isinstance(window, int | float) or window <= 0):
        raise ValueError("window_minutes must be a positive number of minutes")
    risk = config["risk_level"]
    if risk is not None and (not isinstance(risk, int) or not 0 <= risk <= 5):
        raise ValueError("risk_level must be an integer from 0 to 5")


def _public_inputs(inputs: Any) -> dict[str, Any]:
    if not isinstance(inputs, Mapping):
        return {}
    return {k: v for k, v in inputs.items() if not str(k).startswith("_")}


def _payload(
    value: sdk.Value, *, over: str, sample_size: int, body_input: str | None
) -> dict[str, Any]:
    data = value.payload if isinstance(value, sdk.Json) else None
    if not isinstance(data, Mapping):
        return {"input": value.payload if not isinstance(value, sdk.Bytes) else "<bytes>"}
    inputs = data.get("inputs", {})
    items = data.get(over)
    payload: dict[str, Any] = {
        "inputs": _public_inputs(inputs),
        "warnings": list(data.get("precondition_warnings") or []),
    }
    if isinstance(items, list):
        payload["over"] = over
        payload["recipient_count"] = len(items)
        payload["sample"] = items[:sample_size]
        template = inputs.get(body_input) if isinstance(inputs, Mapping) and body_input else None
        if isinstance(template, str) and items:
            payload["sample_body"] = render_sample(template, items[0], inputs)
    return payload


def _expired(expires_at: str | None, now: datetime) -> bool:
    if not expires_at:
        return False
    end = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    return now >= end


def _now(ctx: sdk.RunContext) -> datetime:
    now = ctx.clock.now()
    return now.replace(tzinfo=UTC) if now.utcoffset() is None else now


@FAMILY.block_type(
    "hitl_gate",
    # The proposal is how approval is asked for: a change to list, never a write to refuse.
    side_effects=[
        sdk.SideEffect(
            "Store", "proposed_actions", "INSERT (HITL gate envelope)", counts_as_write=False
        )
    ],
    validate=_validate_gate,
    ends_run_as={REJECTED: sdk.RunStatus.REJECTED, EXPIRED: sdk.RunStatus.REJECTED},
)
async def hitl_gate(
    ctx: sdk.RunContext,
    value: sdk.Value,
    action_type: str | None = None,
    *,
    over: str = "recipients",
    sample_size: int = 3,
    body_input: str | None = "body_template",
    window_minutes: float | None = None,
    risk_level: int | None = None,
) -> sdk.Value:
    """Stop until the configured approver approves this run; then pass the input through.

    The first pass stages a proposal (action type ``workflow_<workflow_id>`` unless given)
    with the inputs, the count and a sample of the items under ``over``, and one item's body
    rendered from the input named ``body_input``; the run pauses ``awaiting_approval``.
    Approved: the input passes unchanged. Rejected or expired: ``hitl.rejected`` /
    ``hitl.expired`` and the run ends ``rejected``.
    """
    desk = _desk(ctx)
    ref = entity_ref(ctx.workflow_id, ctx.run_id)
    window = window_minutes or desk.window_minutes or DEFAULT_WINDOW_MINUTES
    payload = _payload(value, over=over, sample_size=sample_size, body_input=body_input)
    payload["approver"] = desk.approver
    proposal = await desk.stage(
        action_type=action_type or f"workflow_{ctx.workflow_id}",
        entity_ref=ref,
        payload=payload,
        risk_level=risk_level if risk_level is not None else 3,
        workflow_type=ctx.workflow_id,
        run_id=ctx.run_id,
        window_minutes=window,
    )
    pid, status = int(proposal["id"]), str(proposal["status"])
    if status == "pending" and _expired(proposal.get("expires_at"), _now(ctx)):
        await desk.expire(pid)
        status = "expired"
    details = {"proposal_id": pid, "entity_ref": ref}
    if status == "approved":
        ctx.log.info("hitl.approved", proposal_id=pid, decided_by=proposal.get("decided_by"))
        return value
    if status == "rejected":
        raise sdk.BlockError(
            REJECTED,
            f"proposal {pid} was rejected by {proposal.get('decided_by')}"
            + (f": {proposal['note']}" if proposal.get("note") else ""),
            details=details,
        )
    if status == "expired":
        raise sdk.BlockError(
            EXPIRED,
            f"proposal {pid} expired (window ended {proposal.get('expires_at')}); nothing was sent",
            details=details,
        )
    approver = desk.approver or "the configured approver"
    ctx.log.info("hitl.awaiting", proposal_id=pid, entity_ref=ref, approver=approver)
    raise sdk.RunPaused(
        sdk.RunStatus.AWAITING_APPROVAL,
        f"waiting for {approver}: orchestrator-blocks approvals approve {pid} --as {approver}",
        waiting_on={"proposal_id": pid},
    )


def _validate_review(config: dict[str, Any]) -> None:
    if config["mode"] not in ("cohort", "per_item"):
        raise ValueError("mode must be 'cohort' or 'per_item'")
    window = config["window_minutes"]
    if window is not None and (not isinstance(window, int | float) or window <= 0):
        raise ValueError("window_minutes must be a positive number of minutes")


@FAMILY.block_type(
    "hitl_review",
    side_effects=[
        sdk.SideEffect("Store", "proposed_actions", "INSERT (hitl_review)", counts_as_write=False)
    ],
    validate=_validate_review,
    ends_run_as={REJECTED: sdk.RunStatus.REJECTED, EXPIRED: sdk.RunStatus.REJECTED},
)
async def hitl_review(
    ctx: sdk.RunContext,
    value: sdk.Value,
    mode: str = "cohort",
    *,
    item_key: str = "item_key",
    window_minutes: float | None = None,
) -> sdk.Value:
    """Review one fan-out item: ``cohort`` passes items of an approved run; ``per_item``
    stages a review per item (recipient, subject, personalised body) and the item's run
    waits ``awaiting_approval`` until it is decided: approved, the input passes through
    unchanged; rejected or expired, the item is dropped (``hitl.rejected`` /
    ``hitl.expired``, its run ends ``rejected``)."""
    data = value.payload if isinstance(value, sdk.Json) else None
    key = _key_of(data, item_key)
    if mode == "cohort":
        # A fan-out is a write step: in a workflow of risk >= 3 the runtime starts it only
        # after the run's gate was approved, and that approval covers the whole cohort.
        ctx.log.info("hitl.review_covered", item=key, mode=mode)
        return value
    if key is None or not isinstance(data, Mapping):
        raise sdk.BlockError(INVALID, f"per-item review needs {item_key!r} in the item")
    desk = _desk(ctx)
    root_run = ctx.parent_run_id or ctx.run_id
    workflow = ctx.workflow_id
    ref = f"review:{workflow}:run_{root_run}:{key}"
    proposal = await desk.stage(
        action_type="hitl_review",
        entity_ref=ref,
        payload=_review_payload(data, key, desk.approver),
        risk_level=3,
        workflow_type=workflow,
        run_id=root_run,
        window_minutes=window_minutes or desk.window_minutes or DEFAULT_WINDOW_MINUTES,
    )
    status, pid = str(proposal["status"]), int(proposal["id"])
    if status == "pending" and _expired(proposal.get("expires_at"), _now(ctx)):
        await desk.expire(pid)
        status = "expired"
    details = {"proposal_id": pid, "item": key}
    if status == "approved":
        ctx.log.info("hitl.review_approved", proposal_id=pid, item=key)
        return value
    if status in ("rejected", "expired"):
        ctx.log.info("hitl.review_dropped", proposal_id=pid, item=key, decision=status)
        raise sdk.BlockError(
            REJECTED if status == "rejected" else EXPIRED,
            f"review {pid} of item {key} was {status}"
            + (f" by {proposal.get('decided_by')}" if proposal.get("decided_by") else "")
            + (f": {proposal['note']}" if proposal.get("note") else "")
            + "; the item is dropped",
            details=details,
        )
    approver = desk.approver or "the configured approver"
    ctx.log.info("hitl.review_awaiting", proposal_id=pid, item=key, approver=approver)
    raise sdk.RunPaused(
        sdk.RunStatus.AWAITING_APPROVAL,
        f"item {key} waits for {approver}: orchestrator-blocks approvals approve {pid} "
        f"--as {approver}",
        waiting_on={"proposal_id": pid},
    )


def _key_of(data: Any, item_key: str) -> str | None:
    """The item's key: the field ``item_key`` names; by default ``item_key`` (the fan-out's
    own field) or, after ``render_email``, the ``customer_id`` it carries the key in."""
    if not isinstance(data, Mapping):
        return None
    for field in (item_key, "customer_id") if item_key == "item_key" else (item_key,):
        if data.get(field) is not None:
            return str(data[field])
    return None


def _review_payload(data: Mapping[str, Any], key: str, approver: str | None) -> dict[str, Any]:
    """What the approver reads for one item: the message as it will go out."""
    to = data.get("to")
    payload: dict[str, Any] = {"item": dict(data), "item_key": key, "mode": "per_item"}
    if to:
        payload["recipient"] = ", ".join(to) if isinstance(to, list | tuple) else str(to)
    if data.get("subject"):
        payload["sample_subject"] = str(data["subject"])
    body = data.get("html") or data.get("text")
    if isinstance(body, str):
        payload["sample_body"] = body
    payload["approver"] = approver
    return payload


BLOCK_TYPES = (hitl_gate, hitl_review)
