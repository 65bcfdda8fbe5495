"""The durable store: migrations, WAL, idempotent records, post actions, failures that are
never silent — on SQLite files and on a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy

import orchestrator_blocks as ob
from orchestrator_blocks.app.post_actions import run_post_actions
from orchestrator_blocks.app.store import Store, forget_stores, open_store
from orchestrator_blocks.app.store.schema import MIGRATIONS
from orchestrator_blocks.kernel.config import load_settings
from orchestrator_blocks.kernel.telemetry import get_logger, read_events


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("postgres_url")


def test_fresh_database_gets_every_migration(store_url: str) -> None:
    store = Store(store_url)
    assert store.version() == 0
    applied = store.migrate()
    assert applied == [m.version for m in MIGRATIONS]
    assert store.migrate() == []  # idempotent
    tables = set(sqlalchemy.inspect(store.engine.engine).get_table_names())
    assert {
        "workflow_run_log",
        "reflexion_log",
        "events",
        "proposed_actions",
        "workflow_verify_results",
        "outbound_email_log",
        "kill_switches",
        "event_deliveries",
        "schema_migrations",
    } <= tables


def test_migrating_an_existing_database_keeps_its_rows(store_url: str) -> None:
    old = Store(store_url)
    assert old.migrate(target=1) == [1]
    old.runs.record(
        run_id="r-old",
        workflow_type="legacy",
        status="succeeded",
        started_at="2026-01-01T00:00:00Z",
        completed_at="2026-01-01T00:00:01Z",
        summary={"blocks": {"succeeded": 2}},
    )
    old.ledger.record("workflow.completed", {"n": 1}, "workflow.completed:r-old")
    old.kill_switches.set("high_risk_ops", True, by="ops")
    old.engine.dispose()

    new = Store(store_url)
    assert new.version() == 1
    assert new.migrate() == [m.version for m in MIGRATIONS if m.version > 1]
    assert new.runs.get("r-old")["summary"] == {"blocks": {"succeeded": 2}}
    assert [e.idempotency_key for e in new.ledger.list()] == ["workflow.completed:r-old"]
    assert new.kill_switches.engaged("high_risk_ops")
    event_id = new.ledger.list()[0].id
    assert new.ledger.claim_delivery("sub", event_id) is True  # the v2 table works


def test_records_are_idempotent(store_url: str) -> None:
    store = Store(store_url)
    store.migrate()
    first = store.ledger.record("x.happened", {"a": 1}, "key-1")
    again = store.ledger.record("x.happened", {"a": 2}, "key-1")
    assert first == (first[0], True) and again == (first[0], False)
    assert len(store.ledger.list()) == 1
    assert store.ledger.claim_delivery("w", first[0]) is True
    assert store.ledger.claim_delivery("w", first[0]) is False
    assert (
        store.runs.record_reflexion(run_id="r1", workflow_type="w", narrative="n", tags=["t"])
        is True
    )
    assert (
        store.runs.record_reflexion(run_id="r1", workflow_type="w", narrative="n", tags=["t"])
        is False
    )


def test_sqlite_runs_in_wal_mode_with_foreign_keys(isolated_home: Path) -> None:
    store = open_store(load_settings())
    with store.engine.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    assert (isolated_home / "state.db").exists()


def test_every_run_is_logged_with_one_ledger_event(isolated_home: Path) -> None:
    w = ob.new_workflow("logged").enable_reflexion("nightly")
    w.add(ob.Block.custom_transform(lambda p: p))
    result = w.run("x")
    assert result.reports == {"log_run": True, "reflexion": True, "event": True}
    store = open_store(load_settings())
    row = store.runs.get(result.run_id)
    assert row["status"] == "succeeded" and row["workflow_type"] == "logged"
    assert row["summary"]["blocks"] == {"succeeded": 1}
    events = [e for e in store.ledger.list() if e.run_id == result.run_id]
    assert [e.event_type for e in events] == ["workflow.completed"]
    found = store.runs.search_reflexion("logged succeeded", tag="nightly")
    assert found and found[0]["run_id"] == result.run_id
    assert "1 steps succeeded" in found[0]["narrative"]


def test_failed_runs_are_logged_too(isolated_home: Path) -> None:
    w = ob.new_workflow("logged_fail").enable_reflexion()
    w.add(ob.Block.select_first().named("pick"))
    result = w.run({"not": "a list"})
    store = open_store(load_settings())
    assert store.runs.get(result.run_id)["summary"]["error"]["code"] == "transform.invalid_input"
    assert [e.event_type for e in store.ledger.list() if e.run_id == result.run_id] == [
        "workflow.failed"
    ]
    narrative = store.runs.search_reflexion("logged_fail")[0]["narrative"]
    assert "failed at pick with transform.invalid_input" in narrative


def test_retried_post_actions_record_the_run_event_once(isolated_home: Path) -> None:
    w = ob.new_workflow("retried")
    w.add(ob.Block.custom_transform(lambda p: p))
    result = w.run()
    store = open_store(load_settings())
    for _ in range(3):  # a post action retried after a crash: same outcome
        asyncio.run(run_post_actions(w.spec, result, store, get_logger()))
    events = [e for e in store.ledger.list() if e.run_id == result.run_id]
    assert len(events) == 1
    assert len([r for r in store.runs.recent(100) if r["run_id"] == result.run_id]) == 1


def test_a_failed_store_write_is_never_silent(isolated_home: Path, monkeypatch) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(
        "ORCHESTRATOR_BLOCKS_DB_URL", f"postgresql://nobody@127.0.0.1:{port}/none?connect_timeout=1"
    )
    forget_stores()
    w = ob.new_workflow("no_store")
    w.add(ob.Block.custom_transform(lambda p: "done"))
    result = w.run()
    assert result.ok  # the run itself does not depend on the store
    assert result.reports == {"log_run": False, "event": False}
    failed = result.events_of("post_action.failed")
    assert {e["action"] for e in failed} == {"log_run", "event"}
    assert all(e["code"] == "state_store.write_failed" for e in failed)
    assert failed[0]["payload"]["run_id"] == result.run_id  # the data is kept in the log
    on_disk = [e for e in read_events(isolated_home / "logs") if e.get("run_id") == result.run_id]
    assert any(e["event"] == "store.unavailable" for e in on_disk)
    assert sum(e["event"] == "post_action.failed" for e in on_disk) == 2


def test_postgres_backs_runs_end_to_end(postgres_url: str, monkeypatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_DB_URL", postgres_url)
    forget_stores()
    w = ob.new_workflow("on_postgres").enable_reflexion()
    q = ob.Block.d1_query("SELECT 41 + 1 AS answer", one=True)
    w.add(q)
    result = w.run()
    assert result.ok, result.error
    assert result.output(q) == {"answer": 42}
    store = open_store(load_settings())
    assert store.engine.dialect == "postgresql"
    assert store.runs.get(result.run_id)["status"] == "succeeded"
    forget_stores()


def test_concurrent_writers_on_sqlite_never_lose_rows(isolated_home: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    script = tmp_path / "writer.py"
    script.write_text(
        "import sys\nimport orchestrator_blocks as ob\n"
        "w = ob.new_workflow(sys.argv[1])\n"
        "w.add(ob.Block.custom_transform(lambda p: p))\n"
        "for i in range(25):\n    assert w.run(i).ok\n"
    )
    procs = [
        subprocess.Popen([sys.executable, str(script), f"writer{i}"], env=dict(os.environ))
        for i in range(3)
    ]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    conn = sqlite3.connect(isolated_home / "state.db")
    counts = dict(
        conn.execute(
            "SELECT workflow_type, COUNT(*) FROM workflow_run_log GROUP BY workflow_type"
        ).fetchall()
    )
    events = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    conn.close()
    assert counts == {"writer0": 25, "writer1": 25, "writer2": 25}
    assert events == 75
    assert json.dumps(counts)
