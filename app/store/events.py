"""Run events in the store (PostgreSQL): every machine's ``runs``, ``logs`` and console see
every worker's runs, not only the runs of the machine whose log files they read.

The sink is on the run's path, so it only appends to a buffer; a background thread writes
the buffer in batches (every 200 ms, or 500 events). While the database is away (a
restart) events wait in the buffer and go with the next batch. Up to the last 200 ms of
events may be lost if the process is killed (``kill -9``); the local JSON-lines log keeps
them on that machine. The process's exit flushes what is buffered.
"""

from __future__ import annotations

import atexit
import json
import threading
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert, select

from orchestrator_blocks.sdk import to_jsonable

from .engine import StoreEngine
from .schema import run_events

__all__ = ["StoreEventSink", "events_for_run", "flush_pending", "sink_for"]

_FLUSH_S = 0.2
_BATCH = 500
_KEEP = 100_000  # events kept while the database is away; older ones stay in the local log
_sinks: dict[str, StoreEventSink] = {}
_lock = threading.Lock()


class StoreEventSink:
    """An event sink (``provide_event_sinks``) that batches events into ``run_events``."""

    def __init__(self, engine: StoreEngine) -> None:
        self.engine = engine
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # a flush returns once what it took is written
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="store-events", daemon=True)
        self._thread.start()
        atexit.register(self.flush)

    def __call__(self, event: dict[str, Any]) -> None:
        row = {
            "run_id": str(event.get("run_id") or ""),
            "parent_run_id": event.get("parent_run_id"),
            "ts": event.get("ts"),
            "event_json": json.dumps(to_jsonable(event), ensure_ascii=False, default=str),
        }
        with self._lock:
            self._buffer.append(row)
            full = len(self._buffer) >= _BATCH
        if full:
            self._wake.set()

    def _loop(self) -> None:
        while True:
            self._wake.wait(_FLUSH_S)
            self._wake.clear()
            self.flush()

    def flush(self) -> None:
        with self._writing:
            with self._lock:
                rows, self._buffer = self._buffer, []
            rows = [r for r in rows if r["run_id"]]
            if not rows:
                return
            try:
                self.engine.write(
                    lambda conn: conn.execute(insert(run_events), rows), what="events"
                )
            except Exception:  # the database is away: keep them for the next flush
                with self._lock:
                    self._buffer[:0] = rows[-_KEEP:]


def sink_for(engine: StoreEngine) -> StoreEventSink:
    """One sink (and one writer thread) per database per process."""
    with _lock:
        sink = _sinks.get(engine.url)
        if sink is None:
            sink = _sinks[engine.url] = StoreEventSink(engine)
        return sink


def flush_pending() -> None:
    """Write what this process's sinks still buffer (a reader in the same process, such as
    ``logs`` right after ``run``, sees every event)."""
    with _lock:
        sinks = list(_sinks.values())
    for sink in sinks:
        sink.flush()


def events_for_run(engine: StoreEngine, run_id: str) -> list[dict[str, Any]]:
    """Every stored event of ``run_id`` and of its descendants, in the order written."""
    wanted: set[str] = {run_id}
    found: list[Any] = []
    frontier: Iterable[str] = {run_id}
    with engine.read() as conn:
        while frontier:
            rows = conn.execute(
                select(run_events.c.run_id, run_events.c.parent_run_id, run_events.c.event_json)
                .where(
                    run_events.c.run_id.in_(list(frontier))
                    | run_events.c.parent_run_id.in_(list(frontier))
                )
                .order_by(run_events.c.id)
            ).all()
            new = {r.run_id for r in rows} - wanted
            wanted |= new
            frontier = new
            found.extend(r for r in rows)
    seen: set[tuple[str, str]] = set()
    out = []
    for r in sorted(found, key=lambda r: json.loads(r.event_json).get("ts") or ""):
        key = (r.run_id, r.event_json)
        if key not in seen:
            seen.add(key)
            out.append(json.loads(r.event_json))
    return out
