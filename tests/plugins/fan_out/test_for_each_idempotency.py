"""A fan-out never sends the same email twice: re-running an approved action, resuming a
run under its run_id, and a send whose outcome is unknown (real peer, real store)."""

from __future__ import annotations

from fanout_parts import context, fan_out, per_item, recipients, recipients_of

import orchestrator_blocks as ob


def test_re_running_the_same_approved_proposal_sends_nothing_new(smtp_peer, store):
    w, block = fan_out(per_item(), over="recipients")
    items = recipients(6)

    first = w.run(context(items, _proposal_id=17))
    second = w.run(context(items, _proposal_id=17))

    assert first.output(block)["sent"] == 6
    assert second.status == ob.RunStatus.SUCCEEDED, second.error
    assert second.output(block) == {
        "total": 6, "sent": 0, "failed": 0, "skipped": 6, "unknown": 0,
        "rejected": 0, "not_started": 0,
    }  # fmt: skip
    assert len(smtp_peer.messages) == 6
    rows = store.outbound.for_run(first.run_id)
    assert sorted(r["customer_id"] for r in rows) == [str(i) for i in range(1, 7)]
    assert {r["status"] for r in rows} == {"sent"}
    assert rows[0]["idempotency_key"].startswith("batch_notify:17:")


def test_a_partially_sent_cohort_rerun_sends_only_the_rest(smtp_peer):
    items = recipients(5)
    w, block = fan_out(per_item(), over="recipients", concurrency=1)
    first = w.run(context(items[:2], _proposal_id=3))

    second = w.run(context(items, _proposal_id=3))

    assert first.output(block)["sent"] == 2
    assert second.output(block)["sent"] == 3 and second.output(block)["skipped"] == 2
    assert recipients_of(smtp_peer) == sorted(i["email"] for i in items)


def test_another_proposal_is_another_send(smtp_peer):
    w, _ = fan_out(per_item(), over="recipients")
    w.run(context(recipients(2), _proposal_id=1))
    w.run(context(recipients(2), _proposal_id=2))
    assert len(smtp_peer.messages) == 4


def test_a_resumed_run_with_the_same_run_id_skips_what_it_sent(smtp_peer, isolated_home):
    """The last line of defence: even a run continued after losing its checkpoints and item
    rows (a crash right after the sends) sends nothing twice, by its idempotency keys."""
    import sqlite3

    w, block = fan_out(per_item(), over="recipients")
    items = recipients(3)

    first = w.run(context(items))
    with sqlite3.connect(isolated_home / "state.db") as db:
        db.execute("DELETE FROM run_checkpoints WHERE run_id = ?", (first.run_id,))
        db.execute("DELETE FROM fan_out_items WHERE run_id = ?", (first.run_id,))
        db.execute(
            "UPDATE runs SET status = 'running', owner = 'gone', lease_until = 0 WHERE run_id = ?",
            (first.run_id,),
        )
    again = w.run(run_id=first.run_id, mode="continue")
    other = w.run(context(items))  # a new run without a proposal is a new scope

    assert again.output(block)["skipped"] == 3
    assert other.output(block)["sent"] == 3
    assert len(smtp_peer.messages) == 6


def test_an_item_whose_send_is_still_marked_sending_is_unknown_and_not_resent(smtp_peer, store):
    ok, _ = store.outbound.begin(
        "batch_notify:9:2", workflow_id="batch_notify", run_id="crashed",
        recipient="c2@example.org", message_id="<m@localhost>", customer_id="2",
    )  # fmt: skip
    assert ok
    w, block = fan_out(per_item(), over="recipients", max_attempts=3)

    r = w.run(context(recipients(4), _proposal_id=9))

    assert r.status == ob.RunStatus.PARTIAL, r.error
    assert r.output(block) == {
        "total": 4, "sent": 3, "failed": 0, "skipped": 0, "unknown": 1,
        "rejected": 0, "not_started": 0,
    }  # fmt: skip
    assert "c2@example.org" not in recipients_of(smtp_peer)
    assert smtp_peer.transactions == 3
    assert store.outbound.get("batch_notify:9:2").status == "unknown"  # written down for a human


def test_an_unknown_outcome_nested_in_a_child_workflow_is_unknown(smtp_peer, store):
    store.outbound.begin(
        "batch_notify:5:1", workflow_id="batch_notify", run_id="crashed",
        recipient="c1@example.org", message_id="<m@localhost>",
    )  # fmt: skip
    inner = per_item()
    outer = ob.new_workflow("wrapper")
    outer.add(ob.Block.child_workflow(inner))
    w, _ = fan_out(outer, over="recipients")

    r = w.run(context(recipients(1), _proposal_id=5))

    assert r.error.code == "fan_out.failed"
    assert r.error.details["unknown"] == 1 and r.error.details["failed"] == 0
    assert smtp_peer.transactions == 0


def test_a_failed_send_is_retried_by_a_re_run(smtp_peer):
    smtp_peer.set_mode("permanent", code=550)
    w, block = fan_out(per_item(), over="recipients")
    first = w.run(context(recipients(2), _proposal_id=4))
    smtp_peer.set_mode("accept")

    second = w.run(context(recipients(2), _proposal_id=4))

    assert first.error.code == "fan_out.failed"
    assert second.output(block)["sent"] == 2
    assert len(smtp_peer.messages) == 2
