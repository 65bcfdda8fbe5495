"""``orchestrator-blocks worker``: take runs and fan-out items from the store's job queue."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console, err_console

if TYPE_CHECKING:
    from orchestrator_blocks.sdk import Settings


def worker_command(
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-c", min=1, help="Jobs this worker runs at once.")
    ] = 4,
    queues: Annotated[
        str, typer.Option("--queues", help="Queues to take jobs from: runs, items or both.")
    ] = "runs,items",
    directory: Annotated[
        Path, typer.Option("--dir", "-d", help="This machine's copy of the workflows.")
    ] = Path("workflows"),
    lease_s: Annotated[
        float | None,
        typer.Option("--lease-s", min=0.5, help="Seconds a run or item is held without renewal."),
    ] = None,
    graceful_s: Annotated[
        float,
        typer.Option("--graceful-s", min=0, help="On SIGTERM, seconds to finish items in flight."),
    ] = 10.0,
) -> None:
    """Run workflows and fan-out items from the job queue on the store's PostgreSQL.

    Start `serve` once (scheduling, approvals, recovery, the console) and any number of
    workers, on any machine with the workflows directory and ORCHESTRATOR_BLOCKS_DB_URL.
    SIGTERM hands this worker's runs back (another worker continues them at once) and
    finishes the items in flight (up to --graceful-s), then exits 0.
    """
    import asyncio
    import dataclasses

    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.app.workers.queue import QueueError, build_app
    from orchestrator_blocks.kernel.config import load_settings
    from orchestrator_blocks.kernel.durable import owner_id
    from orchestrator_blocks.sdk import StateStoreError

    wanted = [q.strip() for q in queues.split(",") if q.strip()]
    unknown = sorted(set(wanted) - {"runs", "items"})
    if not wanted or unknown:
        raise UserError(f"--queues {queues!r}: say runs, items or runs,items")
    if not directory.is_dir():
        raise UserError(f"--dir {directory}: no such directory (this machine's workflows)")
    settings = load_settings()
    overrides = {
        "ORCHESTRATOR_BLOCKS_WORKFLOWS_DIR": str(directory.resolve()),
        "ORCHESTRATOR_BLOCKS_EXECUTOR": "procrastinate",
    }
    if lease_s is not None:
        overrides["ORCHESTRATOR_BLOCKS_LEASE_S"] = str(lease_s)
    settings = dataclasses.replace(settings, env={**settings.env, **overrides})
    try:
        app = build_app(settings)
        store = open_store(settings)
    except QueueError as exc:
        raise UserError(str(exc)) from None
    except StateStoreError as exc:
        raise UserError(f"cannot reach the store: {exc}", exit_code=1) from None
    console.print(
        f"worker {owner_id()} on {store.label}: queues {', '.join(wanted)}, "
        f"concurrency {concurrency}, workflows in {directory}",
        markup=False,
    )
    try:
        asyncio.run(_work(app, settings, wanted, concurrency, graceful_s))
    except _Unreachable as exc:
        err_console.print(f"error: cannot reach the job queue: {exc}", markup=False)
        raise typer.Exit(1) from None
    console.print("stopped")


class _Unreachable(Exception):
    pass


async def _work(
    app: Any, settings: Settings, queues: list[str], concurrency: int, graceful_s: float
) -> None:
    import asyncio

    from orchestrator_blocks.app.workers.plugin import serving
    from orchestrator_blocks.app.workers.queue import ensure_schema
    from orchestrator_blocks.kernel.durable import hand_back_all

    try:
        await app.open_async()
        await ensure_schema(app, settings)
    except Exception as exc:  # psycopg's errors, of any kind: one line, exit 1
        raise _Unreachable(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    serving(app)
    worker = asyncio.create_task(
        app.run_worker_async(
            queues=queues,
            concurrency=concurrency,
            install_signal_handlers=False,
            shutdown_graceful_timeout=graceful_s,
            listen_notify=True,
            fetch_job_polling_interval=1.0,
        )
    )

    def stop(sig: signal.Signals) -> None:
        handed = hand_back_all()
        console.print(f"received {sig.name}; handed back {handed} run(s)", markup=False)
        worker.cancel()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, sig)
    try:
        await worker
    except asyncio.CancelledError:
        pass
    finally:
        serving(None)
        await app.close_async()
