"""The per-item path of a fan-out emits the same events, fields and spans as it did before
the per-item path was made cheaper (pinned from a run of the code before that work).

A ``for_each`` item is a child run; what one item costs in the kernel (its run, events,
spans, context) was made cheaper, and nothing observable may be lost on the way: the same
event types in the same order per item, the same keys on each event (the correlation
fields first, in their fixed order), the same correlation values (run ids, parent run id,
trace id, span ids, block ids, item keys), and the same spans on an OTLP collector.
"""

from __future__ import annotations

import collections
import time
from typing import Any

import pytest
from support.otlp_receiver import OtlpReceiver

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.kernel.telemetry import flush_all, read_events

LEAD = (
    "event",
    "level",
    "workflow_id",
    "run_id",
    "block_id",
    "attempt",
    "origin",
    "domain",
    "code",
    "trace_id",
    "span_id",
    "ts",
)
"""Every event starts with these keys, in this order (what, who, when)."""

KEYS = {
    "run.created": {"status", "parent_run_id", "run_attempt", "previous_owner"},
    "run.started": {"status", "entries", "parent_run_id"},
    "block.started": {"block_type", "max_attempts", "timeout_ms", "parent_run_id"},
    "block.succeeded": {"block_type", "duration_ms", "output_kind", "parent_run_id"},
    "block.undeclared_code": {"block_type", "parent_run_id"},
    "block.failed": {
        "block_type",
        "duration_ms",
        "terminal",
        "envelope",
        "message",
        "retry_disposition",
        "severity",
        "provider_status",
        "parent_run_id",
    },
    "block.skipped": {"reason", "upstream_block_id", "parent_run_id"},
    "run.succeeded": {"status", "duration_ms", "parent_run_id"},
    "run.failed": {"status", "duration_ms", "envelope", "parent_run_id"},
    "fan_out.item_succeeded": {"attempts", "child_run_id", "parent_run_id"},
    "fan_out.item_retry_scheduled": {
        "delay_ms",
        "message",
        "status",
        "attempts",
        "child_run_id",
        "parent_run_id",
    },
    "fan_out.item_failed": {
        "outcome",
        "message",
        "status",
        "attempts",
        "child_run_id",
        "parent_run_id",
    },
}
"""The keys after :data:`LEAD` of each per-item event (``fan_out_item`` on all of them)."""

CHILD_RUN = ["run.created", "run.started"]
SUCCEEDS = ["block.started", "block.succeeded", "block.started", "block.succeeded"]
FAILS = ["block.started", "block.undeclared_code", "block.failed", "block.skipped", "run.failed"]
SEQUENCE = {
    "1": [*CHILD_RUN, *SUCCEEDS, "run.succeeded", "fan_out.item_succeeded"],
    "2": [
        *CHILD_RUN,
        *FAILS,
        "fan_out.item_retry_scheduled",
        *CHILD_RUN,
        *SUCCEEDS,
        "run.succeeded",
        "fan_out.item_succeeded",
    ],
    "3": [*CHILD_RUN, *FAILS, "fan_out.item_failed"],
}


def _fan_out() -> tuple[ob.Workflow, ob.Block]:
    """Item 1 succeeds, item 2 fails once (retried by the fan-out), item 3 fails for good."""
    seen: collections.Counter[str] = collections.Counter()

    def step(item: dict[str, Any]) -> dict[str, Any]:
        key = item["item_key"]
        seen[key] += 1
        if key == "2" and seen[key] == 1:
            raise sdk.BlockError("transform.flaky", "once", retry_disposition="backoff")
        if key == "3":
            raise sdk.BlockError("transform.broken", "always", retry_disposition="never")
        return {"ok": key}

    item = ob.new_workflow("per_item")
    item.link(
        ob.Block.custom_transform(step).named("step"),
        ob.Block.custom_transform(lambda p: p).named("after"),
    )
    w = ob.new_workflow("fan")
    block = ob.Block.for_each(item, concurrency=1, base_ms=1, max_ms=2, progress=False)
    w.add(block.named("fan"))
    return w, block


def _run() -> tuple[ob.RunResult, list[dict[str, Any]]]:
    w, block = _fan_out()
    result = w.run([{"id": 1}, {"id": 2}, {"id": 3}])
    assert result.status is ob.RunStatus.PARTIAL, result.error
    assert result.output(block)["sent"] == 2
    logged = [e for e in read_events(sdk.Settings.from_env().logs_dir) if e.get("trace_id")]
    return result, logged


def test_each_item_emits_the_same_events_with_the_same_fields() -> None:
    result, logged = _run()
    root = result.run_id
    trace_id = result.events[0]["trace_id"]
    fan_span = result.events_of("block.started")[0]["span_id"]
    per_item = collections.defaultdict(list)
    for event in logged:
        if event.get("fan_out_item") is not None:
            per_item[event["fan_out_item"]].append(event)

    assert {k: [e["event"] for e in v] for k, v in per_item.items()} == SEQUENCE
    child_runs: dict[str, set[str]] = collections.defaultdict(set)
    for key, events in per_item.items():
        for event in events:
            name = event["event"]
            assert tuple(event)[: len(LEAD)] == LEAD, name
            assert set(tuple(event)[len(LEAD) :]) == KEYS[name] | {"fan_out_item"}, name
            assert event["trace_id"] == trace_id
            assert isinstance(event["span_id"], str) and len(event["span_id"]) == 16
            if name.startswith("fan_out."):
                # Logged by the fan-out block of the root run, about the item's child run.
                assert (event["workflow_id"], event["run_id"]) == ("fan", root)
                assert (event["block_id"], event["attempt"], event["span_id"]) == (
                    "fan",
                    1,
                    fan_span,
                )
                assert event["parent_run_id"] is None
                assert event["child_run_id"] in child_runs[key]
                continue
            assert event["workflow_id"] == "per_item"
            assert event["parent_run_id"] == root
            assert event["run_id"] != root
            child_runs[key].add(event["run_id"])
            if name.startswith("run.") or name == "block.skipped":
                assert event["attempt"] is None
                assert event["block_id"] == ("after" if name == "block.skipped" else None)
            else:
                assert event["block_id"] in ("step", "after")
                assert event["attempt"] == 1
                assert event["span_id"] != fan_span
    assert {k: len(v) for k, v in child_runs.items()} == {"1": 1, "2": 2, "3": 1}
    # One run span per child run: its run-level events share it, its blocks have their own.
    for key, events in per_item.items():
        for run_id in child_runs[key]:
            mine = [e for e in events if e["run_id"] == run_id]
            run_spans = {e["span_id"] for e in mine if e["event"].startswith("run.")}
            block_spans = {e["span_id"] for e in mine if e["event"].startswith("block.started")}
            assert len(run_spans) == 1
            assert run_spans.isdisjoint(block_spans)
            assert len(block_spans) == len([e for e in mine if e["event"] == "block.started"])
    # Per-item events stay out of the run's own event list (memory stays flat).
    assert not [e for e in result.events if e.get("fan_out_item") is not None]


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch):
    with OtlpReceiver() as rec:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rec.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        yield rec


def test_each_item_exports_the_same_spans(receiver: OtlpReceiver) -> None:
    result, logged = _run()
    trace_id = result.events[0]["trace_id"]
    flush_all()
    # 1 root run + 1 fan block + 4 child runs + 7 block executions in the children.
    deadline = time.monotonic() + 15
    while len(receiver.spans_of_trace(trace_id)) < 13 and time.monotonic() < deadline:
        time.sleep(0.05)
    spans = receiver.spans_of_trace(trace_id)
    by_id = {s.span_id: s for s in spans}
    names = collections.Counter(s.name for s in spans)
    assert names == {
        "run fan": 1,
        "block fan": 1,
        "run per_item": 4,
        "block step": 4,
        "block after": 2,
    }
    fan = next(s for s in spans if s.name == "block fan")
    for span in spans:
        if span.name == "run per_item":
            assert span.parent_span_id == fan.span_id
            assert span.attributes["run.parent_id"] == result.run_id
        elif span.name in ("block step", "block after"):
            assert by_id[span.parent_span_id].name == "run per_item"
    # Every span id a per-item event names is a span the collector received.
    named = {e["span_id"] for e in logged if e.get("fan_out_item") is not None}
    assert named <= set(by_id)
