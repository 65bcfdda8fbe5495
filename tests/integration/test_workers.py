"""Beyond one machine: real ``serve`` and ``worker`` processes on a real PostgreSQL, a real
aiosmtpd; runs and fan-out items spread over workers, some of them killed with SIGKILL."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from support.smtp_server import Mode, SmtpPeer

CLI = (sys.executable, "-m", "orchestrator_blocks")
BATCH_NOTIFY = Path(__file__).resolve().parents[2] / "examples" / "batch_notify.yaml"
BATCH_INPUTS = (
    "--input",
    'customer_cohort_filter={"plan": "trial"}',
    "--input",
    "subject=Your trial ends soon",
    "--input",
    "body_template=<p>Hello {{companyname}}, your trial ends soon.</p>",
    "--input",
    "max_recipients=300",
)
LEASE_S = 2.0

BULK = """
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
item.link(envelope, ob.Block.send_email().set_timeout_ms(15_000).named("send"))

workflow = ob.new_workflow("bulk").trigger_on_event("bulk.requested")
people = ob.Block.custom_transform(
    lambda event: [{"id": f"P{n:04d}", "email": f"p{n:04d}@example.org"} for n in range(event["n"])]
).named("people")
fan = ob.Block.for_each(item, item_key="id", concurrency=4, progress=False).named("send_all")
workflow.link(people, fan)
"""


def _database(server: Any) -> str:
    name = f"ob_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return str(server.url).rsplit("/", 1)[0].replace("+psycopg", "") + f"/{name}"


class Cluster:
    """One store (a fresh PostgreSQL database), a workflows directory, serve and workers."""

    def __init__(self, tmp: Path, db_url: str, smtp_url: str) -> None:
        self.tmp, self.db_url = tmp, db_url
        self.flows = tmp / "workflows"
        self.flows.mkdir(parents=True, exist_ok=True)
        (self.flows / "bulk.py").write_text(textwrap.dedent(BULK))
        self.home = tmp / "cluster-home"
        self.home.mkdir(exist_ok=True)
        base = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_BLOCKS_")}
        self.env = {
            **base,
            "PYTHONUNBUFFERED": "1",
            "ORCHESTRATOR_BLOCKS_HOME": str(self.home),
            "ORCHESTRATOR_BLOCKS_DB_URL": db_url,
            "ORCHESTRATOR_BLOCKS_SMTP_URL": smtp_url,
            "ORCHESTRATOR_BLOCKS_EXECUTOR": "procrastinate",
            "ORCHESTRATOR_BLOCKS_CHUNK_SIZE": "10",
            "ORCHESTRATOR_BLOCKS_FAN_OUT_POLL_S": "0.2",
        }
        self.procs: list[subprocess.Popen[bytes]] = []
        self.workers: list[subprocess.Popen[bytes]] = []

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen([*CLI, *args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def serve(self) -> subprocess.Popen[bytes]:
        return self._start(
            "serve",
            "serve",
            "--dir",
            str(self.flows),
            "--no-console",
            "--poll",
            "0.1",
            "--lease-s",
            str(LEASE_S),
            "--verify-minutes",
            "off",
        )

    def worker(self, concurrency: int = 2) -> subprocess.Popen[bytes]:
        proc = self._start(
            "worker",
            "worker",
            "--dir",
            str(self.flows),
            "--concurrency",
            str(concurrency),
            "--lease-s",
            str(LEASE_S),
        )
        self.workers.append(proc)
        return proc

    def cli(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*CLI, *args], env=env or self.env, capture_output=True, text=True, timeout=120
        )

    def query(self, sql: str, **params: Any) -> list[Any]:
        engine = sqlalchemy.create_engine(
            self.db_url.replace("postgresql://", "postgresql+psycopg://")
        )
        try:
            with engine.connect() as conn:
                return list(conn.execute(sqlalchemy.text(sql), params))
        except sqlalchemy.exc.ProgrammingError:
            return []
        finally:
            engine.dispose()

    def start_bulk(self, n: int, key: str) -> str:
        done = self.cli(
            "events", "record", "bulk.requested", "--key", key, "--payload", json.dumps({"n": n})
        )
        assert done.returncode == 0, done
        return _wait(
            lambda: (
                (r := self.query("SELECT run_id FROM runs WHERE workflow_id = 'bulk'")) and r[0][0]
            ),
            90,
            "the run to start on a worker",
        )

    def status(self, run_id: str) -> str | None:
        rows = self.query("SELECT status FROM runs WHERE run_id = :r", r=run_id)
        return rows[0][0] if rows else None

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@contextlib.contextmanager
def _cluster(tmp: Path, server: Any, smtp: SmtpPeer) -> Iterator[Cluster]:
    cluster = Cluster(tmp, _database(server), smtp.url)
    try:
        yield cluster
    finally:
        cluster.stop()


def _terminal(cluster: Cluster, run_id: str) -> str | None:
    status = cluster.status(run_id)
    return status if status in ("succeeded", "partial", "failed") else None


def _sends(cluster: Cluster, run_id: str) -> dict[str, str]:
    rows = cluster.query(
        "SELECT customer_id, status FROM outbound_email_log WHERE workflow_run_id = :r", r=run_id
    )
    return dict(rows)


def _seed_customers(cluster: Cluster, n: int) -> dict[str, str]:
    """``n`` active trial customers in the store's database: the cohort batch_notify mails."""
    people = {f"C-{k:04d}": f"c{k:04d}@example.org" for k in range(n)}
    engine = sqlalchemy.create_engine(
        cluster.db_url.replace("postgresql://", "postgresql+psycopg://")
    )
    with engine.begin() as conn:
        conn.execute(
            sqlalchemy.text(
                "CREATE TABLE customers (id VARCHAR(32) PRIMARY KEY, companyname VARCHAR(200) "
                "NOT NULL, email VARCHAR(320), isinactive CHAR(1) NOT NULL DEFAULT 'F', "
                "plan VARCHAR(32), country VARCHAR(2))"
            )
        )
        conn.execute(
            sqlalchemy.text(
                "INSERT INTO customers (id, companyname, email, plan, country) "
                "VALUES (:id, :name, :email, 'trial', 'UK')"
            ),
            [{"id": c, "name": f"Company {c}", "email": e} for c, e in people.items()],
        )
    engine.dispose()
    return people


def _pending(cluster: Cluster, action_type: str) -> int | None:
    rows = cluster.query(
        "SELECT id FROM proposed_actions WHERE action_type = :a AND status = 'pending'",
        a=action_type,
    )
    return rows[0][0] if rows else None


@pytest.mark.slow
def test_three_workers_share_a_batch_notify_and_any_machine_sees_the_whole_run(
    tmp_path: Path, postgres_server: Any
) -> None:
    with SmtpPeer() as smtp, _cluster(tmp_path, postgres_server, smtp) as cluster:
        cluster.env["ORCHESTRATOR_BLOCKS_APPROVER"] = "mike"
        shutil.copy(BATCH_NOTIFY, cluster.flows / "batch_notify.yaml")
        cluster.serve()
        pids = {cluster.worker().pid for _ in range(3)}
        people = _seed_customers(cluster, 300)
        proposed = cluster.cli("approvals", "propose", "bulk_customer_email", *BATCH_INPUTS)
        assert proposed.returncode == 0, proposed.stderr
        first = _wait(lambda: _pending(cluster, "bulk_customer_email"), 30, "the proposal")
        assert cluster.cli("approvals", "approve", str(first), "--as", "mike").returncode == 0
        # serve enqueues the run; a worker runs it to the gate, where it waits for mike
        gate = _wait(lambda: _pending(cluster, "workflow_batch_notify"), 120, "the gate")
        assert smtp.deliveries == []
        run_id = cluster.query("SELECT run_id FROM proposed_actions WHERE id = :g", g=gate)[0][0]
        assert cluster.cli("approvals", "approve", str(gate), "--as", "mike").returncode == 0
        status = _wait(lambda: _terminal(cluster, run_id), 300, "the run to end")
        delivered = [r for d in smtp.deliveries for r in d.rcpt_tos]

        assert status == "succeeded"
        assert sorted(delivered) == sorted(people.values())  # each recipient exactly once
        assert _sends(cluster, run_id) == {c: "sent" for c in people}
        fresh = {**cluster.env, "ORCHESTRATOR_BLOCKS_HOME": str(tmp_path / "another-machine")}
        shown = cluster.cli("logs", run_id, "--json", env=fresh)
        assert shown.returncode == 0, shown.stderr
        events = [json.loads(line) for line in shown.stdout.splitlines()]
        sent_by = [e.get("worker") for e in events if e["event"] == "fan_out.item_succeeded"]
        assert len(sent_by) == 300
        assert {int(w.split(":")[1]) for w in sent_by} == pids  # every worker delivered some
        assert sum(e["event"] == "email.sent" for e in events) == 300
        text = cluster.cli("logs", run_id, env=fresh)
        assert text.returncode == 0 and "succeeded" in text.stdout and run_id in text.stdout
        listed = cluster.cli("runs", "--json", env=fresh)
        assert listed.returncode == 0 and run_id in listed.stdout


@pytest.mark.slow
def test_killing_workers_mid_fan_out_loses_and_duplicates_nothing(
    tmp_path: Path, postgres_server: Any
) -> None:
    trials = int(os.environ.get("ORCHESTRATOR_BLOCKS_WORKER_TRIALS", "10"))
    rng = random.Random(1130)
    for trial in range(trials):
        with (
            SmtpPeer(Mode("slow", delay=0.02)) as smtp,
            _cluster(tmp_path / f"t{trial}", postgres_server, smtp) as cluster,
        ):
            cluster.serve()
            for _ in range(3):
                cluster.worker(concurrency=1)
            run_id = cluster.start_bulk(100, f"kill-{trial}")
            kill_after = rng.randint(5, 80)
            _wait(lambda k=kill_after: len(smtp.deliveries) >= k, 120, f"{kill_after} deliveries")
            victim = rng.choice(cluster.workers)
            victim.send_signal(signal.SIGKILL)
            status = _wait(lambda r=run_id: _terminal(cluster, r), 180, "the run to end by itself")
            delivered = [r for d in smtp.deliveries for r in d.rcpt_tos]
            sends = _sends(cluster, run_id)
        assert len(delivered) == len(set(delivered)), f"trial {trial}: an email went twice"
        unknown = {c for c, s in sends.items() if s == "unknown"}
        assert len(sends) == 100 and set(sends.values()) <= {"sent", "unknown"}, trial
        # the killed worker ran one chunk at a time, four items of it at once
        assert len(unknown) <= 4, (trial, unknown)
        assert status == ("partial" if unknown else "succeeded"), (trial, status)


@pytest.mark.slow
def test_the_circuit_breaker_holds_across_workers(tmp_path: Path, postgres_server: Any) -> None:
    with (
        SmtpPeer(Mode("permanent", code=550, stage="rcpt")) as smtp,
        _cluster(tmp_path, postgres_server, smtp) as cluster,
    ):
        cluster.serve()
        for _ in range(3):
            cluster.worker(concurrency=2)
        run_id = cluster.start_bulk(200, "breaker")
        status = _wait(lambda: _terminal(cluster, run_id), 180, "the run to end")
        counts = dict(
            cluster.query(
                "SELECT status, COUNT(*) FROM fan_out_items WHERE run_id = :r GROUP BY 1",
                r=run_id,
            )
        )
    in_flight = 3 * 2 * 4  # workers x jobs each x items at once per chunk
    assert status == "failed"
    assert 5 <= counts.get("failed", 0) <= 5 + in_flight, counts
    assert counts.get("not_started", 0) == 200 - counts.get("failed", 0), counts
    assert len(smtp.deliveries) == 0


def test_a_worker_needs_postgresql_and_says_so(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORCHESTRATOR_BLOCKS_")}
    env["ORCHESTRATOR_BLOCKS_HOME"] = str(tmp_path / "h")
    done = subprocess.run(
        [*CLI, "worker", "--dir", str(flows)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "workers need PostgreSQL" in done.stderr

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    env["ORCHESTRATOR_BLOCKS_DB_URL"] = f"postgresql://nobody@127.0.0.1:{port}/none"
    done = subprocess.run(
        [*CLI, "worker", "--dir", str(flows)], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "cannot reach" in done.stderr


@pytest.mark.slow
def test_a_worker_survives_a_database_restart(tmp_path: Path, postgres_server: Any) -> None:
    with SmtpPeer() as smtp, _cluster(tmp_path, postgres_server, smtp) as cluster:
        cluster.serve()
        worker = cluster.worker()
        first = cluster.start_bulk(20, "before-restart")
        _wait(lambda: _terminal(cluster, first), 120, "the first run")
        postgres_server.restart()
        time.sleep(1.0)
        done = cluster.cli(
            "events", "record", "bulk.requested", "--key", "after", "--payload", '{"n": 20}'
        )
        assert done.returncode == 0, done
        second = _wait(
            lambda: [r[0] for r in cluster.query("SELECT run_id FROM runs") if r[0] != first],
            120,
            "the second run",
        )[0]
        assert (
            _wait(lambda: _terminal(cluster, second), 120, "the second run to end") == "succeeded"
        )
        assert worker.poll() is None  # still running
        delivered = [r for d in smtp.deliveries for r in d.rcpt_tos]
        # two runs to the same 20 people: each got one email per run, nothing lost
        assert len(delivered) == 40 and all(delivered.count(a) == 2 for a in set(delivered))
        assert set(_sends(cluster, second).values()) == {"sent"}
        for run_id in (first, second):  # and every event of both runs is in the store
            shown = cluster.cli("logs", run_id, "--json")
            assert shown.returncode == 0, shown.stderr
            events = [json.loads(line)["event"] for line in shown.stdout.splitlines()]
            assert events.count("email.sent") == 20 and "run.succeeded" in events, run_id
