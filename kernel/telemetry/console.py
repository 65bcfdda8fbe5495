"""A human renderer for terminals: one short line per event, as the run goes.

The JSON-lines file is the record; this is for the person watching ``orchestrator-blocks
run`` on a TTY. Correlation fields that are null are left out; the interesting ones
(block, attempt, code, delay, duration) are kept.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console

__all__ = ["ConsoleSink"]

_STYLE = {"error": "red", "warning": "yellow", "info": "cyan", "debug": "dim"}
_SKIP = {
    "event",
    "level",
    "ts",
    "workflow_id",
    "run_id",
    "block_id",
    "attempt",
    "trace_id",
    "span_id",
    "origin",
    "domain",
    "code",
    "parent_run_id",
    "envelope",
    "block_type",
}


class ConsoleSink:
    """An event sink printing ``HH:MM:SS.mmm event block#attempt key=value`` lines."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True, highlight=False)

    def __call__(self, event: dict[str, Any]) -> None:
        ts = str(event.get("ts") or "")[11:23]
        name = str(event.get("event"))
        style = _STYLE.get(str(event.get("level")), "")
        where = event.get("block_id") or event.get("workflow_id") or ""
        if event.get("attempt") and event.get("block_id"):
            where = f"{where}#{event['attempt']}"
        parts = [f"[dim]{ts}[/dim]", f"[{style}]{name}[/{style}]" if style else name, where]
        if event.get("code"):
            parts.append(f"[bold]{event['code']}[/bold]")
        for key, value in event.items():
            if key in _SKIP or value is None or isinstance(value, dict | list):
                continue
            parts.append(f"{key}={value}")
        self.console.print(" ".join(str(p) for p in parts if p != ""), soft_wrap=True)
