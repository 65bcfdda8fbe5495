"""A fan-out whose items run on workers: the run hands them out in chunks and waits on rows.

**Dispatching** (the process running the fan-out, when an ``sdk.ItemDispatcher`` is
provided): the items are registered as rows; the unfinished ones go out in chunks; the run
then polls the rows until every item ended (or the fan-out stopped and nothing is in flight),
handing out again what no live worker holds: an item dispatched long ago and still not
taken, or taken by a worker whose lease on it expired (it died).

**A chunk** (a worker, with ``ctx.services.lent("fan_out.chunk")`` set): each item is
*claimed* under the worker's lease before it runs (one claim wins: two workers never run one
item), its outcome is recorded on its row, and the circuit breaker's count and the stop
reason are shared rows: every worker stops starting items once it trips (overshooting by
at most the items in flight) or a kill switch is on.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator_blocks import sdk

from .item_run import Retry, engaged, run_item
from .items import Items, item_payload

__all__ = ["CHUNK", "dispatch_and_wait", "run_chunk"]

CHUNK = "fan_out.chunk"
"""The name a worker lends a chunk's facts under (``run_id``, ``block_id``, ``owner``,
``lease_s``)."""


async def dispatch_and_wait(
    ctx: sdk.RunContext,
    dispatcher: sdk.ItemDispatcher,
    ledger: sdk.FanOutItems,
    where: tuple[str, str],
    items: Items,
    done: Mapping[str, str],
) -> str | None:
    """Hand the unfinished items to workers and wait for them; returns the stop reason."""
    payload_of = {
        items.key_of(i): item_payload(items, i) for i in items if items.key_of(i) not in done
    }
    handed = 0
    while True:
        stop = await ledger.stop_reason(*where)
        if stop is None:
            keys = [k for k in await ledger.due(*where, 2 * dispatcher.lease_s) if k in payload_of]
            for start in range(0, len(keys), dispatcher.chunk_size):
                chunk = keys[start : start + dispatcher.chunk_size]
                await dispatcher.dispatch(*where, [payload_of[k] for k in chunk])
            if keys:
                await ledger.dispatched(*where, keys)
                handed += len(keys)
                ctx.log.info("fan_out.dispatched", items=len(keys), handed_out=handed)
        counts = await ledger.counts(*where)
        live, stalled = counts.get("running", 0), counts.get("stalled", 0)
        waiting = counts.get("pending", 0) + stalled
        if live == 0 and (waiting == 0 or stop is not None):
            return stop
        await asyncio.sleep(dispatcher.poll_s)


async def run_chunk(
    ctx: sdk.RunContext,
    value: sdk.Value,
    workflow: Any,
    chunk: Mapping[str, Any],
    *,
    ledger: sdk.FanOutItems,
    concurrency: int,
    breaker: int | None,
    retry: Retry,
    switches: Sequence[str],
) -> sdk.Value:
    """Run the items of one chunk here, each claimed first; returns what this chunk did."""
    run_id, block_id = str(chunk["run_id"]), str(chunk["block_id"])
    owner, lease_s = str(chunk["owner"]), float(chunk["lease_s"])
    payloads = value.payload.get("items", []) if isinstance(value.payload, Mapping) else []
    # The items are children of the run that fans out, not of the chunk that carries them.
    item_ctx = ctx.evolve(run_id=run_id)
    queue = iter(payloads)
    held: set[str] = set()
    outcomes: dict[str, int] = {}

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease_s / 3)
            if held:
                await ledger.renew(run_id, block_id, sorted(held), owner, lease_s)

    async def worker() -> None:
        for payload in queue:
            key = str(payload["item_key"])
            if await ledger.stop_reason(run_id, block_id) is not None:
                return
            if switches:
                switch = await engaged(ctx, switches)
                if switch is not None:
                    await ledger.stop(run_id, block_id, "halted")
                    ctx.log.warning("fan_out.halted", kill_switch=switch)
                    return
            if not await ledger.claim(run_id, block_id, key, owner, lease_s):
                continue  # finished, or another worker holds it
            held.add(key)
            with sdk.log_fields(worker=owner):
                result = await run_item(item_ctx, workflow, key, payload, retry)
            await ledger.finish(
                run_id, block_id, key, result.outcome, attempts=result.attempts, code=result.code
            )
            held.discard(key)
            outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
            reason = await ledger.count(run_id, block_id, result.outcome, breaker)
            if reason is not None:
                ctx.log.warning("fan_out.stopped", reason=reason, worker=owner)
                return

    ctx.log.info("fan_out.chunk_started", items=len(payloads), worker=owner, fan_out_run=run_id)
    renewer = asyncio.create_task(renew())
    workers = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(payloads)))]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in (*workers, renewer):
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*workers, renewer, return_exceptions=True)
    ctx.log.info("fan_out.chunk_finished", worker=owner, **outcomes)
    return sdk.Json({"chunk": len(payloads), **outcomes})
