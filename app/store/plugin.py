"""The store as a plugin: it provides the run store, the store-backed services, and the
kill-switch guard.

* ``provide_run_store``: the (migrated) store of the settings; SQLite by default.
* ``provide_services``: ``SqlDatabases``, ``SendLog`` and ``KillSwitches`` for blocks.
* ``block_guard``: a write step of a workflow guarded by kill switches
  (``traits["kill_switches"]``) is refused while one of them is on, checked right before the
  step, so a switch turned on mid-run stops the next write. Fails closed: a store that
  cannot be read refuses the write too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from typing import Any

from orchestrator_blocks import sdk

KILL_SWITCH_ENGAGED = "runtime.kill_switch_engaged"


@sdk.hookimpl
def provide_run_store(settings: sdk.Settings) -> Any:
    from . import open_store

    return open_store(settings)


@sdk.hookimpl
def provide_services(settings: sdk.Settings, store: Any) -> Mapping[type, object] | None:
    if store is None:
        return None
    from . import Databases, ItemLog, SendLog, SwitchBoard

    return {
        sdk.SqlDatabases: Databases(store, settings),
        sdk.SendLog: SendLog(store),
        sdk.KillSwitches: SwitchBoard(store),
        sdk.FanOutItems: ItemLog(store),
    }


@sdk.hookimpl
def run_started(run: sdk.RunView) -> Awaitable[None] | None:
    """A run taken over from a dead owner: its sends that were in flight may or may not have
    reached the recipient, so they become ``unknown`` for a human, never re-sent."""
    if run.parent_run_id is not None or not run.previous_owner:
        return None
    return _mark_unknown(run)


async def _mark_unknown(run: sdk.RunView) -> None:
    import asyncio

    from orchestrator_blocks.kernel.telemetry import get_logger

    from . import open_store

    store = open_store(run.settings)
    keys = await asyncio.to_thread(store.outbound.mark_unknown, run.run_id)
    get_logger().warning(
        "run.recovered",
        previous_owner=run.previous_owner,
        unknown_sends=len(keys),
        message=f"taken over from {run.previous_owner}; {len(keys)} send(s) in flight are "
        "unknown: check them, then `orchestrator-blocks runs settle`",
    )


@sdk.hookimpl
def block_guard(
    ctx: sdk.RunContext, block: sdk.PlannedBlock
) -> Awaitable[sdk.Refusal | None] | None:
    guards = ctx.run.traits.get("kill_switches") if ctx.run is not None else None
    if not guards or not block.writes:
        return None
    return _refuse_while_engaged(ctx, tuple(guards))


async def _refuse_while_engaged(ctx: sdk.RunContext, guards: tuple[str, ...]) -> sdk.Refusal | None:
    engaged: str | None = None
    reason = ""
    try:
        switches = ctx.service(sdk.KillSwitches)
        for name in guards:
            if await switches.engaged(name):
                engaged, reason = name, f"kill switch {name!r} is on"
                break
    except (sdk.StateStoreError, LookupError) as exc:
        engaged, reason = "?", f"cannot read kill switches ({exc})"
    if engaged is None:
        return None
    return sdk.Refusal(
        KILL_SWITCH_ENGAGED,
        f"write step {ctx.block_id!r} refused: {reason}",
        {"kill_switch": engaged, "guards": list(guards)},
    )


@sdk.hookimpl
def provide_event_sinks(settings: sdk.Settings) -> list[Any] | None:
    """On PostgreSQL, run events go to the store too: every machine sees every run."""
    from . import open_store

    try:
        store = open_store(settings)
    except sdk.StateStoreError:
        return None
    if store.engine.dialect != "postgresql":
        return None
    from .events import sink_for

    return [sink_for(store.engine)]
