"""Rebuild a run from its JSON-lines events alone (contract §12 item 6).

Used by ``orchestrator-blocks logs RUN_ID`` and ``runs``; it needs nothing but the log
files, so a run can be debugged after the process that ran it is gone. A run's child runs
(child workflows) are found through their ``parent_run_id`` and rebuilt alongside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator_blocks.kernel.telemetry.jsonl import iter_log_files

__all__ = [
    "AttemptRow",
    "RunSummary",
    "RunTimeline",
    "build_timeline",
    "events_for_run",
    "list_runs",
    "run_ids_in_logs",
]

_TERMINAL_EVENTS = {
    "run.succeeded",
    "run.failed",
    "run.timed_out",
    "run.partial",
    "run.rejected",
    "run.canceled",
}
_PASS_ENDS = {*_TERMINAL_EVENTS, "run.awaiting_approval"}


def _parse_ts(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def _scan(logs_dir: Path, needles: set[str]) -> Iterator[dict[str, Any]]:
    raw_needles = [n.encode() for n in needles]
    for path in iter_log_files(logs_dir):
        with path.open("rb") as fh:
            for raw in fh:
                if not any(n in raw for n in raw_needles):
                    continue
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event


def run_ids_in_logs(logs_dir: Path, prefix: str) -> set[str]:
    """The ids of the runs in the logs that are ``prefix`` or start with it (for
    :func:`orchestrator_blocks.app.run_ids.resolve_run_id`, the one resolver)."""
    return {
        str(e["run_id"])
        for e in _scan(logs_dir, {prefix})
        if e.get("event") == "run.created" and str(e.get("run_id", "")).startswith(prefix)
    }


def events_for_run(logs_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """Every event of ``run_id`` and of its child runs, in log order."""
    wanted = {run_id}
    while True:
        events = [
            e
            for e in _scan(logs_dir, wanted)
            if e.get("run_id") in wanted or e.get("parent_run_id") in wanted
        ]
        found = {e["run_id"] for e in events if e.get("run_id")}
        if found <= wanted:
            return [e for e in events if e.get("run_id") in wanted]
        wanted |= found


@dataclass
class AttemptRow:
    """One attempt of one block execution."""

    block_id: str
    block_type: str | None
    attempt: int
    started: str | None
    offset_ms: float | None = None
    duration_ms: float | None = None
    outcome: str = "running"
    code: str | None = None
    message: str | None = None
    retry_delay_ms: int | None = None
    handler_for: str | None = None


@dataclass
class RunTimeline:
    run_id: str
    workflow_id: str | None = None
    parent_run_id: str | None = None
    status: str = "created"
    started: str | None = None
    finished: str | None = None
    duration_ms: float | None = None
    trace_id: str | None = None
    attempts: list[AttemptRow] = field(default_factory=list)
    retries: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    handlers: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)
    children: list[RunTimeline] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    decisive_error: dict[str, Any] | None = None
    passes: list[dict[str, Any]] = field(default_factory=list)
    """One per time a process ran the run: its attempt, who it took the run over from,
    how many blocks it restored from checkpoints, how it ended (``owner lost`` when another
    pass followed without an end)."""


def build_timeline(events: Iterable[dict[str, Any]], run_id: str) -> RunTimeline:
    """Fold a run's events (and its children's) into a :class:`RunTimeline`."""
    all_events = list(events)
    own = [e for e in all_events if e.get("run_id") == run_id]
    tl = RunTimeline(run_id=run_id, events=own)
    t0: datetime | None = None
    open_attempts: dict[tuple[str, int], AttemptRow] = {}
    handler_sources: dict[str, str] = {}
    for e in own:
        name = e.get("event")
        ts = _parse_ts(e.get("ts"))
        bid = e.get("block_id")
        if name == "run.created":
            if tl.passes and tl.passes[-1]["status"] == "running":
                tl.passes[-1]["status"] = "owner lost"
            tl.passes.append(
                {
                    "attempt": e.get("run_attempt") or 1,
                    "previous_owner": e.get("previous_owner"),
                    "started": e.get("ts"),
                    "restored": 0,
                    "status": "running",
                }
            )
            tl.workflow_id = e.get("workflow_id")
            tl.parent_run_id = e.get("parent_run_id")
            tl.started = tl.started or e.get("ts")
            tl.trace_id = tl.trace_id or e.get("trace_id")
            t0 = t0 or ts
        elif name == "block.restored" and tl.passes:
            tl.passes[-1]["restored"] += 1
        elif name == "run.started":
            tl.status = "running"
        elif name in _PASS_ENDS and name not in _TERMINAL_EVENTS:
            tl.status = str(e.get("status") or name.split(".", 1)[1])
            if tl.passes:
                tl.passes[-1]["status"] = tl.status
        elif name in _TERMINAL_EVENTS:
            tl.status = str(e.get("status") or name.split(".", 1)[1])
            if tl.passes:
                tl.passes[-1]["status"] = tl.status
            tl.finished = e.get("ts")
            tl.duration_ms = e.get("duration_ms")
            tl.decisive_error = e.get("envelope")
        elif name == "block.started" and bid:
            row: AttemptRow | None = AttemptRow(
                block_id=bid,
                block_type=e.get("block_type"),
                attempt=int(e.get("attempt") or 1),
                started=e.get("ts"),
                offset_ms=round((ts - t0).total_seconds() * 1000, 1) if ts and t0 else None,
                handler_for=handler_sources.get(bid),
            )
            assert row is not None
            tl.attempts.append(row)
            open_attempts[(bid, row.attempt)] = row
        elif name in ("block.succeeded", "block.failed") and bid:
            row = open_attempts.get((bid, int(e.get("attempt") or 1)))
            if row is None:
                continue
            row.duration_ms = e.get("duration_ms")
            if name == "block.succeeded":
                row.outcome = "succeeded"
            else:
                row.outcome = "failed" if e.get("terminal") else "retrying"
                row.code, row.message = e.get("code"), e.get("message")
                if e.get("terminal"):
                    tl.errors.append(e.get("envelope") or _envelope_from_event(e))
        elif name == "block.retry_scheduled" and bid:
            row = open_attempts.get((bid, int(e.get("attempt") or 1)))
            if row is not None:
                row.retry_delay_ms = e.get("delay_ms")
            tl.retries.append(
                {
                    "block_id": bid,
                    "attempt": e.get("attempt"),
                    "next_attempt": e.get("next_attempt"),
                    "delay_ms": e.get("delay_ms"),
                    "code": e.get("code"),
                }
            )
        elif name == "block.skipped" and bid:
            tl.skipped.append({"block_id": bid, "upstream": e.get("upstream_block_id")})
        elif name and name.startswith("on_error.handler_") and bid:
            outcome = name.rsplit("_", 1)[1]
            if outcome == "started":
                handler_sources[bid] = e.get("source_block_id") or ""
            tl.handlers.append(
                {
                    "handler": bid,
                    "source": e.get("source_block_id"),
                    "outcome": outcome,
                    "code": e.get("code"),
                    "handled_code": e.get("handled_code") or e.get("code"),
                }
            )
    child_ids: list[str] = []
    for e in all_events:
        if (
            e.get("event") == "run.created"
            and e.get("parent_run_id") == run_id
            and e.get("run_id") not in child_ids
        ):
            child_ids.append(e["run_id"])
    tl.children = [build_timeline(all_events, cid) for cid in child_ids]
    return tl


def _envelope_from_event(e: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "origin",
        "domain",
        "code",
        "message",
        "retry_disposition",
        "severity",
        "workflow_id",
        "run_id",
        "block_id",
        "attempt",
        "provider_status",
        "ts",
    )
    return {k: e.get(k) for k in keys}


@dataclass
class RunSummary:
    run_id: str
    workflow_id: str | None
    status: str
    started: str | None
    duration_ms: float | None
    parent_run_id: str | None
    code: str | None = None


def list_runs(logs_dir: Path, *, include_children: bool = False) -> list[RunSummary]:
    """Runs found in the logs, newest first."""
    runs: dict[str, RunSummary] = {}
    for e in _scan(logs_dir, {'"event":"run.'}):
        name, rid = e.get("event"), e.get("run_id")
        if not rid:
            continue
        if name == "run.created":
            runs[rid] = RunSummary(
                rid, e.get("workflow_id"), "created", e.get("ts"), None, e.get("parent_run_id")
            )
        elif rid in runs and name == "run.started":
            runs[rid].status = "running"
        elif rid in runs and name in _TERMINAL_EVENTS:
            runs[rid].status = str(e.get("status") or name.split(".", 1)[1])
            runs[rid].duration_ms = e.get("duration_ms")
            runs[rid].code = e.get("code")
    found = [r for r in runs.values() if include_children or r.parent_run_id is None]
    return sorted(found, key=lambda r: r.started or "", reverse=True)
