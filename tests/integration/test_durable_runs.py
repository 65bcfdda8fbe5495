"""Durable runs through the CLI, on SQLite and PostgreSQL: retry from failure, changed
workflow files, one owner at a time, cancel, and a code-built run whose owner died."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

CHAIN = """
import os
from pathlib import Path

import orchestrator_blocks as ob

LOG = Path(os.environ["CHAIN_LOG"])
FAIL_ONCE = Path(os.environ["CHAIN_FAIL"])


def step(name):
    def run(value):
        with LOG.open("a") as f:
            f.write(name + "\\n")
        if name == "b3" and FAIL_ONCE.exists():
            FAIL_ONCE.unlink()
            raise RuntimeError("b3 breaks once")
        return f"{value}>{name}"

    return ob.Block.custom_transform(run).named(name)


workflow = ob.new_workflow("chain5")
blocks = [step(f"b{i}") for i in range(1, 6)]
for a, b in zip(blocks, blocks[1:]):
    workflow.link(a, b)
"""

GATED = """
import time

import orchestrator_blocks as ob

workflow = ob.new_workflow("gated").set_risk_level(3)
gate = ob.Block.hitl_gate("gated_action").named("gate")
slow = ob.Block.custom_transform(lambda v: time.sleep(SLEEP) or "done").named("after")
workflow.link(gate, slow)
"""


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[Path]:
    """A workflows directory, an approver, and the store on SQLite or PostgreSQL."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_DB_URL", url)
    flows = tmp_path / "workflows"
    flows.mkdir()
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_WORKFLOWS_DIR", str(flows))
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    yield flows
    from orchestrator_blocks.app.store import forget_stores

    forget_stores()


def _write(flows: Path, name: str, text: str, **values: object) -> Path:
    body = textwrap.dedent(text)
    for key, value in values.items():
        body = body.replace(key, repr(value))
    path = flows / name
    path.write_text(body)
    return path


def _proposal_of(run_id: str) -> int:
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings

    store = open_store(load_settings())
    return next(p.id for p in store.proposals.list(limit=100) if p.run_id == run_id)


def _ledger_of(run_id: str) -> list[str]:
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings

    events = open_store(load_settings()).ledger.list(after_id=0)
    return [e.event_type for e in events if e.run_id == run_id]


def test_retry_reruns_the_failed_block_and_what_follows_only(
    cli, store_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log, fail = tmp_path / "chain.log", tmp_path / "fail-once"
    fail.touch()
    monkeypatch.setenv("CHAIN_LOG", str(log))
    monkeypatch.setenv("CHAIN_FAIL", str(fail))
    flow = _write(store_env, "chain5.py", CHAIN)

    first = cli("run", str(flow), "--text", "x", "--json")
    assert first.code == 1, first
    summary = json.loads(first.out)
    assert summary["status"] == "failed" and summary["error"]["block_id"] == "b3"
    run_id = summary["run_id"]

    again = cli("runs", "retry", run_id[:12], "--json")
    assert again.code == 0, again
    assert json.loads(again.out)["status"] == "succeeded"
    # Blocks 1-2 ran once (their checkpointed outputs were reused); 3-5 ran again.
    assert log.read_text().split() == ["b1", "b2", "b3", "b3", "b4", "b5"]

    listed = json.loads(cli("runs", "--json").out)
    row = next(r for r in listed if r["run_id"] == run_id)
    assert (row["status"], row["attempt"]) == ("succeeded", 2)
    shown = cli("logs", run_id).out
    assert "pass 1 (attempt 1)" in shown and ": failed" in shown
    assert "pass 2 (attempt 2)" in shown and "2 block(s) restored: succeeded" in shown
    assert _ledger_of(run_id) == ["workflow.failed", "workflow.completed"]  # one per attempt

    nothing = cli("runs", "retry", run_id)
    assert nothing.code == 2 and "only failed, partial" in nothing.err


def test_a_changed_workflow_file_is_refused_then_resumes_once_restored(
    cli, store_env: Path
) -> None:
    flow = _write(store_env, "gated.py", GATED, SLEEP=0)
    original = flow.read_bytes()
    first = cli("run", str(flow), "--json")
    run_id = json.loads(first.out)["run_id"]
    assert json.loads(first.out)["status"] == "awaiting_approval"
    assert cli("approvals", "approve", str(_proposal_of(run_id)), "--as", "mike").code == 0

    flow.write_bytes(original + b"# edited after the run started\n")
    refused = cli("runs", "resume", run_id)
    assert refused.code == 2
    assert len(refused.err.strip().splitlines()) == 1
    assert hashlib.sha256(original).hexdigest() in refused.err
    assert hashlib.sha256(flow.read_bytes()).hexdigest() in refused.err
    assert "restore the file" in refused.err

    flow.write_bytes(original)
    resumed = cli("runs", "resume", run_id, "--json")
    assert resumed.code == 0, resumed
    assert json.loads(resumed.out)["status"] == "succeeded"
    assert _ledger_of(run_id).count("workflow.completed") == 1


def _subprocess_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def _cli_proc(*args: str, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "orchestrator_blocks", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_subprocess_env(**extra),
    )


def test_two_resumes_at_once_have_one_owner_and_one_ledger_event(cli, store_env: Path) -> None:
    flow = _write(store_env, "gated.py", GATED, SLEEP=2.0)
    run_id = json.loads(cli("run", str(flow), "--json").out)["run_id"]
    assert cli("approvals", "approve", str(_proposal_of(run_id)), "--as", "mike").code == 0

    procs = [_cli_proc("runs", "resume", run_id) for _ in range(2)]
    outcomes = [(p.wait(timeout=120), *p.communicate()) for p in procs]
    codes = sorted(code for code, _out, _err in outcomes)
    assert codes == [0, 2], outcomes
    loser = next(err for code, _out, err in outcomes if code == 2)
    assert len(loser.strip().splitlines()) == 1
    assert "being run by" in loser or "nothing to continue" in loser
    workflow_events = [e for e in _ledger_of(run_id) if e.startswith("workflow.")]
    assert workflow_events == ["workflow.completed"]


def _wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _status(run_id: str) -> str | None:
    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings

    row = open_store(load_settings()).durable.get(run_id)
    return row.shown_status if row is not None else None


SLEEPER = """
import os, sys, time
import orchestrator_blocks as ob

w = ob.new_workflow("built_in_code")
w.add(ob.Block.custom_transform(lambda v: time.sleep(60)).named("nap"))
print("run", flush=True)
w.run(run_id=sys.argv[1])
"""


def test_a_code_built_run_whose_owner_died_says_so(cli, store_env: Path, tmp_path: Path) -> None:
    script = tmp_path / "sleeper.py"
    script.write_text(textwrap.dedent(SLEEPER))
    run_id = "01CODEBUILT000000000000001"
    proc = subprocess.Popen(
        [sys.executable, str(script), run_id],
        stdout=subprocess.PIPE,
        text=True,
        env=_subprocess_env(ORCHESTRATOR_BLOCKS_LEASE_S="1"),
    )
    try:
        _wait_for(lambda: _status(run_id) == "running", 60, "the run to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    _wait_for(lambda: "owner lost" in (_status(run_id) or ""), 10, "the lease to expire")
    listed = cli("runs").out
    assert "running (owner lost; built in code, nothing to reload)" in listed
    refused = cli("runs", "resume", run_id)
    assert refused.code == 2 and "built in code" in refused.err
    # A human ends it: its run-log row and its one ledger event are written.
    ended = cli("runs", "cancel", run_id)
    assert ended.code == 0 and "canceled" in ended.out
    assert _status(run_id) == "canceled"
    assert _ledger_of(run_id) == ["workflow.failed"]


NAPPER = """
import asyncio
import orchestrator_blocks as ob

async def nap(value):
    await asyncio.sleep(60)

workflow = ob.new_workflow("napper")
workflow.add(ob.Block.custom_transform(nap).named("nap"))
"""


def test_ctrl_c_records_the_run_as_canceled_in_the_run_log_and_the_ledger(
    store_env: Path,
) -> None:
    """An interrupted run (Ctrl-C) is logged like every other execution: its run-log row,
    its ledger event and its durable status say ``canceled``."""
    flow = _write(store_env, "napper.py", NAPPER)
    proc = _cli_proc("run", str(flow), "--json")
    try:
        from orchestrator_blocks.app.store import open_store
        from orchestrator_blocks.kernel.config import load_settings

        store = open_store(load_settings())
        _wait_for(lambda: bool(store.durable.recent(workflow="napper")), 60, "the run to start")
        run_id = store.durable.recent(workflow="napper")[0].run_id
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
        _, err = proc.communicate()
    finally:
        proc.kill()
    assert code == 130, err
    assert _status(run_id) == "canceled"
    logged = store.runs.get(run_id)
    assert logged is not None and logged["status"] == "canceled", logged
    assert _ledger_of(run_id) == ["workflow.failed"]


def test_cancel_stops_a_live_run_at_its_next_heartbeat(cli, store_env: Path) -> None:
    flow = _write(store_env, "napper.py", NAPPER)
    proc = _cli_proc("run", str(flow), "--json", ORCHESTRATOR_BLOCKS_LEASE_S="1.5")
    try:
        from orchestrator_blocks.app.store import open_store
        from orchestrator_blocks.kernel.config import load_settings

        durable = open_store(load_settings()).durable
        _wait_for(lambda: bool(durable.recent(workflow="napper")), 60, "the run to start")
        run_id = durable.recent(workflow="napper")[0].run_id
        asked = cli("runs", "cancel", run_id)
        assert asked.code == 0 and "cancel requested" in asked.out
        code = proc.wait(timeout=30)
        out, _ = proc.communicate()
    finally:
        proc.kill()
    assert code == 1
    assert json.loads(out)["status"] == "canceled"
    assert _status(run_id) == "canceled"
    assert _ledger_of(run_id) == ["workflow.failed"]
    again = cli("runs", "cancel", run_id)
    assert again.code == 2 and "already ended" in again.err
