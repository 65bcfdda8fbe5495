"""What the work the engine must keep costs by itself: one event, and one checkpoint.

A block emits two events (``block.started``, ``block.succeeded``) and is checkpointed once;
a fan-out item's run emits six events (``run.created``, ``run.started``, the block's two,
``run.succeeded``, ``fan_out.item_succeeded``). The issue that set the speed goals asks
that none of them be lost. This measures, in one process:

* a block's two events through the engine's own pipeline (its correlation fields bound
  once, then for each event: shaping, redaction, the JSON encoding, the run's in-memory
  list), with the JSON-lines file off and on, as the executor logs them;
* what one checkpoint adds to a block: a chain of 1,000 blocks with durable runs on,
  minus the same chain with them off, sinks off;
* plain asyncio: a coroutine awaited per block (the kernel benchmark's baseline).

From these, the least a block and an item can cost before any scheduling, retry, timeout,
guard or run bookkeeping: 2 events + 1 checkpoint per block; 6 events (three bindings)
per item.

The events above are timed in a tight loop, where everything they touch stays in the CPU's
caches. In a run they cost more. So the same work is also timed in place, in the engine's
own runs, with stand-ins swapped in for the engine's code (private names, for this
measurement only):

* the chain of 1,000 blocks with the executor reduced to the call and the block's two
  events (the same events and fields; no span object, context copy, retry or timeout), and
  reduced to the call alone (no events): the difference is what the two events cost in place;
* a ``for_each`` of null items with each item's run reduced to its five events and the
  call (the same events and fields; no hooks, guard, spans, scheduler or result), and
  reduced to the call alone: what is left is the fan-out's own work per item (its item
  row, its ``fan_out.item_succeeded`` event, the workers).

Rewrites the "Floor" section of bench/RESULTS.md.

    python bench/bench_floor.py [--events 20000] [--blocks 1000] [--items 5000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from bench_kernel import engine_chain, plain_chain, write_section  # noqa: E402


def events_cost(n: int, repeat: int, logs: str) -> float:
    """µs for a block's two events (its fields bound once), logged as the executor logs them."""
    from orchestrator_blocks.kernel.telemetry import get_logger, sinks_installed, telemetry_for
    from orchestrator_blocks.sdk import Settings, _logfields

    os.environ["ORCHESTRATOR_BLOCKS_LOGS"] = logs
    recorder = _logfields.EventRecorder()

    def keep(event: dict[str, object]) -> None:  # what a run does with each of its events
        if event.get("fan_out_item") is None:
            recorder.add(_logfields.encode_event(event))

    sinks = (keep, *telemetry_for(Settings.from_env()).run_sinks())
    log = get_logger()
    samples = []
    with (
        sinks_installed(*sinks),
        _logfields.bound(
            workflow_id="bench_floor",
            run_id="01KB0000000000000000000000",
            parent_run_id=None,
            block_id=None,
            attempt=None,
            trace_id="0" * 32,
            span_id="0" * 16,
        ),
    ):
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _block in range(n):
                with _logfields.bound(block_id="transform_1", attempt=1, span_id="1" * 16):
                    log.info(
                        "block.started",
                        block_type="transform.custom",
                        max_attempts=1,
                        timeout_ms=None,
                    )
                    log.info(
                        "block.succeeded",
                        block_type="transform.custom",
                        duration_ms=0.012,
                        output_kind="json",
                    )
            samples.append((time.perf_counter() - t0) / n)
    return statistics.median(samples) * 1e6


def checkpoint_cost(n: int, repeat: int) -> dict[str, float]:
    """µs per block of a chain with durable runs off and on (sinks off)."""
    import orchestrator_blocks as ob

    os.environ.update(ORCHESTRATOR_BLOCKS_LOGS="off", OTEL_SDK_DISABLED="true")
    wf = engine_chain(ob, n)
    out = {}
    for durable in ("off", "on", "off", "on"):  # interleaved; the first of each warms up
        os.environ["ORCHESTRATOR_BLOCKS_DURABLE"] = durable
        samples = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            result = wf.run(0)
            samples.append(time.perf_counter() - t0)
            assert result.ok, result.error
        out[durable] = statistics.median(samples) / n * 1e6
    del os.environ["ORCHESTRATOR_BLOCKS_DURABLE"]
    return out


async def _call(block_type, config, ctx, value):  # type: ignore[no-untyped-def]
    """The block's call, awaited when it answers with an awaitable, as a ``Value``."""
    from orchestrator_blocks.sdk import as_value

    result = block_type.call(ctx, value, config)
    return as_value(await result if inspect.isawaitable(result) else result)


def _lean_executor(with_events: bool):  # type: ignore[no-untyped-def]
    """A stand-in for ``execute_block``: the call, and the block's two events if asked."""
    from random import getrandbits

    from orchestrator_blocks.sdk import _logfields
    from orchestrator_blocks.sdk._executor import Outcome

    async def execute(block_type, config, policy, ctx, value):  # type: ignore[no-untyped-def]
        if not with_events:
            return Outcome(await _call(block_type, config, ctx, value), None, 1)
        span_id = f"{getrandbits(64):016x}"
        with _logfields.bound(
            block_id=ctx.block_id, attempt=1, trace_id=ctx.trace_id, span_id=span_id
        ):
            ctx.log.info(
                "block.started",
                block_type=block_type.type_id,
                max_attempts=policy.max_attempts,
                timeout_ms=policy.timeout_ms,
            )
            started = time.monotonic()
            out = await _call(block_type, config, ctx, value)
            ctx.log.info(
                "block.succeeded",
                block_type=block_type.type_id,
                duration_ms=round((time.monotonic() - started) * 1000, 3),
                output_kind=out.kind,
            )
        return Outcome(out, None, 1)

    return execute


def _lean_item_run(with_events: bool):  # type: ignore[no-untyped-def]
    """A stand-in for a child run of one block: the call, and the run's five events if asked."""
    from random import getrandbits

    from orchestrator_blocks.kernel.ids import new_run_id
    from orchestrator_blocks.kernel.telemetry import emit, get_logger
    from orchestrator_blocks.sdk import _logfields
    from orchestrator_blocks.sdk.services import ChildOutcome

    log = get_logger()

    async def run_child(workflow, value, ctx):  # type: ignore[no-untyped-def]
        plan = workflow.plan()
        bid = plan.entries[0]
        node = plan.nodes[bid]
        run_id = new_run_id()
        if not with_events:
            out = await _call(node.block_type, node.config, ctx, value)
            return ChildOutcome(plan.workflow_id, run_id, "succeeded", out, None)
        t0 = time.monotonic()
        with _logfields.bound(
            workflow_id=plan.workflow_id,
            run_id=run_id,
            parent_run_id=ctx.run_id,
            block_id=None,
            attempt=None,
            trace_id=ctx.trace_id,
            span_id=f"{getrandbits(64):016x}",
        ):
            emit(
                "info",
                "run.created",
                status="created",
                parent_run_id=ctx.run_id,
                run_attempt=1,
                previous_owner=None,
            )
            emit("info", "run.started", status="running", entries=[bid])
            with _logfields.bound(block_id=bid, attempt=1, span_id=f"{getrandbits(64):016x}"):
                log.info(
                    "block.started",
                    block_type=node.block_type.type_id,
                    max_attempts=node.policy.max_attempts,
                    timeout_ms=node.policy.timeout_ms,
                )
                started = time.monotonic()
                out = await _call(node.block_type, node.config, ctx, value)
                log.info(
                    "block.succeeded",
                    block_type=node.block_type.type_id,
                    duration_ms=round((time.monotonic() - started) * 1000, 3),
                    output_kind=out.kind,
                )
            emit(
                "info",
                "run.succeeded",
                status="succeeded",
                duration_ms=round((time.monotonic() - t0) * 1000, 3),
            )
        return ChildOutcome(plan.workflow_id, run_id, "succeeded", out, None)

    return run_child


def in_place(blocks: int, items: int, repeat: int) -> dict[str, dict[str, float]]:
    """µs per block and per item, as shipped and with the stand-ins (interleaved)."""
    import orchestrator_blocks as ob
    from orchestrator_blocks.kernel import run as kernel_run
    from orchestrator_blocks.kernel import runtime

    os.environ.update(ORCHESTRATOR_BLOCKS_LOGS="on", OTEL_SDK_DISABLED="false")
    chain = engine_chain(ob, blocks)
    item = ob.new_workflow("bench_floor_item")
    item.add(ob.Block.custom_transform(lambda payload: None))
    fan_out = ob.new_workflow("bench_floor_fan_out")
    fan_out.add(ob.Block.for_each(item, over="recipients", concurrency=16, progress=False))
    recipients = [{"id": i, "email": f"c{i}@example.org"} for i in range(items)]
    shipped_executor, shipped_child = kernel_run.execute_block, runtime._run_child
    variants = {
        "as shipped": (shipped_executor, shipped_child),
        "kept work": (_lean_executor(True), _lean_item_run(True)),
        "call only": (_lean_executor(False), _lean_item_run(False)),
    }
    samples: dict[str, dict[str, list[float]]] = {
        "chain": {v: [] for v in variants},
        "items": {v: [] for v in variants},
    }
    try:
        for turn in range(repeat + 1):  # the first turn warms up
            for name, (executor, child) in variants.items():
                kernel_run.execute_block = executor  # type: ignore[assignment]
                t0 = time.perf_counter()
                result = chain.run(0)
                chain_s = time.perf_counter() - t0
                assert result.ok, result.error
                kernel_run.execute_block = shipped_executor  # (the for_each block itself)
                runtime._run_child = child  # type: ignore[assignment]
                t0 = time.perf_counter()
                result = fan_out.run({"recipients": recipients})
                items_s = time.perf_counter() - t0
                runtime._run_child = shipped_child
                assert result.ok, result.error
                if turn:
                    samples["chain"][name].append(chain_s / blocks * 1e6)
                    samples["items"][name].append(items_s / items * 1e6)
    finally:
        kernel_run.execute_block, runtime._run_child = shipped_executor, shipped_child
    return {
        shape: {name: statistics.median(v) for name, v in by.items()}
        for shape, by in samples.items()
    }


def plain_cost(n: int, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        asyncio.run(plain_chain(n))
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples) / n * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--blocks", type=int, default=1000)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    for var in [v for v in os.environ if v.startswith(("OTEL_", "ORCHESTRATOR_BLOCKS_"))]:
        del os.environ[var]
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as home:
        os.environ["ORCHESTRATOR_BLOCKS_HOME"] = home
        chain = checkpoint_cost(args.blocks, args.repeat)
        events_off = events_cost(args.events // 2, args.repeat, "off")
        events_on = events_cost(args.events // 2, args.repeat, "on")
        plain = plain_cost(args.blocks, args.repeat)
        placed = in_place(args.blocks, args.items, args.repeat)
    checkpoint = max(chain["on"] - chain["off"], 0.0)
    block_off = events_off + checkpoint + plain
    block_on = events_on + checkpoint + plain
    item = 3 * events_on  # an item's run binds three times and logs six events
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs (shared with other work); "
        f"{args.events:,} events and chains of {args.blocks:,} blocks, median of "
        f"{args.repeat} (`python bench/bench_floor.py`). What the work the goals require "
        "be kept costs by itself, before any scheduling, retry, timeout, guard or run "
        "bookkeeping: a block emits 2 events and is checkpointed once, a fan-out item's run "
        "emits 6 events.",
        "",
        "| cost | µs | goal it bounds |",
        "| --- | ---: | --- |",
        f"| a block's 2 events and its bound fields, JSON-lines file off | {events_off:.1f} | |",
        f"| the same, JSON-lines file on | {events_on:.1f} | |",
        f"| one checkpoint (chain, durable on {chain['on']:.1f} − off {chain['off']:.1f} "
        f"µs/block) | {checkpoint:.1f} | |",
        f"| plain asyncio, per block | {plain:.2f} | |",
        f"| **a block, sinks off** (2 events + 1 checkpoint + asyncio) | **{block_off:.1f}** "
        "| ≤ 15 µs/block |",
        f"| **a block, as shipped** (2 events + 1 checkpoint + asyncio) | **{block_on:.1f}** "
        "| ≤ 45 µs/block |",
        f"| **a fan-out item** (6 events, JSON-lines file on) | **{item:.1f}** | ≤ 100 µs/item |",
        "",
        f"In place: the same work inside the engine's own runs (a chain of {args.blocks:,} "
        f"blocks, a `for_each` of {args.items:,} null items, concurrency 16), as shipped "
        "(logs, span ids, durable checkpoints and item rows on) and with stand-ins for the "
        "engine's code: *kept work* keeps each block's or item run's events and the call, "
        "*call only* keeps the call alone. In the chain, checkpoints, guards and the "
        "scheduler stay in all three; in the fan-out, its own work (its item rows, its "
        "`fan_out.item_succeeded` event, the workers) stays, and the stand-in item runs "
        "have no guard, hook, span, retry or result.",
        "",
        "| workload | as shipped µs | kept work µs | call only µs | events in place µs | goal |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for shape, label, goal in (
        ("chain", "chain, per block (2 events)", "≤ 45 µs/block"),
        ("items", "`for_each`, per item (5 events of its run)", "≤ 100 µs/item"),
    ):
        got = placed[shape]
        lines.append(
            f"| {label} | {got['as shipped']:.1f} | {got['kept work']:.1f} | "
            f"{got['call only']:.1f} | {got['kept work'] - got['call only']:.1f} | {goal} |"
        )
    print("\n".join(lines))
    if not args.no_write:
        write_section("Floor", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
