"""``orchestrator-blocks plugins list``: the installed block types and the plugins that failed.

The app adds ``plugins show`` and ``plugins new`` to this group (``register_commands``).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from orchestrator_blocks.sdk._cli import codes_text, effects_text, policy_text

from .common import console

plugins_app = typer.Typer(
    help="Inspect installed block plugins, or start one.", no_args_is_help=True
)

__all__ = ["plugins_app"]


@plugins_app.command("list")
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """List block types (family, codes and whether each is retried, default policy, side
    effects, source distribution) and the plugins that failed to load."""
    from rich.table import Table

    from orchestrator_blocks.kernel.plugin_host import default_host

    host = default_host()
    rows = [
        {**bt.card(), "source": host.registry.source_of(bt.type_id)}
        for bt in sorted(host.block_types(), key=lambda b: b.type_id)
    ]
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
    table = Table(title="Block types", show_lines=True)
    for col in ("type", "family", "codes (retried?)", "default policy", "side effects", "source"):
        table.add_column(col, no_wrap=col in ("type", "codes (retried?)"))
    for r in rows:
        family = r["family"] or "-"
        if family != r["domain"]:
            family += f"\n{r['domain']}"
        table.add_row(
            r["type_id"], family, codes_text(r), policy_text(r), effects_text(r), r["source"]
        )
    console.print(table)
    for tid, srcs in conflicts.items():
        console.print(f"[red]conflict[/red]: {tid} is provided by {' and '.join(srcs)}")
    for f in failures:
        console.print(
            f"[red]failed to load[/red] plugin {f['name']} ({f['target']}, {f['source']}): "
            f"{f['reason']}",
            markup=True,
        )
