"""What the engine records: run log, reflexion, event ledger, kill switches, verify checks.

Every write is idempotent where the card asks for it (one run-log row and one ledger event
per run, whatever retries happen), so a post action can simply be retried.

Nothing secret is written: every JSON column goes through :func:`_json` and every free-text
column through :func:`_text`, the SDK's redactor (registered secret values, URL credentials
and, in JSON, values under secret-looking keys). The only exception is the data a verify
check computes with later (its parameters and frozen facts): there a value under a key named
``token`` may be what the check needs, so only registered secret values are scrubbed.
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Table, and_, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator_blocks.sdk import to_jsonable
from orchestrator_blocks.sdk.redaction import redact_text, redact_value, scrub
from orchestrator_blocks.sdk.services import utc_now_iso
from orchestrator_blocks.sdk.values import json_native

from .engine import StoreEngine
from .schema import (
    event_deliveries,
    events,
    kill_switches,
    reflexion_log,
    workflow_run_log,
    workflow_verify_results,
)

__all__ = [
    "EventRecord",
    "KillSwitches",
    "Ledger",
    "RunLog",
    "VerifyCheck",
    "VerifyChecks",
    "insert_ignore",
]


def _json(value: Any) -> str:
    """``value`` as the JSON text of a column, redacted (see the module docstring)."""
    return json.dumps(redact_value(json_native(value)), ensure_ascii=False, sort_keys=True)


def _json_kept(value: Any) -> str:
    """Like :func:`_json` for data computed with later: registered secret values only."""
    return json.dumps(_scrubbed(to_jsonable(value)), ensure_ascii=False, sort_keys=True)


def _scrubbed(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(v) for v in value]
    return value


def _text(value: str | None) -> str | None:
    """A free-text column (a narrative, a reason, an error) without secrets."""
    return scrub(redact_text(value)) if value else value


def insert_ignore(conn: Connection, table: Table, values: dict[str, Any], keys: list[str]) -> bool:
    """Insert a row unless one with the same unique ``keys`` exists; True if inserted."""
    name = conn.dialect.name
    if name == "sqlite":
        stmt: Any = (
            sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
        )
    elif name == "postgresql":
        # psycopg reports rowcount -1 here; RETURNING says whether a row was written.
        stmt = (
            postgresql.insert(table)
            .values(**values)
            .on_conflict_do_nothing(index_elements=keys)
            .returning(table.c[keys[0]])
        )
        return conn.execute(stmt).first() is not None
    else:
        exists = conn.execute(
            select(table).where(and_(*(table.c[k] == values[k] for k in keys)))
        ).first()
        if exists is not None:
            return False
        stmt = insert(table).values(**values)
    return bool(conn.execute(stmt).rowcount)


class RunLog:
    """``workflow_run_log`` (one row per run) and ``reflexion_log``."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine

    def record(
        self,
        *,
        run_id: str,
        workflow_type: str,
        status: str,
        started_at: str,
        completed_at: str | None,
        summary: Mapping[str, Any],
    ) -> None:
        values = {
            "run_id": run_id,
            "workflow_type": workflow_type,
            "status": status,
            "started_at": started_at,
            "completed_at": completed_at,
            "summary_json": _json(summary),
        }

        def write(conn: Connection) -> None:
            if not insert_ignore(conn, workflow_run_log, values, ["run_id"]):
                conn.execute(
                    update(workflow_run_log)
                    .where(workflow_run_log.c.run_id == run_id)
                    .values(**values)
                )

        self.engine.write(write, what=f"record run {run_id} in workflow_run_log")

    def get(self, run_id: str) -> dict[str, Any] | None:
        with self.engine.read() as conn:
            row = (
                conn.execute(select(workflow_run_log).where(workflow_run_log.c.run_id == run_id))
                .mappings()
                .first()
            )
        if row is None:
            return None
        out = dict(row)
        out["summary"] = json.loads(out.pop("summary_json"))
        return out

    def recent(self, limit: int = 50, workflow_type: str | None = None) -> list[dict[str, Any]]:
        stmt = select(workflow_run_log).order_by(workflow_run_log.c.started_at.desc()).limit(limit)
        if workflow_type:
            stmt = stmt.where(workflow_run_log.c.workflow_type == workflow_type)
        with self.engine.read() as conn:
            rows = conn.execute(stmt).mappings().all()
        return [{**dict(r), "summary": json.loads(r["summary_json"])} for r in rows]

    def record_reflexion(
        self, *, run_id: str, workflow_type: str, narrative: str, tags: list[str]
    ) -> bool:
        values = {
            "run_id": run_id,
            "workflow_type": workflow_type,
            "narrative": _text(narrative),
            "tags": ",".join(tags),
            "created_at": utc_now_iso(),
        }
        return self.engine.write(
            lambda conn: insert_ignore(conn, reflexion_log, values, ["run_id"]),
            what=f"record reflexion of run {run_id}",
        )

    def search_reflexion(
        self, text: str = "", *, tag: str | None = None, run_id: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        stmt = select(reflexion_log).order_by(reflexion_log.c.created_at.desc()).limit(limit)
        if run_id is not None:
            stmt = stmt.where(reflexion_log.c.run_id == run_id)
        for word in text.split():
            pattern = f"%{word.lower()}%"
            stmt = stmt.where(
                or_(
                    reflexion_log.c.narrative.ilike(pattern),
                    reflexion_log.c.tags.ilike(pattern),
                    reflexion_log.c.workflow_type.ilike(pattern),
                )
            )
        if tag:
            stmt = stmt.where(reflexion_log.c.tags.ilike(f"%{tag}%"))
        with self.engine.read() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]


@dataclass(frozen=True)
class EventRecord:
    id: int
    event_type: str
    idempotency_key: str
    payload: dict[str, Any]
    workflow_id: str | None
    run_id: str | None
    created_at: str


def _event(row: Any) -> EventRecord:
    return EventRecord(
        id=row["id"],
        event_type=row["event_type"],
        idempotency_key=row["idempotency_key"],
        payload=json.loads(row["payload_json"]),
        workflow_id=row["workflow_id"],
        run_id=row["run_id"],
        created_at=row["created_at"],
    )


class Ledger:
    """The event ledger: ``record_event`` is idempotent on its key."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine

    def record(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        idempotency_key: str,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
    ) -> tuple[int, bool]:
        """Record an event once; returns ``(event id, created)`` (``False`` for a repeat)."""
        values = {
            "event_type": event_type,
            "idempotency_key": idempotency_key,
            "payload_json": _json(payload),
            "workflow_id": workflow_id,
            "run_id": run_id,
            "created_at": utc_now_iso(),
        }

        def write(conn: Connection) -> tuple[int, bool]:
            created = insert_ignore(conn, events, values, ["idempotency_key"])
            event_id = conn.execute(
                select(events.c.id).where(events.c.idempotency_key == idempotency_key)
            ).scalar_one()
            return int(event_id), created

        return self.engine.write(write, what=f"record event {event_type}")

    def list(
        self, *, event_type: str | None = None, after_id: int = 0, limit: int = 100
    ) -> builtins.list[EventRecord]:
        stmt = select(events).where(events.c.id > after_id).order_by(events.c.id).limit(limit)
        if event_type:
            stmt = stmt.where(events.c.event_type == event_type)
        with self.engine.read() as conn:
            return [_event(r) for r in conn.execute(stmt).mappings().all()]

    def recent(self, limit: int = 50, *, run_id: str | None = None) -> builtins.list[EventRecord]:
        stmt = select(events).order_by(events.c.id.desc()).limit(limit)
        if run_id is not None:
            stmt = stmt.where(events.c.run_id == run_id)
        with self.engine.read() as conn:
            return [_event(r) for r in conn.execute(stmt).mappings().all()]

    def claim_delivery(self, subscriber: str, event_id: int) -> bool:
        """Claim ``event_id`` for ``subscriber`` once, ever (across processes and restarts)."""
        values = {
            "subscriber": subscriber,
            "event_id": event_id,
            "run_id": None,
            "delivered_at": utc_now_iso(),
        }
        return self.engine.write(
            lambda conn: insert_ignore(conn, event_deliveries, values, ["subscriber", "event_id"]),
            what=f"claim event {event_id} for {subscriber}",
        )

    def set_delivery_run(self, subscriber: str, event_id: int, run_id: str) -> None:
        self.engine.write(
            lambda conn: conn.execute(
                update(event_deliveries)
                .where(
                    and_(
                        event_deliveries.c.subscriber == subscriber,
                        event_deliveries.c.event_id == event_id,
                    )
                )
                .values(run_id=run_id)
            ),
            what="record the run of an event delivery",
        )

    def deliveries(self, subscriber: str) -> builtins.list[dict[str, Any]]:
        stmt = select(event_deliveries).where(event_deliveries.c.subscriber == subscriber)
        with self.engine.read() as conn:
            return [dict(r) for r in conn.execute(stmt).mappings().all()]


class KillSwitches:
    """Named switches that stop write steps (``orchestrator-blocks kill on NAME``)."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine

    def set(
        self, name: str, engaged: bool, *, by: str | None = None, reason: str | None = None
    ) -> None:
        values = {
            "name": name,
            "engaged": engaged,
            "reason": _text(reason),
            "updated_by": by,
            "updated_at": utc_now_iso(),
        }

        def write(conn: Connection) -> None:
            if not insert_ignore(conn, kill_switches, values, ["name"]):
                conn.execute(
                    update(kill_switches).where(kill_switches.c.name == name).values(**values)
                )

        self.engine.write(write, what=f"set kill switch {name}")

    def engaged(self, name: str) -> bool:
        with self.engine.read() as conn:
            row = conn.execute(
                select(kill_switches.c.engaged).where(kill_switches.c.name == name)
            ).first()
        return bool(row and row[0])

    def all(self) -> list[dict[str, Any]]:
        with self.engine.read() as conn:
            rows = conn.execute(select(kill_switches).order_by(kill_switches.c.name))
            return [dict(r) for r in rows.mappings().all()]


@dataclass(frozen=True)
class VerifyCheck:
    id: int
    run_id: str
    workflow_type: str
    check_name: str
    status: str
    database: str
    sql_check: str
    params: dict[str, Any]
    expectation: dict[str, Any]
    due_at: str
    timeout_ms: int
    observed: Any
    message: str | None
    checked_at: str | None


def _check(row: Any) -> VerifyCheck:
    return VerifyCheck(
        id=row["id"],
        run_id=row["run_id"],
        workflow_type=row["workflow_type"],
        check_name=row["check_name"],
        status=row["status"],
        database=row["database"],
        sql_check=row["sql_check"],
        params=json.loads(row["params_json"]),
        expectation=json.loads(row["expectation_json"]),
        due_at=row["due_at"],
        timeout_ms=row["timeout_ms"],
        observed=json.loads(row["observed_json"]) if row["observed_json"] else None,
        message=row["message"],
        checked_at=row["checked_at"],
    )


class VerifyChecks:
    """``workflow_verify_results``: checks staged ``pending`` and flipped later."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine

    def stage(
        self,
        *,
        run_id: str,
        workflow_type: str,
        check_name: str,
        database: str,
        sql_check: str,
        params: Mapping[str, Any],
        expectation: Mapping[str, Any],
        due_at: str,
        timeout_ms: int,
    ) -> bool:
        values = {
            "run_id": run_id,
            "workflow_type": workflow_type,
            "check_name": check_name,
            "status": "pending",
            "database": database,
            "sql_check": sql_check,
            "params_json": _json_kept(params),
            "expectation_json": _json_kept(expectation),
            "due_at": due_at,
            "timeout_ms": timeout_ms,
        }
        return self.engine.write(
            lambda conn: insert_ignore(
                conn, workflow_verify_results, values, ["run_id", "check_name"]
            ),
            what=f"stage verify check {check_name}",
        )

    def due(self, now_iso: str) -> list[VerifyCheck]:
        t = workflow_verify_results
        stmt = (
            select(t)
            .where(and_(t.c.status == "pending", t.c.due_at <= now_iso))
            .order_by(t.c.due_at)
        )
        with self.engine.read() as conn:
            return [_check(r) for r in conn.execute(stmt).mappings().all()]

    def finish(self, check_id: int, status: str, observed: Any, message: str) -> bool:
        """Flip a pending check to ``pass``/``fail``/``timeout`` (once; False if already done)."""
        t = workflow_verify_results

        def write(conn: Connection) -> bool:
            result = conn.execute(
                update(t)
                .where(and_(t.c.id == check_id, t.c.status == "pending"))
                .values(
                    status=status,
                    observed_json=_json(observed),
                    message=_text(message),
                    checked_at=utc_now_iso(),
                )
            )
            return bool(result.rowcount)

        return self.engine.write(write, what=f"record verify result {check_id}")

    def for_run(self, run_id: str) -> list[VerifyCheck]:
        t = workflow_verify_results
        with self.engine.read() as conn:
            rows = conn.execute(select(t).where(t.c.run_id == run_id).order_by(t.c.id))
            return [_check(r) for r in rows.mappings().all()]
