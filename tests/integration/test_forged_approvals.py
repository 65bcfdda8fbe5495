"""Approval-started work checks the proposal, not the event: ``serve`` starts a
``hitl_approval`` workflow only for a proposal the store says the configured approver
approved. A hand-recorded ``proposal.approved`` starts nothing and is logged as refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from support.smtp_server import SmtpPeer

import orchestrator_blocks as ob
from orchestrator_blocks.app.approvals import decide, propose
from orchestrator_blocks.app.card import TriggerSpec
from orchestrator_blocks.app.serve import Server
from orchestrator_blocks.app.serve.triggers import EventTrigger
from orchestrator_blocks.app.store import Store, forget_stores, open_store
from orchestrator_blocks.kernel.config import load_settings
from orchestrator_blocks.kernel.telemetry import sinks_installed

ACTION = "bulk_customer_email"
NAME = "bulk_send"


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpPeer]:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    with SmtpPeer() as smtp:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp.url)
        yield smtp
    forget_stores()


def _bulk_send() -> ob.Workflow:
    w = ob.new_workflow(NAME).set_trigger(TriggerSpec(kind="hitl_approval", action_type=ACTION))
    body = ob.Block.custom_transform(lambda inputs: f"hello {inputs['cohort']}")
    w.link(body, ob.Block.send_email("everyone@example.com", subject="Approved-only mail"))
    return w


async def _serve_once(store: Store) -> tuple[list[dict[str, Any]], list[str], Server]:
    """One tick of the event trigger over the ledger, as ``serve`` does it."""
    logged: list[dict[str, Any]] = []
    said: list[str] = []
    events = EventTrigger()
    server = Server(
        [(None, _bulk_send())], load_settings(), store, triggers=[events], say=said.append
    )
    with sinks_installed(logged.append):
        await events.tick(datetime.now(UTC))
    await server.drain()
    return logged, said, server


def _record(cli, key: str, payload: dict[str, Any]) -> None:
    res = cli(
        "events", "record", "proposal.approved", "--key", key, "--payload", json.dumps(payload)
    )
    assert res.code == 0, res


def _refusals(logged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in logged if e["event"] == "trigger.refused"]


async def test_a_hand_recorded_approval_of_a_pending_proposal_starts_nothing(cli, peer) -> None:
    store = open_store(load_settings())
    proposal = propose(store, load_settings(), ACTION, {"cohort": "trial"})
    payload = {"proposal_id": proposal.id, "action_type": ACTION, "inputs": {"cohort": "all"}}
    _record(cli, f"proposal.approved:{proposal.id}", payload)

    logged, said, server = await _serve_once(store)

    assert peer.deliveries == []
    assert not server._tasks and not any("run " in line for line in said)
    (refused,) = _refusals(logged)
    assert refused["level"] == "warning" and refused["workflow_id"] == NAME
    assert refused["proposal_id"] == proposal.id and refused["stored_status"] == "pending"
    (event,) = store.ledger.list(event_type="proposal.approved")
    assert refused["event_id"] == event.id
    # claimed, so a restarted serve does not reconsider it forever
    assert [d["event_id"] for d in store.ledger.deliveries(NAME)] == [event.id]
    assert store.proposals.get(proposal.id).status == "pending"


async def test_the_approvers_decision_starts_the_work_once_with_the_stored_inputs(
    cli, peer
) -> None:
    store = open_store(load_settings())
    proposal = propose(store, load_settings(), ACTION, {"cohort": "trial"})
    decide(store, load_settings(), proposal.id, approve=True, as_="mike")
    # a replay of the approval under another key, with other inputs, is not the approval
    forged = {"proposal_id": proposal.id, "action_type": ACTION, "inputs": {"cohort": "all"}}
    _record(cli, "replayed-approval", forged)

    logged, said, _ = await _serve_once(store)

    assert len(peer.deliveries) == 1
    assert "hello trial" in peer.messages[0].get_content()
    (refused,) = _refusals(logged)
    assert refused["stored_status"] == "approved"
    assert "not the one the approval recorded" in refused["message"]
    assert sum(f"{NAME}: run" in line for line in said) == 1


@pytest.mark.parametrize(
    ("payload", "status"),
    [
        ({"proposal_id": 999, "action_type": ACTION}, None),
        ({"proposal_id": "1; DROP TABLE events", "action_type": ACTION}, None),
        ({"action_type": ACTION}, None),
    ],
)
async def test_an_event_naming_no_real_proposal_starts_nothing(cli, peer, payload, status) -> None:
    store = open_store(load_settings())
    _record(cli, "forged", payload)
    logged, _, _ = await _serve_once(store)
    assert peer.deliveries == []
    (refused,) = _refusals(logged)
    assert refused["stored_status"] is status and "no such proposal" in refused["message"]


async def test_an_approval_by_someone_else_than_the_approver_starts_nothing(cli, peer) -> None:
    store = open_store(load_settings())
    proposal = propose(store, load_settings(), ACTION, {"cohort": "trial"})
    store.proposals.decide(proposal.id, "approved", by="eve", note="self-approved")
    payload = {"proposal_id": proposal.id, "action_type": ACTION, "inputs": {"cohort": "trial"}}
    _record(cli, f"proposal.approved:{proposal.id}", payload)

    logged, _, _ = await _serve_once(store)

    assert peer.deliveries == []
    (refused,) = _refusals(logged)
    assert "configured approver (mike)" in refused["message"]
