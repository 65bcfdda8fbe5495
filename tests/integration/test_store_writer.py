"""The store's group-commit writer on a real SQLite file: hot-path rows of plain types go
to the driver's ``executemany`` as they are; anything SQLAlchemy must convert or check
goes through SQLAlchemy, and a bad row fails its own caller with a store error."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import bindparam, event, update

from orchestrator_blocks import sdk
from orchestrator_blocks.app.store import Store
from orchestrator_blocks.app.store.schema import fan_out_items
from orchestrator_blocks.sdk.durable import Checkpoint, encode_value


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    return store


def _executions(store: Store) -> list[dict[str, Any]]:
    """Every statement the store's connections send to SQLite, as the driver gets it."""
    seen: list[dict[str, Any]] = []

    @event.listens_for(store.engine.engine, "before_cursor_execute")
    def record(_conn, _cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        seen.append(
            {
                "sql": statement,
                "rows": len(parameters) if executemany else 1,
                "compiled": context.compiled is not None,
            }
        )

    return seen


def _checkpoint(i: int) -> Checkpoint:
    error = {"code": "demo.failed", "message": f"row {i}"} if i % 3 == 0 else None
    return Checkpoint(
        key=f"block_{i}",
        status="failed" if error else "succeeded",
        output=encode_value(sdk.Json({"n": i, "text": "é" * (i % 4)})),
        attempts=1 + i % 2,
        error=error,
    )


def test_checkpoints_go_to_the_driver_in_one_executemany_and_read_back_whole(
    store: Store, tmp_path: Path
) -> None:
    seen = _executions(store)
    statement = store.durable.checkpoint_statement
    rows = [store.durable.checkpoint_values("run_a", 2, _checkpoint(i)) for i in range(200)]

    async def write() -> None:
        for values in rows[:-1]:
            store.writer.submit(statement, values, wait=False)
        await store.writer.submit(statement, rows[-1])  # committed on return

    asyncio.run(write())
    inserts = [s for s in seen if s["sql"].startswith("INSERT INTO run_checkpoints")]
    assert sum(s["rows"] for s in inserts) == 200
    assert not any(s["compiled"] for s in inserts)  # SQLAlchemy compiled it once, before
    assert len(inserts) < 200  # shared transactions: rows came in batches

    db = sqlite3.connect(tmp_path / "state.db")
    db.row_factory = sqlite3.Row
    stored = [dict(r) for r in db.execute("SELECT * FROM run_checkpoints ORDER BY rowid")]
    assert stored == rows  # every column, as given (JSON text, ints, timestamps)
    loaded = {c.key: c for c in store.durable.load_checkpoints("run_a", 2)}
    assert loaded["block_9"] == _checkpoint(9)
    assert loaded["block_10"].output == {"kind": "json", "payload": {"n": 10, "text": "éé"}}


def test_values_sqlalchemy_converts_still_go_through_sqlalchemy(store: Store) -> None:
    """A float column's values are converted by SQLAlchemy's type: not sent as they are."""
    seen = _executions(store)
    t = fan_out_items
    opened = {
        "run_id": "run_b",
        "block_id": "fan",
        "item_key": "k1",
        "status": "pending",
        "attempts": 0,
        "run_attempt": 1,
        "updated_at": "2026-01-01T00:00:00.000Z",
    }
    with store.engine.engine.begin() as conn:
        conn.execute(t.insert(), [opened])
    lease = update(t).where(t.c.item_key == bindparam("p_key")).values(lease_until=bindparam("p"))

    async def write() -> None:
        await store.writer.submit(lease, {"p_key": "k1", "p": 12.5})

    asyncio.run(write())
    updates = [s for s in seen if s["sql"].startswith("UPDATE fan_out_items")]
    assert updates and all(s["compiled"] for s in updates)
    with store.engine.engine.connect() as conn:
        assert conn.execute(t.select()).mappings().one()["lease_until"] == 12.5


def test_a_row_of_another_shape_fails_only_its_caller_with_a_store_error(store: Store) -> None:
    statement = store.durable.checkpoint_statement
    good = store.durable.checkpoint_values("run_c", 1, _checkpoint(1))
    bad = {k: v for k, v in good.items() if k != "status"} | {"block_key": "other"}

    async def write() -> tuple[BaseException | None, BaseException | None]:
        results = await asyncio.gather(
            store.writer.submit(statement, good),
            store.writer.submit(statement, bad),
            return_exceptions=True,
        )
        return results[0], results[1]

    first, second = asyncio.run(write())
    assert first is None
    assert isinstance(second, sdk.StateStoreError), second
    assert "status" in str(second)  # SQLAlchemy names the missing value
    assert [c.key for c in store.durable.load_checkpoints("run_c", 1)] == ["block_1"]

    async def after() -> None:  # the writer still works
        await store.writer.submit(statement, good | {"block_key": "block_2"})

    asyncio.run(after())
    assert len(store.durable.load_checkpoints("run_c", 1)) == 2


def test_a_write_that_raises_something_else_fails_its_caller_and_the_writer_goes_on(
    store: Store,
) -> None:
    """A bug in a write (not a database error) must not stop the writer thread: every later
    write would wait forever."""
    statement = store.durable.checkpoint_statement
    good = store.durable.checkpoint_values("run_d", 1, _checkpoint(1))

    def broken(_conn: Any) -> None:
        raise ValueError("not a database error")

    async def write() -> BaseException | None:
        try:
            await asyncio.wait_for(store.writer.call(broken), timeout=10)
        except sdk.StateStoreError as exc:
            return exc
        return None

    error = asyncio.run(write())
    assert isinstance(error, sdk.StateStoreError)
    assert "ValueError: not a database error" in str(error)

    async def after() -> None:
        await asyncio.wait_for(store.writer.submit(statement, good), timeout=10)

    asyncio.run(after())
    assert [c.key for c in store.durable.load_checkpoints("run_d", 1)] == ["block_1"]


def test_writes_that_need_no_wait_wait_once_the_writer_is_far_behind(store: Store) -> None:
    """A caller that does not wait for its commit still may not queue without bound: once
    BACKLOG writes are queued, the next one comes back with its commit to await."""
    import threading

    from orchestrator_blocks.app.store.writer import BACKLOG

    statement = store.durable.checkpoint_statement
    held, release = threading.Event(), threading.Event()

    def stall(_conn: Any) -> None:
        held.set()
        release.wait(30)

    async def write() -> list[Any]:
        stalled = asyncio.ensure_future(store.writer.call(stall))
        await asyncio.to_thread(held.wait, 30)  # the writer thread is inside `stall` now
        answers = [
            store.writer.submit(
                statement,
                store.durable.checkpoint_values("run_e", 1, _checkpoint(i)),
                wait=False,
            )
            for i in range(BACKLOG + 1)
        ]
        release.set()
        await asyncio.wait_for(stalled, 30)
        assert answers[-1] is not None
        await asyncio.wait_for(answers[-1], 30)
        return answers

    answers = asyncio.run(write())
    assert answers[:BACKLOG] == [None] * BACKLOG
    assert len(store.durable.load_checkpoints("run_e", 1)) == BACKLOG + 1


def test_checkpoint_outputs_read_back_whole_and_text_is_still_masked(store: Store) -> None:
    """Numbers, flags and nothing skip the redactor's walk; text, lists and mappings do not."""
    from orchestrator_blocks.sdk.redaction import REDACTED, forget_secrets, register_secret

    secret = "tok-5c1e7a9b2d"
    register_secret(secret)
    try:
        outputs = {
            "int": sdk.Json(7),
            "float": sdk.Json(2.5),
            "flag": sdk.Json(True),
            "empty": sdk.Empty(),
            "text": sdk.Text(f"sent with {secret}"),
            "list": sdk.Json([1, secret]),
            "mapping": sdk.Json({"token": secret, "n": 1}),
        }

        async def save_all() -> None:
            for key, value in outputs.items():
                cp = Checkpoint(key=key, status="succeeded", output=encode_value(value), attempts=1)
                await store.save_checkpoint("run-outputs", 1, cp, wait=False)
            await store.flush()

        asyncio.run(save_all())
    finally:
        forget_secrets()
    stored = {cp.key: cp.output for cp in store.durable.load_checkpoints("run-outputs", 1)}
    assert stored["int"] == {"kind": "json", "payload": 7}
    assert stored["float"] == {"kind": "json", "payload": 2.5}
    assert stored["flag"] == {"kind": "json", "payload": True}
    assert stored["empty"] == {"kind": "empty", "payload": None}
    assert stored["text"] == {"kind": "text", "payload": f"sent with {REDACTED}"}
    assert stored["list"] == {"kind": "json", "payload": [1, REDACTED]}
    assert stored["mapping"] == {"kind": "json", "payload": {"n": 1, "token": REDACTED}}
