"""The store's tables behind one engine, and the services blocks reach it through.

:func:`open_store` gives the store for the current settings: SQLite at
``$ORCHESTRATOR_BLOCKS_HOME/state.db`` by default, or ``ORCHESTRATOR_BLOCKS_DB_URL``; it is
migrated on first open in a process. :class:`Databases` is the SDK's ``SqlDatabases``
service (``local`` plus the ``databases:`` of the config file); :class:`SendLog` and
:class:`SwitchBoard` are its ``SendLog`` and ``KillSwitches``. The store reaches runs
through the hooks in :mod:`.plugin`.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, text

from orchestrator_blocks.sdk import Settings, SqlError
from orchestrator_blocks.sdk.durable import Checkpoint, Heartbeat, RunClaim, RunRecord
from orchestrator_blocks.sdk.redaction import register_url_credentials
from orchestrator_blocks.sdk.sql import statement_writes

from ..config import app_config
from .durable import DurableRuns
from .engine import StoreEngine, classify, normalize_url, redact_url
from .items import FanOutRows
from .proposals import OutboundLog, Proposal, Proposals, SendRecord
from .records import EventRecord, KillSwitches, Ledger, RunLog, VerifyCheck, VerifyChecks
from .writer import Writer

__all__ = [
    "Databases",
    "DurableRuns",
    "EventRecord",
    "ItemLog",
    "OutboundLog",
    "Proposal",
    "Proposals",
    "SendLog",
    "SendRecord",
    "Store",
    "SwitchBoard",
    "VerifyCheck",
    "classify",
    "describe",
    "forget_stores",
    "open_store",
    "store_url",
]


class Store:
    """The engine's tables behind one engine: run log, ledger, switches, verify checks,
    and the durable runs; it is also the kernel's ``sdk.durable.RunStore``."""

    def __init__(self, url: str) -> None:
        self.engine = StoreEngine(url)
        self.writer = Writer(self.engine)
        self.durable = DurableRuns(self.engine)
        self.items = FanOutRows(self.engine)
        self.runs = RunLog(self.engine)
        self.ledger = Ledger(self.engine)
        self.kill_switches = KillSwitches(self.engine)
        self.verify = VerifyChecks(self.engine)
        self.proposals = Proposals(self.engine)
        self.outbound = OutboundLog(self.engine)

    @property
    def label(self) -> str:
        return self.engine.label

    def migrate(self, target: int | None = None) -> list[int]:
        return self.engine.migrate(target)

    def version(self) -> int:
        return self.engine.version()

    # -- sdk.durable.RunStore: the blocking work happens in a worker thread ------------------

    async def open_run(self, record: RunRecord) -> RunClaim:
        return await asyncio.to_thread(self.durable.open_run, record)

    async def heartbeat(self, run_id: str, owner: str, lease_s: float) -> Heartbeat:
        return await asyncio.to_thread(self.durable.heartbeat, run_id, owner, lease_s)

    async def save_checkpoint(
        self, run_id: str, attempt: int, checkpoint: Checkpoint, *, wait: bool = True
    ) -> None:
        statement = self.durable.checkpoint_statement
        if statement is None:  # a dialect without ON CONFLICT DO NOTHING: the slow path
            await asyncio.to_thread(self.durable.save_checkpoint, run_id, attempt, checkpoint)
            return
        values = self.durable.checkpoint_values(run_id, attempt, checkpoint)
        committed = self.writer.submit(statement, values, wait=wait)
        if committed is not None:
            await committed

    async def flush(self) -> None:
        await self.writer.flush()

    async def load_checkpoints(self, run_id: str, attempt: int) -> list[Checkpoint]:
        await self.writer.flush()
        return await asyncio.to_thread(self.durable.load_checkpoints, run_id, attempt)

    async def close_run(
        self,
        run_id: str,
        owner: str,
        status: str,
        *,
        waiting_on: Mapping[str, Any],
        error: Mapping[str, Any] | None,
    ) -> None:
        await self.writer.flush()
        await asyncio.to_thread(
            lambda: self.durable.close_run(
                run_id, owner, status, waiting_on=waiting_on, error=error
            )
        )


def store_url(settings: Settings) -> str:
    """The store's SQLAlchemy URL; its credentials are registered with the redactor."""
    db_url = app_config(settings).db_url
    if db_url:
        register_url_credentials(db_url)
        return normalize_url(db_url)
    return f"sqlite:///{settings.state_db}"


_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(settings: Settings) -> Store:
    """The (migrated) store for these settings; one per database URL per process."""
    url = store_url(settings)
    with _lock:
        store = _stores.get(url)
        if store is None:
            store = Store(url)
            store.migrate()
            _stores[url] = store
        store.durable.workflows_dir = Path(settings.get("WORKFLOWS_DIR") or "workflows")
        return store


def forget_stores() -> None:
    """Dispose every cached store (tests that delete their database files)."""
    with _lock:
        for store in _stores.values():
            store.writer.drain()
            store.engine.dispose()
        _stores.clear()


class _SqlDatabase:
    """One named database as the SDK's ``SqlDatabase`` (bound parameters only)."""

    def __init__(self, name: str, engine: StoreEngine) -> None:
        self.name = name
        self._engine = engine

    def _writes(self, sql: str) -> bool:
        return statement_writes(sql, dialect=self._engine.dialect)

    async def query(
        self,
        sql: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> list[dict[str, Any]]:
        def run(conn: Connection) -> list[dict[str, Any]]:
            result = conn.execute(text(sql), dict(params or {}))
            return [dict(r) for r in result.mappings().all()] if result.returns_rows else []

        return await asyncio.to_thread(
            self._engine.run_sql, run, write=self._writes(sql), timeout_s=timeout_s
        )

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        def run(conn: Connection) -> int:
            return int(conn.execute(text(sql), dict(params or {})).rowcount or 0)

        return await asyncio.to_thread(self._engine.run_sql, run, write=True)


class Databases:
    """The ``SqlDatabases`` service: ``local`` is the store; other names come from the config."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self._store = store
        self._urls = dict(app_config(settings).databases)
        for url in self._urls.values():
            register_url_credentials(url)
        self._engines: dict[str, StoreEngine] = {}

    def names(self) -> list[str]:
        return ["local", *sorted(self._urls)]

    def get(self, name: str = "local") -> _SqlDatabase:
        if name == "local":
            return _SqlDatabase(name, self._store.engine)
        if name not in self._urls:
            raise LookupError(
                f"no database named {name!r}; configured: {', '.join(self.names())} "
                "(add it under `databases:` in config.yaml)"
            )
        if name not in self._engines:
            try:
                self._engines[name] = StoreEngine(self._urls[name])
            except Exception as exc:
                raise SqlError("connection", f"database {name!r}: {exc}") from None
        return _SqlDatabase(name, self._engines[name])


class SendLog:
    """The SDK's ``SendLog``: idempotency claims in ``outbound_email_log``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def claim(
        self,
        key: str,
        *,
        workflow_id: str,
        run_id: str,
        recipient: str,
        message_id: str,
        customer_id: str | None = None,
        related_workflow: str | None = None,
    ) -> tuple[bool, dict[str, Any] | None]:
        values = OutboundLog.claim_values(
            key,
            workflow_id=workflow_id,
            run_id=run_id,
            recipient=recipient,
            message_id=message_id,
            customer_id=customer_id,
            related_workflow=related_workflow,
        )
        # Committed (with other sends' claims and finishes) before the message is sent.
        outbound = self._store.outbound
        ok, existing = await self._store.writer.call(lambda conn: outbound.claim_in(conn, values))
        return ok, (existing.__dict__ if existing is not None else None)

    async def finish(self, key: str, status: str, *, error: str | None = None) -> None:
        # Committed with the other finishes of the moment, as one executemany.
        statement, params = self._store.outbound.finish_statement(key, status, error)
        await self._store.writer.submit(statement, params)


class ItemLog:
    """The SDK's ``FanOutItems``: one row per fan-out item in ``fan_out_items``."""

    def __init__(self, store: Store) -> None:
        self._rows = store.items
        self._writer = store.writer

    async def open(
        self, run_id: str, block_id: str, run_attempt: int, keys: Sequence[str]
    ) -> dict[str, str]:
        return await asyncio.to_thread(self._rows.open_items, run_id, block_id, run_attempt, keys)

    async def finish(
        self,
        run_id: str,
        block_id: str,
        key: str,
        status: str,
        *,
        attempts: int = 1,
        code: str | None = None,
    ) -> None:
        # One row per item, committed with the other items finishing within LINGER_S:
        # FanOutRows.finish_item's statement and parameters, through the group commit. The
        # item does not wait for that commit: what it did outside is guarded by its own
        # committed claim (a send), and an item whose row a crash lost runs again on resume
        # and finds that claim. `close` commits every finish first (and raises a failed one).
        params = self._rows.finish_params(run_id, block_id, key, status, attempts, code)
        committed = self._writer.submit(self._rows._finish_item, params, wait=False)
        if committed is not None:  # the writer is behind: wait for it
            await committed

    async def close(self, run_id: str, block_id: str) -> dict[str, int]:
        await self._writer.flush()
        return await asyncio.to_thread(self._rows.close_items, run_id, block_id)

    async def claim(self, run_id: str, block_id: str, key: str, owner: str, lease_s: float) -> bool:
        return await asyncio.to_thread(self._rows.claim_item, run_id, block_id, key, owner, lease_s)

    async def renew(
        self, run_id: str, block_id: str, keys: Sequence[str], owner: str, lease_s: float
    ) -> None:
        await asyncio.to_thread(self._rows.renew_items, run_id, block_id, keys, owner, lease_s)

    async def due(self, run_id: str, block_id: str, redispatch_s: float) -> list[str]:
        return await asyncio.to_thread(self._rows.due_items, run_id, block_id, redispatch_s)

    async def dispatched(self, run_id: str, block_id: str, keys: Sequence[str]) -> None:
        await asyncio.to_thread(self._rows.mark_dispatched, run_id, block_id, keys)

    async def count(
        self, run_id: str, block_id: str, outcome: str, breaker: int | None
    ) -> str | None:
        return await asyncio.to_thread(self._rows.record_item, run_id, block_id, outcome, breaker)

    async def stop(self, run_id: str, block_id: str, reason: str) -> None:
        await asyncio.to_thread(self._rows.stop_items, run_id, block_id, reason)

    async def stop_reason(self, run_id: str, block_id: str) -> str | None:
        return await asyncio.to_thread(self._rows.stop_reason, run_id, block_id)

    async def counts(self, run_id: str, block_id: str) -> dict[str, int]:
        return await asyncio.to_thread(self._rows.item_counts, run_id, block_id)


class SwitchBoard:
    """The SDK's ``KillSwitches``: the ``kill_switches`` table."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def engaged(self, name: str) -> bool:
        return await asyncio.to_thread(self._store.kill_switches.engaged, name)


def describe(store: Store) -> str:
    return redact_url(store.engine.url)
