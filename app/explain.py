"""``explain``: a workflow's card as a user needs it before running it.

:func:`card` gathers what the workflow declares (trigger, inputs, context queries,
preconditions, risk and approval, steps, post actions, verify checks, retry policy) and the
table "what changes when this workflow runs", aggregated from the side effects each block type
declares through the SDK (:meth:`BlockType.changes`: the writes a block's configuration makes,
and the approval records such as the gate's proposal, which are changes but never writes), in
nested workflows too (a ``for_each``'s per-item steps, a ``child_workflow``), plus what the
runner itself writes. :func:`to_mermaid` draws the
graph in the card's six lanes. The web console renders the same card.

The card shows block configuration, which may hold credentials (``https://bot:pw@...``,
``headers={"Authorization": ...}``, ``?access_token=``): the whole card passes through the
SDK's redactor, so URL userinfo, secret query values, values under secret-looking keys and
sensitive header values are masked in every format and in the console alike.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from orchestrator_blocks.kernel.plugin_host import default_host
from orchestrator_blocks.kernel.workflow import Plan, Workflow
from orchestrator_blocks.sdk import PlannedBlock
from orchestrator_blocks.sdk.redaction import redact_value

from .card import spec_of

__all__ = ["LANES", "Change", "card", "lane_of", "to_mermaid"]

LANES = (
    ("trigger", "01 / Trigger"),
    ("context", "02 / Context + preconditions"),
    ("hitl", "03 / HITL gate"),
    ("steps", "04 / Steps and fan-out"),
    ("post", "05 / Post actions"),
    ("verify", "06 / Verify"),
)
_CONTEXT_DOMAINS = {"inputs", "context", "precondition"}


@dataclass(frozen=True)
class Change:
    system: str
    resource: str
    action: str
    source: str


def lane_of(plan: Plan, node: PlannedBlock) -> str:
    bt = node.block_type
    if bt.next_fire is not None and node.block_id in plan.entries:
        return "trigger"
    if bt.domain in _CONTEXT_DOMAINS:
        return "context"
    if bt.domain == "hitl":
        return "hitl"
    if bt.domain == "sql" and not bt.is_write(node.config) and _before_steps(plan, node):
        return "context"
    return "steps"


def _before_steps(plan: Plan, node: PlannedBlock) -> bool:
    """A read-only query whose successors are all context blocks (a context query)."""
    succ = plan.succ.get(node.block_id, ())
    return bool(succ) and all(plan.nodes[s].block_type.domain in _CONTEXT_DOMAINS for s in succ)


def _changes_of(
    workflow: Workflow, prefix: str = "", seen: frozenset[int] = frozenset()
) -> Iterator[Change]:
    """Every change the blocks of ``workflow`` declare, depth first: a block's own, then
    those of the workflows in its configuration (``per_recipient.send``)."""
    seen = seen | {id(workflow)}
    for block_id, node in workflow.plan().nodes.items():
        where = f"{prefix}{block_id}"
        for e in node.block_type.changes(node.config):
            yield Change(e.system, e.resource, e.action, f"step {where}")
        for value in node.config.values():
            if isinstance(value, Workflow) and id(value) not in seen:
                yield from _changes_of(value, f"{where}.", seen)


def _config_summary(node: PlannedBlock) -> dict[str, Any]:
    """The block's configuration as shown: redacted first, then long values shortened (so a
    secret is never cut in half and shown in part)."""
    out = {}
    for key, value in node.config.items():
        if callable(value) or key in {"specs", "rules", "names"}:
            continue
        shown = redact_value(value, key)
        text = repr(shown)
        out[key] = shown if len(text) <= 120 else text[:117] + "..."
    return out


def card(workflow: Workflow) -> dict[str, Any]:
    """Everything ``explain`` shows, as plain data (also the console's JSON)."""
    plan = workflow.plan()
    spec = spec_of(workflow)
    contract = spec.contract
    trigger = spec.trigger
    cron = next(
        (n for b in plan.entries if (n := plan.nodes[b]).block_type.next_fire is not None),
        None,
    )
    trig: dict[str, Any] = {"kind": "cron" if cron is not None else trigger.kind}
    if cron is not None:
        trig["schedule"] = next(iter(cron.config.values()), None)
    for key in ("event", "filter", "action_type"):
        if getattr(trigger, key):
            trig[key] = getattr(trigger, key)

    steps = []
    changes = list(_changes_of(workflow))
    handler_ids = {h for hs in plan.handlers.values() for h in hs}
    for block_id, node in plan.nodes.items():
        bt = node.block_type
        writes = node.writes
        steps.append(
            {
                "id": block_id,
                "type": bt.type_id,
                "domain": bt.domain,
                "lane": lane_of(plan, node),
                "writes": writes,
                "on_error_handler": block_id in handler_ids,
                "policy": node.policy.describe(),
                "config": _config_summary(node),
                "description": bt.description,
            }
        )
    changes.append(Change("store", "workflow_run_log", "INSERT run summary", "runner, every run"))
    if spec.reflexion:
        tags = ",".join(spec.tags) or spec.workflow_type
        changes.append(
            Change("store", "reflexion_log", f"INSERT narrative (tags={tags})", "runner")
        )
    changes.append(
        Change("event ledger", "workflow.completed|partial|failed", "record once per run", "runner")
    )
    if spec.verify:
        changes.append(
            Change(
                "store",
                "workflow_verify_results",
                f"INSERT pending x {len(spec.verify)}",
                "runner verify staging",
            )
        )

    if spec.alert_on_final_failure:
        changes.append(
            Change(
                "Email",
                "alert_email (else the approver's address)",
                "send 1 alert when items fail for good; ledger alert.sent",
                "runner alert_on_final_failure",
            )
        )

    post = ["log_run", "event"]
    if spec.reflexion:
        post.insert(1, "reflexion")
    if spec.verify:
        post.append("verify")
    if spec.alert_on_final_failure:
        post.append("alert")
    data: dict[str, Any] = {
        "workflow": workflow.id,
        "description": spec.description,
        "risk_level": spec.risk_level,
        "approval": f"not required (risk {spec.risk_level})",
        "kill_switches": list(spec.kill_switches),
        "trigger": trig,
        "inputs": _inputs(contract),
        "context": _context(contract),
        "preconditions": (
            [p.model_dump(include={"name", "rule", "severity"}) for p in contract.preconditions]
            if contract is not None
            else []
        ),
        "steps": steps,
        "edges": workflow.edges(),
        "post_actions": post,
        "verify": [
            {"name": v.name, "sql_check": v.sql_check, "expect": v.expect, "window_s": v.window_s}
            for v in spec.verify
        ],
        "retry": (
            contract.retry.model_dump()
            if contract is not None and contract.retry is not None
            else "per block (see steps)"
        ),
        "changes": [c.__dict__ for c in changes],
    }
    default_host().pm.hook.describe_workflow(workflow=workflow, card=data)
    shown: dict[str, Any] = redact_value(data)
    return shown


def _inputs(contract: Any) -> list[dict[str, Any]]:
    if contract is None:
        return []
    from .contracts import describe_inputs

    return describe_inputs(contract)


def _context(contract: Any) -> list[dict[str, Any]]:
    if contract is None:
        return []
    return [
        {"name": name, "database": q.database, "tables": q.tables, "sql": q.sql.strip()}
        for name, q in contract.context.items()
    ]


def _mermaid_id(block_id: str) -> str:
    return "n_" + "".join(c if c.isalnum() else "_" for c in block_id)


def _label(text: str) -> str:
    return text.replace('"', "'").replace("<", "&lt;").replace(">", "&gt;")


def to_mermaid(data: dict[str, Any]) -> str:
    """The card's graph as a Mermaid flowchart with one subgraph per lane; error edges are
    dotted and labelled ``on_error``."""
    lines = ["flowchart LR"]
    by_lane: dict[str, list[str]] = {lane: [] for lane, _ in LANES}
    for step in data["steps"]:
        shape = f'{_mermaid_id(step["id"])}["{_label(step["id"])}<br/><i>{step["type"]}</i>"]'
        if step["writes"]:
            shape = f'{_mermaid_id(step["id"])}[["{_label(step["id"])}<br/><i>{step["type"]}</i>"]]'
        by_lane[step["lane"]].append(shape)
    if data["trigger"]["kind"] != "cron":
        by_lane["trigger"].append(f'n__trigger(["{_label(data["trigger"]["kind"])}"])')
    for action in data["post_actions"]:
        by_lane["post"].append(f'n__post_{action}[("{action}")]')
    for check in data["verify"]:
        by_lane["verify"].append(
            f'n__verify_{_mermaid_id(check["name"])}{{{{"{_label(check["name"])}"}}}}'
        )
    for lane, title in LANES:
        lines.append(f'  subgraph lane_{lane}["{title}"]')
        lines.extend(f"    {shape}" for shape in by_lane[lane])
        lines.append("  end")
    for source, target, kind in data["edges"]:
        arrow = "-. on_error .->" if kind != "success" else "-->"
        lines.append(f"  {_mermaid_id(source)} {arrow} {_mermaid_id(target)}")
    return "\n".join(lines) + "\n"
