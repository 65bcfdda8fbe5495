"""``orchestrator-blocks plugins show TYPE`` and ``plugins new NAME``, added to the kernel's
``plugins`` group: one block type's whole card, and a new plugin distribution."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console
from orchestrator_blocks.sdk._cli import effects_text, policy_text

__all__ = ["new_plugin", "show_plugin"]


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
    out(f"policy   {policy_text(card).replace(chr(10), ', ')}")
    out(f"timeout  {card['timeout_code']} ({card['timeout_retry']})")
    out(f"effects  {effects_text(card).replace(chr(10), '; ')}")
    for code, status in card["ends_run_as"].items():
        out(f"ends     a run failing with {code} ends it {status}")
    from rich.table import Table

    table = Table("code", "retried", "meaning", title="codes")
    for c in card["code_table"]:
        table.add_row(c["code"], c["retry"] or "undeclared", c["meaning"])
    out(table)


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
