"""The store's engine: connections, the single writer path, migrations, error mapping.

SQLite (the embedded default, ``$ORCHESTRATOR_BLOCKS_HOME/state.db``) runs in WAL mode with
a busy timeout and foreign keys on; writes inside one process go through one lock, and a
``database is locked`` from another process is retried briefly before it is reported.
Any SQLAlchemy URL works too (``ORCHESTRATOR_BLOCKS_DB_URL``; PostgreSQL is tested).
Database failures are classified once, here, into :class:`SqlError` kinds; a write the
engine itself needed that still fails becomes :class:`StateStoreError`
(``state_store.write_failed``), never a silent loss.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, exc, select, text
from sqlalchemy.engine import make_url

from orchestrator_blocks.sdk import Backoff, SqlError, StateStoreError
from orchestrator_blocks.sdk.redaction import redact_url as sdk_redact_url
from orchestrator_blocks.sdk.services import utc_now_iso

from .schema import MIGRATIONS, schema_migrations

__all__ = ["StoreEngine", "classify", "normalize_url", "redact_url"]

T = TypeVar("T")
_LOCK_RETRIES = 8
_LOCK_BACKOFF = Backoff.exponential(50, 2.0, jitter=0.2, cap_ms=6_400)
"""Between tries of a write another process holds the lock for: 50 ms doubling, jittered
per process so two writers do not retry in lockstep."""


def normalize_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver the project ships with)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redact_url(url: str) -> str:
    """The database URL as it may be shown: the SDK's one URL redactor, for a valid URL."""
    try:
        make_url(url)
    except exc.ArgumentError:
        return "<invalid database url>"
    return sdk_redact_url(url)


def classify(error: BaseException) -> SqlError:
    """Map a SQLAlchemy/DBAPI failure onto a :class:`SqlError` kind."""
    text = str(getattr(error, "orig", None) or error).lower()
    if isinstance(error, exc.IntegrityError):
        kind = "constraint"
    elif "locked" in text or "database is busy" in text or "deadlock" in text:
        kind = "locked"
    elif isinstance(error, exc.ProgrammingError) or any(
        s in text for s in ("syntax error", "no such table", "no such column", "does not exist")
    ):
        kind = "syntax"
    elif (
        isinstance(error, exc.ArgumentError | exc.InterfaceError)
        or any(
            s in text
            for s in (
                "could not connect",
                "connection refused",
                "unable to open database",
                "connection failed",
                "server closed the connection",
                "timeout expired",
            )
        )
        or (
            isinstance(error, exc.OperationalError)
            and getattr(error, "connection_invalidated", False)
        )
    ):
        kind = "connection"
    else:
        kind = "other"
    first_line = str(getattr(error, "orig", None) or error).strip().splitlines()[0:1]
    return SqlError(kind, first_line[0] if first_line else type(error).__name__)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # The busy timeout comes from the driver's `timeout` (5 s unless the URL sets ?timeout=).
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class StoreEngine:
    """One SQLAlchemy engine plus the write discipline the engine's store needs."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.label = redact_url(self.url)
        try:
            parsed = make_url(self.url)
        except exc.ArgumentError as error:
            raise StateStoreError(f"invalid database URL: {error}") from None
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"future": True}
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            connect_args: dict[str, Any] = {"check_same_thread": False}
            if "timeout" not in parsed.query:
                connect_args["timeout"] = 5
            kwargs["connect_args"] = connect_args
        else:
            kwargs.update(pool_pre_ping=True, pool_size=5, max_overflow=5)
        try:
            self.engine: Engine = create_engine(self.url, **kwargs)
        except (exc.ArgumentError, ImportError) as error:
            raise StateStoreError(f"cannot use database {self.label}: {error}") from None
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._write_lock = threading.RLock() if self.dialect == "sqlite" else None

    @contextmanager
    def read(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except exc.SQLAlchemyError as error:
            problem = classify(error)
            raise StateStoreError(
                f"could not read {self.label}: {problem.kind}: {problem.message}"
            ) from None
        with conn:
            yield conn

    def write(self, fn: Callable[[Connection], T], *, what: str = "write") -> T:
        """Run ``fn`` in one transaction on the single writer path.

        Retries briefly when the database is locked by another process; any failure that
        remains raises :class:`StateStoreError` naming ``what``.
        """
        last: SqlError | None = None
        for attempt in range(_LOCK_RETRIES):
            try:
                with self._write_lock or nullcontext(), self.engine.begin() as conn:
                    if self.dialect == "sqlite":
                        # Take the write lock up front: a deferred transaction that reads
                        # first and writes later gets SQLITE_BUSY at once under WAL instead
                        # of waiting out the busy timeout.
                        conn.exec_driver_sql("BEGIN IMMEDIATE")
                    return fn(conn)
            except exc.SQLAlchemyError as error:
                last = classify(error)
                if last.kind != "locked":
                    break
                time.sleep(
                    _LOCK_BACKOFF.delay_ms(attempt + 1, seed=f"{os.getpid()}:{attempt}") / 1000
                )
        assert last is not None
        raise StateStoreError(
            f"could not {what} in {self.label}: {last.kind}: {last.message}"
        ) from None

    def run_sql(
        self, fn: Callable[[Connection], T], *, write: bool, timeout_s: float | None = None
    ) -> T:
        """For the SQL blocks and verify checks: like :meth:`write`/:meth:`read` but raising
        ``SqlError``. ``timeout_s`` aborts the statement in the database itself (SQLite's
        progress handler, PostgreSQL's ``statement_timeout``) with kind ``timeout``."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            with (
                self._write_lock if write and self._write_lock else nullcontext(),
                self.engine.begin() if write else self.engine.connect() as conn,
            ):
                if write and self.dialect == "sqlite":
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                if deadline is not None:
                    self._arm_timeout(conn, deadline, timeout_s or 0)
                try:
                    return fn(conn)
                finally:
                    if deadline is not None and self.dialect == "sqlite":
                        raw: Any = conn.connection.driver_connection
                        raw.set_progress_handler(None, 0)
        except exc.SQLAlchemyError as error:
            sql_error = classify(error)
            if (
                deadline is not None
                and time.monotonic() >= deadline
                and (
                    "interrupted" in sql_error.message.lower()
                    or "timeout" in sql_error.message.lower()
                    or "canceling statement" in sql_error.message.lower()
                )
            ):
                raise SqlError("timeout", f"statement exceeded {timeout_s:g} s") from None
            raise sql_error from None

    def _arm_timeout(self, conn: Connection, deadline: float, timeout_s: float) -> None:
        if self.dialect == "sqlite":
            raw: Any = conn.connection.driver_connection
            raw.set_progress_handler(lambda: int(time.monotonic() >= deadline), 1_000)
        elif self.dialect == "postgresql":
            conn.execute(text(f"SET LOCAL statement_timeout = {max(1, int(timeout_s * 1000))}"))

    # -- migrations -------------------------------------------------------------------------

    def version(self) -> int:
        with self.read() as conn:
            if not self.engine.dialect.has_table(conn, schema_migrations.name):
                return 0
            rows = conn.execute(select(schema_migrations.c.version)).scalars().all()
            return max(rows, default=0)

    def migrate(self, target: int | None = None) -> list[int]:
        """Apply pending migrations up to ``target`` (default: all). Returns those applied."""

        def apply(conn: Connection) -> list[int]:
            if self.dialect == "postgresql":
                # Two processes starting at once must not both create the tables.
                conn.execute(text("SELECT pg_advisory_xact_lock(7294113)"))
            schema_migrations.create(conn, checkfirst=True)
            done = set(conn.execute(select(schema_migrations.c.version)).scalars().all())
            applied = []
            for migration in MIGRATIONS:
                if migration.version in done or (target is not None and migration.version > target):
                    continue
                migration.apply(conn)
                conn.execute(
                    schema_migrations.insert().values(
                        version=migration.version,
                        description=migration.description,
                        applied_at=utc_now_iso(),
                    )
                )
                applied.append(migration.version)
            return applied

        try:
            return self.write(apply, what="apply schema migrations")
        except StateStoreError:
            # Another process may have migrated between our check and our DDL.
            wanted = target if target is not None else MIGRATIONS[-1].version
            try:
                current = self.version()
            except StateStoreError:
                current = -1
            if current >= wanted:
                return []
            raise

    def dispose(self) -> None:
        self.engine.dispose()
