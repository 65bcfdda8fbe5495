"""``serve``: cron firings (no overlap, missed firings once), event triggers exactly once
across restarts, verify checks, clean shutdown on SIGTERM — in-process and as a subprocess."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.app.serve import Server
from orchestrator_blocks.app.serve.triggers import CronTrigger, EventTrigger
from orchestrator_blocks.app.store import forget_stores, open_store
from orchestrator_blocks.kernel.config import load_settings

T0 = datetime(2026, 11, 23, 9, 0, 0, tzinfo=UTC)


def _every_second(config, after: datetime) -> datetime:
    return after.replace(microsecond=0) + timedelta(seconds=1)


def _register_tick() -> None:
    @sdk.block_type("tick", domain="custom:tick", codes=[], next_fire=_every_second)
    def tick(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
        """A trigger firing every second (emits its input, the firing time)."""
        return value

    @sdk.block_type("nap", domain="custom:nap", codes=[])
    async def nap(ctx: sdk.RunContext, value: sdk.Value, seconds: float) -> sdk.Value:
        """Sleep, to keep a run in flight."""
        await asyncio.sleep(seconds)
        return value

    plugin = types.ModuleType("tick_plugin")
    plugin.register_block_types = sdk.hookimpl(
        lambda registry: (registry.add(tick), registry.add(nap))
    )
    ob.register_plugin(plugin)


def _quiet(_line: str) -> None:
    return None


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t


def _ticking(name: str, nap: float = 0.0) -> ob.Workflow:
    w = ob.new_workflow(name)
    w.link(ob.Block.tick().named("trigger"), ob.Block.nap(nap))
    return w


async def test_missed_firings_after_a_sleep_run_once() -> None:
    _register_tick()
    clock = FakeClock(T0)
    w = _ticking("sleepy")
    cron = CronTrigger()
    server = Server([(None, w)], load_settings(), None, triggers=[cron], now=clock, say=_quiet)
    assert cron.schedules[0].next_at == T0 + timedelta(seconds=1)

    clock.t = T0 + timedelta(hours=1, milliseconds=300)  # the laptop slept for an hour
    await cron.tick(clock.t)
    assert len(server._tasks) == 1  # 3600 missed firings, one run
    assert cron.schedules[0].next_at == T0 + timedelta(hours=1, seconds=1)
    results = await asyncio.gather(*server._tasks)
    assert results[0].ok
    assert results[0].output("trigger") == "2026-11-23T09:00:01Z"  # the firing time


async def test_a_due_firing_is_skipped_while_the_previous_run_goes_on() -> None:
    _register_tick()
    clock = FakeClock(T0)
    slow = _ticking("slow", nap=0.5)
    overlapping = _ticking("overlapping", nap=0.5).set_allow_overlap()
    lines: list[str] = []
    cron = CronTrigger()
    workflows = [(None, slow), (None, overlapping)]
    server = Server(workflows, load_settings(), None, triggers=[cron], now=clock, say=lines.append)

    clock.t = T0 + timedelta(seconds=1)
    await cron.tick(clock.t)
    clock.t = T0 + timedelta(seconds=2)
    await cron.tick(clock.t)  # both first runs are still napping
    assert len(server.served[0].running) == 1
    assert len(server.served[1].running) == 2
    await server.drain()
    assert sum("slow: run" in line for line in lines) == 1
    assert sum("overlapping: run" in line for line in lines) == 2


async def test_stop_finishes_runs_in_flight() -> None:
    _register_tick()
    w = _ticking("finisher", nap=0.3)
    clock = FakeClock(T0)
    lines: list[str] = []
    server = Server(
        [(None, w)], load_settings(), None, triggers=[CronTrigger()], now=clock, say=lines.append
    )
    server.poll_s = 0.05
    clock.t = T0 + timedelta(seconds=1)
    task = asyncio.create_task(server.run())
    await asyncio.sleep(0.1)
    server.stop()
    await task
    assert any("finisher: run" in line and "succeeded" in line for line in lines)


async def test_event_triggered_workflow_runs_once_per_matching_event() -> None:
    seen: list[object] = []
    w = ob.new_workflow("on_signup").trigger_on_event(
        "customer.signed_up", filter='payload["plan"] == "trial"'
    )
    w.add(ob.Block.custom_transform(lambda p: seen.append(p) or p))
    store = open_store(load_settings())
    store.ledger.record("customer.signed_up", {"plan": "trial", "id": 1}, "signup-1")
    store.ledger.record("customer.signed_up", {"plan": "pro", "id": 2}, "signup-2")
    store.ledger.record("customer.left", {"plan": "trial", "id": 3}, "left-3")

    for _ in range(2):  # a second server (a restart) delivers nothing again
        events = EventTrigger()
        server = Server([(None, w)], load_settings(), store, triggers=[events], say=_quiet)
        await events.tick(T0)
        await server.drain()
    assert seen == [{"plan": "trial", "id": 1}]


# -- as users run it: a subprocess ---------------------------------------------------------


def _serve(workflows: Path, home: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, ORCHESTRATOR_BLOCKS_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator_blocks",
            "serve",
            "--dir",
            str(workflows),
            "--poll",
            "0.1",
            "--verify-minutes",
            "off",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _runs(home: Path, workflow: str) -> list[str]:
    db = home / "state.db"
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT status FROM workflow_run_log WHERE workflow_type = ?", (workflow,)
            )
        ]
    except sqlite3.OperationalError:
        return []
    finally:
        conn.close()


def _wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    return proc.returncode, out


def test_serve_fires_a_cron_workflow_every_second_and_stops_cleanly(
    tmp_path: Path, isolated_home: Path
) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "heartbeat.py").write_text(
        textwrap.dedent("""
        import orchestrator_blocks as ob

        workflow = ob.new_workflow("heartbeat")
        workflow.link(ob.Block.cron("* * * * * *"), ob.Block.custom_transform(lambda t: t))
    """)
    )
    (workflows / "broken.py").write_text("raise RuntimeError('nope')\n")
    proc = _serve(workflows, isolated_home)
    try:
        assert _wait_for(lambda: len(_runs(isolated_home, "heartbeat")) >= 2), "never fired"
    finally:
        code, out = _stop(proc)
    assert code == 0, out
    assert "skipped: " in out and "broken.py" in out  # a bad file is reported, not fatal
    assert "serving heartbeat" in out
    assert "received SIGTERM" in out and out.rstrip().endswith("stopped")
    assert set(_runs(isolated_home, "heartbeat")) == {"succeeded"}


def test_an_event_starts_its_workflow_once_across_a_serve_restart(
    tmp_path: Path, isolated_home: Path, cli
) -> None:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (workflows / "welcome.py").write_text(
        textwrap.dedent("""
        import orchestrator_blocks as ob

        workflow = ob.new_workflow("welcome").trigger_on_event("customer.signed_up")
        workflow.add(ob.Block.custom_transform(lambda p: p["email"]))
    """)
    )
    assert (
        cli(
            "events",
            "record",
            "customer.signed_up",
            "--key",
            "c1",
            "--payload",
            '{"email": "a@example.test"}',
        ).code
        == 0
    )
    forget_stores()
    first = _serve(workflows, isolated_home)
    try:
        assert _wait_for(lambda: len(_runs(isolated_home, "welcome")) == 1)
    finally:
        assert _stop(first)[0] == 0

    assert (
        cli(
            "events",
            "record",
            "customer.signed_up",
            "--key",
            "c2",
            "--payload",
            '{"email": "b@example.test"}',
        ).code
        == 0
    )
    forget_stores()
    second = _serve(workflows, isolated_home)
    try:
        assert _wait_for(lambda: len(_runs(isolated_home, "welcome")) == 2)
        time.sleep(1.0)  # give a wrong second delivery of c1 the chance to happen
    finally:
        assert _stop(second)[0] == 0
    assert _runs(isolated_home, "welcome") == ["succeeded", "succeeded"]


def test_serve_refuses_a_missing_directory(cli, tmp_path: Path) -> None:
    result = cli("serve", "--dir", str(tmp_path / "nope"))
    assert result.code == 2
    assert "no such directory" in result.err
    assert "\n" not in result.err.strip()
