"""Fan-out items as rows (``run, block, item``): the store's side of ``sdk.FanOutItems``.

A fan-out registers its items (``pending``), finishes each with its outcome, and counts from
the rows, so a continued fan-out starts only what did not finish. Across workers an item is
*claimed* under a lease before it runs (exactly one worker wins; a dead worker's claims
expire), the circuit breaker's count and the stop reason are shared rows, and the run that
fans out re-dispatches what no live worker holds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from itertools import islice
from typing import Any

from sqlalchemy import Connection, and_, bindparam, case, func, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator_blocks.sdk.services import utc_now_iso

from .engine import StoreEngine
from .records import insert_ignore
from .schema import fan_out_items, fan_out_state

__all__ = ["OPEN_BATCH", "FanOutRows"]

OPEN_BATCH = 500
"""How many item keys :meth:`FanOutRows.open_items` takes from its iterable per insert: the
rows of a 100,000-item fan-out are written without a list of all its keys in memory."""


class FanOutRows:
    """The fan-out item tables behind one engine."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine
        t = fan_out_items
        # Built once with bound parameters: one row update per item is the hot path.
        self._finish_item = (
            update(t)
            .where(
                and_(
                    t.c.run_id == bindparam("p_run"),
                    t.c.block_id == bindparam("p_block"),
                    t.c.item_key == bindparam("p_key"),
                )
            )
            .values(
                status=bindparam("p_status"),
                attempts=t.c.attempts + bindparam("p_attempts"),
                code=bindparam("p_code"),
                updated_at=bindparam("p_at"),
                lease_until=null(),  # SQL's NULL, not a parameter: rows go to the driver as is
            )
        )
        # A key given twice, or already there, keeps its row (the keys come as a stream:
        # nothing remembers every key seen to skip repeats).
        dialect = {"sqlite": sqlite, "postgresql": postgresql}.get(engine.dialect)
        keys = [c.name for c in t.primary_key.columns]
        self._open_item = (
            dialect.insert(t).on_conflict_do_nothing(index_elements=keys)
            if dialect is not None
            else t.insert()
        )

    def open_items(
        self, run_id: str, block_id: str, run_attempt: int, keys: Sequence[str]
    ) -> dict[str, str]:
        """Register the items and return those already finished (``key -> status``).

        ``keys`` is read :data:`OPEN_BATCH` at a time, each batch inserted before the next
        is read (all in one transaction, read again from the start if the transaction is
        retried): a view that computes the keys as they are read will do.

        Items seen for the first time are ``pending``. Items ``awaiting_review`` are
        ``pending`` again on every pass (their review may have been decided). On a new
        attempt of the run, items that ``failed`` or were ``not_started`` become ``pending``
        again; ``sent``, ``skipped``, ``unknown`` and ``rejected`` (dropped by their review)
        items are never started again by themselves.
        """
        t = fan_out_items
        stamp = utc_now_iso()

        def write(conn: Connection) -> dict[str, str]:
            where = and_(t.c.run_id == run_id, t.c.block_id == block_id)
            conn.execute(
                update(t)
                .where(and_(where, t.c.status == "awaiting_review"))
                .values(status="pending", dispatched_at=None, updated_at=stamp)
            )
            conn.execute(
                update(t)
                .where(
                    and_(
                        where,
                        t.c.run_attempt < run_attempt,
                        t.c.status.in_(("failed", "not_started")),
                    )
                )
                .values(status="pending", run_attempt=run_attempt, updated_at=stamp)
            )
            if conn.execute(
                select(func.count()).where(and_(where, t.c.run_attempt < run_attempt))
            ).scalar():
                conn.execute(  # a new attempt starts with the breaker closed
                    update(fan_out_state)
                    .where(
                        and_(
                            fan_out_state.c.run_id == run_id,
                            fan_out_state.c.block_id == block_id,
                        )
                    )
                    .values(consecutive_failures=0, stop_reason=None)
                )
            known = dict(conn.execute(select(t.c.item_key, t.c.status).where(where)).all())
            stream = iter(keys)
            while batch := list(islice(stream, OPEN_BATCH)):
                rows = [
                    {
                        "run_id": run_id,
                        "block_id": block_id,
                        "item_key": key,
                        "status": "pending",
                        "attempts": 0,
                        "run_attempt": run_attempt,
                        "updated_at": stamp,
                    }
                    for key in batch
                    if key not in known
                ]
                if rows:
                    conn.execute(self._open_item, rows)
            return {k: s for k, s in known.items() if s not in ("pending", "running")}

        return self.engine.write(write, what=f"open the items of {block_id} in run {run_id}")

    @staticmethod
    def finish_params(
        run_id: str, block_id: str, key: str, status: str, attempts: int, code: str | None
    ) -> dict[str, Any]:
        """The parameters of ``_finish_item`` (the item's row, finished now)."""
        return {
            "p_run": run_id,
            "p_block": block_id,
            "p_key": key,
            "p_status": status,
            "p_attempts": attempts,
            "p_code": code,
            "p_at": utc_now_iso(),
        }

    def finish_item(
        self,
        run_id: str,
        block_id: str,
        key: str,
        status: str,
        *,
        attempts: int = 1,
        code: str | None = None,
    ) -> None:
        params = self.finish_params(run_id, block_id, key, status, attempts, code)
        self.engine.write(
            lambda conn: conn.execute(self._finish_item, params),
            what=f"record item {key} of run {run_id}",
        )

    # -- items across workers: claims under a lease, a shared stop, dispatch bookkeeping ---

    def claim_item(self, run_id: str, block_id: str, key: str, owner: str, lease_s: float) -> bool:
        """Take one item to run it: ``pending``, or ``running`` under an expired lease (its
        worker died). Exactly one caller wins."""
        t, now = fan_out_items, time.time()
        return bool(
            self.engine.write(
                lambda conn: (
                    conn.execute(
                        update(t)
                        .where(
                            and_(
                                t.c.run_id == run_id,
                                t.c.block_id == block_id,
                                t.c.item_key == key,
                                or_(
                                    t.c.status == "pending",
                                    and_(t.c.status == "running", t.c.lease_until < now),
                                ),
                            )
                        )
                        .values(status="running", owner=owner, lease_until=now + lease_s)
                    ).rowcount
                ),
                what=f"claim item {key} of run {run_id}",
            )
        )

    def renew_items(
        self, run_id: str, block_id: str, keys: Sequence[str], owner: str, lease_s: float
    ) -> None:
        t = fan_out_items
        if not keys:
            return
        self.engine.write(
            lambda conn: conn.execute(
                update(t)
                .where(
                    and_(
                        t.c.run_id == run_id,
                        t.c.block_id == block_id,
                        t.c.owner == owner,
                        t.c.item_key.in_(list(keys)),
                        t.c.status == "running",
                    )
                )
                .values(lease_until=time.time() + lease_s)
            ),
            what=f"renew item leases of run {run_id}",
        )

    def due_items(self, run_id: str, block_id: str, redispatch_s: float) -> list[str]:
        """Items to hand to a worker: never dispatched, dispatched long ago and still not
        taken, or taken by a worker whose lease on them expired."""
        t, now = fan_out_items, time.time()
        query = select(t.c.item_key).where(
            and_(
                t.c.run_id == run_id,
                t.c.block_id == block_id,
                or_(
                    and_(
                        t.c.status == "pending",
                        or_(t.c.dispatched_at.is_(None), t.c.dispatched_at < now - redispatch_s),
                    ),
                    and_(t.c.status == "running", t.c.lease_until < now),
                ),
            )
        )
        with self.engine.read() as conn:
            return list(conn.execute(query).scalars())

    def mark_dispatched(self, run_id: str, block_id: str, keys: Sequence[str]) -> None:
        t = fan_out_items
        now = time.time()

        def write(conn: Connection) -> None:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                conn.execute(
                    update(t)
                    .where(
                        and_(
                            t.c.run_id == run_id, t.c.block_id == block_id, t.c.item_key.in_(chunk)
                        )
                    )
                    .values(dispatched_at=now)
                )

        self.engine.write(write, what=f"mark items of run {run_id} dispatched")

    def record_item(
        self, run_id: str, block_id: str, outcome: str, breaker: int | None
    ) -> str | None:
        """Count ``outcome`` towards the fan-out's circuit breaker, shared by every worker;
        returns why the fan-out stops (``circuit_open``, ``halted``), if it does."""
        s = fan_out_state
        where = and_(s.c.run_id == run_id, s.c.block_id == block_id)

        def write(conn: Connection) -> str | None:
            insert_ignore(
                conn,
                s,
                {"run_id": run_id, "block_id": block_id, "consecutive_failures": 0},
                ["run_id", "block_id"],
            )
            if outcome == "sent":
                conn.execute(update(s).where(where).values(consecutive_failures=0))
            elif outcome == "failed":
                conn.execute(
                    update(s).where(where).values(consecutive_failures=s.c.consecutive_failures + 1)
                )
                if breaker is not None:
                    conn.execute(
                        update(s)
                        .where(
                            and_(
                                where,
                                s.c.stop_reason.is_(None),
                                s.c.consecutive_failures >= breaker,
                            )
                        )
                        .values(stop_reason="circuit_open")
                    )
            return conn.execute(select(s.c.stop_reason).where(where)).scalar()

        return self.engine.write(write, what=f"count an item of run {run_id}")

    def stop_items(self, run_id: str, block_id: str, reason: str) -> None:
        s = fan_out_state

        def write(conn: Connection) -> None:
            insert_ignore(
                conn,
                s,
                {"run_id": run_id, "block_id": block_id, "consecutive_failures": 0},
                ["run_id", "block_id"],
            )
            conn.execute(
                update(s)
                .where(
                    and_(s.c.run_id == run_id, s.c.block_id == block_id, s.c.stop_reason.is_(None))
                )
                .values(stop_reason=reason)
            )

        self.engine.write(write, what=f"stop the items of run {run_id}")

    def stop_reason(self, run_id: str, block_id: str) -> str | None:
        s = fan_out_state
        with self.engine.read() as conn:
            return conn.execute(
                select(s.c.stop_reason).where(and_(s.c.run_id == run_id, s.c.block_id == block_id))
            ).scalar()

    def close_items(self, run_id: str, block_id: str) -> dict[str, int]:
        """End what is left: items still ``pending`` never started (a circuit breaker, a
        kill switch); items still ``running`` were in flight on a worker that died, so what
        became of them is ``unknown``."""
        t = fan_out_items
        where = and_(t.c.run_id == run_id, t.c.block_id == block_id)
        stamp = utc_now_iso()

        def write(conn: Connection) -> None:
            conn.execute(
                update(t)
                .where(and_(where, t.c.status == "pending"))
                .values(status="not_started", updated_at=stamp)
            )
            conn.execute(
                update(t)
                .where(and_(where, t.c.status == "running"))
                .values(status="unknown", code="fan_out.worker_lost", updated_at=stamp)
            )

        self.engine.write(write, what=f"close the items of {block_id} in run {run_id}")
        return self.item_counts(run_id, block_id)

    def item_counts(self, run_id: str, block_id: str) -> dict[str, int]:
        """Counts by status; ``running`` items held under an expired lease count as
        ``stalled`` (their worker died)."""
        t, now = fan_out_items, time.time()
        stalled = case(
            (and_(t.c.status == "running", t.c.lease_until < now), "stalled"), else_=t.c.status
        )
        with self.engine.read() as conn:
            rows = conn.execute(
                select(stalled, func.count())
                .where(and_(t.c.run_id == run_id, t.c.block_id == block_id))
                .group_by(stalled)
            ).all()
        return {str(status): int(n) for status, n in rows}

    def items_of(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        t = fan_out_items
        query = select(t).where(t.c.run_id == run_id).order_by(t.c.block_id, t.c.item_key)
        if status is not None:
            query = query.where(t.c.status == status)
        with self.engine.read() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def settle_item(self, run_id: str, key: str, status: str) -> int:
        """Set the item(s) of ``run_id`` whose key is ``key`` to ``status`` (after a human
        settled an unknown send)."""
        t = fan_out_items
        return int(
            self.engine.write(
                lambda conn: (
                    conn.execute(
                        update(t)
                        .where(and_(t.c.run_id == run_id, t.c.item_key == key))
                        .values(status=status, updated_at=utc_now_iso())
                    ).rowcount
                ),
                what=f"settle item {key} of run {run_id}",
            )
        )
