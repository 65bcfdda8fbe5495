"""``orchestrator-blocks approvals``: what waits for the approver, and deciding it.

Every decision goes through :mod:`orchestrator_blocks.app.approvals`, the same rules as
the web console: only the configured approver decides, once, within the window.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console

approvals_app = typer.Typer(
    help="Proposals waiting for the approver: list, show, approve, reject, propose.",
    no_args_is_help=True,
)


def _store() -> tuple[Any, Any]:
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings

    settings = load_settings()
    return open_store(settings), settings


def _get(store: Any, proposal_id: int) -> Any:
    proposal = store.proposals.get(proposal_id)
    if proposal is None:
        raise UserError(f"no proposal {proposal_id}; see `orchestrator-blocks approvals list`")
    return proposal


@approvals_app.command("list")
def approvals_list(
    status: Annotated[
        str | None,
        typer.Option("--status", help="pending, approved, rejected or expired (default: all)."),
    ] = None,
    run: Annotated[
        str | None,
        typer.Option("--run", help="Only the gates of this run (a run id or a unique prefix)."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List proposals, pending first."""
    from orchestrator_blocks.app.approvals import expire_due
    from orchestrator_blocks.app.run_ids import resolve_run_id

    store, _ = _store()
    run_id = resolve_run_id(run, store=store) if run is not None else None
    expire_due(store)
    rows = store.proposals.list(status, limit=limit, run_id=run_id)
    unknown = store.outbound.unknown()
    if as_json:
        typer.echo(json.dumps([p.as_dict() for p in rows], default=str))
        return
    _say_unknown(unknown)
    if not rows:
        console.print("no proposals" + (f" {status}" if status else ""))
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("id", "status", "action_type", "entity_ref", "risk", "recipients", "expires"):
        table.add_column(col, no_wrap=True)
    for p in rows:
        style = {"pending": "yellow", "approved": "green"}.get(p.status, "red")
        table.add_row(
            str(p.id),
            f"[{style}]{p.status}[/{style}]",
            p.action_type,
            p.entity_ref,
            str(p.risk_level),
            str(p.payload.get("recipient_count", p.payload.get("recipient", ""))),
            p.expires_at or "",
        )
    console.print(table)


def _say_unknown(unknown: list[dict[str, Any]]) -> None:
    """Sends nobody knows the fate of: the approver settles each (they are never re-sent)."""
    if not unknown:
        return
    console.print(f"{len(unknown)} send(s) with an unknown outcome wait for you to settle them:")
    for u in unknown:
        console.print(
            f"  run {u['workflow_run_id']} key {u['idempotency_key']} -> {u['recipient']}: "
            f"orchestrator-blocks runs settle {u['workflow_run_id']} --key "
            f"{u['idempotency_key']} --as sent|failed --by APPROVER",
            markup=False,
        )


@approvals_app.command("show")
def approvals_show(
    proposal_id: Annotated[int, typer.Argument(help="The proposal id.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Everything the approver needs to decide one proposal."""
    store, _ = _store()
    p = _get(store, proposal_id)
    if as_json:
        typer.echo(json.dumps(p.as_dict(), default=str))
        return
    out = console
    out.print(f"[bold]proposal {p.id}[/bold] {p.action_type} · {p.status} · risk {p.risk_level}")
    out.print(f"entity: {p.entity_ref}", markup=False)
    if p.run_id:
        out.print(f"run: {p.run_id} (orchestrator-blocks logs {p.run_id})", markup=False)
    out.print(f"proposed {p.proposed_at} by {p.proposed_by or '-'}; expires {p.expires_at}")
    if p.decided_by:
        out.print(f"decided {p.decided_at} by {p.decided_by}: {p.note or ''}", markup=False)
    payload = p.payload
    out.print("inputs:", json.dumps(payload.get("inputs", {}), indent=2), markup=False)
    if "recipient_count" in payload:
        out.print(f"recipients: {payload['recipient_count']}")
        for item in payload.get("sample", []):
            out.print(f"  - {json.dumps(item, ensure_ascii=False)}", markup=False)
    if payload.get("warnings"):
        out.print(f"[yellow]preconditions that warned: {', '.join(payload['warnings'])}[/]")
    if payload.get("recipient"):  # a per-recipient review: the message as it will go out
        out.print(f"email to: {payload['recipient']}", markup=False)
        out.print(f"subject: {payload.get('sample_subject') or ''}", markup=False)
    if payload.get("sample_body"):
        label = "email body:" if payload.get("recipient") else "sample email body:"
        out.print(label, markup=False)
        out.print(payload["sample_body"], markup=False, highlight=False)
    if p.status == "pending":
        approver = payload.get("approver") or "NAME"
        out.print(
            f"decide: orchestrator-blocks approvals approve {p.id} --as {approver} "
            f"| reject {p.id} --as {approver} --note WHY",
            markup=False,
        )


def _decide(proposal_id: int, approve: bool, as_: str, note: str | None) -> None:
    from orchestrator_blocks.app.approvals import decide

    store, settings = _store()
    p = decide(store, settings, proposal_id, approve=approve, as_=as_, note=note)
    verb = "approved" if approve else "rejected"
    console.print(f"proposal {p.id} {verb} by {p.decided_by}")
    if p.run_id:
        console.print(
            f"run {p.run_id} continues under `orchestrator-blocks serve`, or now with: "
            f"orchestrator-blocks runs resume {p.run_id}",
            markup=False,
        )
    elif approve:
        console.print(
            f"workflows triggered by {p.action_type} start under `orchestrator-blocks serve`",
            markup=False,
        )


AsOption = Annotated[str, typer.Option("--as", help="Who decides (must be the approver).")]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why (kept with it).")]


@approvals_app.command("approve")
def approvals_approve(
    proposal_id: Annotated[int, typer.Argument(help="The proposal id.")],
    as_: AsOption,
    note: NoteOption = None,
) -> None:
    """Approve a pending proposal (only the configured approver can)."""
    _decide(proposal_id, True, as_, note)


@approvals_app.command("reject")
def approvals_reject(
    proposal_id: Annotated[int, typer.Argument(help="The proposal id.")],
    as_: AsOption,
    note: NoteOption = None,
) -> None:
    """Reject a pending proposal: nothing it would do happens."""
    _decide(proposal_id, False, as_, note)


@approvals_app.command("propose")
def approvals_propose(
    action_type: Annotated[str, typer.Argument(help="e.g. bulk_customer_email")],
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="Input NAME=VALUE (repeatable; JSON values)."),
    ] = None,
    input_file: Annotated[Path | None, typer.Option("--input-file")] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who proposes.")] = None,
    window: Annotated[
        float | None, typer.Option("--window-minutes", min=0.01, help="Approval window.")
    ] = None,
) -> None:
    """Stage a proposal; once approved, `serve` starts the workflows it triggers."""
    from orchestrator_blocks.app.approvals import configured_approver, propose
    from orchestrator_blocks.sdk.inputs import parse_inputs

    data = parse_inputs(inputs, input_file) or {}
    store, settings = _store()
    p = propose(store, settings, action_type, data, proposed_by=by, window_minutes=window)
    approver = configured_approver(settings) or "NAME"
    console.print(f"proposal {p.id} staged ({action_type}), expires {p.expires_at}")
    console.print(
        f"approve: orchestrator-blocks approvals approve {p.id} --as {approver}", markup=False
    )
