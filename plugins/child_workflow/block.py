"""The ``child_workflow`` block type (imported when block types are registered)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator_blocks import sdk

DOMAIN = "child_workflow"
FAILED = "child_workflow.failed"
TIMEOUT = "child_workflow.timeout"
INVALID = "child_workflow.invalid"
CODES = (FAILED, TIMEOUT, INVALID)
FAMILY = sdk.family(
    "child_workflow",
    domain=DOMAIN,
    codes=[
        sdk.Code(FAILED, "backoff", "the child run failed; its envelope is the cause"),
        sdk.Code(TIMEOUT, "backoff", "the child run outlived the block's timeout"),
        sdk.Code(INVALID, "never", "the child workflow's graph is invalid"),
    ],
    timeout_code=TIMEOUT,
    description="a whole workflow used as one block",
)


def _validate(config: Mapping[str, Any]) -> None:
    workflow = config["workflow"]
    if not (hasattr(workflow, "plan") and hasattr(workflow, "id")):
        raise TypeError(
            f"child_workflow needs a Workflow (from new_workflow), got {type(workflow).__name__}"
        )


def _writes(config: Mapping[str, Any]) -> bool:
    """A child workflow writes when one of its blocks does, so the approval gate of a risk
    >= 3 parent must come before it (a send cannot hide inside a child). Unknown shapes
    count as writes."""
    blocks = getattr(config["workflow"], "blocks", None)
    if not isinstance(blocks, Mapping):
        return True
    try:
        return any(b.block_type.is_write(b.config) for b in blocks.values())
    except (AttributeError, RecursionError):
        return True


@FAMILY.block_type(
    "child_workflow",
    side_effects=[sdk.SideEffect("Workflow", "child run", "run")],
    writes_when=_writes,
    validate=_validate,
)
async def child_workflow(ctx: sdk.RunContext, value: sdk.Value, workflow: Any) -> sdk.Value:
    """Run another workflow with this block's input; its sink output becomes this output."""
    try:
        outcome = await ctx.services.run_child(workflow, value, ctx)
    except sdk.GraphInvalid as exc:
        raise sdk.BlockError(INVALID, f"child workflow {workflow.id!r} is invalid: {exc}") from None
    if outcome.error is None:
        return outcome.output
    cause = outcome.error
    raise sdk.BlockError(
        FAILED,
        f"child workflow {outcome.workflow_id!r} run {outcome.run_id} ended {outcome.status}: "
        f"{cause.code}: {cause.message}",
        retry_disposition=sdk.RetryDisposition.BACKOFF,
        severity=cause.severity,
        provider_status=cause.provider_status,
        details={
            "child_workflow_id": outcome.workflow_id,
            "child_run_id": outcome.run_id,
            "child_status": outcome.status,
            "child_code": cause.code,
            "child_block_id": cause.block_id,
        },
        cause=cause,
    )


BLOCK_TYPES = (child_workflow,)
