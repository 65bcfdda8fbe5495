"""Per-recipient review: each item waits in ``awaiting_review`` (not a failure, not counted
by the breaker), the run waits ``awaiting_approval``, each decision releases or drops its
item, and the run ends when every item is decided (real SQLite store, real aiosmtpd)."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest
from fanout_parts import context, envelope, fan_out, recipients, recipients_of

import orchestrator_blocks as ob
from orchestrator_blocks.app.approvals import decide, expire
from orchestrator_blocks.app.store import forget_stores
from orchestrator_blocks.kernel.runtime import run_workflow


@pytest.fixture(autouse=True)
def approver(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    yield
    forget_stores()


def reviewed() -> ob.Workflow:
    """envelope -> hitl_review(per_item) -> send_email, as the card's fan-out."""
    w = ob.new_workflow("per_recipient")
    steps = [
        ob.Block.custom_transform(envelope).named("personalize"),
        ob.Block.hitl_review("per_item").named("review"),
        ob.Block.send_email().set_retry(0).named("send"),
    ]
    w.add(steps[0])
    for a, b in itertools.pairwise(steps):
        w.link(a, b)
    return w


def reviews(store: Any, run_id: str) -> dict[str, Any]:
    """The run's pending reviews by item key."""
    found = store.proposals.list("pending", run_id=run_id)
    return {p.payload["item_key"]: p for p in found if p.action_type == "hitl_review"}


def resume(w: ob.Workflow, run_id: str) -> Any:
    return asyncio.run(run_workflow(w, None, run_id=run_id, mode="continue"))


def test_each_decision_releases_or_drops_its_item_and_the_run_ends_partial(
    smtp_peer, store
) -> None:
    w, block = fan_out(reviewed(), over="recipients", concurrency=2, circuit_breaker=2)

    first = w.run(context(recipients(4)))

    # four reviews wait (more than the breaker's 2: they are not failures); nothing is sent
    assert first.status == "awaiting_approval", first.error
    assert first.waiting_on == {"reviews": 4}
    waiting = reviews(store, first.run_id)
    assert sorted(waiting) == ["1", "2", "3", "4"]
    assert smtp_peer.transactions == 0
    # the approver reads each message as it will go out
    assert waiting["3"].payload["recipient"] == "c3@example.org"
    assert waiting["3"].payload["sample_body"] == "Dear Customer 3, news."
    assert waiting["3"].payload["sample_subject"] == "Hello Customer 3"

    decide(store, store_settings(), waiting["1"].id, approve=True, as_="mike")
    decide(store, store_settings(), waiting["2"].id, approve=True, as_="mike")
    second = resume(w, first.run_id)

    assert second.status == "awaiting_approval" and second.waiting_on == {"reviews": 2}
    assert recipients_of(smtp_peer) == ["c1@example.org", "c2@example.org"]

    decide(store, store_settings(), waiting["3"].id, approve=False, as_="mike", note="no")
    decide(store, store_settings(), waiting["4"].id, approve=True, as_="mike")
    third = resume(w, first.run_id)

    assert third.status == "partial", third.error
    assert third.output(block) == {
        "total": 4, "sent": 3, "failed": 0, "skipped": 0, "unknown": 0, "rejected": 1,
        "not_started": 0,
    }  # fmt: skip
    assert recipients_of(smtp_peer) == ["c1@example.org", "c2@example.org", "c4@example.org"]
    rows = {r["item_key"]: r["status"] for r in store.items.items_of(first.run_id)}
    assert rows == {"1": "sent", "2": "sent", "3": "rejected", "4": "sent"}


def test_every_item_dropped_ends_the_run_rejected(smtp_peer, store) -> None:
    w, _ = fan_out(reviewed(), over="recipients")
    first = w.run(context(recipients(2)))
    waiting = reviews(store, first.run_id)
    decide(store, store_settings(), waiting["1"].id, approve=False, as_="mike")
    expire(store, waiting["2"])  # the window ended without a decision

    final = resume(w, first.run_id)

    assert final.status == "rejected"
    assert final.error.code == "fan_out.rejected"
    assert final.error.details["rejected"] == 2
    assert smtp_peer.transactions == 0


def store_settings() -> Any:
    from orchestrator_blocks.kernel.config import load_settings

    return load_settings()
