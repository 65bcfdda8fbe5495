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
    Float,
    ForeignKey,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    inspect,
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

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("workflow_id", String(128), nullable=False),
    Column("workflow_ref", Text),  # relative to the workflows directory when inside it
    Column("source", Text),  # the file as the starting process saw it
    Column("source_hash", String(64)),
    Column("input_json", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("owner", String(256)),
    Column("lease_until", Float),  # seconds since the epoch
    Column("heartbeat_at", Float),
    Column("previous_owner", String(256)),
    Column("cancel_requested", Boolean, nullable=False),
    Column("waiting_on_json", Text),
    Column("error_json", Text),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
)

run_checkpoints = Table(
    "run_checkpoints",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("block_key", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("output_json", Text),
    Column("attempts", Integer, nullable=False),
    Column("error_json", Text),
    Column("created_at", String(32), nullable=False),
    PrimaryKeyConstraint("run_id", "attempt", "block_key", name="pk_run_checkpoints"),
)

fan_out_items = Table(
    "fan_out_items",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("block_id", String(128), nullable=False),
    Column("item_key", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("run_attempt", Integer, nullable=False),
    Column("code", String(128)),
    Column("updated_at", String(32), nullable=False),
    PrimaryKeyConstraint("run_id", "block_id", "item_key", name="pk_fan_out_items"),
)
# Added by migration 4 (ALTER TABLE), declared here so queries can name them:
fan_out_items.append_column(Column("owner", String(256)))
fan_out_items.append_column(Column("lease_until", Float))
fan_out_items.append_column(Column("dispatched_at", Float))

cron_firings = Table(
    "cron_firings",
    metadata,
    Column("workflow_id", String(128), nullable=False),
    Column("firing_at", String(32), nullable=False),
    Column("claimed_by", String(256), nullable=False),
    Column("claimed_at", String(32), nullable=False),
    PrimaryKeyConstraint("workflow_id", "firing_at", name="pk_cron_firings"),
)

fan_out_state = Table(
    "fan_out_state",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("block_id", String(128), nullable=False),
    Column("consecutive_failures", Integer, nullable=False),
    Column("stop_reason", String(32)),
    PrimaryKeyConstraint("run_id", "block_id", name="pk_fan_out_state"),
)

run_events = Table(
    "run_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("parent_run_id", String(64)),
    Column("ts", String(32)),
    Column("event_json", Text, nullable=False),
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


def _v3(conn: Connection) -> None:
    for table in (runs, run_checkpoints, fan_out_items, cron_firings):
        table.create(conn)
    for ddl in (
        "CREATE INDEX IF NOT EXISTS ix_runs_status_lease ON runs (status, lease_until)",
        "CREATE INDEX IF NOT EXISTS ix_runs_workflow ON runs (workflow_id, created_at)",
        "CREATE INDEX IF NOT EXISTS ix_items_status ON fan_out_items (run_id, block_id, status)",
    ):
        conn.execute(text(ddl))


def _v4(conn: Connection) -> None:
    # A database made by migration 3 lacks the item columns a fresh one already has.
    have = {c["name"] for c in inspect(conn).get_columns("fan_out_items")}
    for name, kind in (
        ("owner", "VARCHAR(256)"),
        ("lease_until", "FLOAT"),
        ("dispatched_at", "FLOAT"),
    ):
        if name not in have:
            conn.execute(text(f"ALTER TABLE fan_out_items ADD COLUMN {name} {kind}"))
    fan_out_state.create(conn)
    run_events.create(conn)
    for ddl in (
        "CREATE INDEX IF NOT EXISTS ix_run_events_run ON run_events (run_id, id)",
        "CREATE INDEX IF NOT EXISTS ix_run_events_parent ON run_events (parent_run_id)",
    ):
        conn.execute(text(ddl))


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "run log, reflexion, ledger, approvals, verify, email log, kill switches", _v1),
    Migration(2, "event deliveries for event-triggered workflows; indexes", _v2),
    Migration(3, "durable runs: runs, checkpoints, fan-out items, cron firings", _v3),
    Migration(4, "fan-out items across workers; run events in the store", _v4),
)
