"""``orchestrator-blocks serve``: the long-running scheduler (cron, events, verify checks)."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console, err_console

if TYPE_CHECKING:
    import asyncio


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
    console_port: Annotated[
        int,
        typer.Option("--console-port", min=0, max=65535, help="Web console port (127.0.0.1)."),
    ] = 8765,
    with_console: Annotated[
        bool, typer.Option("--console/--no-console", help="Also serve the web console.")
    ] = True,
    lease_s: Annotated[
        float | None,
        typer.Option(
            "--lease-s",
            min=0.5,
            help="Seconds a run's owner holds it without renewing (default "
            "ORCHESTRATOR_BLOCKS_LEASE_S, else 30); a dead owner's runs are taken over after it.",
        ),
    ] = None,
) -> None:
    """Run every workflow in --dir at its cron times or on its events, until SIGINT/SIGTERM.

    Also continues runs paused for approval once decided, and takes over runs whose owner
    died (after their lease) from their checkpoints. Any number of `serve` processes may
    share one store: each cron firing runs once. Stopping finishes the runs in flight,
    then exits 0.
    """
    import asyncio
    import dataclasses

    from orchestrator_blocks.app.config import app_config
    from orchestrator_blocks.app.serve import Server, discover_workflows
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings
    from orchestrator_blocks.sdk import StateStoreError
    from orchestrator_blocks.sdk.rules import RuleError

    if not directory.is_dir():
        raise UserError(
            f"--dir {directory}: no such directory; put workflow files there or pass --dir"
        )
    settings = load_settings()
    overrides = {"ORCHESTRATOR_BLOCKS_WORKFLOWS_DIR": str(directory.resolve())}
    if lease_s is not None:
        overrides["ORCHESTRATOR_BLOCKS_LEASE_S"] = str(lease_s)
    settings = dataclasses.replace(settings, env={**settings.env, **overrides})
    minutes = _minutes(verify_minutes, app_config(settings).verify_minutes)
    found, problems = discover_workflows(directory)
    for problem in problems:
        err_console.print(f"skipped: {problem}", markup=False)
    try:
        store = open_store(settings)
    except StateStoreError as exc:
        store = None
        err_console.print(f"warning: {exc}; event triggers and verify checks are off")

    def say(line: str) -> None:
        console.print(line, markup=False)

    try:
        server = Server(found, settings, store, verify_minutes=minutes, poll_s=poll, say=say)
    except (RuleError, LookupError) as exc:
        raise UserError(str(exc)) from None
    served = 0
    for s in server.served:
        whens = [w for t in server.triggers if (w := _describe(t, s)) is not None]
        if whens:
            served += 1
            where = s.source.name if s.source else "-"
            console.print(f"serving {s.name} ({where}): {', '.join(whens)}")
    if not served:
        console.print(f"no scheduled or event-triggered workflows in {directory}")
    if minutes:
        console.print(f"verify checks at minutes {','.join(map(str, minutes))} past each hour")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stopper(server, say, sig))
        web = _start_console(settings, console_port, directory, say) if with_console else None
        try:
            await server.run()
        finally:
            if web is not None:
                web.cancel()
                await asyncio.gather(web, return_exceptions=True)

    asyncio.run(main())
    console.print("stopped")


def _start_console(
    settings: Any, port: int, directory: Path, say: Callable[[str], None]
) -> asyncio.Task[None] | None:
    """The web console on 127.0.0.1 beside the scheduler; a busy port is a warning, not an
    end: scheduling matters more than the console."""
    import asyncio

    from orchestrator_blocks.app.console import ensure_token, run_console
    from orchestrator_blocks.app.console._server import bind

    try:
        bind("127.0.0.1", port).close()
    except OSError as exc:
        err_console.print(f"warning: web console off: {exc}", markup=False)
        return None
    token_file, token, created = ensure_token(settings.home)
    say(f"console at http://127.0.0.1:{port}/ (login token in {token_file})")
    if created:
        say(f"login token (new): {token}")
    return asyncio.create_task(run_console(settings, "127.0.0.1", port, directory))


def _describe(trigger: Any, served: Any) -> str | None:
    describe = getattr(trigger, "describe", None)
    return describe(served) if describe is not None else None


def _stopper(server: Any, say: Callable[[str], None], sig: signal.Signals) -> Callable[[], None]:
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
