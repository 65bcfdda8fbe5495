"""``proposed_actions`` (what waits for the approver) and ``outbound_email_log`` (what was
sent, keyed for idempotency).

A proposal's payload, its decision note and a send's error pass through the SDK's redactor
like every other row (``records._json``): an input named like a secret (``api_token``) is
stored masked, so a workflow an approval starts never receives it; credentials belong in
``ctx.secret``, not in inputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, bindparam, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator_blocks.sdk.services import utc_now_iso

from .engine import StoreEngine
from .records import _json, _text, insert_ignore
from .schema import outbound_email_log, proposed_actions

__all__ = ["OutboundLog", "Proposal", "Proposals", "SendRecord"]

PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"


@dataclass(frozen=True)
class Proposal:
    id: int
    action_type: str
    entity_ref: str
    workflow_type: str | None
    run_id: str | None
    risk_level: int
    status: str
    payload: dict[str, Any]
    proposed_by: str | None
    proposed_at: str
    expires_at: str | None
    decided_by: str | None
    decided_at: str | None
    note: str | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _proposal(row: Any) -> Proposal:
    data = dict(row)
    data["payload"] = json.loads(data.pop("payload_json"))
    return Proposal(**data)


class Proposals:
    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine

    def stage(
        self,
        *,
        action_type: str,
        entity_ref: str,
        payload: Mapping[str, Any],
        risk_level: int,
        workflow_type: str | None = None,
        run_id: str | None = None,
        proposed_by: str | None = None,
        expires_at: str | None = None,
    ) -> tuple[Proposal, bool]:
        """Stage once per ``entity_ref``; returns the row and whether it was created now."""
        values = {
            "action_type": action_type,
            "entity_ref": entity_ref,
            "workflow_type": workflow_type,
            "run_id": run_id,
            "risk_level": risk_level,
            "status": PENDING,
            "payload_json": _json(payload),
            "proposed_by": proposed_by,
            "proposed_at": utc_now_iso(),
            "expires_at": expires_at,
        }

        def write(conn: Connection) -> tuple[Proposal, bool]:
            created = insert_ignore(conn, proposed_actions, values, ["entity_ref"])
            row = (
                conn.execute(
                    select(proposed_actions).where(proposed_actions.c.entity_ref == entity_ref)
                )
                .mappings()
                .one()
            )
            return _proposal(row), created

        return self.engine.write(write, what=f"stage proposal {entity_ref}")

    def get(self, proposal_id: int) -> Proposal | None:
        with self.engine.read() as conn:
            row = (
                conn.execute(select(proposed_actions).where(proposed_actions.c.id == proposal_id))
                .mappings()
                .first()
            )
        return _proposal(row) if row else None

    def by_ref(self, entity_ref: str) -> Proposal | None:
        with self.engine.read() as conn:
            row = (
                conn.execute(
                    select(proposed_actions).where(proposed_actions.c.entity_ref == entity_ref)
                )
                .mappings()
                .first()
            )
        return _proposal(row) if row else None

    def list(
        self, status: str | None = None, limit: int = 100, *, run_id: str | None = None
    ) -> list[Proposal]:
        t = proposed_actions
        # pending first, then the most recent decisions
        stmt = select(t).order_by((t.c.status != PENDING), t.c.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(t.c.status == status)
        if run_id is not None:
            stmt = stmt.where(t.c.run_id == run_id)
        with self.engine.read() as conn:
            return [_proposal(r) for r in conn.execute(stmt).mappings().all()]

    def decide(self, proposal_id: int, status: str, *, by: str | None, note: str | None) -> bool:
        """Move a pending proposal to ``status`` (once: False if it was no longer pending)."""
        t = proposed_actions

        def write(conn: Connection) -> bool:
            result = conn.execute(
                update(t)
                .where(and_(t.c.id == proposal_id, t.c.status == PENDING))
                .values(status=status, decided_by=by, decided_at=utc_now_iso(), note=_text(note))
            )
            return bool(result.rowcount)

        return self.engine.write(write, what=f"decide proposal {proposal_id}")


@dataclass(frozen=True)
class SendRecord:
    idempotency_key: str
    status: str  # sending | sent | failed
    recipient: str
    message_id: str | None
    workflow_run_id: str | None
    error: str | None


class OutboundLog:
    """``outbound_email_log``: a row before delivery (``sending``) and after (``sent`` or
    ``failed``), unique per idempotency key, so no key is ever delivered twice."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine
        # A fan-out claims and finishes a key per message: the statements are built once
        # with bound parameters (building one per call cost more than the write itself).
        t = outbound_email_log
        self._insert: Any = None
        if engine.dialect == "sqlite":
            self._insert = sqlite.insert(t).on_conflict_do_nothing(
                index_elements=["idempotency_key"]
            )
        elif engine.dialect == "postgresql":  # psycopg's rowcount is -1 here: RETURNING
            self._insert = (
                postgresql.insert(t)
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
                .returning(t.c.idempotency_key)
            )
        self._reclaim = (
            update(t)
            .where(and_(t.c.idempotency_key == bindparam("p_key"), t.c.status == "failed"))
            .values(status="sending", workflow_run_id=bindparam("p_run"), error=None)
        )
        by_key = t.c.idempotency_key == bindparam("p_key")
        self._finish = (
            update(t).where(by_key).values(status=bindparam("p_status"), error=bindparam("p_error"))
        )
        self._finish_sent = (
            update(t)
            .where(by_key)
            .values(
                status=bindparam("p_status"), error=bindparam("p_error"), sent_at=bindparam("p_at")
            )
        )

    def get(self, key: str) -> SendRecord | None:
        t = outbound_email_log
        with self.engine.read() as conn:
            row = conn.execute(select(t).where(t.c.idempotency_key == key)).mappings().first()
        if row is None:
            return None
        return SendRecord(
            row["idempotency_key"],
            row["status"],
            row["recipient"],
            row["message_id"],
            row["workflow_run_id"],
            row["error"],
        )

    def begin(
        self,
        key: str,
        *,
        workflow_id: str,
        run_id: str,
        recipient: str,
        message_id: str,
        customer_id: str | None = None,
        related_workflow: str | None = None,
    ) -> tuple[bool, SendRecord | None]:
        """Claim ``key`` before delivery: ``(True, None)`` when this caller may send, else
        ``(False, existing)``. A ``failed`` row (delivery refused) may be claimed again."""
        values = self.claim_values(
            key,
            workflow_id=workflow_id,
            run_id=run_id,
            recipient=recipient,
            message_id=message_id,
            customer_id=customer_id,
            related_workflow=related_workflow,
        )
        return self.engine.write(lambda conn: self.claim_in(conn, values), what=f"claim send {key}")

    @staticmethod
    def claim_values(
        key: str,
        *,
        workflow_id: str,
        run_id: str,
        recipient: str,
        message_id: str,
        customer_id: str | None = None,
        related_workflow: str | None = None,
    ) -> dict[str, Any]:
        return {
            "idempotency_key": key,
            "workflow_id": workflow_id,
            "related_workflow": related_workflow or workflow_id,
            "workflow_run_id": run_id,
            "customer_id": customer_id,
            "recipient": recipient,
            "message_id": message_id,
            "status": "sending",
            "created_at": utc_now_iso(),
        }

    def claim_in(self, conn: Connection, values: dict[str, Any]) -> tuple[bool, SendRecord | None]:
        """:meth:`begin`'s claim inside a transaction someone else commits."""
        t = outbound_email_log
        key, run_id = values["idempotency_key"], values["workflow_run_id"]
        if self._insert is None:
            inserted = insert_ignore(conn, t, values, ["idempotency_key"])
        elif self.engine.dialect == "postgresql":
            inserted = conn.execute(self._insert, values).first() is not None
        else:
            inserted = bool(conn.execute(self._insert, values).rowcount)
        if inserted:
            return True, None
        retried = conn.execute(self._reclaim, {"p_key": key, "p_run": run_id})
        if retried.rowcount:
            return True, None
        row = conn.execute(select(t).where(t.c.idempotency_key == key)).mappings().one()
        return False, SendRecord(
            key,
            row["status"],
            row["recipient"],
            row["message_id"],
            row["workflow_run_id"],
            row["error"],
        )

    def finish(self, key: str, status: str, *, error: str | None = None) -> None:
        self.engine.write(
            lambda conn: self.finish_in(conn, key, status, error),
            what=f"record send {key} as {status}",
        )

    def finish_in(self, conn: Connection, key: str, status: str, error: str | None) -> None:
        """:meth:`finish` inside a transaction someone else commits."""
        conn.execute(*self.finish_statement(key, status, error))

    def finish_statement(
        self, key: str, status: str, error: str | None
    ) -> tuple[Any, dict[str, Any]]:
        """The statement recording ``key``'s outcome and its parameters (``sent_at`` is set
        when it was sent): the same statement for every key, so a group commit runs the
        finishes that come together as one ``executemany``."""
        params: dict[str, Any] = {"p_key": key, "p_status": status, "p_error": _text(error)}
        if status != "sent":
            return self._finish, params
        params["p_at"] = utc_now_iso()
        return self._finish_sent, params

    def mark_unknown(self, run_id: str) -> list[str]:
        """Sends of ``run_id`` still ``sending`` (their process died mid-delivery) become
        ``unknown``: a human settles them, nothing re-sends them. Returns their keys."""
        t = outbound_email_log

        def write(conn: Connection) -> list[str]:
            where = and_(t.c.workflow_run_id == run_id, t.c.status == "sending")
            keys = list(conn.execute(select(t.c.idempotency_key).where(where)).scalars())
            if keys:
                conn.execute(update(t).where(where).values(status="unknown"))
            return keys

        return self.engine.write(write, what=f"mark the sends of run {run_id} unknown")

    def settle(self, key: str, status: str, *, by: str) -> SendRecord | None:
        """A human says what happened to an ``unknown`` (or stuck ``sending``) send."""
        t = outbound_email_log

        def write(conn: Connection) -> SendRecord | None:
            values: dict[str, Any] = {"status": status, "error": f"settled {status} by {by}"}
            if status == "sent":
                values["sent_at"] = utc_now_iso()
            done = conn.execute(
                update(t)
                .where(and_(t.c.idempotency_key == key, t.c.status.in_(("unknown", "sending"))))
                .values(**values)
            )
            if not done.rowcount:
                return None
            row = conn.execute(select(t).where(t.c.idempotency_key == key)).mappings().one()
            return SendRecord(
                key,
                row["status"],
                row["recipient"],
                row["message_id"],
                row["workflow_run_id"],
                row["error"],
            )

        return self.engine.write(write, what=f"settle send {key}")

    def unknown(self, limit: int = 100) -> list[dict[str, Any]]:
        """Sends whose outcome is unknown, oldest first: each waits for a human to settle it."""
        t = outbound_email_log
        with self.engine.read() as conn:
            rows = conn.execute(
                select(t).where(t.c.status == "unknown").order_by(t.c.id).limit(limit)
            )
            return [dict(r) for r in rows.mappings().all()]

    def for_run(self, run_id: str) -> list[dict[str, Any]]:
        t = outbound_email_log
        with self.engine.read() as conn:
            rows = conn.execute(select(t).where(t.c.workflow_run_id == run_id).order_by(t.c.id))
            return [dict(r) for r in rows.mappings().all()]
