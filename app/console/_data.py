"""What the console shows, read from the same store and log files as the CLI.

Runs and timelines come from the JSON event logs (``kernel.telemetry.timeline``, the code
behind ``orchestrator-blocks runs`` and ``logs``); proposals, verify results and ledger
events from the store. Queries the store's classes do not offer are written here over its
tables, with bound parameters only.
"""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

from sqlalchemy import select

from orchestrator_blocks.app.cli.timeline import (
    RunTimeline,
    build_timeline,
    events_for_run,
    list_runs,
)
from orchestrator_blocks.app.run_ids import resolve_run_id
from orchestrator_blocks.app.store import Proposal, Store
from orchestrator_blocks.app.store.schema import events, workflow_verify_results

__all__ = [
    "FAN_OUT_FIELDS",
    "LIVE_STATUSES",
    "WorkflowCatalog",
    "fan_out_progress",
    "gantt",
    "ledger_for_run",
    "run_detail",
    "runs",
    "verify_for_run",
]

LIVE_STATUSES = {"created", "running", "awaiting_approval"}
FAN_OUT_FIELDS = ("sent", "failed", "skipped", "unknown", "total")


def runs(
    logs_dir: Path,
    *,
    workflow: str | None = None,
    status: str | None = None,
    limit: int = 100,
    store: Store | None = None,
) -> list[dict[str, Any]]:
    """Recent root runs, newest first, optionally of one workflow or in one state. The
    store's ``runs`` table, when there is one, says what became of each (a dead owner's run
    is ``running (owner lost)``) and adds runs other processes started."""
    found = {r.run_id: asdict(r) for r in list_runs(logs_dir)}
    if store is not None:
        for row in store.durable.recent(limit=max(limit, 500)):
            item = found.setdefault(
                row.run_id,
                {
                    "run_id": row.run_id,
                    "workflow_id": row.workflow_id,
                    "started": row.created_at,
                    "duration_ms": None,
                    "parent_run_id": None,
                    "code": None,
                },
            )
            item["status"] = row.shown_status
            item["attempt"] = row.attempt
            item["owner_lost"] = row.owner_lost
    rows = sorted(found.values(), key=lambda r: r.get("started") or "", reverse=True)
    if workflow:
        rows = [r for r in rows if r["workflow_id"] == workflow]
    if status:
        rows = [r for r in rows if str(r["status"]).split(" ")[0] == status]
    return rows[:limit]


def fan_out_progress(tl: RunTimeline) -> list[dict[str, Any]]:
    """The latest ``fan_out.progress`` counts of each fan-out block of the run."""
    latest: dict[str, dict[str, Any]] = {}
    for e in tl.events:
        if e.get("event") != "fan_out.progress":
            continue
        block = str(e.get("block_id") or "fan_out")
        counts = {k: _count(e.get(k)) for k in FAN_OUT_FIELDS}
        done = counts["sent"] + counts["failed"] + counts["skipped"] + counts["unknown"]
        total = counts["total"] or done
        latest[block] = {
            "block_id": block,
            **counts,
            "done": done,
            "percent": round(100 * done / total, 1) if total else 0.0,
            "ts": e.get("ts"),
        }
    return list(latest.values())


def _count(value: Any) -> int:
    try:
        return max(0, int(value or 0))
    except (TypeError, ValueError):
        return 0


def gantt(tl: RunTimeline) -> list[dict[str, Any]]:
    """One bar per block attempt, positioned in percent of the run's span."""
    ends = [
        (a.offset_ms or 0.0) + (a.duration_ms or 0.0)
        for a in tl.attempts
        if a.offset_ms is not None
    ]
    span = max([tl.duration_ms or 0.0, *ends, 1.0])
    bars = []
    for a in tl.attempts:
        offset = a.offset_ms or 0.0
        duration = a.duration_ms if a.duration_ms is not None else max(span - offset, 0.0)
        bars.append(
            {
                **asdict(a),
                "left": round(100 * offset / span, 2),
                "width": round(max(100 * duration / span, 0.6), 2),
            }
        )
    return bars


def verify_for_run(store: Store, run_id: str) -> list[dict[str, Any]]:
    t = workflow_verify_results
    stmt = select(
        t.c.check_name,
        t.c.status,
        t.c.due_at,
        t.c.checked_at,
        t.c.message,
        t.c.observed_json,
    ).where(t.c.run_id == run_id)
    with store.engine.read() as conn:
        rows = conn.execute(stmt.order_by(t.c.id)).mappings().all()
    return [dict(r) for r in rows]


def ledger_for_run(store: Store, run_id: str, limit: int = 200) -> list[dict[str, Any]]:
    t = events
    stmt = select(t).where(t.c.run_id == run_id).order_by(t.c.id).limit(limit)
    with store.engine.read() as conn:
        rows = conn.execute(stmt).mappings().all()
    out = []
    for r in rows:
        row = dict(r)
        row["payload"] = json.loads(row.pop("payload_json"))
        out.append(row)
    return out


def _timeline_dict(tl: RunTimeline) -> dict[str, Any]:
    return {
        "run_id": tl.run_id,
        "workflow_id": tl.workflow_id,
        "parent_run_id": tl.parent_run_id,
        "status": tl.status,
        "started": tl.started,
        "finished": tl.finished,
        "duration_ms": tl.duration_ms,
        "trace_id": tl.trace_id,
        "attempts": gantt(tl),
        "retries": tl.retries,
        "errors": tl.errors,
        "handlers": tl.handlers,
        "skipped": tl.skipped,
        "decisive_error": tl.decisive_error,
        "fan_out": fan_out_progress(tl),
        "children": [_timeline_dict(c) for c in tl.children],
    }


def run_detail(logs_dir: Path, store: Store | None, run_id: str) -> dict[str, Any]:
    """Everything one run's page and ``/api/runs/{id}`` show. ``run_id`` may be a unique
    prefix; an unknown or ambiguous one raises ``RunIdError`` (the app makes it a 404 or
    a 409)."""
    full_id = resolve_run_id(run_id, store=store, logs_dir=logs_dir)
    tl = build_timeline(events_for_run(logs_dir, full_id), full_id)
    data = _timeline_dict(tl)
    data["passes"] = tl.passes
    stored = store.durable.get(full_id) if store is not None else None
    if stored is not None:
        data["status"] = stored.shown_status
        data["attempt"] = stored.attempt
    data["unknown_sends"] = (
        [r for r in store.outbound.for_run(full_id) if r["status"] == "unknown"]
        if store is not None
        else []
    )
    data["live"] = str(data["status"]).split(" ")[0] in LIVE_STATUSES
    data["verify"] = verify_for_run(store, full_id) if store is not None else []
    data["ledger"] = ledger_for_run(store, full_id) if store is not None else []
    data["run_log"] = store.runs.get(full_id) if store is not None else None
    data["proposals"] = (
        [p.as_dict() for p in store.proposals.list(limit=1000) if p.run_id == full_id]
        if store is not None
        else []
    )
    return data


def block_log_lines(
    logs_dir: Path, store: Store | None, run_id: str, block_id: str | None
) -> list[dict[str, Any]]:
    """The raw log events of a run, or of one of its blocks (``run_id`` as for
    :func:`run_detail`)."""
    lines = events_for_run(logs_dir, resolve_run_id(run_id, store=store, logs_dir=logs_dir))
    if block_id:
        lines = [e for e in lines if e.get("block_id") == block_id]
    return lines


class WorkflowCatalog:
    """The workflows of a directory, reloaded when a file in it changes."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, float], ...] | None = None
        self._found: list[tuple[Path, Any]] = []
        self.problems: list[str] = []

    def _current_stamp(self) -> tuple[tuple[str, float], ...]:
        assert self.directory is not None
        if not self.directory.is_dir():
            return ()
        return tuple(
            sorted((p.name, p.stat().st_mtime) for p in self.directory.iterdir() if p.is_file())
        )

    def all(self) -> list[tuple[Path, Any]]:
        if self.directory is None:
            return []
        from orchestrator_blocks.app.serve import discover_workflows

        with self._lock:
            stamp = self._current_stamp()
            if stamp != self._stamp:
                self._found, self.problems = discover_workflows(self.directory)
                self._stamp = stamp
            return list(self._found)

    def get(self, name: str) -> tuple[Path, Any] | None:
        return next(((p, w) for p, w in self.all() if w.id == name), None)


async def decide_as(
    store: Store, settings: Any, proposal_id: int, *, approve: bool, name: str, note: str | None
) -> Proposal:
    """One decision by the logged-in ``name``, through the same rules as the CLI."""
    import asyncio

    from orchestrator_blocks.app.approvals import decide

    return await asyncio.to_thread(
        lambda: decide(store, settings, proposal_id, approve=approve, as_=name, note=note)
    )
