"""The card's `alert_on_final_failure`: when batch_notify's items fail for good, ONE email
goes to the alert address (real SMTP), summarising the failed items, with an `alert.sent`
ledger event; a retried or re-finished run never alerts twice."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from support.smtp_server import SmtpPeer

from orchestrator_blocks.app.store import forget_stores

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_notify.yaml"
INPUTS = [
    "--input",
    'customer_cohort_filter={"plan": "trial"}',
    "--input",
    "subject=Your trial ends soon",
    "--input",
    "body_template=Hello {{companyname}}, your trial ends soon.",
]
REFUSED = {"C-1002": "sam@blueharbor.example", "C-1003": "lee@kitekey.example"}


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch):
    with SmtpPeer() as smtp:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp.url)
        yield smtp
    forget_stores()


def _rows(sql: str, *params: object) -> list[tuple[object, ...]]:
    home = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"])
    with sqlite3.connect(home / "state.db") as conn:
        return conn.execute(sql, params).fetchall()


def _run_to_the_end(cli, approver: str) -> dict[str, object]:
    """Seed, run to the gate, approve, resume: the summary of the finished run."""
    assert cli("demo", "seed-customers").code == 0
    res = cli("run", str(EXAMPLE), *INPUTS, "--json")
    run_id = json.loads(res.out)["run_id"]
    [(gate,)] = _rows(
        "SELECT id FROM proposed_actions WHERE run_id = ? AND status = 'pending'", run_id
    )
    assert cli("approvals", "approve", str(gate), "--as", approver).code == 0
    res = cli("runs", "resume", run_id, "--json")
    return dict(json.loads(res.out))


def _alerts(peer: SmtpPeer, to: str) -> list:
    return [d for d in peer.deliveries if d.rcpt_tos == (to,)]


def test_items_failed_for_good_send_one_alert_and_a_retry_sends_no_second(
    cli, peer, monkeypatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_ALERT_EMAIL", "ops@example.org")
    peer.set_mode("accept", refuse=tuple(REFUSED.values()))  # 550 for these two

    summary = _run_to_the_end(cli, "mike")
    run_id = str(summary["run_id"])
    assert summary["status"] == "partial"
    [alert] = _alerts(peer, "ops@example.org")  # one alert, not one per item
    msg = alert.message
    assert msg["Subject"] == (
        f"[orchestrator-blocks] batch_notify run {run_id}: 2 items failed for good"
    )
    body = msg.get_content()
    for customer in REFUSED:
        assert f"per_recipient {customer}: email.smtp.permanent after 1 attempt(s)" in body
    assert "2 sent" in body and "2 failed" in body
    assert f"orchestrator-blocks runs retry {run_id}" in body
    events = _rows(
        "SELECT idempotency_key, payload_json FROM events WHERE event_type = 'alert.sent'"
    )
    assert [k for k, _ in events] == [f"alert:{run_id}:1"]
    payload = json.loads(str(events[0][1]))
    assert (payload["to"], payload["failed_items"], payload["email"]) == (
        "ops@example.org",
        2,
        "sent",
    )
    assert _rows(
        "SELECT status FROM outbound_email_log WHERE idempotency_key = ?",
        f"alert:batch_notify:{run_id}",
    ) == [("sent",)]

    # The failed items are retried as a new attempt and fail again: no second alert.
    res = cli("runs", "retry", run_id, "--json")
    assert json.loads(res.out)["status"] == "partial", res
    assert len(_alerts(peer, "ops@example.org")) == 1
    keys = _rows("SELECT idempotency_key, payload_json FROM events WHERE event_type = 'alert.sent'")
    assert [k for k, _ in keys] == [f"alert:{run_id}:1", f"alert:{run_id}:2"]
    assert json.loads(str(keys[1][1]))["email"] == "already_sent"
    # A resume retries them once more (a third attempt): still one alert, one event each.
    res = cli("runs", "resume", run_id, "--json")
    assert json.loads(res.out)["status"] == "partial", res
    assert len(_alerts(peer, "ops@example.org")) == 1
    again = _rows("SELECT idempotency_key FROM events WHERE event_type = 'alert.sent'")
    assert len(again) == len({k for (k,) in again}) == 3, again
    # the alert is not a recipient of the card: the verify query counts customers only
    assert _rows(
        "SELECT COUNT(DISTINCT customer_id) FROM outbound_email_log WHERE workflow_run_id = ?",
        run_id,
    ) == [(4,)]


def test_the_alert_goes_to_the_approver_when_that_is_an_email_address(
    cli, peer, monkeypatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike@example.org")
    peer.set_mode("accept", refuse=("pat@granite.example",))
    summary = _run_to_the_end(cli, "mike@example.org")
    assert summary["status"] == "partial"
    [alert] = _alerts(peer, "mike@example.org")
    assert "1 item failed for good" in alert.message["Subject"]
    assert "per_recipient C-1007: email.smtp.permanent" in alert.message.get_content()


def test_without_an_alert_address_it_says_so_and_sends_nothing(cli, peer, monkeypatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    peer.set_mode("accept", refuse=("pat@granite.example",))
    summary = _run_to_the_end(cli, "mike")
    assert summary["status"] == "partial"
    assert {d.rcpt_tos for d in peer.deliveries} == {
        ("ana@northwind.example",),
        ("sam@blueharbor.example",),
        ("lee@kitekey.example",),
    }
    logged = cli("logs", str(summary["run_id"]), "--json").out
    assert "alert.no_address" in logged and "ORCHESTRATOR_BLOCKS_ALERT_EMAIL" in logged
    assert _rows("SELECT count(*) FROM events WHERE event_type = 'alert.sent'") == [(0,)]


def test_a_run_whose_items_all_succeed_sends_no_alert(cli, peer, monkeypatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_ALERT_EMAIL", "ops@example.org")
    assert _run_to_the_end(cli, "mike")["status"] == "succeeded"
    assert _alerts(peer, "ops@example.org") == []
    assert _rows("SELECT count(*) FROM events WHERE event_type = 'alert.sent'") == [(0,)]
