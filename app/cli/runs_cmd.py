"""``orchestrator-blocks runs``: list durable runs, and resume, retry, cancel or settle one.

The store's ``runs`` table is the truth about a run's state in any process: a run whose
owner died shows as ``running (owner lost)`` until a ``serve`` (or ``runs resume``) takes
it over. Runs only the local logs know (no store) are listed from the logs.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console

runs_app = typer.Typer(
    help="Durable runs, newest first; resume, retry, cancel or settle one.",
    invoke_without_command=True,
    no_args_is_help=False,
)

STYLE = {"succeeded": "green", "running": "yellow", "awaiting_approval": "yellow"}


def _open() -> tuple[Any, Any]:
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings

    settings = load_settings()
    return open_store(settings), settings


def _find(store: Any, run_id: str) -> Any:
    from orchestrator_blocks.app.resume import ResumeError, find_run

    try:
        return find_run(store, run_id)
    except ResumeError as exc:
        raise UserError(str(exc)) from None


@runs_app.callback()
def runs_command(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="How many runs.")] = 20,
    workflow: Annotated[
        str | None, typer.Option("--workflow", "-w", help="Only runs of this workflow.")
    ] = None,
    status: Annotated[str | None, typer.Option("--status", help="Only runs in this state.")] = None,
    children: Annotated[
        bool, typer.Option("--children", help="Include child runs (from the logs).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List recent runs: status (``running (owner lost)`` for a dead owner), attempt, times."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _listed(limit=limit, workflow=workflow, status=status, children=children)
    if as_json:
        typer.echo(json.dumps(rows, default=str))
        return
    if not rows:
        console.print("no runs found")
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for col in ("run_id", "workflow", "status", "attempt", "started", "updated", "error"):
        table.add_column(col, no_wrap=True)
    for r in rows:
        style = STYLE.get(r["status"], "red")
        table.add_row(
            r["run_id"],
            r["workflow_id"] or "",
            f"[{style}]{r['shown_status']}[/{style}]",
            str(r.get("attempt") or ""),
            r.get("started") or "",
            r.get("updated") or "",
            r.get("code") or "",
        )
    console.print(table)


def _listed(
    *, limit: int, workflow: str | None, status: str | None, children: bool
) -> list[dict[str, Any]]:
    """Runs from the store's table, then runs only the local logs know about."""
    from orchestrator_blocks.app.cli.timeline import list_runs
    from orchestrator_blocks.sdk import StateStoreError

    out: list[dict[str, Any]] = []
    try:
        store, settings = _open()
        wanted = [status] if status else []
        for row in store.durable.recent(workflow=workflow, statuses=wanted, limit=limit):
            error = row.error or {}
            out.append(
                {
                    "run_id": row.run_id,
                    "workflow_id": row.workflow_id,
                    "status": row.status,
                    "shown_status": row.shown_status,
                    "owner_lost": row.owner_lost,
                    "attempt": row.attempt,
                    "started": row.created_at,
                    "updated": row.updated_at,
                    "code": error.get("code"),
                    "workflow_ref": row.workflow_ref,
                }
            )
        logs_dir = settings.logs_dir
    except StateStoreError:
        from orchestrator_blocks.kernel.config import load_settings

        logs_dir = load_settings().logs_dir
    known = {r["run_id"] for r in out}
    for r in list_runs(logs_dir, include_children=children):
        if r.run_id in known or (workflow and r.workflow_id != workflow):
            continue
        if status and r.status != status:
            continue
        out.append(
            {
                "run_id": r.run_id,
                "workflow_id": r.workflow_id,
                "status": r.status,
                "shown_status": r.status,
                "owner_lost": False,
                "attempt": None,
                "started": r.started,
                "updated": None,
                "code": r.code,
                "duration_ms": r.duration_ms,
            }
        )
    out.sort(key=lambda r: r.get("started") or "", reverse=True)
    return out[:limit]


def _run(store: Any, settings: Any, run_id: str, mode: Any, *, wait: bool) -> Any:
    """Continue or retry the run here; with ``wait``, first wait out a live owner's lease."""
    import asyncio

    from orchestrator_blocks.app.resume import ResumeError, resume_run
    from orchestrator_blocks.sdk.durable import RunOwned, RunRefused

    deadline = time.monotonic() + (_lease(settings) * 2 if wait else 0)
    while True:
        try:
            return asyncio.run(resume_run(store, settings, run_id, mode=mode))
        except RunOwned as exc:
            if time.monotonic() >= deadline:
                raise UserError(str(exc)) from None
            time.sleep(0.5)
        except (ResumeError, RunRefused) as exc:
            raise UserError(str(exc)) from None


def _lease(settings: Any) -> float:
    from orchestrator_blocks.kernel.durable import lease_seconds

    return lease_seconds(settings)


@runs_app.command("resume")
def runs_resume(
    run_id: Annotated[str, typer.Argument(help="A run id (or a unique prefix of it).")],
    wait: Annotated[
        bool,
        typer.Option("--wait", help="If another process holds the run, wait for its lease."),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Continue a run that has not ended, under the same run id, from its checkpoints.

    A run paused for approval goes on once decided (rejected or expired: it ends
    `rejected`); a run whose owner died goes on from where it was (its in-flight sends are
    `unknown`, never re-sent); a `partial` run retries its failed items. Exit 0 only when
    it succeeded; 2 when it cannot be resumed (one line says why).
    """
    from orchestrator_blocks.kernel.cli.run_cmd import print_run_summary

    store, settings = _open()
    row = _find(store, run_id)
    result = _run(store, settings, row.run_id, None, wait=wait)
    print_run_summary(result, as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)


@runs_app.command("retry")
def runs_retry(
    run_id: Annotated[str, typer.Argument(help="A failed or partial run (or a unique prefix).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Re-execute a failed or partial run from the blocks that failed, as a new attempt.

    Blocks that succeeded are not run again (their checkpointed outputs are reused); the
    failed blocks and everything after them run again; a fan-out starts only its failed and
    not-started items, under the same idempotency keys.
    """
    from orchestrator_blocks.kernel.cli.run_cmd import print_run_summary

    store, settings = _open()
    row = _find(store, run_id)
    result = _run(store, settings, row.run_id, "retry", wait=False)
    print_run_summary(result, as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)


@runs_app.command("cancel")
def runs_cancel(
    run_id: Annotated[str, typer.Argument(help="A run that has not ended (or a unique prefix).")],
) -> None:
    """End a run that has not ended: its owner stops it at its next heartbeat; a run nobody
    owns (paused, or its owner died) ends now. Either way it gets its run-log row and one
    ledger event."""
    from orchestrator_blocks.app.cancel import CancelError, cancel_run

    store, settings = _open()
    row = _find(store, run_id)
    try:
        outcome = cancel_run(store, settings, row)
    except CancelError as exc:
        raise UserError(str(exc)) from None
    console.print(outcome, markup=False)


@runs_app.command("settle")
def runs_settle(
    run_id: Annotated[str, typer.Argument(help="The run the send belongs to.")],
    key: Annotated[str, typer.Option("--key", help="The send's idempotency key.")],
    as_: Annotated[str, typer.Option("--as", help="What happened: sent or failed.")],
    by: Annotated[str, typer.Option("--by", help="Who settles it (the approver).")],
) -> None:
    """Say what happened to a send whose outcome is unknown (a crash or a timeout after the
    message was handed to the server). `failed` lets `runs resume` send it again under the
    same key; `sent` records it as delivered. Only the configured approver may settle."""
    from orchestrator_blocks.app.cancel import CancelError, settle_send

    if as_ not in ("sent", "failed"):
        raise UserError(f"--as {as_!r}: say sent or failed")
    store, settings = _open()
    row = _find(store, run_id)
    try:
        line = settle_send(store, settings, row, key, as_, by)
    except CancelError as exc:
        raise UserError(str(exc), exit_code=getattr(exc, "exit_code", 2)) from None
    console.print(line, markup=False)
