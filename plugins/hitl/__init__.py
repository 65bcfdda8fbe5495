"""The hitl family: ``hitl_gate`` (a human approves before any write) and ``hitl_review``.

``hitl_gate`` stages one ``proposed_actions`` row per run (entity_ref
``workflow:<workflow_id>:run_<run_id>``) carrying what the approver needs to decide: the
inputs, the number of items (recipients) and a sample of them, the rendered body of one
item, and the preconditions that warned. The run then pauses in ``awaiting_approval``;
it survives the end of its process and continues under the same run_id once the proposal
is approved (``serve`` or ``runs resume``). On that resumed pass the gate finds its
proposal approved and lets the context through; rejected or expired proposals end the run
``rejected`` with ``hitl.rejected`` / ``hitl.expired``. This family's ``block_guard``
refuses every write step of a workflow with risk >= 3 until a gate has passed in the run,
so the gate cannot be skipped by graph shape.

``hitl_review`` is the per-item (or cohort-wide) review step of a fan-out. In ``cohort``
mode it passes an item when the run's gate proposal was approved (the approver accepted
the cohort as a whole); in ``per_item`` mode it stages one review proposal per item (the
item as it will go out: recipient, subject and personalised body) and the item's run
pauses ``awaiting_approval``: the fan-out counts it as waiting for review, not as a
failure, and the run that fans out waits too. Approved, the item passes on; rejected, or
left undecided past the window, the item is dropped (its run ends ``rejected``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .blocks import BLOCK_TYPES, hitl_gate, hitl_review

__all__ = [
    "APPROVAL_RISK",
    "BLOCK_TYPES",
    "GATE_TYPE",
    "block_guard",
    "describe_workflow",
    "hitl_gate",
    "hitl_review",
    "register_block_types",
]

APPROVAL_RISK = 3
"""From this risk level (``traits["risk_level"]``) a human approves before the first write."""
GATE_TYPE = "hitl_gate"
APPROVAL_REQUIRED = "runtime.approval_required"
# The block types are made when block types are registered, not with the plugin (`--help`
# loads every plugin); the guard below needs none of them.
__getattr__, __dir__ = lazy_attributes(
    __name__, dict.fromkeys(("BLOCK_TYPES", "hitl_gate", "hitl_review"), ".blocks")
)


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .blocks import BLOCK_TYPES

    for block_type in BLOCK_TYPES:
        registry.add(block_type)


@sdk.hookimpl
def block_guard(ctx: sdk.RunContext, block: sdk.PlannedBlock) -> sdk.Refusal | None:
    """The gate rule: no write before an approved gate in a workflow of risk >= 3."""
    run = ctx.run
    if not block.writes or run is None:
        return None
    risk = run.traits.get("risk_level", 0)
    if risk < APPROVAL_RISK or GATE_TYPE in run.succeeded.values():
        return None
    return sdk.Refusal(
        APPROVAL_REQUIRED,
        f"write step {ctx.block_id!r} refused: risk level {risk} needs an approved "
        f"{GATE_TYPE} before the first write",
        {"risk_level": risk},
    )


@sdk.hookimpl
def describe_workflow(workflow: Any, card: dict[str, Any]) -> None:
    risk = card.get("risk_level", 0)
    card["approval"] = (
        f"required before the first write (risk {risk} >= {APPROVAL_RISK})"
        if risk >= APPROVAL_RISK
        else f"not required (risk {risk} < {APPROVAL_RISK})"
    )
