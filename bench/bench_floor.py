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
per item. Rewrites
the "Floor" section of bench/RESULTS.md.

    python bench/bench_floor.py [--events 20000] [--blocks 1000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
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
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("Floor", "\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
