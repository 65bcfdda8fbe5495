"""``orchestrator-blocks run PATH``: run a workflow file once and print its summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .common import UserError, console, err_console


def run_command(
    path: Annotated[
        str,
        typer.Argument(
            help="A Python file exposing `workflow`, a YAML workflow, or a name in ./workflows.",
            metavar="FILE_OR_NAME",
        ),
    ],
    inputs: Annotated[
        list[str] | None,
        typer.Option("--input", "-i", help="Run input NAME=VALUE (repeatable; JSON values)."),
    ] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input-file", help="Run input from a JSON file.")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="Run input as plain text.")] = None,
    timeout_ms: Annotated[
        int | None, typer.Option("--timeout-ms", min=1, help="End the run past this.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    events: Annotated[
        bool | None,
        typer.Option("--events/--quiet", help="Print events as they happen (default on a TTY)."),
    ] = None,
) -> None:
    """Run a workflow once. Exit code 0 when it succeeded, 1 otherwise."""
    from orchestrator_blocks.kernel.loader import (
        WorkflowLoadError,
        load_workflow,
        resolve_workflow_path,
    )
    from orchestrator_blocks.sdk.inputs import parse_inputs

    data = parse_inputs(inputs, input_file)
    if text is not None and data is not None:
        raise UserError("give either --text or --input/--input-file, not both")
    try:
        workflow = load_workflow(resolve_workflow_path(path))
    except WorkflowLoadError as exc:
        raise UserError(str(exc)) from None
    declared = workflow.traits.get("inputs")
    if declared:
        from orchestrator_blocks.sdk.inputs import InputError, validate_inputs

        try:
            data = validate_inputs(declared, data or {})
        except InputError as exc:
            raise UserError(f"{workflow.id}: {exc}") from None
    from orchestrator_blocks.kernel.telemetry import sinks_installed
    from orchestrator_blocks.kernel.telemetry.console import ConsoleSink

    live = sys.stderr.isatty() and not as_json if events is None else events
    with sinks_installed(*([ConsoleSink()] if live else [])):
        result = workflow.run(text if text is not None else data, timeout_ms=timeout_ms)
    print_run_summary(result, as_json=as_json)
    if not result.ok:
        raise typer.Exit(1)


def _plain(value: Any) -> str:
    """What JSON cannot carry: bytes as their size, anything else as its text."""
    return f"<{len(value)} bytes>" if isinstance(value, bytes | bytearray) else str(value)


def print_run_summary(result, *, as_json: bool = False) -> None:  # type: ignore[no-untyped-def]
    from rich.table import Table

    from orchestrator_blocks.sdk.redaction import redact_value

    if as_json:  # the summary, every block's output and the run's output (its sinks')
        outputs = {b: v.payload for b, v in result.values.items()}
        summary = {**result.summary(), "outputs": outputs, "output": result.final_value.payload}
        console.print_json(json.dumps(redact_value(summary), default=_plain))
        return
    color = "green" if result.ok else "red"
    console.print(
        f"[bold]{result.workflow_id}[/bold] run [bold]{result.run_id}[/bold] "
        f"[{color}]{result.status}[/{color}] in {result.duration_ms:.0f} ms"
    )
    table = Table(show_edge=False)
    for col in ("block", "type", "attempts", "outcome", "ms"):
        table.add_column(col)
    rows: dict[str, list[str]] = {}
    for e in result.events:
        if e.get("run_id") != result.run_id or not e.get("block_id"):
            continue
        bid, name = e["block_id"], e["event"]
        row = rows.setdefault(bid, [bid, e.get("block_type") or "", "0", "", ""])
        if name == "block.started":
            row[1] = e.get("block_type") or row[1]
            row[2] = str(e.get("attempt") or row[2])
        elif name == "block.succeeded":
            row[3], row[4] = "succeeded", f"{e.get('duration_ms', 0):.1f}"
        elif name == "block.failed" and e.get("terminal"):
            row[3], row[4] = f"failed {e.get('code')}", f"{e.get('duration_ms', 0):.1f}"
        elif name == "block.skipped":
            row[3] = "skipped"
        elif name.startswith("on_error.handler_"):
            row[3] = "handler " + name.rsplit("_", 1)[1]
    for row in rows.values():
        table.add_row(*row)
    console.print(table)
    if result.error is not None:
        env = result.error
        err_console.print(
            f"error: {env.code} at block {env.block_id} (attempt {env.attempt}): {env.message}",
            markup=False,
        )
    final = result.final_value
    if result.ok and final.payload is not None:
        text = redact_value(_plain(final.payload) if final.kind == "bytes" else final.text())
        console.print(f"output: {text if len(text) <= 300 else text[:300] + '…'}", markup=False)
    console.print(f"debug this run: orchestrator-blocks logs {result.run_id}")
