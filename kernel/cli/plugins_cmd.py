"""``orchestrator-blocks plugins list|show|new``: installed types, one type's card, a new plugin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import UserError, console

plugins_app = typer.Typer(
    help="Inspect installed block plugins, or start one.", no_args_is_help=True
)


def _policy(card: dict[str, Any]) -> str:
    timeout = "none" if card["timeout_ms"] is None else f"{card['timeout_ms'] / 1000:g}s"
    lines = [f"timeout {timeout}", f"retries {card['retries']}"]
    return "\n".join([*lines, card["backoff"]] if card["backoff"] else lines)


def _effects(card: dict[str, Any]) -> str:
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
        table.add_row(r["type_id"], family, _codes(r), _policy(r), _effects(r), r["source"])
    console.print(table)
    for tid, srcs in conflicts.items():
        console.print(f"[red]conflict[/red]: {tid} is provided by {' and '.join(srcs)}")
    for f in failures:
        console.print(
            f"[red]failed to load[/red] plugin {f['name']} ({f['target']}, {f['source']}): "
            f"{f['reason']}",
            markup=True,
        )


@plugins_app.command("show")
def show_plugin(
    type_id: Annotated[str, typer.Argument(help="A block type id, e.g. http_request.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON, not text.")] = False,
) -> None:
    """Print one block type's whole card: signature, family, policy, every code with its
    retry disposition and meaning, side effects."""
    from orchestrator_blocks.kernel.plugin_host import default_host

    host = default_host()
    card = {**host.get(type_id).card(), "source": host.registry.source_of(type_id)}
    if as_json:
        console.print_json(json.dumps(card))
        return
    out = console.print
    out(f"[bold]{card['type_id']}[/bold]  {card['description']}")
    out(card["signature"], markup=False)
    out(f"family   {card['family'] or '-'} (domain {card['domain']}), from {card['source']}")
    out(f"policy   {_policy(card).replace(chr(10), ', ')}")
    out(f"timeout  {card['timeout_code']} ({card['timeout_retry']})")
    out(f"effects  {_effects(card).replace(chr(10), '; ')}")
    for code, status in card["ends_run_as"].items():
        out(f"ends     a run failing with {code} ends it {status}")
    table = Table("code", "retried", "meaning", title="codes")
    for c in card["code_table"]:
        table.add_row(c["code"], c["retry"] or "undeclared", c["meaning"])
    out(table)


@plugins_app.command("new")
def new_plugin(
    name: Annotated[str, typer.Argument(help="The family name, an identifier such as acme.")],
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Where to write (default ./orchestrator-blocks-NAME)."),
    ] = None,
) -> None:
    """Write a pip-installable plugin: a family with one block type, its tests on the SDK's
    test kit, a README; it passes its own tests right after `pip install -e .[test]`."""
    from orchestrator_blocks.kernel.plugin_host import default_host
    from orchestrator_blocks.sdk import scaffold

    try:
        files = scaffold.render(name)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    if name in {p.name for p in default_host().plugins}:
        raise UserError(f"a plugin named {name!r} is already installed; pick another name")
    target = directory or Path(scaffold.distribution_name(name))
    if target.exists() and any(target.iterdir()):
        raise UserError(f"{target} exists and is not empty")
    for relative, text in files.items():
        path = target / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    console.print(f"wrote {len(files)} files to {target}/; next:", markup=False)
    console.print(f"  cd {target} && pip install -e '.[test]' && pytest", markup=False)
