"""The ``for_each`` block type: a bounded pool of per-item child runs.

How an item ends (counted, never stored):

* ``sent``: its run succeeded; ``skipped`` when the run's output is a JSON object with a
  truthy ``"skipped"`` (``send_email`` found the key already sent);
* ``failed``: its run failed after ``max_attempts`` (only ``backoff``/``immediate``
  failures are retried, waiting as block retries do: the SDK's
  :class:`~orchestrator_blocks.sdk.Backoff` of kind ``backoff`` (``exponential``:
  ``base_ms * factor**(attempt-1)``; ``fixed``; ``none``), ± ``jitter`` drawn
  deterministically per run, item and attempt, capped at ``max_ms``);
* ``unknown``: its run failed with a code ending ``.unknown_outcome`` (own or nested):
  the side effect may have happened, so it is neither retried nor re-sent;
* ``not_started``: the circuit breaker or a kill switch stopped the fan-out first.

The circuit breaker counts consecutive ``failed`` items in completion order (a ``sent``
item resets it; ``skipped`` and ``unknown`` items say nothing about the downstream service
and leave it as is). Once it trips, or a kill switch is on when the next item would start,
no new item starts; items in flight finish.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator_blocks import sdk

from .codes import CIRCUIT_OPEN, FAILED, FAMILY, HALTED, INVALID_INPUT, REJECTED
from .distributed import CHUNK, dispatch_and_wait, run_chunk
from .item_run import Retry, engaged, run_item
from .items import item_payload, read_items
from .tally import Tally, show_progress

__all__ = ["BLOCK_TYPES", "for_each"]


def _positive_int(config: Mapping[str, Any], name: str, minimum: int) -> None:
    value = config[name]
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _validate(config: dict[str, Any]) -> None:
    workflow = config["workflow"]
    if not (hasattr(workflow, "plan") and hasattr(workflow, "id")):
        raise TypeError(
            f"for_each needs a Workflow (from new_workflow) to run per item, "
            f"got {type(workflow).__name__}"
        )
    over = config["over"]
    if over is not None and not (isinstance(over, str) and over):
        raise ValueError(
            f"over must be the name of the input's key holding the items, not {over!r}"
        )
    if not (isinstance(config["item_key"], str) and config["item_key"]):
        raise ValueError(f"item_key must be a field name, not {config['item_key']!r}")
    _positive_int(config, "concurrency", 1)
    if config["circuit_breaker"] is not None:
        _positive_int(config, "circuit_breaker", 1)
    _positive_int(config, "max_attempts", 1)
    _positive_int(config, "base_ms", 0)
    _positive_int(config, "max_ms", 0)
    _item_backoff(config)  # the SDK says what is wrong with kind, factor or jitter
    switches = config["kill_switches"]
    if isinstance(switches, str):
        switches = (switches,)
    if not isinstance(switches, Sequence) or not all(isinstance(s, str) and s for s in switches):
        raise ValueError("kill_switches must be a kill switch name or a list of names")
    config["kill_switches"] = tuple(switches)
    if config["progress"] not in (None, True, False):
        raise ValueError("progress must be None (when on a terminal), True or False")


def _item_backoff(config: Mapping[str, Any]) -> sdk.Backoff:
    """The wait between an item's attempts: the same backoff block retries use."""
    kind, jitter = config["backoff"], config["jitter"]
    if kind == "none":
        return sdk.Backoff.none()
    if kind == "fixed":
        return sdk.Backoff("fixed", config["base_ms"], 1.0, jitter, config["max_ms"])
    if kind != "exponential":
        raise ValueError(f"backoff must be exponential, fixed or none, got {kind!r}")
    factor = config["factor"]
    return sdk.Backoff.exponential(
        config["base_ms"], factor, jitter=jitter, cap_ms=config["max_ms"]
    )


def _writes(config: Mapping[str, Any]) -> bool:
    """A fan-out writes when a step of its per-item workflow does (so the approval gate of
    a risk >= 3 workflow must come before it). Unknown shapes count as writes."""
    blocks = getattr(config["workflow"], "blocks", None)
    if not isinstance(blocks, Mapping):
        return True
    try:
        return any(b.block_type.is_write(b.config) for b in blocks.values())
    except (AttributeError, RecursionError):
        return True


class _Stop:
    """Why no new item starts (``None`` while items may still start)."""

    def __init__(self, breaker: int | None) -> None:
        self.reason: str | None = None
        self.breaker = breaker
        self.consecutive = 0

    def after(self, outcome: str, ctx: sdk.RunContext) -> None:
        if outcome == "sent":
            self.consecutive = 0
        elif outcome == "failed":
            self.consecutive += 1
            if self.breaker is not None and self.consecutive >= self.breaker and not self.reason:
                self.reason = "circuit_open"
                ctx.log.warning("fan_out.circuit_open", consecutive_failures=self.consecutive)


COUNTED = ("sent", "failed", "skipped", "unknown", "rejected", "not_started")
WAITING = "awaiting_review"  # not an end: the fan-out pauses on these items


def _lent(ctx: sdk.RunContext, name: str) -> Any:
    try:
        return ctx.services.lent(name)
    except LookupError:
        return None


def _dispatcher(ctx: sdk.RunContext) -> sdk.ItemDispatcher | None:
    try:
        return ctx.service(sdk.ItemDispatcher)
    except LookupError:
        return None


def _item_log(ctx: sdk.RunContext) -> sdk.FanOutItems | None:
    """The item rows, or ``None`` where there is no store (SDK unit harnesses)."""
    try:
        return ctx.service(sdk.FanOutItems)
    except LookupError:
        return None


def _end(ctx: sdk.RunContext, counts: dict[str, int], stop: str | None) -> sdk.Value:
    waiting = counts.pop("awaiting_review", 0)
    if waiting:  # every other item ended: the run waits for the reviews, then goes on
        ctx.log.info("fan_out.awaiting_review", waiting=waiting, **counts)
        raise sdk.RunPaused(
            sdk.RunStatus.AWAITING_APPROVAL,
            f"{waiting} item(s) wait for their review: orchestrator-blocks approvals list "
            f"--run {ctx.run_id}; each decision lets the run go on",
            waiting_on={"reviews": waiting},
        )
    if not (counts["failed"] or counts["unknown"] or counts["rejected"] or stop):
        return sdk.Json(counts)
    if counts["sent"] or counts["skipped"]:
        ctx.services.report_partial(ctx.block_id, counts)
        return sdk.Json(counts)
    if counts["rejected"] and not (counts["failed"] or counts["unknown"] or stop):
        raise sdk.BlockError(
            REJECTED,
            f"every item was dropped by its review ({counts['rejected']} of {counts['total']})",
            details=counts,
        )
    code = {"circuit_open": CIRCUIT_OPEN, "halted": HALTED}.get(stop or "", FAILED)
    why = {
        "circuit_open": "the circuit breaker opened",
        "halted": "a kill switch stopped it",
    }.get(stop or "", "every item failed")
    raise sdk.BlockError(
        code,
        f"fan-out delivered nothing: {why} ({counts['failed']} failed, {counts['unknown']} "
        f"unknown, {counts['not_started']} not started of {counts['total']})",
        details=counts,
    )


@FAMILY.block_type(
    "for_each",
    side_effects=[sdk.SideEffect("Loop", "items", "iterate")],
    writes_when=_writes,
    validate=_validate,
    ends_run_as={REJECTED: sdk.RunStatus.REJECTED},
)
async def for_each(
    ctx: sdk.RunContext,
    value: sdk.Value,
    workflow: Any,
    *,
    over: str | None = None,
    item_key: str = "id",
    concurrency: int = 4,
    circuit_breaker: int | None = 5,
    max_attempts: int = 3,
    base_ms: int = 2000,
    max_ms: int = 30000,
    backoff: str = "exponential",
    factor: float = 2.0,
    jitter: float = 0.2,
    kill_switches: str | Sequence[str] = (),
    progress: bool | None = None,
) -> sdk.Value:
    """Run ``workflow`` once per item of a list, ``concurrency`` at a time; output counts.

    The input is a JSON list of objects, or an object whose key ``over`` holds it (its
    ``"inputs"`` are passed on). Each item's run gets ``{**item, "item", "inputs",
    "item_key", "idempotency_key"}``. Output ``{"total", "sent", "failed", "skipped",
    "unknown", "rejected", "not_started"}``; the run ends ``partial`` when some items failed
    or were dropped by their review, and the block fails (``fan_out.failed`` /
    ``circuit_open`` / ``halted``; ``rejected`` when every item was dropped) when none was
    sent. Items whose per-item review waits pause the run ``awaiting_approval`` once every
    other item ended; each decision continues it.
    """
    try:
        workflow.plan()
    except sdk.GraphInvalid as exc:
        raise sdk.BlockError(
            INVALID_INPUT, f"the per-item workflow {workflow.id!r} is invalid: {exc}"
        ) from None
    switches = tuple(kill_switches)
    policy = {"backoff": backoff, "base_ms": base_ms, "max_ms": max_ms}
    retry = Retry(max_attempts, _item_backoff({**policy, "factor": factor, "jitter": jitter}))
    ledger = _item_log(ctx)
    chunk = _lent(ctx, CHUNK)
    if chunk is not None and ledger is not None:  # a worker runs some items of a fan-out
        return await run_chunk(
            ctx,
            value,
            workflow,
            chunk,
            ledger=ledger,
            concurrency=concurrency,
            breaker=circuit_breaker,
            retry=retry,
            switches=switches,
        )
    items = read_items(value, ctx, over=over, item_key=item_key)
    stop = _Stop(circuit_breaker)
    where = (ctx.run_id, ctx.block_id or "for_each")
    done: dict[str, str] = {}
    if ledger is not None:
        attempt = ctx.run.run_attempt if ctx.run is not None else 1
        done = await ledger.open(*where, attempt, items.keys())
    source = (i for i in items if items.key_of(i) not in done)
    ctx.log.info(
        "fan_out.started",
        total=len(items),
        concurrency=concurrency,
        workflow=workflow.id,
        already_done=len(done),
    )
    dispatcher = _dispatcher(ctx) if ledger is not None else None
    if dispatcher is not None and ledger is not None:  # the items run on workers
        reason = await dispatch_and_wait(ctx, dispatcher, ledger, where, items, done)
        table = await ledger.close(*where)
        counts = {"total": len(items), **{k: table.get(k, 0) for k in (*COUNTED, WAITING)}}
        ctx.log.info("fan_out.progress", done=len(items), final=True, **counts)
        if reason is not None:
            ctx.log.warning("fan_out.stopped", reason=reason, **counts)
        return _end(ctx, counts, reason)
    tally = Tally(ctx, len(items), bar=show_progress(progress))
    for status in done.values():
        tally.restore(status)

    async def worker() -> None:
        while stop.reason is None:
            item = next(source, None)
            if item is None:
                return
            if switches:
                switch = await engaged(ctx, switches)
                if switch is not None and stop.reason is None:
                    stop.reason = "halted"
                    ctx.log.warning("fan_out.halted", kill_switch=switch)
            if stop.reason is not None:
                return
            key = items.key_of(item)
            result = await run_item(ctx, workflow, key, item_payload(items, item), retry)
            if ledger is not None:
                await ledger.finish(
                    *where,
                    key,
                    result.outcome,
                    attempts=result.attempts,
                    code=result.code,
                )
            tally.record(result.outcome)
            stop.after(result.outcome, ctx)

    tasks = [asyncio.create_task(worker()) for _ in range(min(concurrency, len(items)))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        tally.close()
        raise
    counts = tally.finish()
    if ledger is not None:  # the rows are the truth: they also hold earlier passes' items
        table = await ledger.close(*where)
        counts = {"total": len(items), **{k: table.get(k, 0) for k in (*COUNTED, WAITING)}}
    if stop.reason is not None:
        ctx.log.warning("fan_out.stopped", reason=stop.reason, **counts)
    return _end(ctx, counts, stop.reason)


BLOCK_TYPES = (for_each,)
