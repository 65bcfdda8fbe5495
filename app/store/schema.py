"""The engine's tables and their versioned migrations (SQLite and PostgreSQL alike).

Tables are SQLAlchemy Core definitions so one schema serves both dialects. Each migration
is a numbered function applied once, in order, inside a transaction, and recorded in
``schema_migrations``; a database created by an older version is brought forward on
start and keeps its rows. Timestamps are ISO 8601 UTC text (sortable, portable).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = ["MIGRATIONS", "Migration", "metadata", "schema_migrations"]

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations",
    metadata,
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("description", Text, nullable=False),
    Column("applied_at", String(32), nullable=False),
)

workflow_run_log = Table(
    "workflow_run_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64), nullable=False, unique=True),
    Column("workflow_type", String(128), nullable=False),
    Column("status", String(32), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("completed_at", String(32)),
    Column("summary_json", Text, nullable=False),
)

reflexion_log = Table(
    "reflexion_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64), nullable=False, unique=True),
    Column("workflow_type", String(128), nullable=False),
    Column("narrative", Text, nullable=False),
    Column("tags", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("event_type", String(128), nullable=False),
    Column("idempotency_key", String(256), nullable=False, unique=True),
    Column("payload_json", Text, nullable=False),
    Column("workflow_id", String(128)),
    Column("run_id", String(64)),
    Column("created_at", String(32), nullable=False),
)

proposed_actions = Table(
    "proposed_actions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("action_type", String(128), nullable=False),
    Column("entity_ref", String(256), nullable=False, unique=True),
    Column("workflow_type", String(128)),
    Column("run_id", String(64)),
    Column("risk_level", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("payload_json", Text, nullable=False),
    Column("proposed_by", String(128)),
    Column("proposed_at", String(32), nullable=False),
    Column("expires_at", String(32)),
    Column("decided_by", String(128)),
    Column("decided_at", String(32)),
    Column("note", Text),
)

workflow_verify_results = Table(
    "workflow_verify_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("workflow_type", String(128), nullable=False),
    Column("check_name", String(128), nullable=False),
    Column("status", String(16), nullable=False),
    Column("database", String(128), nullable=False),
    Column("sql_check", Text, nullable=False),
    Column("params_json", Text, nullable=False),
    Column("expectation_json", Text, nullable=False),
    Column("due_at", String(32), nullable=False),
    Column("timeout_ms", Integer, nullable=False),
    Column("observed_json", Text),
    Column("message", Text),
    Column("checked_at", String(32)),
    UniqueConstraint("run_id", "check_name", name="uq_verify_run_check"),
)

outbound_email_log = Table(
    "outbound_email_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("idempotency_key", String(256), nullable=False, unique=True),
    Column("workflow_id", String(128), nullable=False),
    Column("related_workflow", String(128)),
    Column("workflow_run_id", String(64)),
    Column("customer_id", String(128)),
    Column("recipient", String(320), nullable=False),
    Column("message_id", String(256)),
    Column("status", String(16), nullable=False),
    Column("error", Text),
    Column("created_at", String(32), nullable=False),
    Column("sent_at", String(32)),
)

kill_switches = Table(
    "kill_switches",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("engaged", Boolean, nullable=False),
    Column("reason", Text),
    Column("updated_by", String(128)),
    Column("updated_at", String(32), nullable=False),
)

event_deliveries = Table(
    "event_deliveries",
    metadata,
    Column("subscriber", String(256), primary_key=True),
    Column("event_id", Integer, ForeignKey("events.id"), primary_key=True),
    Column("run_id", String(64)),
    Column("delivered_at", String(32), nullable=False),
)

_V1_TABLES = (
    workflow_run_log,
    reflexion_log,
    events,
    proposed_actions,
    workflow_verify_results,
    outbound_email_log,
    kill_switches,
)


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1(conn: Connection) -> None:
    for table in _V1_TABLES:
        table.create(conn)


def _v2(conn: Connection) -> None:
    event_deliveries.create(conn)
    # Plain DDL (valid on SQLite and PostgreSQL): Index objects bound to the tables would
    # also be emitted by v1's CREATE TABLE on a fresh database.
    for ddl in (
        "CREATE INDEX IF NOT EXISTS ix_run_log_type_started"
        " ON workflow_run_log (workflow_type, started_at)",
        "CREATE INDEX IF NOT EXISTS ix_verify_status_due"
        " ON workflow_verify_results (status, due_at)",
        "CREATE INDEX IF NOT EXISTS ix_email_log_run ON outbound_email_log (workflow_run_id)",
    ):
        conn.execute(text(ddl))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "run log, reflexion, ledger, approvals, verify, email log, kill switches", _v1),
    Migration(2, "event deliveries for event-triggered workflows; indexes", _v2),
)
