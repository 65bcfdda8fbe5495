"""``orchestrator-blocks explain WORKFLOW``: the workflow's card before you run it."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console


class Format(StrEnum):
    text = "text"
    mermaid = "mermaid"
    json = "json"


def explain_command(
    path: Annotated[
        str,
        typer.Argument(
            help="A Python file exposing `workflow`, a YAML contract, or a name in ./workflows.",
            metavar="FILE_OR_NAME",
        ),
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="text, mermaid or json.")] = (
        Format.text
    ),
) -> None:
    """Show what a workflow does and changes: trigger, inputs, context, preconditions, risk
    and approval, steps, post actions, verify checks, retry policy, side effects."""
    from orchestrator_blocks.app.explain import card, to_mermaid
    from orchestrator_blocks.kernel.loader import (
        WorkflowLoadError,
        load_workflow,
        resolve_workflow_path,
    )

    try:
        workflow = load_workflow(resolve_workflow_path(path))
    except WorkflowLoadError as exc:
        raise UserError(str(exc)) from None
    data = card(workflow)
    if fmt is Format.json:
        typer.echo(json.dumps(data, indent=2, default=str))
    elif fmt is Format.mermaid:
        typer.echo(to_mermaid(data), nl=False)
    else:
        _print_card(data)


def _kv(title: str, rows: list[tuple[str, str]]) -> None:
    console.print(f"\n[bold]{title}[/bold]")
    for key, value in rows:
        console.print(f"  {key}: {value}", markup=False)


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    console.print(f"\n[bold]{title}[/bold]")
    if not rows:
        console.print("  (none)")
        return
    from rich.table import Table

    table = Table(show_edge=False)
    for col in columns:
        table.add_column(col)
    for row in rows:
        table.add_row(*(str(v) for v in row))
    console.print(table)


def _print_card(data: dict[str, Any]) -> None:
    console.print(f"[bold]{data['workflow']}[/bold]  risk {data['risk_level']}")
    if data["description"]:
        console.print(data["description"], markup=False)
    _kv("Trigger", [(k, str(v)) for k, v in data["trigger"].items()])
    _table(
        "Inputs",
        ["name", "type", "required", "default"],
        [[i["name"], i["type"], i["required"], i["default"]] for i in data["inputs"]],
    )
    _table(
        "Context (loaded before any write)",
        ["name", "database", "sql"],
        [[c["name"], c["database"], " ".join(c["sql"].split())] for c in data["context"]],
    )
    _table(
        "Preconditions",
        ["name", "severity", "rule"],
        [[p["name"], p["severity"], p["rule"]] for p in data["preconditions"]],
    )
    _kv(
        "Risk and approval",
        [
            ("approval", data["approval"]),
            ("kill switches", ", ".join(data["kill_switches"]) or "none"),
        ],
    )
    _table(
        "Steps",
        ["id", "type", "lane", "writes", "policy"],
        [
            [
                s["id"] + (" (on_error)" if s["on_error_handler"] else ""),
                s["type"],
                s["lane"],
                "yes" if s["writes"] else "no",
                s["policy"],
            ]
            for s in data["steps"]
        ],
    )
    _kv("Post actions", [("after every run", ", ".join(data["post_actions"]))])
    _table(
        "Verify checks",
        ["name", "window", "expect", "sql"],
        [
            [v["name"], f"{v['window_s']:g}s", v["expect"], " ".join(v["sql_check"].split())]
            for v in data["verify"]
        ],
    )
    retry = data["retry"]
    _kv("Retry policy", list(retry.items()) if isinstance(retry, dict) else [("steps", retry)])
    _table(
        "What changes when this workflow runs",
        ["system", "resource", "action", "source"],
        [[c["system"], c["resource"], c["action"], c["source"]] for c in data["changes"]],
    )
