"""Group commit: the store's hot-path writes, many to a transaction, off the event loop.

A checkpoint per block and a row per fan-out item were one transaction each, run in a worker
thread: the thread hop and the commit cost far more than a small block. The writer is one
thread per engine draining a queue: every write waiting when it wakes goes into one
transaction (consecutive writes of one statement as a single ``executemany``), and every
caller that waits is answered once that transaction committed, so ``await`` still means
"committed". A write nobody waits for (``wait=False``: the checkpoint of a block that changes
nothing outside the run, a fan-out item's row) lingers at most :data:`LINGER_S` for company
(and waits after all once :data:`BACKLOG` writes are queued); :meth:`Writer.flush` returns
once everything submitted before it committed. A batch that fails is retried one write at a
time, so a bad row fails only its own caller; a failed write nobody waited for is raised by
the next write or flush that waits.

On SQLite a statement whose parameters all have plain types (no bind processing) is compiled
once and its rows go straight to the driver's ``executemany``: SQLAlchemy's per-row
parameter handling cost as much as SQLite's own work for a checkpoint row.
"""

from __future__ import annotations

import asyncio
import atexit
import operator
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Connection

from orchestrator_blocks.sdk import StateStoreError

from .engine import StoreEngine

__all__ = ["BACKLOG", "LINGER_S", "Writer"]

T = TypeVar("T")

LINGER_S = 0.05
"""How long a write nobody waits for may wait for others to share its transaction."""
BACKLOG = 1_000
"""Writes queued beyond which a write submitted without waiting waits all the same: the
writer thread gets the interpreter only between the loop's turns, and a fan-out of 100,000
items queued faster than it committed (40 MB of waiting rows)."""

_writers: weakref.WeakSet[Writer] = weakref.WeakSet()


_CALL = object()
"""The statement of a job that is a function of the connection (its result is awaited)."""


@dataclass(slots=True)
class _Job:
    statement: Any  # None: a flush marker; _CALL: ``params`` is a function of the connection
    params: Any
    future: asyncio.Future[Any] | None
    loop: asyncio.AbstractEventLoop | None
    result: Any = None


class Writer:
    """The group-commit writer of one engine (its thread starts on the first write)."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine
        self._jobs: list[_Job] = []
        self._waiting = 0
        self._busy = False
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._failed: StateStoreError | None = None
        self._driver: dict[int, tuple[Any, str, Callable[[Any], Any] | None]] = {}
        _writers.add(self)

    def submit(self, statement: Any, params: dict[str, Any], *, wait: bool = True) -> Any:
        """Queue one execution of ``statement``; an awaitable that resolves once it is
        committed when ``wait`` (or when :data:`BACKLOG` writes are queued already), else
        ``None`` (see the module docstring)."""
        return self._queue(statement, params, wait)

    def flush(self) -> Any:
        """An awaitable that resolves once every write submitted before it is committed."""
        return self._queue(None, None, True)

    def call(self, fn: Callable[[Connection], T]) -> Awaitable[T]:
        """Run ``fn(connection)`` in the next transaction; awaitable: its result, once that
        transaction committed (a claim that must be on disk before the send it guards)."""
        future: Awaitable[T] = self._queue(_CALL, fn, True)
        return future

    def drain(self, timeout: float = 5.0) -> None:
        """Block until the queue is empty (at exit, and before an engine is disposed)."""
        with self._cond:
            self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout)

    def _queue(self, statement: Any, params: Any, wait: bool) -> Any:
        if not wait and len(self._jobs) >= BACKLOG:
            wait = True  # the writer is behind: this caller waits for the commit, and slows
        loop = asyncio.get_running_loop() if wait else None
        future = loop.create_future() if loop is not None else None
        with self._cond:
            self._jobs.append(_Job(statement, params, future, loop))
            if wait:
                self._waiting += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
                self._thread.start()
            # Wake the writer for a first job or a first waiter; else it is on its way.
            if len(self._jobs) == 1 or (wait and self._waiting == 1):
                self._cond.notify_all()
        return future

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._jobs)
                self._cond.wait_for(lambda: self._waiting, LINGER_S)
                batch, self._jobs, self._waiting = self._jobs, [], 0
                self._busy = True
            try:
                self._commit(batch)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def _commit(self, batch: list[_Job]) -> None:
        writes = [job for job in batch if job.statement is not None]
        error: StateStoreError | None = None
        if writes:
            try:
                try:
                    self.engine.write(lambda conn: self._execute(conn, writes), what=_what(writes))
                except StateStoreError:
                    raise
                except Exception as exc:  # a bug, not the database: its callers hear of it
                    what = f"{_what(writes)}: {type(exc).__name__}: {exc}"
                    raise StateStoreError(f"the store could not {what}") from exc
            except StateStoreError as exc:
                if len(writes) > 1:
                    for job in batch:
                        self._commit([job])
                    return
                error = exc
        if error is not None and all(job.future is None for job in batch):
            self._failed = error  # nobody waits: the next caller that waits hears of it
        elif error is None and self._failed is not None and any(j.future for j in batch):
            error, self._failed = self._failed, None
        by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
        for job in batch:
            if job.future is not None and job.loop is not None:
                by_loop.setdefault(job.loop, []).append(job)
        for loop, jobs in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, jobs, error)
            except RuntimeError:  # the loop closed: nobody waits any more
                continue

    def _execute(self, conn: Connection, writes: list[_Job]) -> None:
        start = 0
        while start < len(writes):
            statement, end = writes[start].statement, start + 1
            if statement is _CALL:
                writes[start].result = writes[start].params(conn)
                start = end
                continue
            while end < len(writes) and writes[end].statement is statement:
                end += 1
            rows = [job.params for job in writes[start:end]]
            sql, pick = self._for_driver(conn, statement, rows[0])
            try:
                driver_rows = list(map(pick, rows)) if pick is not None else None
            except (KeyError, TypeError):  # a row of another shape: SQLAlchemy says what is wrong
                driver_rows = None
            if driver_rows is None:
                conn.execute(statement, rows)
            else:
                conn.exec_driver_sql(sql, driver_rows)
            start = end

    def _for_driver(
        self, conn: Connection, statement: Any, row: dict[str, Any]
    ) -> tuple[str, Callable[[dict[str, Any]], tuple[Any, ...]] | None]:
        """``statement`` as the driver's SQL and the getter of a row's values in its order;
        no getter where SQLAlchemy must do more than pass values on (not SQLite, a type
        that converts its values, a column default to fill in)."""
        found = self._driver.get(id(statement))
        if found is not None and found[0] is statement:
            return found[1], found[2]
        if len(self._driver) >= 64:  # statements are made once per store: this is a guard
            self._driver.clear()
        sql, pick = "", None
        dialect = conn.dialect
        if dialect.name == "sqlite" and dialect.positional:
            compiled = statement.compile(dialect=dialect, column_keys=list(row))
            names = tuple(compiled.positiontup or ())
            plain = not (compiled.insert_prefetch or compiled.update_prefetch) and all(
                bind.type.dialect_impl(dialect).bind_processor(dialect) is None
                for bind in compiled.binds.values()
            )
            if plain and names:
                sql, getter = str(compiled), operator.itemgetter(*names)
                pick = getter if len(names) > 1 else lambda r: (getter(r),)
        self._driver[id(statement)] = (statement, sql, pick)
        return sql, pick


def _what(writes: list[_Job]) -> str:
    first = writes[0].statement
    return f"write {len(writes)} row(s)" + ("" if first is _CALL else f" of {first.table.name}")


def _settle(jobs: list[_Job], error: BaseException | None) -> None:
    for job in jobs:
        if job.future is None or job.future.done():
            continue
        if error is None:
            job.future.set_result(job.result)
        else:
            job.future.set_exception(error)


@atexit.register
def _drain_all() -> None:
    for writer in list(_writers):
        writer.drain()
