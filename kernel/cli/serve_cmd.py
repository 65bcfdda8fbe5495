"""``orchestrator-blocks serve``: the long-running scheduler (cron, events, verify checks)."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer

from .common import UserError, console, err_console


def serve_command(
    directory: Annotated[
        Path,
        typer.Option("--dir", "-d", help="Directory of workflow files (*.py, *.yaml)."),
    ] = Path("workflows"),
    verify_minutes: Annotated[
        str | None,
        typer.Option(
            "--verify-minutes",
            help="Minutes past each hour to run due verify checks, e.g. '8,38' "
            "(default: the config file's verify_minutes, else 8,38; 'off' disables).",
        ),
    ] = None,
    poll: Annotated[
        float, typer.Option("--poll", min=0.05, help="Seconds between ledger polls.")
    ] = 0.5,
) -> None:
    """Run every workflow in --dir at its cron times or on its events, until SIGINT/SIGTERM.

    Stopping finishes the runs in flight, then exits 0.
    """
    from datetime import UTC, datetime

    from orchestrator_blocks.kernel.config import load_config, load_settings
    from orchestrator_blocks.kernel.scheduler import Server, discover_workflows, iso, schedules_for
    from orchestrator_blocks.kernel.store import open_store
    from orchestrator_blocks.sdk import RuleError, StateStoreError

    if not directory.is_dir():
        raise UserError(
            f"--dir {directory}: no such directory; put workflow files there or pass --dir"
        )
    settings = load_settings()
    minutes = _minutes(verify_minutes, load_config().verify_minutes)
    found, problems = discover_workflows(directory)
    for problem in problems:
        err_console.print(f"skipped: {problem}", markup=False)
    try:
        schedules = schedules_for(list(found), datetime.now(UTC))
    except RuleError as exc:
        raise UserError(str(exc)) from None
    try:
        store = open_store(settings)
    except StateStoreError as exc:
        store = None
        err_console.print(f"warning: {exc}; event triggers and verify checks are off")
    if not schedules:
        console.print(f"no scheduled or event-triggered workflows in {directory}")
    for s in schedules:
        when = f"next at {iso(s.next_at)}" if s.next_at else f"on event {s.event_type}"
        console.print(f"serving {s.name} ({s.source.name if s.source else '-'}): {when}")
    if minutes:
        console.print(f"verify checks at minutes {','.join(map(str, minutes))} past each hour")

    def say(line: str) -> None:
        console.print(line, markup=False)

    async def main() -> None:
        server = Server(schedules, settings, store, verify_minutes=minutes, poll_s=poll, say=say)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stopper(server, say, sig))
        await server.run()

    asyncio.run(main())
    console.print("stopped")


def _stopper(server, say, sig):  # type: ignore[no-untyped-def]
    def stop() -> None:
        say(f"received {signal.Signals(sig).name}; finishing runs in flight")
        server.stop()

    return stop


def _minutes(option: str | None, configured: list[int]) -> list[int]:
    if option is None:
        return list(configured)
    if option.strip().lower() == "off":
        return []
    try:
        values = sorted({int(part) for part in option.split(",") if part.strip()})
    except ValueError:
        raise UserError(
            f"--verify-minutes {option!r}: expected minutes like 8,38 or 'off'"
        ) from None
    if not values or any(not 0 <= m <= 59 for m in values):
        raise UserError(f"--verify-minutes {option!r}: minutes must be within 0-59")
    return values
