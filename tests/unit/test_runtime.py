"""Contract §6 and §7, §12 items 3, 4, 5, 9: lifecycle, retries, timeouts, envelopes,
parallel on_error handlers, panics, skipping, budgets."""

from __future__ import annotations

import asyncio
import types
from typing import Any

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.policy import DEFAULT_BACKOFF

# A small test family: blocks whose failures the tests script through their config.


@sdk.block_type("flaky", domain="custom:flaky", codes=["flaky.down", "flaky.bad"])
async def flaky(
    ctx: sdk.RunContext,
    value: sdk.Value,
    failures: int = 0,
    disposition: str = "backoff",
    code: str = "flaky.down",
    log: list[Any] | None = None,
) -> sdk.Value:
    """Fail `failures` times with `code`, then echo the input."""
    if log is not None:
        log.append(ctx.attempt)
    if ctx.attempt <= failures:
        raise sdk.BlockError(
            code,
            f"attempt {ctx.attempt} failed",
            retry_disposition=disposition,
            provider_status=503,
        )
    return value


@sdk.block_type("sleepy", domain="custom:sleepy", codes=["sleepy.never"])
async def sleepy(ctx: sdk.RunContext, value: sdk.Value, seconds: float = 0.0) -> sdk.Value:
    """Sleep, then echo."""
    await asyncio.sleep(seconds)
    return value


@sdk.block_type("rendezvous", domain="custom:rendezvous", codes=["rendezvous.fail"])
async def rendezvous(
    ctx: sdk.RunContext,
    value: sdk.Value,
    me: asyncio.Event | None = None,
    other: asyncio.Event | None = None,
    fail: bool = False,
    seen: list[Any] | None = None,
) -> sdk.Value:
    """Announce that this block runs, wait until the other one runs too, then finish.

    Two of these can only both finish if they run at the same time."""
    assert me is not None and other is not None
    if seen is not None:
        seen.append((ctx.block_id, ctx.error))
    me.set()
    await asyncio.wait_for(other.wait(), timeout=5)
    if fail:
        raise sdk.BlockError("rendezvous.fail", "handler failed on purpose")
    return sdk.Text("ok")


@pytest.fixture(autouse=True)
def test_family() -> None:
    plugin = types.SimpleNamespace()

    @sdk.hookimpl
    def register_block_types(registry: sdk.Registry) -> None:
        for bt in (flaky, sleepy, rendezvous):
            registry.add(bt)

    plugin.register_block_types = register_block_types
    ob.register_plugin(plugin, name="runtime-test-family")


def single(block: ob.Block, name: str = "single") -> ob.Workflow:
    w = ob.new_workflow(name)
    w.add(block)
    return w


def test_transitions_success_and_events() -> None:
    w = single(ob.Block.flaky())
    result = w.run("hi")
    assert result.status is ob.RunStatus.SUCCEEDED
    assert result.status == "succeeded"
    assert result.transitions == ("created", "running", "succeeded")
    names = [e["event"] for e in result.events]
    assert names == [
        "run.created",
        "run.started",
        "block.started",
        "block.succeeded",
        "run.succeeded",
    ]
    assert result.error is None


def test_transitions_failure() -> None:
    w = single(ob.Block.flaky(failures=1, disposition="never"))
    result = w.run()
    assert result.transitions == ("created", "running", "failed")
    assert result.events[-1]["event"] == "run.failed"
    assert result.events[-1]["code"] == "flaky.down"


def test_retries_are_bounded_and_carry_delay_metadata() -> None:
    attempts: list[int] = []
    blk = ob.Block.flaky(failures=10, log=attempts).set_retry_exponential(2, 5, 2.0, jitter=0.0)
    result = single(blk).run()
    assert result.status is ob.RunStatus.FAILED
    assert attempts == [1, 2, 3]  # first attempt + 2 retries
    scheduled = result.events_of("block.retry_scheduled")
    assert [e["delay_ms"] for e in scheduled] == [5, 10]
    assert [e["attempt"] for e in scheduled] == [1, 2]
    assert [e["next_attempt"] for e in scheduled] == [2, 3]
    failed = result.events_of("block.failed")
    assert [e["terminal"] for e in failed] == [False, False, True]
    assert result.error is not None and result.error.attempt == 3


def test_retry_then_success() -> None:
    attempts: list[int] = []
    blk = ob.Block.flaky(failures=2, log=attempts).set_retry_exponential(3, 1, 2.0)
    result = single(blk).run("payload")
    assert result.ok
    assert attempts == [1, 2, 3]
    assert result.output(blk) == "payload"


@pytest.mark.parametrize("disposition", ["never", "manual"])
def test_non_retryable_dispositions_are_not_retried(disposition: str) -> None:
    attempts: list[int] = []
    blk = ob.Block.flaky(failures=5, disposition=disposition, log=attempts).set_retry(3)
    result = single(blk).run()
    assert attempts == [1]
    assert result.events_of("block.retry_scheduled") == []
    assert result.error is not None
    assert result.error.retry_disposition == disposition


def test_immediate_disposition_retries_without_delay() -> None:
    attempts: list[int] = []
    blk = ob.Block.flaky(failures=1, disposition="immediate", log=attempts).set_retry(1)
    result = single(blk).run()
    assert result.ok and attempts == [1, 2]
    assert result.events_of("block.retry_scheduled")[0]["delay_ms"] == 0


def test_backoff_jitter_is_deterministic_per_run_id() -> None:
    def delays(run_id: str, mode: str = "new") -> list[int]:
        blk = ob.Block.flaky(failures=9).set_retry_exponential(3, 4, 2.0, jitter=0.5)
        result = single(blk, "jitter").run(run_id=run_id, mode=mode)  # type: ignore[arg-type]
        return [e["delay_ms"] for e in result.events_of("block.retry_scheduled")]

    # A retry of the failed run replays the same waits: the jitter is seeded by the run id.
    first, again, other = delays("run-a"), delays("run-a", "retry"), delays("run-b")
    assert first == again
    assert first != other
    for delay, base in zip(first, [4, 8, 16], strict=True):
        assert base * 0.5 <= delay <= base * 1.5


def test_default_backoff_matches_contract() -> None:
    bo = DEFAULT_BACKOFF
    assert (bo.kind, bo.base_ms, bo.factor, bo.jitter, bo.cap_ms) == (
        "exponential",
        1000,
        2.0,
        0.2,
        30_000,
    )
    # attempt 6 would be 32 s before the cap: capped at 30 s whatever the jitter draws
    assert all(bo.delay_ms(6, seed=f"s{i}") <= 30_000 for i in range(50))
    assert all(800 <= bo.delay_ms(1, seed=f"s{i}") <= 1200 for i in range(50))


def test_block_timeout_is_enforced_per_attempt_and_retried() -> None:
    blk = ob.Block.sleepy(seconds=5).set_timeout_ms(30).set_retry_exponential(1, 1, 1.0)
    result = single(blk).run()
    assert result.status is ob.RunStatus.FAILED
    env = result.error
    assert env is not None
    assert (env.code, env.origin, env.attempt) == ("runtime.timeout", "runtime", 2)
    assert env.details["timeout_ms"] == 30
    assert len(result.events_of("block.started")) == 2


def test_run_timeout_ends_timed_out() -> None:
    w = single(ob.Block.sleepy(seconds=5))
    result = w.run(timeout_ms=50)
    assert result.status is ob.RunStatus.TIMED_OUT
    assert result.transitions == ("created", "running", "timed_out")
    assert result.error is not None and result.error.code == "runtime.timeout"
    assert result.events[-1]["event"] == "run.timed_out"


def test_envelope_fields_for_block_error() -> None:
    w = ob.new_workflow("env")
    blk = ob.Block.flaky(failures=1, disposition="never").named("fetch")
    w.add(blk)
    result = w.run(run_id="fixed-run")
    env = result.error
    assert env is not None
    assert env.origin == "block"
    assert env.domain == "custom:flaky"
    assert env.code == "flaky.down"
    assert env.message == "attempt 1 failed"
    assert env.retry_disposition == "never"
    assert env.severity == "error"
    assert (env.workflow_id, env.run_id, env.block_id, env.attempt) == (
        "env",
        "fixed-run",
        "fetch",
        1,
    )
    assert env.provider_status == 503
    assert env.ts.endswith("Z")
    with pytest.raises(AttributeError):
        env.code = "other"  # type: ignore[misc]
    as_dict = env.to_dict()
    assert set(as_dict) >= {
        "origin",
        "domain",
        "code",
        "message",
        "retry_disposition",
        "severity",
        "workflow_id",
        "run_id",
        "block_id",
        "attempt",
        "provider_status",
        "ts",
    }
    assert ob.ErrorEnvelope.from_dict(as_dict) == env


def test_non_block_error_becomes_runtime_panic() -> None:
    def broken(_: object) -> None:
        return {}["missing"]  # type: ignore[return-value]

    @sdk.block_type("explodes", codes=["explodes.never"])
    def explodes(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Raise a bare exception."""
        raise ZeroDivisionError("division by zero")

    ob.register_plugin(
        types.SimpleNamespace(
            register_block_types=sdk.hookimpl(lambda registry: registry.add(explodes))
        ),
        name="explodes",
    )
    result = single(ob.Block.explodes().set_retry(3)).run()
    env = result.error
    assert env is not None
    assert (env.origin, env.code, env.domain) == ("runtime", "runtime.panic", None)
    assert env.details["exception_type"] == "builtins.ZeroDivisionError"
    assert env.attempt == 1  # a panic is never retried

    transform = single(ob.Block.custom_transform(broken)).run()
    assert transform.error is not None
    assert transform.error.code == "transform.execution_failed"
    assert "KeyError" in transform.error.message


def test_undeclared_code_is_kept_and_flagged() -> None:
    result = single(ob.Block.flaky(failures=1, code="flaky.surprise", disposition="never")).run()
    assert result.error is not None
    assert result.error.code == "flaky.surprise"
    assert result.error.details["undeclared_code"] is True
    assert result.events_of("block.undeclared_code")


def test_parallel_handlers_one_fails_one_succeeds() -> None:
    a_running, b_running = asyncio.Event(), asyncio.Event()
    seen: list[Any] = []
    w = ob.new_workflow("handlers")
    src = ob.Block.flaky(failures=1, disposition="never").named("src")
    ok_handler = ob.Block.rendezvous(me=a_running, other=b_running, seen=seen).named("ok")
    bad_handler = ob.Block.rendezvous(me=b_running, other=a_running, fail=True, seen=seen).named(
        "bad"
    )
    w.on_error(src, ok_handler)
    w.on_error(src, bad_handler)
    result = w.run()
    # Each handler waited for the other to be running: they ran in parallel.
    assert result.status is ob.RunStatus.FAILED
    assert result.error is not None and result.error.code == "flaky.down"
    started = result.events_of("on_error.handler_started")
    assert {e["block_id"] for e in started} == {"ok", "bad"}
    assert all(e["source_block_id"] == "src" and e["code"] == "flaky.down" for e in started)
    assert [e["block_id"] for e in result.events_of("on_error.handler_succeeded")] == ["ok"]
    failed = result.events_of("on_error.handler_failed")
    assert [e["block_id"] for e in failed] == ["bad"]
    assert failed[0]["code"] == "rendezvous.fail"
    assert failed[0]["handled_code"] == "flaky.down"
    # Both got the very same frozen envelope object.
    envelopes = [env for _, env in seen]
    assert envelopes[0] is envelopes[1] is result.error
    assert result.output(ok_handler) == "ok"


def test_handler_input_is_the_envelope_as_dict() -> None:
    got: list[Any] = []
    w = ob.new_workflow("hin")
    src = ob.Block.flaky(failures=1, disposition="never")
    w.on_error(src, ob.Block.custom_transform(lambda env: got.append(env)))
    w.run()
    assert got[0]["code"] == "flaky.down" and got[0]["origin"] == "block"
    assert got[0]["workflow_id"] == "hin"


def test_run_stays_failed_when_handlers_succeed_and_downstream_is_skipped() -> None:
    ran: list[str] = []
    w = ob.new_workflow("skip")
    src = ob.Block.flaky(failures=1, disposition="never").named("src")
    after = ob.Block.custom_transform(lambda p: ran.append("after")).named("after")
    later = ob.Block.custom_transform(lambda p: ran.append("later")).named("later")
    side = ob.Block.custom_transform(lambda p: ran.append("side") or "side").named("side")
    w.link(src, after)
    w.link(after, later)
    w.add(side)  # an independent branch: it still runs
    w.on_error(src, ob.Block.custom_transform(lambda env: "handled"))
    result = w.run()
    assert result.status is ob.RunStatus.FAILED
    assert ran == ["side"]
    skipped = result.events_of("block.skipped")
    assert {e["block_id"] for e in skipped} == {"after", "later"}
    assert result.output(side) == "side"


def test_independent_branches_run_concurrently() -> None:
    left_running, right_running = asyncio.Event(), asyncio.Event()
    w = ob.new_workflow("branches")
    start = ob.Block.custom_transform(lambda p: p)
    w.link(start, ob.Block.rendezvous(me=left_running, other=right_running))
    w.link(start, ob.Block.rendezvous(me=right_running, other=left_running))
    assert w.run().ok


def test_block_with_several_predecessors_gets_a_list_in_link_order() -> None:
    w = ob.new_workflow("join")
    a = ob.Block.custom_transform(lambda p: "a")
    b = ob.Block.custom_transform(lambda p: {"b": 1})
    joined = ob.Block.combine(mode="list")
    w.link(b, joined)
    w.link(a, joined)
    assert w.run().output(joined) == [{"b": 1}, "a"]


def test_entry_blocks_receive_the_run_input() -> None:
    w = ob.new_workflow("input")
    first = ob.Block.custom_transform(lambda p: p)
    w.add(first)
    assert w.run({"k": 1}).output(first) == {"k": 1}
    assert w.run().output(first) is None
    assert w.run(b"\x00").output(first) == b"\x00"


def test_iteration_budget_ends_runaway_run() -> None:
    blk = ob.Block.flaky(failures=100, disposition="immediate").set_retry(50)
    w = single(blk).set_iteration_budget(5)
    result = w.run()
    assert result.status is ob.RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "graph.iteration_budget_exceeded"
    assert len(result.events_of("block.started")) == 5


def test_contextvars_enrich_block_logs_in_concurrent_branches() -> None:
    @sdk.block_type("chatty", codes=["chatty.never"])
    async def chatty(ctx: sdk.RunContext, value: sdk.Value, tag: str = "") -> sdk.Value:
        """Log a line from inside the block."""
        await asyncio.sleep(0.01)
        ctx.log.info("chatty.said", tag=tag)
        return value

    ob.register_plugin(
        types.SimpleNamespace(
            register_block_types=sdk.hookimpl(lambda registry: registry.add(chatty))
        ),
        name="chatty",
    )
    w = ob.new_workflow("enrich")
    start = ob.Block.custom_transform(lambda p: p)
    for tag in ("x", "y", "z"):
        w.link(start, ob.Block.chatty(tag=tag).named(f"chatty_{tag}"))
    result = w.run()
    said = result.events_of("chatty.said")
    assert len(said) == 3
    for e in said:
        assert e["block_id"] == f"chatty_{e['tag']}"
        assert e["workflow_id"] == "enrich" and e["run_id"] == result.run_id
        assert e["attempt"] == 1


def test_every_event_has_correlation_fields() -> None:
    result = single(ob.Block.flaky(failures=1).set_retry_exponential(1, 1, 1.0)).run()
    fields = [
        "workflow_id",
        "run_id",
        "block_id",
        "attempt",
        "origin",
        "domain",
        "code",
        "trace_id",
        "span_id",
        "ts",
    ]
    for e in result.events:
        assert all(f in e for f in fields), e
        assert e["run_id"] == result.run_id
    failed = result.events_of("block.failed")[0]
    assert (failed["origin"], failed["domain"], failed["code"]) == (
        "block",
        "custom:flaky",
        "flaky.down",
    )
