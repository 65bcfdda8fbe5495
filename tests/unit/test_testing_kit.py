"""The plugin author's test kit (``orchestrator_blocks.sdk.testing``), used as an author would:
fixtures from the pytest plugin the suite enables, a family declared in the test module."""

from __future__ import annotations

import asyncio
import time
import types

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.redaction import REDACTED
from orchestrator_blocks.sdk.testing import FakeClock, value_of

ECHO = sdk.family(
    "echo",
    codes=[
        sdk.Code("echo.busy", "backoff", "the echo service is busy"),
        sdk.Code("echo.refused", "never", "the echo service refused"),
    ],
    retries=2,
    backoff=sdk.Backoff.exponential(1_000, 2.0, jitter=0.0),
)
BUSY_FOR: dict[str, int] = {}


@ECHO.block_type("echo_say")
async def echo_say(
    ctx: sdk.RunContext, value: sdk.Value, policy: str = "p", env: str = "e", *, busy: int = 0
) -> sdk.Value:
    """Echo the input, busy for the first ``busy`` attempts; log the config it got."""
    ctx.log.info(
        "echo.said",
        policy=policy,
        env=env,
        api_token="tok-123",
        url="https://user:pw@example.com/x?sig=abc",
    )
    if ctx.attempt <= busy:
        raise sdk.BlockError("echo.busy", f"busy on attempt {ctx.attempt}")
    return sdk.Text(f"{value.text()}|{policy}|{env}")


ECHO_PLUGIN = types.ModuleType("echo_plugin")
ECHO_PLUGIN.register_block_types = sdk.hookimpl(lambda registry: registry.add(ECHO))


@pytest.fixture
def plugins_under_test() -> list[object]:
    return [ECHO_PLUGIN]


@pytest.fixture
def builtin_plugins() -> list[str]:
    return ["transform"]


def test_config_keys_named_like_harness_options_reach_the_block(block_harness) -> None:
    outcome = block_harness.run(echo_say, "hi", config={"policy": "P", "env": "E"})
    assert value_of(outcome) == sdk.Text("hi|P|E")


def test_backoff_sleeps_are_instant_and_recorded_exactly(block_harness, fake_clock) -> None:
    started = time.monotonic()
    outcome = block_harness.run(echo_say, "hi", config={"busy": 2})
    assert outcome.ok and outcome.attempts == 3
    assert fake_clock.delays_ms == [1_000, 2_000] == block_harness.delays_ms
    assert fake_clock.monotonic() == 3.0
    assert (fake_clock.now() - FakeClock().now()).total_seconds() == 3.0
    assert time.monotonic() - started < 1.0


def test_captured_logs_are_redacted_like_the_engines(block_harness) -> None:
    block_harness.run(echo_say, "hi")
    [said] = block_harness.logs.named("echo.said")
    assert said["api_token"] == REDACTED
    assert "pw" not in said["url"] and "abc" not in said["url"]
    assert said["block_id"] == "echo_say" and said["attempt"] == 1


def test_the_fake_clock_moves_only_when_something_sleeps() -> None:
    clock = FakeClock()
    start = clock.now()
    asyncio.run(clock.sleep(1.5))
    clock.advance(0.5)
    assert (clock.now() - start).total_seconds() == 2.0
    assert clock.delays_ms == [1_500]
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)


def test_harness_env_and_services_reach_the_context(block_harness) -> None:
    seen = {}

    class Desk:
        pass

    @sdk.block_type("peek_env", codes=[sdk.Code("peek_env.x", "never", "never raised")])
    def peek_env(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Read a setting and a service."""
        seen["token"] = ctx.settings.get("GITHUB_TOKEN")
        seen["desk"] = ctx.service(Desk)
        return sdk.Empty()

    desk = Desk()
    block_harness.services[Desk] = desk
    block_harness.run(peek_env, env={"ORCHESTRATOR_BLOCKS_GITHUB_TOKEN": "t"})
    assert seen == {"token": "t", "desk": desk}


def test_run_workflow_registers_only_the_plugin_under_test_and_chosen_builtins(
    run_workflow, fake_clock
) -> None:
    assert set(run_workflow.registry.type_ids()) == {
        "echo_say",
        "combine",
        "custom_transform",
        "markdown_to_html",
        "rss_parse",
        "select_first",
        "split_by_keys",
        "split_lines",
    }
    with pytest.raises(ob.UnknownBlockType, match="http_request"):
        ob.Block.http_request("http://127.0.0.1:9/")
    w = ob.new_workflow("echo")
    say = ob.Block.echo_say(busy=1).named("say")
    shout = ob.Block.custom_transform(str.upper)
    w.link(say, shout)
    result = run_workflow(w, "hi")
    assert result.ok, result.error
    assert result.output(shout) == "HI|P|E"
    assert [e["delay_ms"] for e in result.events_of("block.retry_scheduled")] == [1_000]
    assert fake_clock.delays_ms == [1_000]


def test_run_workflow_uses_its_own_home_and_settings(run_workflow, tmp_path) -> None:
    seen = {}

    @sdk.block_type("where", codes=[sdk.Code("where.x", "never", "never raised")])
    def where(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """Report the home and a setting."""
        seen.update(home=ctx.settings.home, token=ctx.settings.get("TOKEN"))
        return sdk.Empty()

    plugin = types.ModuleType("where_plugin")
    plugin.register_block_types = sdk.hookimpl(lambda registry: registry.add(where))
    ob.register_plugin(plugin)  # registers with the runner's host while it is active
    w = ob.new_workflow("where")
    w.add(ob.Block.where())
    assert run_workflow(w, env={"ORCHESTRATOR_BLOCKS_TOKEN": "t"}).ok
    assert seen == {"home": run_workflow.home, "token": "t"}
    assert run_workflow.home.is_relative_to(tmp_path)


def test_an_unknown_builtin_is_a_clear_error(tmp_path) -> None:
    from orchestrator_blocks.sdk.testing import WorkflowRunner

    with pytest.raises(LookupError, match="no_such_family: no such entry point"):
        WorkflowRunner(tmp_path, FakeClock(), builtins=["transform", "no_such_family"])
