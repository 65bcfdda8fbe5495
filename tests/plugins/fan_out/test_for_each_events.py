"""A long fan-out keeps only counts: the run's event list holds progress, not per-item
events, which go to the log files (the 500-item run of the brief)."""

from __future__ import annotations

from fanout_parts import fan_out, log_events

import orchestrator_blocks as ob
from orchestrator_blocks import sdk


def test_a_500_item_run_keeps_per_item_events_out_of_the_event_list():
    w_item = ob.new_workflow("noop")
    w_item.add(ob.Block.custom_transform(lambda p: None))
    w, block = fan_out(w_item, concurrency=8)

    r = w.run([{"id": i} for i in range(500)])

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert r.output(block)["sent"] == 500
    assert not [e for e in r.events if e.get("fan_out_item") is not None]
    assert not [e for e in r.events if str(e["event"]).startswith("fan_out.item_")]
    assert [e["workflow_id"] for e in r.events_of("run.started")] == ["batch_notify"]
    assert len(r.events_of("block.started")) == 1  # for_each itself, no child block
    progress = r.events_of("fan_out.progress")
    assert 20 <= len(progress) <= 21
    assert progress[-1]["final"] is True and progress[-1]["sent"] == 500
    assert [p["done"] for p in progress[:-1]] == list(range(25, 500, 25))
    assert len(r.events) < 40

    logged = log_events(sdk.Settings.from_env().home, "fan_out.item_succeeded")
    assert len(logged) == 500
    assert {e["fan_out_item"] for e in logged} == {str(i) for i in range(500)}
