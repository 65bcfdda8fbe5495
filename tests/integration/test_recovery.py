"""Runs survive their process: real ``serve`` processes, killed with SIGKILL at random points.

Invariants checked after every kill: no recipient emailed twice, every recipient either
emailed once or reported ``unknown`` (at most ``concurrency`` per kill), every run ends
without a human, and the run's context was fetched once per run (not per recovery).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from support.http_server import Reply, ScriptedHTTPServer
from support.smtp_server import Mode, SmtpPeer

CLI = (sys.executable, "-m", "orchestrator_blocks")
LEASE_S = 1.5
POLL_S = 0.1
CONCURRENCY = 4

BULK = """
import os

import orchestrator_blocks as ob

item = ob.new_workflow("bulk_item")
envelope = ob.Block.custom_transform(
    lambda i: {
        "to": i["email"],
        "subject": "Hello",
        "text": "News for you.",
        "idempotency_key": i["idempotency_key"],
        "customer_id": i["item_key"],
    }
).named("envelope")
item.link(envelope, ob.Block.send_email().set_timeout_ms(10_000).named("send"))

workflow = ob.new_workflow("bulk").trigger_on_event("bulk.requested")
fetch = ob.Block.http_request(os.environ["BULK_SOURCE_URL"], parse="json").named("fetch")
fan = ob.Block.for_each(item, item_key="id", concurrency=CONCURRENCY, progress=False)
workflow.link(fetch, fan.named("send_all"))
"""


def _db(env: dict[str, str]) -> sqlalchemy.Engine:
    url = env.get("ORCHESTRATOR_BLOCKS_DB_URL")
    if url:
        return sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    return sqlalchemy.create_engine(f"sqlite:///{env['ORCHESTRATOR_BLOCKS_HOME']}/state.db")


def _query(env: dict[str, str], sql: str, **params: Any) -> list[Any]:
    engine = _db(env)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sqlalchemy.text(sql), params))
    except sqlalchemy.exc.OperationalError:
        return []  # not created yet
    except sqlalchemy.exc.ProgrammingError:
        return []
    finally:
        engine.dispose()


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextmanager
def _serves(n: int, flows: Path, env: dict[str, str], log_dir: Path) -> Iterator[list[Any]]:
    """``n`` real ``serve`` processes on one store; stopped (SIGTERM, then SIGKILL) after."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(n):
            out = (log_dir / f"serve-{len(list(log_dir.glob('serve-*')))}-{i}.log").open("wb")
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "orchestrator_blocks",
                        "serve",
                        "--dir",
                        str(flows),
                        "--no-console",
                        "--poll",
                        str(POLL_S),
                        "--lease-s",
                        str(LEASE_S),
                        "--verify-minutes",
                        "off",
                    ],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _env(home: Path, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_BLOCKS_")}
    return {**base, "ORCHESTRATOR_BLOCKS_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def _record_event(env: dict[str, str], key: str) -> None:
    done = subprocess.run(
        [*CLI, "events", "record", "bulk.requested", "--key", key],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done


def _owner_pid(env: dict[str, str], run_id: str) -> int | None:
    rows = _query(env, "SELECT owner FROM runs WHERE run_id = :r", r=run_id)
    owner = rows[0][0] if rows else None
    return int(owner.split(":")[1]) if owner else None


def _one_trial(
    tmp: Path, flows: Path, kill_after: int, recipients: dict[str, str], seed: int
) -> dict[str, Any]:
    home = tmp / f"home-{seed}"
    home.mkdir()
    with ScriptedHTTPServer() as upstream, SmtpPeer(Mode("slow", delay=0.01)) as smtp:
        payload = [{"id": k, "email": v} for k, v in recipients.items()]
        upstream.script(
            "/recipients", Reply(200, payload, headers={"Content-Type": "application/json"})
        )
        env = _env(
            home,
            ORCHESTRATOR_BLOCKS_SMTP_URL=smtp.url,
            BULK_SOURCE_URL=upstream.url("/recipients"),
        )
        with _serves(2, flows, env, tmp) as procs:
            _record_event(env, f"trial-{seed}")
            run_id = _wait(
                lambda: (
                    (r := _query(env, "SELECT run_id FROM runs WHERE workflow_id = 'bulk'"))
                    and r[0][0]
                ),
                60,
                "the run to start",
            )
            # The owner is read first: past the last delivery the run may already have ended
            # (and no longer has one) by the time a late kill point is reached.
            owner = _wait(lambda: _owner_pid(env, run_id), 10, "the run's owner")
            _wait(lambda: len(smtp.deliveries) >= kill_after, 60, f"{kill_after} deliveries")
            victim = next(p for p in procs if p.pid == owner)
            victim.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            taken = _wait(
                lambda: _owner_pid(env, run_id) not in (None, owner) or _terminal(env, run_id),
                LEASE_S + 10,
                "another serve to take the run over",
            )
            takeover_s = time.monotonic() - killed_at
            status = _wait(lambda: _terminal(env, run_id), 90, "the run to end by itself")
        sends = dict(
            _query(
                env,
                "SELECT customer_id, status FROM outbound_email_log WHERE workflow_run_id = :r",
                r=run_id,
            )
        )
        return {
            "run_id": run_id,
            "status": status,
            "delivered": [r for d in smtp.deliveries for r in d.rcpt_tos],
            "sends": sends,
            "fetches": len(upstream.requests_to("/recipients")),
            "takeover_s": takeover_s,
            "taken": taken,
            "passes": _query(
                env, "SELECT COUNT(*) FROM run_checkpoints WHERE run_id = :r", r=run_id
            ),
        }


def _terminal(env: dict[str, str], run_id: str) -> str | None:
    rows = _query(env, "SELECT status FROM runs WHERE run_id = :r", r=run_id)
    status = rows[0][0] if rows else None
    return status if status in ("succeeded", "partial", "failed") else None


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    d = tmp_path / "workflows"
    d.mkdir()
    (d / "bulk.py").write_text(textwrap.dedent(BULK).replace("CONCURRENCY", str(CONCURRENCY)))
    return d


@pytest.mark.slow
def test_kill_9_at_random_points_of_a_fan_out_loses_and_duplicates_nothing(
    tmp_path: Path, flows: Path
) -> None:
    trials = int(os.environ.get("ORCHESTRATOR_BLOCKS_FAULT_TRIALS", "20"))
    recipients = {f"C{i:03d}": f"c{i:03d}@example.org" for i in range(100)}
    rng = random.Random(20261130)  # reproducible kill points
    results = []
    for seed in range(trials):
        kill_after = rng.randint(1, 95)
        r = _one_trial(tmp_path, flows, kill_after, recipients, seed)
        results.append((kill_after, r))
        delivered = r["delivered"]
        assert len(delivered) == len(set(delivered)), f"trial {seed}: a recipient got two emails"
        unknown = {c for c, s in r["sends"].items() if s == "unknown"}
        emailed = {c for c, s in r["sends"].items() if s == "sent"}
        assert emailed | unknown == set(recipients), f"trial {seed}: a recipient was lost"
        assert {recipients[c] for c in emailed} <= set(delivered)
        assert len(unknown) <= CONCURRENCY, f"trial {seed}: {len(unknown)} unknown"
        assert "sending" not in r["sends"].values()
        assert r["status"] == ("partial" if unknown else "succeeded"), (seed, r["status"])
        assert r["fetches"] == 1, f"trial {seed}: the context was fetched {r['fetches']} times"
        assert r["takeover_s"] <= LEASE_S + 2 * POLL_S + 2.0, (seed, r["takeover_s"])
    summary = [(k, r["status"], round(r["takeover_s"], 2)) for k, r in results]
    print(f"\nkill points (deliveries before kill, outcome, takeover s): {summary}")


APPROVED = """
import os

import orchestrator_blocks as ob

item = ob.new_workflow("approved_item")
envelope = ob.Block.custom_transform(
    lambda i: {
        "to": i["email"],
        "subject": "Hello",
        "text": "Approved news.",
        "idempotency_key": i["idempotency_key"],
        "customer_id": i["item_key"],
    }
).named("envelope")
item.link(envelope, ob.Block.send_email().named("send"))

workflow = ob.new_workflow("approved_bulk").set_risk_level(3)
recipients = ob.Block.custom_transform(
    lambda _: [{"id": f"A{n:02d}", "email": f"a{n:02d}@example.org"} for n in range(30)]
).named("recipients")
gate = ob.Block.hitl_gate("approved_bulk", over="recipients").named("gate")
fan = ob.Block.for_each(item, item_key="id", concurrency=2, progress=False).named("send_all")
workflow.link(recipients, gate)
workflow.link(gate, fan)
"""


@pytest.mark.slow
def test_the_serve_resuming_an_approved_run_is_killed_and_another_finishes_it(
    tmp_path: Path,
) -> None:
    flows = tmp_path / "workflows"
    flows.mkdir()
    flow = flows / "approved_bulk.py"
    flow.write_text(textwrap.dedent(APPROVED))
    home = tmp_path / "serve-home"
    home.mkdir()
    with SmtpPeer(Mode("slow", delay=0.15)) as smtp:
        env = _env(
            home,
            ORCHESTRATOR_BLOCKS_SMTP_URL=smtp.url,
            ORCHESTRATOR_BLOCKS_APPROVER="mike",
            ORCHESTRATOR_BLOCKS_WORKFLOWS_DIR=str(flows),
        )
        cli = [sys.executable, "-m", "orchestrator_blocks"]
        first = subprocess.run(
            [*cli, "run", str(flow), "--json"], env=env, capture_output=True, text=True
        )
        run_id = json.loads(first.stdout)["run_id"]
        pid = _query(env, "SELECT id FROM proposed_actions WHERE run_id = :r", r=run_id)[0][0]
        with _serves(2, flows, env, tmp_path) as procs:
            time.sleep(1.0)  # both serves are up before the decision
            approve = [*cli, "approvals", "approve", str(pid), "--as", "mike"]
            assert subprocess.run(approve, env=env, capture_output=True).returncode == 0
            _wait(lambda: len(smtp.deliveries) >= 5, 60, "the resumed run to send")
            owner = _wait(lambda: _owner_pid(env, run_id), 10, "the run's owner")
            next(p for p in procs if p.pid == owner).send_signal(signal.SIGKILL)
            status = _wait(lambda: _terminal(env, run_id), 90, "the run to end")
        delivered = [r for d in smtp.deliveries for r in d.rcpt_tos]
    assert len(delivered) == len(set(delivered))
    sends = dict(
        _query(
            env,
            "SELECT customer_id, status FROM outbound_email_log WHERE workflow_run_id = :r",
            r=run_id,
        )
    )
    unknown = {c for c, s in sends.items() if s == "unknown"}
    assert len(sends) == 30 and len(unknown) <= 2
    assert status == ("partial" if unknown else "succeeded")
    events = [
        json.loads(line)
        for path in (home / "logs").glob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    mine = [e for e in events if e.get("run_id") == run_id]
    assert sum(e["event"] == "run.recovered" for e in mine) == 1  # picked up once
    created = [e for e in mine if e["event"] == "run.created"]
    assert len(created) == 3  # paused; resumed after the decision; recovered
    workflow_events = _query(
        env,
        "SELECT event_type FROM events WHERE run_id = :r AND event_type LIKE 'workflow.%'",
        r=run_id,
    )
    assert len(workflow_events) == 1


CRON = """
import time

import orchestrator_blocks as ob

workflow = ob.new_workflow("every_ten")
workflow.link(
    ob.Block.cron("*/10 * * * * *").named("trigger"),
    ob.Block.custom_transform(lambda fired: time.sleep(0.3) or fired).named("work"),
)
"""


def _fresh_database(server: Any) -> str:
    import uuid

    name = f"ob_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(server.url).rsplit("/", 1)[0] + f"/{name}"


@pytest.mark.slow
def test_several_serves_on_one_store_run_each_cron_firing_once(
    tmp_path: Path, postgres_server: Any
) -> None:
    """Two and three ``serve`` processes, on SQLite and on PostgreSQL, side by side."""
    seconds = float(os.environ.get("ORCHESTRATOR_BLOCKS_CRON_TEST_S", "185"))
    flows = tmp_path / "workflows"
    flows.mkdir()
    (flows / "every_ten.py").write_text(textwrap.dedent(CRON))
    setups: list[tuple[str, int, dict[str, str]]] = []
    for store in ("sqlite", "postgres"):
        for n in (2, 3):
            home = tmp_path / f"{store}-{n}"
            home.mkdir()
            extra = {}
            if store == "postgres":
                extra["ORCHESTRATOR_BLOCKS_DB_URL"] = _fresh_database(postgres_server)
            setups.append((store, n, _env(home, **extra)))
    with contextlib.ExitStack() as stack:
        for _store, n, env in setups:
            stack.enter_context(_serves(n, flows, env, tmp_path))
            time.sleep(0.7)  # staggered starts, as real deployments are
        time.sleep(seconds)
    for store, n, env in setups:
        runs = _query(env, "SELECT input_json FROM runs WHERE workflow_id = 'every_ten'")
        firings = _query(env, "SELECT firing_at FROM cron_firings WHERE workflow_id = 'every_ten'")
        inputs = [json.loads(r[0]) for r in runs]
        assert len(firings) >= seconds // 10 - 2, (store, n, len(firings))
        assert len(runs) == len(firings), (store, n, len(runs), len(firings))
        assert sorted(inputs) == sorted(f[0] for f in firings), (store, n)
        statuses = _query(
            env, "SELECT status, COUNT(*) FROM runs WHERE workflow_id = 'every_ten' GROUP BY 1"
        )
        assert dict(statuses) == {"succeeded": len(runs)}, (store, n, statuses)
