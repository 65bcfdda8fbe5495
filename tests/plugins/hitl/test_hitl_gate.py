"""The approval gate: what it stages for the approver, the pause, and each decision, against
the real SQLite store; and the runtime rule that a risky write cannot run without it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.app.approvals import NotApprover, decide, expire
from orchestrator_blocks.app.store import forget_stores, open_store
from orchestrator_blocks.kernel.config import load_settings
from orchestrator_blocks.kernel.runtime import run_workflow
from orchestrator_blocks.sdk.testing import check_block_type

CONTEXT = {
    "inputs": {
        "subject": "Hello",
        "body_template": "<p>Hi {{companyname}}</p>",
        "_proposal_id": 7,
    },
    "recipients": [
        {"id": "C1", "companyname": "Granite <b>Gym</b>", "email": "pat@granite.example"},
        {"id": "C2", "companyname": "Juniper", "email": "kim@juniper.example"},
        {"id": "C3", "companyname": "Orchard", "email": "max@orchard.example"},
        {"id": "C4", "companyname": "Tidewater", "email": "ola@tidewater.example"},
    ],
    "precondition_warnings": ["no_recent_spam"],
}


@pytest.fixture(autouse=True)
def approver(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    yield
    forget_stores()


def _gated(risk: int = 4) -> ob.Workflow:
    w = ob.new_workflow("gated").set_risk_level(risk)
    load = ob.Block.custom_transform(lambda _: CONTEXT).named("context")
    gate = ob.Block.hitl_gate(sample_size=2).named("gate")
    write = ob.Block.file_write("out/sent.txt", mode="overwrite").named("write")
    w.link(load, gate)
    w.link(gate, ob.Block.custom_transform(lambda ctx: "sent").named("render"))
    w.link("render", write)
    return w


def _store():
    return open_store(load_settings())


def _resume(w: ob.Workflow, run_id: str, value: object = None, mode: str = "continue"):
    return asyncio.run(run_workflow(w, value, run_id=run_id, mode=mode))  # type: ignore[arg-type]


def test_the_gate_stages_what_the_approver_needs_and_pauses() -> None:
    result = _gated().run()
    assert result.status == "awaiting_approval"
    assert not result.ran("write")
    p = _store().proposals.get(result.waiting_on["proposal_id"])
    assert p is not None and p.status == "pending"
    assert p.entity_ref == f"workflow:gated:run_{result.run_id}"
    assert p.action_type == "workflow_gated" and p.risk_level == 3 and p.run_id == result.run_id
    assert p.payload["inputs"] == {"subject": "Hello", "body_template": "<p>Hi {{companyname}}</p>"}
    assert p.payload["recipient_count"] == 4
    assert [s["id"] for s in p.payload["sample"]] == ["C1", "C2"]
    assert p.payload["sample_body"] == "<p>Hi Granite &lt;b&gt;Gym&lt;/b&gt;</p>"
    assert p.payload["warnings"] == ["no_recent_spam"]
    assert p.expires_at is not None
    assert result.events_of("run.paused")[0]["proposal_id"] == p.id


def test_approval_resumes_the_same_run_and_the_write_happens_once(tmp_path: Path) -> None:
    w = _gated()
    first = w.run()
    with pytest.raises(NotApprover):
        decide(_store(), load_settings(), first.waiting_on["proposal_id"], approve=True, as_="eve")
    decide(_store(), load_settings(), first.waiting_on["proposal_id"], approve=True, as_="mike")
    again = _resume(w, first.run_id)
    assert again.status == "succeeded", again.error
    assert again.run_id == first.run_id
    files_root = Path(load_settings().files_root)
    assert (files_root / "out" / "sent.txt").read_text() == "sent"
    # resuming never stages a second proposal
    assert len([p for p in _store().proposals.list() if p.run_id == first.run_id]) == 1


@pytest.mark.parametrize(("how", "code"), [("reject", "hitl.rejected"), ("expire", "hitl.expired")])
def test_rejected_or_expired_ends_the_run_rejected_with_no_write(how: str, code: str) -> None:
    w = _gated()
    first = w.run()
    pid = first.waiting_on["proposal_id"]
    if how == "reject":
        decide(_store(), load_settings(), pid, approve=False, as_="mike", note="no")
    else:
        expire(_store(), _store().proposals.get(pid))
    again = _resume(w, first.run_id)
    assert again.status == "rejected"
    assert again.error.code == code
    assert not again.ran("write")
    assert not (Path(load_settings().files_root) / "out" / "sent.txt").exists()


def test_a_risky_write_without_a_gate_is_refused() -> None:
    w = ob.new_workflow("ungated").set_risk_level(3)
    write = ob.Block.file_write("out/x.txt", mode="overwrite")
    w.add(write)
    result = w.run("data")
    assert result.status == "failed"
    assert result.error.code == "runtime.approval_required"
    assert not (Path(load_settings().files_root) / "out" / "x.txt").exists()


def test_below_the_risk_gate_writes_need_no_gate() -> None:
    w = ob.new_workflow("calm").set_risk_level(2)
    w.add(ob.Block.file_write("out/y.txt", mode="overwrite"))
    assert w.run("data").ok


def test_per_item_review_waits_then_passes_once_approved() -> None:
    w = ob.new_workflow("reviewed")
    w.add(ob.Block.hitl_review("per_item", item_key="id").named("review"))
    item = {"id": "C9", "to": "x@example.org", "subject": "Hi", "html": "<p>Hi C9</p>"}
    first = w.run(item)
    assert first.status == "awaiting_approval" and first.error is None  # waiting, not failed
    review = next(p for p in _store().proposals.list() if p.action_type == "hitl_review")
    assert review.payload["item"]["id"] == "C9"
    # what the approver reads: the message as it will go out
    assert review.payload["recipient"] == "x@example.org"
    assert (review.payload["sample_subject"], review.payload["sample_body"]) == (
        "Hi",
        "<p>Hi C9</p>",
    )
    assert first.waiting_on == {"proposal_id": review.id}
    decide(_store(), load_settings(), review.id, approve=True, as_="mike")
    again = _resume(w, first.run_id, item)
    assert again.ok and again.output("review") == item


@pytest.mark.parametrize("decision", ["reject", "expire"])
def test_a_rejected_or_expired_review_drops_the_item(decision: str) -> None:
    w = ob.new_workflow("reviewed")
    w.add(ob.Block.hitl_review("per_item", item_key="id").named("review"))
    first = w.run({"id": "C9", "to": "x@example.org"})
    review = next(p for p in _store().proposals.list() if p.action_type == "hitl_review")
    if decision == "reject":
        decide(_store(), load_settings(), review.id, approve=False, as_="mike", note="no")
    else:
        expire(_store(), review)
    again = _resume(w, first.run_id, {"id": "C9", "to": "x@example.org"})
    assert again.status == "rejected"
    assert again.error.code == f"hitl.{'rejected' if decision == 'reject' else 'expired'}"


@pytest.mark.parametrize("type_id", ["hitl_gate", "hitl_review"])
def test_block_types_are_well_formed(type_id: str) -> None:
    from orchestrator_blocks.kernel.plugin_host import default_host

    check_block_type(default_host().get(type_id))


def test_a_send_hidden_in_a_child_workflow_is_still_refused_without_a_gate() -> None:
    child = ob.new_workflow("child_writes")
    child.add(ob.Block.file_write("out/child.txt", mode="overwrite"))
    w = ob.new_workflow("parent").set_risk_level(4)
    w.add(ob.Block.child_workflow(child))
    result = w.run("data")
    assert result.error.code == "runtime.approval_required"
    assert not (Path(load_settings().files_root) / "out" / "child.txt").exists()
    reader = ob.new_workflow("child_reads")
    reader.add(ob.Block.custom_transform(lambda v: v))
    calm = ob.new_workflow("parent_reads").set_risk_level(4)
    calm.add(ob.Block.child_workflow(reader))
    assert calm.run("data").ok
