"""``orchestrator-blocks plugins list``: what block types are installed, and from where."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import console

plugins_app = typer.Typer(help="Inspect installed block plugins.", no_args_is_help=True)


@plugins_app.command("list")
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """List block types (domain, default policy, source distribution) and load failures."""
    from orchestrator_blocks.kernel.plugin_host import default_host

    host = default_host()
    rows: list[dict[str, Any]] = []
    for bt in sorted(host.block_types(), key=lambda b: b.type_id):
        pol = bt.default_policy
        rows.append(
            {
                "type_id": bt.type_id,
                "domain": bt.domain,
                "timeout_ms": pol.timeout_ms,
                "retries": pol.retries,
                "backoff": pol.backoff.describe() if pol.retries else None,
                "codes": sorted(bt.codes),
                "source": host.registry.source_of(bt.type_id),
                "description": bt.description,
            }
        )
    failures = [
        {"name": f.name, "target": f.target, "source": f.source, "reason": f.reason}
        for f in host.failures
    ]
    conflicts = {tid: list(srcs) for tid, srcs in host.registry.conflicts.items()}
    if as_json:
        console.print_json(
            json.dumps({"block_types": rows, "failures": failures, "conflicts": conflicts})
        )
        return
    table = Table(title="Block types")
    for col in ("type", "domain", "timeout", "retries", "backoff", "source"):
        table.add_column(col, no_wrap=col in ("type", "domain"))
    for r in rows:
        timeout = "none" if r["timeout_ms"] is None else f"{r['timeout_ms'] / 1000:g}s"
        cells = (r["type_id"], r["domain"], timeout, str(r["retries"]), r["backoff"] or "n/a")
        table.add_row(*cells, r["source"])
    console.print(table)
    for tid, srcs in conflicts.items():
        console.print(f"[red]conflict[/red]: {tid} is provided by {' and '.join(srcs)}")
    for f in failures:
        console.print(
            f"[red]failed to load[/red] plugin {f['name']} ({f['target']}, {f['source']}): "
            f"{f['reason']}",
            markup=True,
        )
