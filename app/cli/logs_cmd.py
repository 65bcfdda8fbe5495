"""``orchestrator-blocks logs RUN_ID``: debug a run from its events: the local logs, or on
PostgreSQL the store, which holds every machine's events."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console


def _settings() -> Any:
    from orchestrator_blocks.sdk import Settings

    return Settings.from_env()


def logs_command(
    run_id: Annotated[str, typer.Argument(help="A run id (or a unique prefix of it).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the raw events as JSON lines.")
    ] = False,
) -> None:
    """Reconstruct one run: timeline, attempts, retries, errors and on_error handlers."""
    from orchestrator_blocks.app.cli.timeline import build_timeline, events_for_run
    from orchestrator_blocks.app.run_ids import resolve_run_id

    logs_dir = _settings().logs_dir
    store = _open_store()
    full_id = resolve_run_id(run_id, store=store, logs_dir=logs_dir)
    if store is not None and store.engine.dialect == "postgresql":
        # every machine's events, not only those in this machine's log files
        from orchestrator_blocks.app.store.events import events_for_run as stored_events
        from orchestrator_blocks.app.store.events import flush_pending

        flush_pending()
        events = stored_events(store.engine, full_id)
        where = "the store"
    else:
        events = events_for_run(logs_dir, full_id)
        where = f"the logs at {logs_dir}"
    if not events:
        raise UserError(f"run {full_id} has no events in {where}")
    if as_json:
        for e in events:
            typer.echo(json.dumps(e, ensure_ascii=False, default=str))
        return
    timeline = build_timeline(events, full_id)
    _render(timeline)
    _render_passes(timeline, _stored_status(full_id))


def _open_store() -> Any:
    """The store, or None when it cannot be opened (the logs alone still tell the run)."""
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings
    from orchestrator_blocks.sdk import OrchestratorError

    try:
        return open_store(load_settings())
    except OrchestratorError:
        return None


def _stored_status(run_id: str) -> str | None:
    """The run's state in the store (``running (owner lost)``...), when there is one."""
    store = _open_store()
    row = store.durable.get(run_id) if store is not None else None
    return row.shown_status if row is not None else None


def _render_passes(tl: Any, stored: str | None) -> None:
    """How many times a process ran the run, and how each pass ended."""
    if len(tl.passes) > 1 or any(p["attempt"] > 1 for p in tl.passes):
        for n, p in enumerate(tl.passes, 1):
            status = p["status"]
            if status == "running" and n == len(tl.passes) and stored and "owner lost" in stored:
                status = "owner lost"
            took = f", recovered from {p['previous_owner']}" if p["previous_owner"] else ""
            kept = f", {p['restored']} block(s) restored" if p["restored"] else ""
            console.print(
                f"pass {n} (attempt {p['attempt']}) started {p['started']}{took}{kept}: {status}",
                markup=False,
            )
    if stored is not None and stored != tl.status:
        console.print(f"in the store: {stored}", markup=False)


def _status_style(status: str) -> str:
    return {"succeeded": "green", "running": "yellow", "awaiting_approval": "yellow"}.get(
        status, "red"
    )


def _render(tl: Any, indent: str = "") -> None:
    style = _status_style(tl.status)
    duration = f" in {tl.duration_ms:.0f} ms" if tl.duration_ms is not None else ""
    parent = f" (child of {tl.parent_run_id})" if tl.parent_run_id else ""
    console.print(
        f"{indent}[bold]{tl.workflow_id}[/bold] run [bold]{tl.run_id}[/bold]{parent} "
        f"[{style}]{tl.status}[/{style}]{duration}"
    )
    console.print(f"{indent}started {tl.started}  trace {tl.trace_id or '-'}", markup=False)
    from rich.table import Table

    table = Table(show_edge=False, pad_edge=False)
    for col in ("+ms", "block", "type", "attempt", "ms", "outcome"):
        table.add_column(col, no_wrap=col in ("block", "type"))
    for row in tl.attempts:
        outcome = row.outcome
        if row.code:
            outcome += f" {row.code}"
        if row.retry_delay_ms is not None:
            outcome += f" (retry in {row.retry_delay_ms} ms)"
        if row.handler_for:
            outcome += f" [handler of {row.handler_for}]"
        table.add_row(
            "" if row.offset_ms is None else f"{row.offset_ms:.1f}",
            row.block_id,
            row.block_type or "",
            str(row.attempt),
            "" if row.duration_ms is None else f"{row.duration_ms:.1f}",
            outcome,
        )
    console.print(table)
    for skipped in tl.skipped:
        console.print(
            f"{indent}skipped {skipped['block_id']} (upstream {skipped['upstream']} failed)",
            markup=False,
        )
    for retry in tl.retries:
        console.print(
            f"{indent}retry: {retry['block_id']} attempt {retry['attempt']} failed with "
            f"{retry['code']}; attempt {retry['next_attempt']} after {retry['delay_ms']} ms",
            markup=False,
        )
    for env in tl.errors:
        _render_envelope(env, indent)
    final = {f"{h['handler']}|{h['source']}" for h in tl.handlers if h["outcome"] != "started"}
    for h in tl.handlers:
        if h["outcome"] == "started" and f"{h['handler']}|{h['source']}" in final:
            continue
        what = f"on_error {h['handler']} (for {h['source']}, {h['handled_code']}): {h['outcome']}"
        if h["outcome"] == "failed":
            what += f" with {h['code']}"
        console.print(f"{indent}{what}", markup=False)
    if tl.decisive_error and tl.status != "succeeded":
        env = tl.decisive_error
        console.print(
            f"{indent}run {tl.status}: {env.get('code')} at block {env.get('block_id')}: "
            f"{env.get('message')}",
            markup=False,
        )
    for child in tl.children:
        console.print()
        _render(child, indent + "  ")


def _render_envelope(env: dict[str, Any], indent: str) -> None:
    from rich.tree import Tree

    tree = Tree(f"error {env.get('code')} at {env.get('block_id')} (attempt {env.get('attempt')})")
    for key in ("origin", "domain", "message", "retry_disposition", "severity", "provider_status"):
        if env.get(key) not in (None, ""):
            tree.add(f"{key}: {env[key]}")
    if env.get("details"):
        tree.add(f"details: {json.dumps(env['details'], default=str)[:300]}")
    cause = env.get("cause")
    while cause:
        tree.add(
            f"cause: {cause.get('code')} in {cause.get('workflow_id')} "
            f"at {cause.get('block_id')}: {cause.get('message')}"
        )
        cause = cause.get("cause")
    console.print(tree)
