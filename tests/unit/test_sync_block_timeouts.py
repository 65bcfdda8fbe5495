"""Sync blocks obey timeouts: a sync body runs in a worker thread while a block timeout or
the run's timeout may have to end it, so the attempt fails on time and the other branches of
the run go on; the abandoned thread's late result is discarded and logged.

Timing bounds are generous (2 shared cores): a 2 s body must end the run in under 1.5 s.
Overlap is proven by what the sibling saw (the slow body running), not by sleeps."""

from __future__ import annotations

import asyncio
import json
import textwrap
import threading
import time
import types
from pathlib import Path

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk

WORKFLOW = """
import asyncio
import time
import types
from pathlib import Path

import orchestrator_blocks as ob

MARK = Path({mark!r})
state = {{"slow_started": False, "slow_finished": False}}


def slow(payload):
    state["slow_started"] = True
    time.sleep(2.0)
    state["slow_finished"] = True
    return "late"


async def sibling(payload):
    for _ in range(400):  # up to 4 s for the slow body to start
        if state["slow_started"]:
            break
        await asyncio.sleep(0.01)
    overlapped = state["slow_started"] and not state["slow_finished"]
    MARK.write_text("overlapped" if overlapped else "after")
    return "done"


workflow = ob.new_workflow("sync_timeouts")
slow_block = ob.Block.custom_transform(slow).named("slow")
{timeout}
workflow.add(slow_block)
workflow.add(ob.Block.custom_transform(sibling).named("sibling"))
"""


def _workflow_file(tmp_path: Path, *, block_timeout_ms: int | None) -> tuple[Path, Path]:
    mark = tmp_path / "sibling.txt"
    timeout = f"slow_block.set_timeout_ms({block_timeout_ms})" if block_timeout_ms else ""
    path = tmp_path / "wf.py"
    path.write_text(textwrap.dedent(WORKFLOW).format(mark=str(mark), timeout=timeout))
    return path, mark


def test_a_sync_block_past_its_timeout_fails_on_time_while_its_sibling_completes(
    tmp_path: Path, cli
) -> None:
    path, mark = _workflow_file(tmp_path, block_timeout_ms=300)
    started = time.monotonic()
    res = cli("run", str(path), "--json")
    elapsed = time.monotonic() - started
    assert res.code == 1, res
    summary = json.loads(res.out)
    assert summary["status"] == "failed"
    assert summary["error"]["block_id"] == "slow"
    assert summary["error"]["code"] == "runtime.timeout"
    assert summary["blocks"] == {"succeeded": 1, "failed": 1}
    assert mark.read_text() == "overlapped"  # the sibling ran while the slow body did
    assert elapsed < 1.5, elapsed


def test_a_run_timeout_ends_a_run_stuck_in_a_sync_block_on_time(tmp_path: Path, cli) -> None:
    path, mark = _workflow_file(tmp_path, block_timeout_ms=None)
    started = time.monotonic()
    res = cli("run", str(path), "--timeout-ms", "600", "--json")
    elapsed = time.monotonic() - started
    assert res.code == 1, res
    summary = json.loads(res.out)
    assert summary["status"] == "timed_out"
    assert summary["error"]["code"] == "runtime.timeout"
    assert mark.read_text() == "overlapped"
    assert elapsed < 1.5, elapsed


@sdk.block_type("held_sync", timeout_ms=200)
def held_sync(ctx: sdk.RunContext, value: sdk.Value, release: threading.Event) -> sdk.Value:
    """A sync SDK block that holds its thread until the test releases it."""
    release.wait(10)
    return sdk.Text("too late")


@sdk.hookimpl
def _register(registry: sdk.Registry) -> None:
    registry.add(held_sync)


def test_a_sync_sdk_block_times_out_and_its_late_result_is_discarded_and_logged(cli) -> None:
    ob.register_plugin(types.SimpleNamespace(register_block_types=_register), name="held")
    release = threading.Event()
    w = ob.new_workflow("held")
    blk = ob.Block.held_sync(release).named("held")
    w.add(blk)

    async def scenario() -> ob.RunResult:
        result = await w.run_async()
        release.set()  # the abandoned thread now finishes, while this loop still runs
        return result

    result = asyncio.run(scenario())
    assert result.status == "failed"
    assert result.error is not None and result.error.code == "runtime.timeout"
    assert result.output(blk) is None

    deadline = time.monotonic() + 10
    late: list[dict[str, object]] = []
    while not late and time.monotonic() < deadline:
        lines = cli("logs", result.run_id, "--json").out.splitlines()
        late = [
            e
            for e in map(json.loads, filter(None, lines))
            if e["event"] == "block.abandoned_thread_finished"
        ]
        time.sleep(0.05)
    assert len(late) == 1, "the late finish was not logged"
    assert late[0]["block_id"] == "held" and late[0]["outcome"] == "returned"


def test_sync_blocks_without_a_timeout_run_inline_on_the_loop_thread() -> None:
    """No timeout, no run deadline: nothing could end the call early, so no thread hop."""
    seen: list[str] = []
    w = ob.new_workflow("inline")
    w.add(ob.Block.custom_transform(lambda p: seen.append(threading.current_thread().name)))
    assert w.run().status == "succeeded"
    assert seen == [threading.main_thread().name]


@pytest.mark.parametrize("fn_kind", ["sync", "async"])
def test_custom_transform_with_a_timeout_returns_what_fn_returns(fn_kind: str) -> None:
    async def async_double(p: int) -> int:
        await asyncio.sleep(0)
        return p * 2

    fn = (lambda p: p * 2) if fn_kind == "sync" else async_double
    w = ob.new_workflow("doubled")
    blk = ob.Block.custom_transform(fn).set_timeout_ms(5_000)
    w.add(blk)
    result = w.run(21)
    assert result.status == "succeeded", result.error
    assert result.output(blk) == 42
