"""Commands over the engine's store: kill switches, the event ledger, reflexion, verify."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console

kill_app = typer.Typer(
    help="Kill switches: stop write steps of guarded workflows.", no_args_is_help=True
)
events_app = typer.Typer(help="The event ledger.", invoke_without_command=True)
reflexion_app = typer.Typer(help="What past runs taught (reflexion log).", no_args_is_help=True)
verify_app = typer.Typer(help="Verify checks staged after runs.", no_args_is_help=True)


def _store() -> tuple[Any, Any]:
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings

    settings = load_settings()
    return open_store(settings), settings


RUN_HELP = "Only this run's (a run id or a unique prefix)."


def _run_id(store: Any, run: str | None) -> str | None:
    """The full id ``--run`` names, through the one resolver every command uses."""
    from orchestrator_blocks.app.run_ids import resolve_run_id

    return resolve_run_id(run, store=store) if run is not None else None


def _switch(name: str, engaged: bool, reason: str | None, actor: str | None) -> None:
    if not name or not all(c.isalnum() or c in "_-.:" for c in name):
        raise UserError(f"kill switch names use letters, digits and '_-.:', got {name!r}")
    store, _ = _store()
    store.kill_switches.set(name, engaged, by=actor, reason=reason)
    state = "[red]ON[/red]: guarded write steps are refused" if engaged else "[green]off[/green]"
    console.print(f"kill switch {name} {state}")


@kill_app.command("on")
def kill_on(
    name: Annotated[str, typer.Argument(help="The switch, e.g. high_risk_ops.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Why (kept with it).")] = None,
    actor: Annotated[str | None, typer.Option("--as", help="Who turns it on.")] = None,
) -> None:
    """Turn a kill switch on: the next write step of every guarded run is refused."""
    _switch(name, True, reason, actor)


@kill_app.command("off")
def kill_off(
    name: Annotated[str, typer.Argument(help="The switch.")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    actor: Annotated[str | None, typer.Option("--as")] = None,
) -> None:
    """Turn a kill switch off."""
    _switch(name, False, reason, actor)


@kill_app.command("list")
def kill_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every switch and its state."""
    store, _ = _store()
    rows = store.kill_switches.all()
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    if not rows:
        console.print("no kill switches set")
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("name", "state", "updated", "by", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            "[red]ON[/red]" if r["engaged"] else "off",
            r["updated_at"],
            r["updated_by"] or "",
            r["reason"] or "",
        )
    console.print(table)


@events_app.callback()
def events_list(
    ctx: typer.Context,
    event_type: Annotated[str | None, typer.Option("--type", "-t", help="Only this type.")] = None,
    run: Annotated[str | None, typer.Option("--run", help=RUN_HELP)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 30,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the newest events of the ledger (workflow.completed, proposal.approved, ...)."""
    if ctx.invoked_subcommand is not None:
        return
    store, _ = _store()
    run_id = _run_id(store, run)
    records = store.ledger.recent(limit * 4 if event_type else limit, run_id=run_id)
    if event_type:
        records = [r for r in records if r.event_type == event_type][:limit]
    if as_json:
        typer.echo(json.dumps([r.__dict__ for r in records], default=str))
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("id", "type", "workflow", "run_id", "at", "key"):
        table.add_column(col, no_wrap=True)
    for r in records:
        table.add_row(
            str(r.id),
            r.event_type,
            r.workflow_id or "",
            r.run_id or "",
            r.created_at,
            r.idempotency_key,
        )
    console.print(table)


@events_app.command("record")
def events_record(
    event_type: Annotated[str, typer.Argument(help="e.g. price.changed")],
    key: Annotated[str, typer.Option("--key", help="Idempotency key (same key: recorded once).")],
    payload: Annotated[str, typer.Option("--payload", help="JSON object.")] = "{}",
) -> None:
    """Record an event in the ledger (what event-triggered workflows react to)."""
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise UserError(f"--payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UserError("--payload must be a JSON object")
    store, _ = _store()
    event_id, created = store.ledger.record(event_type, data, key)
    console.print(f"event {event_id} {'recorded' if created else 'already recorded (same key)'}")


@reflexion_app.command("search")
def reflexion_search(
    text: Annotated[str, typer.Argument(help="Words to look for.")] = "",
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    run: Annotated[str | None, typer.Option("--run", help=RUN_HELP)] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 20,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Search the narratives past runs left behind."""
    store, _ = _store()
    rows = store.runs.search_reflexion(text, tag=tag, run_id=_run_id(store, run), limit=limit)
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    if not rows:
        console.print("no reflexion entries match")
    for r in rows:
        console.print(
            f"[bold]{r['created_at']}[/bold] {r['workflow_type']} [{r['tags']}] run {r['run_id']}"
        )
        console.print(f"  {r['narrative']}", markup=False)


@verify_app.command("run-due")
def verify_run_due(
    as_json: Annotated[bool, typer.Option("--json")] = False,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Act as if it were this ISO time (e.g. to run a 24h check now)."),
    ] = None,
) -> None:
    """Run every pending verify check whose window has passed."""
    import asyncio
    from datetime import UTC, datetime

    from orchestrator_blocks.app.verify import run_due_checks

    now = None
    if at is not None:
        try:
            now = datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise UserError(
                f"--at {at!r}: expected an ISO time like 2026-11-24T09:00:00Z"
            ) from None
        now = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(UTC)
    store, settings = _store()
    outcomes = asyncio.run(run_due_checks(store, settings, now=now))
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "run_id": o.check.run_id,
                        "check": o.check.check_name,
                        "status": o.status,
                        "observed": o.observed,
                        "message": o.message,
                    }
                    for o in outcomes
                ],
                default=str,
            )
        )
        return
    if not outcomes:
        console.print("no verify checks are due")
    for o in outcomes:
        style = {"pass": "green", "fail": "red"}.get(o.status, "yellow")
        console.print(
            f"[{style}]{o.status}[/{style}] {o.check.workflow_type} {o.check.check_name} "
            f"(run {o.check.run_id}): {o.message}"
        )


@verify_app.command("list")
def verify_list(
    run_id: Annotated[
        str, typer.Argument(help="The run whose checks to show (or a unique prefix).")
    ],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """The verify checks of one run and their state."""
    from orchestrator_blocks.app.run_ids import resolve_run_id

    store, _ = _store()
    run_id = resolve_run_id(run_id, store=store)
    checks = store.verify.for_run(run_id)
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in checks], default=str))
        return
    if not checks:
        raise UserError(f"no verify checks for run {run_id!r}")
    for c in checks:
        console.print(
            f"{c.check_name}: {c.status} (due {c.due_at}) {c.message or ''}", markup=False
        )
