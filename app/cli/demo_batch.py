"""``orchestrator-blocks demo batch-notify``: the batch_notify card end to end on demo data.

It does, in one process, what a person and ``serve`` do over time, and prints at each step
the command that does that step by hand: seed customers → propose → approve (this starts
the run, which stops at the gate) → approve the gate (the run resumes and sends, once per
customer) → verify. Mail goes to the local outbox unless ``ORCHESTRATOR_BLOCKS_SMTP_URL``
is set.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console

DEMO_APPROVER = "mike"
DEFAULT_INPUTS = {
    "customer_cohort_filter": {"plan": "trial"},
    "subject": "Your trial ends soon",
    "body_template": "<p>Hello {{companyname}},</p><p>your trial ends soon. Reply to extend.</p>",
}


def _step(n: int, title: str, command: str) -> None:
    console.print(f"\n[bold]{n}. {title}[/bold]")
    console.print(f"   $ {command}", markup=False, highlight=False)


def batch_notify_demo(
    subject: Annotated[str | None, typer.Option("--subject", help="The email subject.")] = None,
    plan: Annotated[str, typer.Option("--plan", help="The cohort: customers on this plan.")] = (
        "trial"
    ),
    reject: Annotated[
        bool, typer.Option("--reject", help="Reject at the gate instead: nothing is sent.")
    ] = False,
) -> None:
    """Walk through propose → approve → run → verify for the batch_notify card."""
    from orchestrator_blocks.app.approvals import configured_approver, decide, propose
    from orchestrator_blocks.app.resume import resume_run
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.app.verify import run_due_checks
    from orchestrator_blocks.kernel.cli.run_cmd import print_run_summary
    from orchestrator_blocks.kernel.config import load_settings
    from orchestrator_blocks.kernel.loader import load_workflow
    from orchestrator_blocks.kernel.runtime import run_workflow

    from .demo_cmd import _prepare_env, example_path, seed_customers

    home = _prepare_env()
    settings = load_settings()
    if not configured_approver(settings):  # the demo's own approver; the environment is left alone
        demo_env = {**settings.env, "ORCHESTRATOR_BLOCKS_APPROVER": DEMO_APPROVER}
        settings = dataclasses.replace(settings, env=demo_env)
    approver = configured_approver(settings) or DEMO_APPROVER
    store = open_store(settings)
    source = example_path("batch_notify.yaml")
    inputs: dict[str, Any] = {**DEFAULT_INPUTS, "customer_cohort_filter": {"plan": plan}}
    if subject:
        inputs["subject"] = subject

    _step(1, "Seed demo customers", "orchestrator-blocks demo seed-customers")
    seed_customers()

    args = " ".join(
        f"--input '{k}={json.dumps(v) if not isinstance(v, str) else v}'" for k, v in inputs.items()
    )
    _step(
        2,
        "Propose the bulk email",
        f"orchestrator-blocks approvals propose bulk_customer_email {args}",
    )
    proposal = propose(store, settings, "bulk_customer_email", inputs, proposed_by="demo")
    console.print(f"   proposal {proposal.id} pending")

    _step(
        3,
        f"{approver} approves it; serve starts batch_notify",
        f"orchestrator-blocks approvals approve {proposal.id} --as {approver}",
    )
    decide(store, settings, proposal.id, approve=True, as_=approver, note="demo")
    workflow = load_workflow(source)
    # What serve does with the approval's ledger event, done here: claim its delivery to
    # batch_notify before the run, so a later `serve` does not start (and gate) it again.
    approval = _approval_event(store, proposal.id)
    store.ledger.claim_delivery(workflow.id, approval)
    first = asyncio.run(
        run_workflow(workflow, {**inputs, "_proposal_id": proposal.id}, settings=settings)
    )
    store.ledger.set_delivery_run(workflow.id, approval, first.run_id)
    console.print(f"   run {first.run_id}: {first.status}")
    if str(first.status) != "awaiting_approval":
        print_run_summary(first)
        raise UserError(f"the run did not stop at the gate ({first.status}); see above")
    gate = store.proposals.get(int(first.waiting_on.get("proposal_id") or 0))
    assert gate is not None

    _step(
        4,
        "The gate staged what the approver needs: recipients, a sample, the email",
        f"orchestrator-blocks approvals show {gate.id}",
    )
    payload = gate.payload
    console.print(
        f"   recipients: {payload.get('recipient_count')}; warnings: "
        f"{', '.join(payload.get('warnings') or []) or 'none'}"
    )
    for item in payload.get("sample", []):
        console.print(f"   - {item.get('companyname')} <{item.get('email')}>", markup=False)

    verb = "reject" if reject else "approve"
    _step(
        5,
        f"{approver} {verb}s at the gate; serve resumes the run",
        f"orchestrator-blocks approvals {verb} {gate.id} --as {approver}  "
        f"(then, without serve: orchestrator-blocks runs resume {first.run_id})",
    )
    decide(store, settings, gate.id, approve=not reject, as_=approver, note="demo")
    final = asyncio.run(resume_run(store, settings, first.run_id))
    print_run_summary(final)
    sent = store.outbound.for_run(first.run_id)
    console.print(f"   outbound_email_log: {len(sent)} row(s) for this run")

    later = datetime.now(UTC) + timedelta(minutes=2)
    _step(
        6,
        "Verify: every recipient is in outbound_email_log",
        f"orchestrator-blocks verify run-due --at {later.isoformat(timespec='seconds')}",
    )
    for outcome in asyncio.run(run_due_checks(store, settings, now=later)):
        if outcome.check.run_id == first.run_id:
            console.print(f"   {outcome.check.check_name}: {outcome.status}")
    console.print(f"\nhome: {home} (state.db, logs/, outbox/)", markup=False)
    console.print(f"debug this run: orchestrator-blocks logs {first.run_id}", markup=False)
    if not reject and not final.ok:
        raise typer.Exit(1)


def _approval_event(store: Any, proposal_id: int) -> int:
    """The id of the ledger event the approval of ``proposal_id`` recorded."""
    from orchestrator_blocks.app.approvals import APPROVED, decision_event_key

    key = decision_event_key(APPROVED, proposal_id)
    found = [e.id for e in store.ledger.recent(20) if e.idempotency_key == key]
    if not found:
        raise UserError(f"the approval of proposal {proposal_id} recorded no ledger event")
    return int(found[0])
