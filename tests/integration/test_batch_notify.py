"""batch_notify end to end (card sections 1-10) against aiosmtpd and the SQLite store:
propose → approve → the run waits at the gate → approve → one email per recipient →
run log, reflexion, ledger event, verify; rejection and expiry send nothing; a process killed
mid-fan-out and resumed sends nobody twice and forgets nobody."""

from __future__ import annotations

import email
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.smtp_server import SmtpPeer

import orchestrator_blocks as ob
from orchestrator_blocks.app.approvals import expire
from orchestrator_blocks.app.store import forget_stores, open_store
from orchestrator_blocks.kernel.config import load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_notify.yaml"
TRIAL_RECIPIENTS = {  # active trial customers with an email, from `demo seed-customers`
    "C-1001": "ana@northwind.example",
    "C-1002": "sam@blueharbor.example",
    "C-1003": "lee@kitekey.example",
    "C-1007": "pat@granite.example",
}
INPUTS = [
    "--input",
    'customer_cohort_filter={"plan": "trial"}',
    "--input",
    "subject=Your trial ends soon",
    "--input",
    "body_template=<p>Hello {{companyname}}, your trial ends soon.</p>",
]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    with SmtpPeer() as peer:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", peer.url)
        yield peer
    forget_stores()


def _db() -> sqlite3.Connection:
    home = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"])
    return sqlite3.connect(home / "state.db")


def _one(sql: str, *params: object) -> object:
    with _db() as conn:
        row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _store():
    return open_store(load_settings())


def _gate_proposal(run_id: str):
    rows = [p for p in _store().proposals.list("pending") if p.run_id == run_id]
    assert len(rows) == 1, rows
    return rows[0]


def _run_to_gate(cli) -> str:
    """Run the contract by hand; it stops at the gate. Returns the run id."""
    res = cli("run", str(EXAMPLE), *INPUTS, "--json")
    assert res.code == 1, res  # not succeeded (yet): awaiting approval
    summary = json.loads(res.out)
    assert summary["status"] == "awaiting_approval", summary
    return summary["run_id"]


def _recipients(peer: SmtpPeer) -> list[str]:
    return sorted(addr for d in peer.deliveries for addr in d.rcpt_tos)


def test_propose_approve_gate_approve_sends_each_recipient_once(cli, env, tmp_path) -> None:
    peer = env
    assert cli("demo", "seed-customers").code == 0
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    shutil.copy(EXAMPLE, workflows / "batch_notify.yaml")

    res = cli("approvals", "propose", "bulk_customer_email", *INPUTS)
    assert res.code == 0, res
    proposal_id = _one("SELECT max(id) FROM proposed_actions")
    refused = cli("approvals", "approve", str(proposal_id), "--as", "eve")
    assert refused.code == 3 and "only the configured approver (mike)" in refused.err
    assert _one("SELECT status FROM proposed_actions WHERE id = ?", proposal_id) == "pending"
    assert cli("approvals", "approve", str(proposal_id), "--as", "mike").code == 0

    serve = subprocess.Popen(
        [sys.executable, "-m", "orchestrator_blocks", "serve", "--dir", str(workflows)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )
    try:
        gate = _wait(
            lambda: _one(
                "SELECT id FROM proposed_actions WHERE action_type = 'workflow_batch_notify'"
            )
        )
        run_id = _one("SELECT run_id FROM proposed_actions WHERE id = ?", gate)
        _wait(lambda: _one("SELECT status FROM workflow_run_log WHERE run_id = ?", run_id))
        assert _one("SELECT status FROM workflow_run_log WHERE run_id = ?", run_id) == (
            "awaiting_approval"
        )
        assert peer.deliveries == []  # nothing leaves before approval
        shown = cli("approvals", "show", str(gate))
        assert "recipients: 4" in shown.out
        assert "Hello Northwind Bakery, your trial ends soon." in shown.out  # a rendered body

        assert cli("approvals", "approve", str(gate), "--as", "mike").code == 0
        _wait(
            lambda: (
                _one("SELECT status FROM workflow_run_log WHERE run_id = ?", run_id)
                not in (None, "awaiting_approval")
            ),
            timeout=60,
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        out, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, out
    assert _one("SELECT status FROM workflow_run_log WHERE run_id = ?", run_id) == "succeeded"

    assert _recipients(peer) == sorted(TRIAL_RECIPIENTS.values())
    by_rcpt = {d.rcpt_tos[0]: d for d in peer.deliveries}
    granite = by_rcpt["pat@granite.example"].message
    assert granite["Subject"] == "Your trial ends soon"
    assert "Hello Granite &lt;b&gt;Gym&lt;/b&gt;" in granite.get_body(("html",)).get_content()
    ids = {d.message["Message-ID"] for d in peer.deliveries}
    assert len(ids) == 4  # one stable Message-ID per recipient

    with _db() as conn:
        logged = conn.execute(
            "SELECT customer_id, status FROM outbound_email_log WHERE workflow_run_id = ?",
            (run_id,),
        ).fetchall()
    assert sorted(logged) == sorted((c, "sent") for c in TRIAL_RECIPIENTS)
    # the card's prior_sends query finds them under the workflow that fanned out
    assert (
        _one("SELECT count(*) FROM outbound_email_log WHERE related_workflow = ?", "batch_notify")
        == 4
    )
    assert _one("SELECT count(*) FROM reflexion_log WHERE run_id = ?", run_id) == 1
    assert (
        _one(
            "SELECT count(*) FROM events WHERE event_type = 'workflow.completed' AND run_id = ?",
            run_id,
        )
        == 1
    )
    assert _one("SELECT status FROM workflow_verify_results WHERE run_id = ?", run_id) == "pending"
    later = (datetime.now(UTC) + timedelta(minutes=2)).isoformat(timespec="seconds")
    assert cli("verify", "run-due", "--at", later).code == 0
    assert _one("SELECT status FROM workflow_verify_results WHERE run_id = ?", run_id) == "pass"


def _wait(probe, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


@pytest.mark.parametrize("decision", ["reject", "expire"])
def test_a_rejected_or_expired_gate_sends_nothing(cli, env, decision) -> None:
    peer = env
    assert cli("demo", "seed-customers").code == 0
    run_id = _run_to_gate(cli)
    gate = _gate_proposal(run_id)
    if decision == "reject":
        res = cli("approvals", "reject", str(gate.id), "--as", "mike", "--note", "not now")
        assert res.code == 0, res
    else:
        assert expire(_store(), gate)
    res = cli("runs", "resume", run_id, "--json")
    assert res.code == 1
    summary = json.loads(res.out)
    assert summary["status"] == "rejected"
    assert summary["error"]["code"] == ("hitl.rejected" if decision == "reject" else "hitl.expired")
    assert peer.deliveries == []
    assert _one("SELECT count(*) FROM outbound_email_log") == 0
    # approving afterwards is refused: a decision is taken once
    assert cli("approvals", "approve", str(gate.id), "--as", "mike").code != 0


def test_still_pending_resume_pauses_again_and_sends_nothing(cli, env) -> None:
    assert cli("demo", "seed-customers").code == 0
    run_id = _run_to_gate(cli)
    res = cli("runs", "resume", run_id, "--json")
    assert json.loads(res.out)["status"] == "awaiting_approval"
    assert env.deliveries == []
    assert len([p for p in _store().proposals.list() if p.run_id == run_id]) == 1


def test_a_write_in_a_risky_workflow_without_a_gate_is_refused(env) -> None:
    w = ob.new_workflow("risky_without_gate").set_risk_level(4)
    w.add(ob.Block.send_email("x@example.org", "hi"))
    result = w.run("body")
    assert result.status == "failed"
    assert result.error.code == "runtime.approval_required"
    assert env.deliveries == []


def _seed_bulk(n: int) -> dict[str, str]:
    with _db() as conn:
        conn.executemany(
            "INSERT INTO customers (id, companyname, email, isinactive, plan, country) "
            "VALUES (?, ?, ?, 'F', 'bulk', 'UK')",
            [(f"B-{i:03d}", f"Bulk {i}", f"b{i:03d}@bulk.example") for i in range(n)],
        )
    return {f"B-{i:03d}": f"b{i:03d}@bulk.example" for i in range(n)}


def test_killed_mid_fan_out_then_resumed_sends_nobody_twice(cli, env) -> None:
    peer = env
    assert cli("demo", "seed-customers").code == 0
    bulk = _seed_bulk(24)
    res = cli(
        "run",
        str(EXAMPLE),
        "--input",
        'customer_cohort_filter={"plan": "bulk"}',
        "--input",
        "subject=Bulk",
        "--input",
        "body_template=Hi {{companyname}}",
        "--input",
        "max_recipients=100",
        "--json",
    )
    run_id = json.loads(res.out)["run_id"]
    gate = _gate_proposal(run_id)
    assert cli("approvals", "approve", str(gate.id), "--as", "mike").code == 0

    peer.set_mode("slow", delay=0.4)  # slow enough to be killed mid-way
    cmd = [sys.executable, "-m", "orchestrator_blocks", "runs", "resume", run_id]
    short_lease = dict(os.environ, ORCHESTRATOR_BLOCKS_LEASE_S="6")
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=short_lease)
    _wait(lambda: len(peer.deliveries) >= 6, timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    delivered_before = _recipients(peer)
    assert 6 <= len(delivered_before) < len(bulk)

    peer.set_mode("accept")
    refused = subprocess.run(cmd, capture_output=True, text=True, env=short_lease, timeout=60)
    assert refused.returncode == 2, refused  # the dead owner's lease still runs
    assert "is being run by" in refused.stderr and len(refused.stderr.splitlines()) == 1
    second = subprocess.run(
        [*cmd, "--wait"], capture_output=True, text=True, env=short_lease, timeout=120
    )
    assert second.returncode in (0, 1), second.stderr
    delivered = _recipients(peer)
    assert len(delivered) == len(set(delivered)), "a recipient was emailed twice"
    with _db() as conn:
        rows = dict(
            conn.execute(
                "SELECT customer_id, status FROM outbound_email_log WHERE workflow_run_id = ?",
                (run_id,),
            ).fetchall()
        )
    assert set(rows) == set(bulk), second.stdout  # nobody forgotten
    assert "sending" not in rows.values()  # in flight when killed: now unknown, for a human
    unknown = {c for c, s in rows.items() if s == "unknown"}
    sent = {c for c, s in rows.items() if s == "sent"}
    assert sent | unknown == set(bulk)
    assert {bulk[c] for c in sent} <= set(delivered)
    # an unknown outcome is reported, not resent
    status = _one("SELECT status FROM workflow_run_log WHERE run_id = ?", run_id)
    summary = json.loads(_one("SELECT summary_json FROM workflow_run_log WHERE run_id = ?", run_id))
    if unknown:
        assert status == "partial"
        assert summary["fan_out"][0]["unknown"] == len(unknown)
    else:
        assert status == "succeeded"


def test_demo_batch_notify_walks_through_every_step(cli) -> None:
    res = cli("demo", "batch-notify")
    assert res.code == 0, res
    for step in (
        "approvals propose bulk_customer_email",
        "approvals approve 1 --as mike",
        "approvals show 2",
        "runs resume",
        "verify run-due --at",
    ):
        assert step in res.out
    assert "all_recipients_logged: pass" in res.out
    outbox = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"]) / "outbox"
    assert len(list(outbox.glob("*.eml"))) == 4
    rejected = cli("demo", "batch-notify", "--reject")
    assert rejected.code == 0, rejected
    assert "rejected" in rejected.out
    assert len(list(outbox.glob("*.eml"))) == 4  # the rejected run sent nothing


def test_serve_after_the_demo_has_no_work_left_from_it(cli, tmp_path, monkeypatch) -> None:
    """The demo approves a proposal and runs its workflow itself; a `serve` started later
    must not take that approval's ledger event for new work (a second run, a new gate for
    the approver, and nothing to send since the demo sent it all)."""
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    demo = cli("demo", "batch-notify")
    assert demo.code == 0, demo
    demo_run = demo.out.rsplit("orchestrator-blocks logs ", 1)[1].split()[0]
    demo_event = _one(
        "SELECT e.id FROM events e JOIN proposed_actions p ON e.idempotency_key = "
        "'proposal.approved:' || p.id WHERE p.action_type = 'bulk_customer_email'"
    )
    assert cli("approvals", "list", "--status", "pending", "--json").out.strip() == "[]"
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    shutil.copy(EXAMPLE, workflows / "batch_notify.yaml")
    serve = subprocess.Popen(
        [sys.executable, "-m", "orchestrator_blocks", "serve", "--dir", str(workflows),
         "--no-console", "--poll", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        # A fresh approval serve must act on: it handles ledger events in order, so once
        # this one is claimed, the demo's (older) event has been looked at too.
        assert cli("approvals", "propose", "bulk_customer_email", *INPUTS).code == 0
        fresh = _one("SELECT max(id) FROM proposed_actions")
        assert cli("approvals", "approve", str(fresh), "--as", "mike").code == 0
        _wait(
            lambda: _one(
                "SELECT count(*) FROM event_deliveries d JOIN events e ON d.event_id = e.id "
                "WHERE e.idempotency_key = ?",
                f"proposal.approved:{fresh}",
            )
        )
    finally:
        serve.send_signal(signal.SIGTERM)  # waits for the runs it started (to their gate)
        out, _ = serve.communicate(timeout=60)
    assert serve.returncode == 0, out
    # The demo's approval was delivered once, to the demo's own run.
    assert _one("SELECT run_id FROM event_deliveries WHERE event_id = ?", demo_event) == demo_run
    fresh_run = _one(
        "SELECT d.run_id FROM event_deliveries d JOIN events e ON d.event_id = e.id "
        "WHERE e.idempotency_key = ?",
        f"proposal.approved:{fresh}",
    )
    # What waits for the approver is the gate of the fresh proposal's run, and only that.
    pending = json.loads(cli("approvals", "list", "--status", "pending", "--json").out)
    assert [p["run_id"] for p in pending] == [fresh_run], out


def test_demo_per_recipient_reviews_four_approves_three_and_sends_three(cli) -> None:
    res = cli("demo", "batch-notify", "--per-recipient")

    assert res.code == 0, res
    assert "approvals list --run" in res.out
    assert res.out.count("-> approve") == 3 and res.out.count("-> reject") == 1
    run_id = res.out.rsplit("orchestrator-blocks logs ", 1)[1].split()[0]
    reviews = dict(
        _db()
        .execute(
            "SELECT status, count(*) FROM proposed_actions WHERE action_type = 'hitl_review' "
            "AND run_id = ? GROUP BY status",
            (run_id,),
        )
        .fetchall()
    )
    assert reviews == {"approved": 3, "rejected": 1}
    outbox = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"]) / "outbox"
    sent_to = sorted(email.message_from_bytes(p.read_bytes())["To"] for p in outbox.glob("*.eml"))
    left_out = "pat@granite.example"  # the demo rejects the last recipient's review
    assert sent_to == sorted(set(TRIAL_RECIPIENTS.values()) - {left_out})  # exactly three
    assert _one("SELECT status FROM workflow_run_log WHERE run_id = ?", run_id) == "partial"
    assert "sent 3" in res.out and "rejected 1" in res.out
    assert "all_recipients_logged: pass" in res.out


def test_serve_continues_a_run_as_each_recipient_is_reviewed(cli, env, tmp_path) -> None:
    """The card with per-recipient review, under `serve`: the run waits awaiting_approval
    after the gate; each review decided through the CLI releases or drops its recipient;
    the run ends when the last one is decided."""
    peer = env
    assert cli("demo", "seed-customers").code == 0
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    card = EXAMPLE.read_text().replace("with: {mode: cohort}", "with: {mode: per_item}")
    (workflows / "batch_notify.yaml").write_text(card)
    assert cli("approvals", "propose", "bulk_customer_email", *INPUTS).code == 0
    first = _one("SELECT max(id) FROM proposed_actions")
    assert cli("approvals", "approve", str(first), "--as", "mike").code == 0
    serve = subprocess.Popen(
        [sys.executable, "-m", "orchestrator_blocks", "serve", "--dir", str(workflows),
         "--no-console", "--poll", "0.2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )  # fmt: skip
    try:
        gate = _wait(
            lambda: _one(
                "SELECT id FROM proposed_actions WHERE action_type = 'workflow_batch_notify' "
                "AND status = 'pending'"
            ),
            timeout=60,
        )
        run_id = _one("SELECT run_id FROM proposed_actions WHERE id = ?", gate)
        assert cli("approvals", "approve", str(gate), "--as", "mike").code == 0

        def pending_reviews() -> dict[str, int]:
            with _db() as conn:
                rows = conn.execute(
                    "SELECT id, payload_json FROM proposed_actions WHERE run_id = ? AND "
                    "action_type = 'hitl_review' AND status = 'pending'",
                    (run_id,),
                ).fetchall()
            return {json.loads(p)["item_key"]: i for i, p in rows}

        reviews = _wait(lambda: len(pending_reviews()) == 4 and pending_reviews(), timeout=60)
        listed = cli("approvals", "list", "--run", run_id)
        assert listed.code == 0 and listed.out.count("hitl_review") == 4
        shown = cli("approvals", "show", str(reviews["C-1001"]))
        assert "email to: ana@northwind.example" in shown.out
        assert "Hello Northwind Bakery, your trial ends soon." in shown.out  # personalised
        assert _one("SELECT status FROM runs WHERE run_id = ?", run_id) == "awaiting_approval"
        assert peer.deliveries == []

        for n, (key, pid) in enumerate(sorted(reviews.items())):
            verb = "reject" if key == "C-1002" else "approve"
            assert cli("approvals", verb, str(pid), "--as", "mike").code == 0
            if n == 0:  # the first decision alone releases its recipient
                _wait(lambda: len(peer.deliveries) == 1, timeout=60)
        _wait(
            lambda: _one("SELECT status FROM runs WHERE run_id = ?", run_id) == "partial",
            timeout=60,
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        out, _ = serve.communicate(timeout=30)
    assert serve.returncode == 0, out
    assert _recipients(peer) == sorted(
        v for k, v in TRIAL_RECIPIENTS.items() if k != "C-1002"
    )  # three emails; the rejected recipient got none, nobody got two
    counts = dict(
        _db()
        .execute(
            "SELECT status, count(*) FROM fan_out_items WHERE run_id = ? GROUP BY status",
            (run_id,),
        )
        .fetchall()
    )
    assert counts == {"sent": 3, "rejected": 1}
