"""``orchestrator-blocks demo batch-notify``: the batch_notify card end to end on demo data.

It does, in one process, what a person and ``serve`` do over time, and prints at each step
the command that does that step by hand: seed customers → propose → approve (this starts
the run, which stops at the gate) → approve the gate (the run resumes and sends, once per
customer) → verify. Mail goes to the local outbox unless ``ORCHESTRATOR_BLOCKS_SMTP_URL``
is set.
"""

from __future__ import annotations

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


def _step(n: int | str, title: str, command: str) -> None:
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
    per_recipient: Annotated[
        bool,
        typer.Option(
            "--per-recipient",
            help="Review every recipient's email too (the review step's mode: per_item): "
            "the demo approves all but one.",
        ),
    ] = False,
) -> None:
    """Walk through propose → approve → run → verify for the batch_notify card."""
    import asyncio

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
    if per_recipient:
        source = _per_recipient_copy(source, home)
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
    if per_recipient and str(final.status) == "awaiting_approval":
        final = _review_each(store, settings, approver, first.run_id)
    print_run_summary(final)
    counts = final.values.get("per_recipient")
    if counts is not None and isinstance(counts.payload, dict):
        shown = ", ".join(f"{k} {v}" for k, v in counts.payload.items())
        console.print(f"   per_recipient: {shown}", markup=False)
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
    expected = "rejected" if reject else "partial" if per_recipient else "succeeded"
    if str(final.status) != expected:
        raise typer.Exit(1)


def _per_recipient_copy(source: Any, home: Any) -> Any:
    """The card with its review step in ``per_item`` mode, kept in the demo's home (a run
    continues from its file, so the file stays)."""
    from pathlib import Path

    text = Path(source).read_text(encoding="utf-8")
    cohort = "with: {mode: cohort}"
    if cohort not in text:
        raise UserError(f"{source}: no review step in cohort mode to switch to per_item")
    target = Path(home) / "workflows" / "batch_notify.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text.replace(cohort, "with: {mode: per_item}"), encoding="utf-8")
    return target


def _review_each(store: Any, settings: Any, approver: str, run_id: str) -> Any:
    """Step 5b: every recipient's email waits for its own review; approve all but the last."""
    import asyncio

    from orchestrator_blocks.app.approvals import decide
    from orchestrator_blocks.app.resume import resume_run

    reviews = [
        p for p in store.proposals.list("pending", run_id=run_id) if p.action_type == "hitl_review"
    ]
    reviews.sort(key=lambda p: p.payload.get("item_key") or "")
    _step(
        "5b",
        f"Each recipient's email waits for {approver}'s review",
        f"orchestrator-blocks approvals list --run {run_id}  (then approvals show ID)",
    )
    for n, p in enumerate(reviews):
        approve = n < len(reviews) - 1
        verb = "approve" if approve else "reject"
        console.print(
            f"   review {p.id}: {p.payload.get('recipient')} "
            f"({p.payload.get('sample_subject')}) -> {verb}",
            markup=False,
        )
        note = "demo" if approve else "demo: this one is left out"
        decide(store, settings, p.id, approve=approve, as_=approver, note=note)
    return asyncio.run(resume_run(store, settings, run_id))


def _approval_event(store: Any, proposal_id: int) -> int:
    """The id of the ledger event the approval of ``proposal_id`` recorded."""
    from orchestrator_blocks.app.approvals import APPROVED, decision_event_key

    key = decision_event_key(APPROVED, proposal_id)
    found = [e.id for e in store.ledger.recent(20) if e.idempotency_key == key]
    if not found:
        raise UserError(f"the approval of proposal {proposal_id} recorded no ledger event")
    return int(found[0])
