"""Durable runs in the store: the run rows, block checkpoints, fan-out items, cron firings.

:class:`DurableRuns` is the store's side of ``sdk.durable.RunStore`` (the kernel opens,
heartbeats, checkpoints and closes runs through it) and of ``sdk.FanOutItems``. Ownership
is a lease: a row's ``owner`` holds the run until ``lease_until``; taking a run over is one
conditional ``UPDATE`` (the owner is gone, or its lease expired), so any number of
processes may try and exactly one wins. Times of leases are seconds since the epoch.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Connection, Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from orchestrator_blocks.sdk.durable import (
    Checkpoint,
    Heartbeat,
    RunClaim,
    RunOwned,
    RunRecord,
    RunRefused,
)
from orchestrator_blocks.sdk.redaction import redact_value
from orchestrator_blocks.sdk.services import utc_now_iso

from .engine import StoreEngine
from .records import _json, insert_ignore
from .schema import cron_firings, run_checkpoints, runs

__all__ = ["RETRYABLE", "DurableRuns", "RunRow", "workflow_ref"]

LIVE = ("created", "running")
PAUSED = ("awaiting_approval",)
RETRYABLE = ("failed", "partial", "timed_out", "canceled")


def _insert_ignoring(dialect: str, table: Table) -> Any:
    """``INSERT ... ON CONFLICT DO NOTHING`` on the primary key, built once (None: other
    dialects, which go through the slower generic path)."""
    keys = [c.name for c in table.primary_key.columns]
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    return None


def _fast_json(value: Any) -> str | None:
    """A checkpoint's output or error as JSON text, redacted like every column (one per
    block: orjson, compact, keys sorted; ``json.dumps`` for what orjson refuses)."""
    if value is None:
        return None
    try:
        return orjson.dumps(redact_value(value), option=_JSON_OPTIONS).decode()
    except (orjson.JSONEncodeError, TypeError):
        return _json(value)


_JSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
_PLAIN_OUTPUTS = {(k, c) for k in ("json", "empty") for c in (int, float, bool, type(None))}


def _output_json(output: Mapping[str, Any] | None) -> str | None:
    """A checkpoint's output (``encode_value``'s form) as :func:`_fast_json` would write it;
    a number, a flag or nothing holds no text a secret could hide in, so it is not walked."""
    if (
        output is not None
        and len(output) == 2
        and (output.get("kind"), output.get("payload").__class__) in _PLAIN_OUTPUTS
    ):
        return orjson.dumps(output, option=_JSON_OPTIONS).decode()
    return _fast_json(output)


def _load(raw: str | None) -> Any:
    return json.loads(raw) if raw else None


def workflow_ref(source: str | None, workflows_dir: Path) -> str | None:
    """``source`` relative to the workflows directory when it lies inside, else as given."""
    if source is None:
        return None
    try:
        return Path(source).resolve().relative_to(workflows_dir.resolve()).as_posix()
    except ValueError:
        return source


@dataclass(frozen=True)
class RunRow:
    """One durable run as ``runs``, the console and recovery see it."""

    run_id: str
    workflow_id: str
    workflow_ref: str | None
    source: str | None
    source_hash: str | None
    input: Any
    status: str
    attempt: int
    owner: str | None
    lease_until: float | None
    previous_owner: str | None
    cancel_requested: bool
    waiting_on: Any
    error: Any
    created_at: str
    updated_at: str

    @property
    def owner_lost(self) -> bool:
        """Running, but its owner stopped renewing the lease (it died, or hangs)."""
        return self.status in LIVE and (self.lease_until or 0.0) < time.time()

    @property
    def shown_status(self) -> str:
        """The status as people read it: ``running (owner lost)`` for a dead owner."""
        if self.owner_lost:
            return (
                f"{self.status} (owner lost)"
                if self.source
                else f"{self.status} (owner lost; built in code, nothing to reload)"
            )
        return self.status

    @classmethod
    def of(cls, row: Any) -> RunRow:
        return cls(
            run_id=row["run_id"],
            workflow_id=row["workflow_id"],
            workflow_ref=row["workflow_ref"],
            source=row["source"],
            source_hash=row["source_hash"],
            input=_load(row["input_json"]),
            status=row["status"],
            attempt=row["attempt"],
            owner=row["owner"],
            lease_until=row["lease_until"],
            previous_owner=row["previous_owner"],
            cancel_requested=bool(row["cancel_requested"]),
            waiting_on=_load(row["waiting_on_json"]) or {},
            error=_load(row["error_json"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


class DurableRuns:
    """The durable-run tables behind one engine."""

    def __init__(self, engine: StoreEngine, workflows_dir: Path | None = None) -> None:
        self.engine = engine
        self.workflows_dir = workflows_dir or Path("workflows")
        # The hot path (a checkpoint per block) executes a statement built once with bound
        # parameters: building one per call costs more than the write.
        self.checkpoint_statement = _insert_ignoring(engine.dialect, run_checkpoints)

    # -- the kernel's protocol (sdk.durable.RunStore), run in a worker thread ---------------

    def open_run(self, record: RunRecord) -> RunClaim:
        now = time.time()

        def write(conn: Connection) -> RunClaim:
            row = (
                conn.execute(select(runs).where(runs.c.run_id == record.run_id)).mappings().first()
            )
            if record.mode == "new":
                if row is not None:
                    raise RunRefused(f"run {record.run_id} exists already; continue or retry it")
                conn.execute(runs.insert().values(**self._new_row(record, now)))
                return RunClaim(attempt=1, input=record.input)
            if row is None:
                raise RunRefused(
                    f"no run {record.run_id} in the store; see `orchestrator-blocks runs`"
                )
            current = RunRow.of(row)
            self._check_claimable(current, record, now)
            attempt, reuse = current.attempt, None
            if record.mode == "retry":
                attempt, reuse = current.attempt + 1, current.attempt
            previous = (
                current.owner if current.status in LIVE and current.owner != record.owner else None
            )
            claimed = conn.execute(
                update(runs)
                .where(
                    and_(
                        runs.c.run_id == record.run_id,
                        runs.c.status == current.status,
                        runs.c.attempt == current.attempt,
                        or_(
                            runs.c.owner.is_(None),
                            runs.c.owner == record.owner,
                            runs.c.lease_until < now,
                        ),
                    )
                )
                .values(
                    status="running",
                    attempt=attempt,
                    owner=record.owner,
                    lease_until=now + record.lease_s,
                    heartbeat_at=now,
                    previous_owner=previous,
                    cancel_requested=False,
                    error_json=None,
                    waiting_on_json=None,
                    updated_at=utc_now_iso(),
                )
            )
            if not claimed.rowcount:
                raise RunOwned(f"run {record.run_id} was just taken by another process; try later")
            return RunClaim(attempt, current.input, previous, reuse)

        return self.engine.write(write, what=f"open run {record.run_id}")

    def _new_row(self, record: RunRecord, now: float) -> dict[str, Any]:
        stamp = utc_now_iso()
        return {
            "run_id": record.run_id,
            "workflow_id": record.workflow_id,
            "workflow_ref": workflow_ref(record.source, self.workflows_dir),
            "source": record.source,
            "source_hash": record.source_hash,
            "input_json": _fast_json(record.input) or "null",
            "status": "running",
            "attempt": 1,
            "owner": record.owner,
            "lease_until": now + record.lease_s,
            "heartbeat_at": now,
            "cancel_requested": False,
            "created_at": stamp,
            "updated_at": stamp,
        }

    @staticmethod
    def _check_claimable(current: RunRow, record: RunRecord, now: float) -> None:
        rid = record.run_id
        if record.mode == "continue" and current.status not in (*LIVE, *PAUSED):
            hint = (
                "; retry it with `orchestrator-blocks runs retry`"
                if current.status in RETRYABLE
                else ""
            )
            raise RunRefused(f"run {rid} is {current.status}: there is nothing to continue{hint}")
        if record.mode == "retry" and current.status not in RETRYABLE:
            raise RunRefused(
                f"run {rid} is {current.status}; only failed, partial, timed-out or canceled "
                "runs can be retried"
            )
        live = current.owner not in (None, record.owner) and (current.lease_until or 0) >= now
        if live:
            raise RunOwned(
                f"run {rid} is being run by {current.owner} (lease until "
                f"{time.strftime('%H:%M:%S', time.localtime(current.lease_until or now))}); "
                "wait for it, or try again after its lease expires"
            )
        if current.source_hash and record.source_hash != current.source_hash:
            raise RunRefused(
                f"run {rid}: its workflow file {current.workflow_ref or current.source} changed "
                f"since the run started (sha256 {current.source_hash} then, "
                f"{record.source_hash or 'no file'} now); restore the file to continue the run"
            )

    def heartbeat(self, run_id: str, owner: str, lease_s: float) -> Heartbeat:
        now = time.time()

        def write(conn: Connection) -> Heartbeat:
            renewed = conn.execute(
                update(runs)
                .where(and_(runs.c.run_id == run_id, runs.c.owner == owner))
                .values(lease_until=now + lease_s, heartbeat_at=now)
            )
            if not renewed.rowcount:
                return "lost"
            cancel = conn.execute(
                select(runs.c.cancel_requested).where(runs.c.run_id == run_id)
            ).scalar()
            return "cancel" if cancel else "ok"

        return self.engine.write(write, what=f"renew the lease of run {run_id}")

    @staticmethod
    def checkpoint_values(run_id: str, attempt: int, checkpoint: Checkpoint) -> dict[str, Any]:
        """The row of a checkpoint (its output and error as redacted JSON)."""
        return {
            "run_id": run_id,
            "attempt": attempt,
            "block_key": checkpoint.key,
            "status": checkpoint.status,
            "output_json": _output_json(checkpoint.output),
            "attempts": checkpoint.attempts,
            "error_json": _fast_json(checkpoint.error),
            "created_at": utc_now_iso(),
        }

    def save_checkpoint(self, run_id: str, attempt: int, checkpoint: Checkpoint) -> None:
        values = self.checkpoint_values(run_id, attempt, checkpoint)
        stmt = self.checkpoint_statement
        self.engine.write(
            lambda conn: (
                conn.execute(stmt, values)
                if stmt is not None
                else insert_ignore(
                    conn, run_checkpoints, values, ["run_id", "attempt", "block_key"]
                )
            ),
            what=f"checkpoint {checkpoint.key} of run {run_id}",
        )

    def load_checkpoints(self, run_id: str, attempt: int) -> list[Checkpoint]:
        t = run_checkpoints
        with self.engine.read() as conn:
            rows = conn.execute(
                select(t).where(and_(t.c.run_id == run_id, t.c.attempt == attempt))
            ).mappings()
            return [
                Checkpoint(
                    key=r["block_key"],
                    status=r["status"],
                    output=_load(r["output_json"]),
                    attempts=r["attempts"],
                    error=_load(r["error_json"]),
                )
                for r in rows
            ]

    def close_run(
        self,
        run_id: str,
        owner: str,
        status: str,
        *,
        waiting_on: Mapping[str, Any],
        error: Mapping[str, Any] | None,
    ) -> None:
        self.engine.write(
            lambda conn: conn.execute(
                update(runs)
                .where(and_(runs.c.run_id == run_id, runs.c.owner == owner))
                .values(
                    status=status,
                    owner=None,
                    # Handed back still running: expired at once, for any process to take.
                    lease_until=0.0 if status in LIVE else None,
                    waiting_on_json=_json(waiting_on) if waiting_on else None,
                    error_json=_json(error) if error is not None else None,
                    updated_at=utc_now_iso(),
                )
            ),
            what=f"close run {run_id}",
        )

    # -- what people and serve ask ---------------------------------------------------------

    def get(self, run_id: str) -> RunRow | None:
        with self.engine.read() as conn:
            row = conn.execute(select(runs).where(runs.c.run_id == run_id)).mappings().first()
            return RunRow.of(row) if row is not None else None

    def resolve(self, prefix: str) -> list[str]:
        """Run ids starting with ``prefix`` (at most two: enough to say "ambiguous")."""
        with self.engine.read() as conn:
            return list(
                conn.execute(
                    select(runs.c.run_id).where(runs.c.run_id.startswith(prefix)).limit(2)
                ).scalars()
            )

    def recent(
        self, *, workflow: str | None = None, statuses: Iterable[str] = (), limit: int = 50
    ) -> list[RunRow]:
        query = select(runs).order_by(runs.c.created_at.desc(), runs.c.run_id.desc()).limit(limit)
        if workflow:
            query = query.where(runs.c.workflow_id == workflow)
        wanted = list(statuses)
        if wanted:
            query = query.where(runs.c.status.in_(wanted))
        with self.engine.read() as conn:
            return [RunRow.of(r) for r in conn.execute(query).mappings()]

    def orphaned(self, limit: int = 20) -> list[RunRow]:
        """Running runs whose owner's lease expired: recovery takes them over."""
        query = (
            select(runs)
            .where(and_(runs.c.status.in_(LIVE), runs.c.lease_until < time.time()))
            .order_by(runs.c.lease_until)
            .limit(limit)
        )
        with self.engine.read() as conn:
            return [RunRow.of(r) for r in conn.execute(query).mappings()]

    def live_runs_of(self, workflow_id: str) -> int:
        """How many runs of ``workflow_id`` a live owner is running now (any process)."""
        query = select(func.count()).where(
            and_(
                runs.c.workflow_id == workflow_id,
                runs.c.status.in_(LIVE),
                runs.c.lease_until >= time.time(),
            )
        )
        with self.engine.read() as conn:
            return int(conn.execute(query).scalar() or 0)

    def request_cancel(self, run_id: str) -> bool:
        """Ask the live owner to stop the run (it sees the request at its next heartbeat)."""
        return bool(
            self.engine.write(
                lambda conn: (
                    conn.execute(
                        update(runs)
                        .where(and_(runs.c.run_id == run_id, runs.c.status.in_(LIVE)))
                        .values(cancel_requested=True, updated_at=utc_now_iso())
                    ).rowcount
                ),
                what=f"request to cancel run {run_id}",
            )
        )

    def cancel_now(self, run_id: str) -> bool:
        """End a run nobody holds (paused, or its owner's lease expired) as ``canceled``."""
        now = time.time()
        return bool(
            self.engine.write(
                lambda conn: (
                    conn.execute(
                        update(runs)
                        .where(
                            and_(
                                runs.c.run_id == run_id,
                                runs.c.status.in_((*LIVE, *PAUSED)),
                                or_(runs.c.owner.is_(None), runs.c.lease_until < now),
                            )
                        )
                        .values(
                            status="canceled",
                            owner=None,
                            lease_until=None,
                            updated_at=utc_now_iso(),
                        )
                    ).rowcount
                ),
                what=f"cancel run {run_id}",
            )
        )

    # -- cron firings ------------------------------------------------------------------------

    def claim_firing(self, workflow_id: str, firing_at: str, owner: str) -> bool:
        """True for exactly one caller per (workflow, firing time), across processes."""
        values = {
            "workflow_id": workflow_id,
            "firing_at": firing_at,
            "claimed_by": owner,
            "claimed_at": utc_now_iso(),
        }
        return self.engine.write(
            lambda conn: insert_ignore(conn, cron_firings, values, ["workflow_id", "firing_at"]),
            what=f"claim the {firing_at} firing of {workflow_id}",
        )
