"""``orchestrator-blocks plugins list``: the installed block types and the plugins that failed.

The app adds ``plugins show`` and ``plugins new`` to this group (``register_commands``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import console

plugins_app = typer.Typer(
    help="Inspect installed block plugins, or start one.", no_args_is_help=True
)


__all__ = ["effects_text", "plugins_app", "policy_text"]


def policy_text(card: dict[str, Any]) -> str:
    timeout = "none" if card["timeout_ms"] is None else f"{card['timeout_ms'] / 1000:g}s"
    lines = [f"timeout {timeout}", f"retries {card['retries']}"]
    return "\n".join([*lines, card["backoff"]] if card["backoff"] else lines)


def effects_text(card: dict[str, Any]) -> str:
    lines = [f"{e['system']} {e['resource']}: {e['action']}" for e in card["side_effects"]]
    return "\n".join([*lines, f"writes: {card['writes']}"])


def _codes(card: dict[str, Any]) -> str:
    return "\n".join(f"{c['code']} ({c['retry'] or 'undeclared'})" for c in card["code_table"])


@plugins_app.command("list")
def list_plugins(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not a table.")] = False,
) -> None:
    """List block types (family, codes and whether each is retried, default policy, side
    effects, source distribution) and the plugins that failed to load."""
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
        table.add_row(r["type_id"], family, _codes(r), policy_text(r), effects_text(r), r["source"])
    console.print(table)
    for tid, srcs in conflicts.items():
        console.print(f"[red]conflict[/red]: {tid} is provided by {' and '.join(srcs)}")
    for f in failures:
        console.print(
            f"[red]failed to load[/red] plugin {f['name']} ({f['target']}, {f['source']}): "
            f"{f['reason']}",
            markup=True,
        )
