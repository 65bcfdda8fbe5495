"""A fan-out's items are rows: a lost SMTP acknowledgement is an unknown outcome that nothing
re-sends, a human settles it, and a retry sends again only what was settled as failed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from fanout_parts import context, fan_out, per_item, recipients, recipients_of
from support.smtp_server import Mode

from orchestrator_blocks import sdk


@pytest.fixture
def approver(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    return "mike"


def _rows(home: Path, sql: str, *args: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(home / "state.db") as db:
        return db.execute(sql, args).fetchall()


def test_a_lost_acknowledgement_is_unknown_and_never_resent(
    smtp_peer, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    # The server records each message, then answers 250 after 2.5 s; the client gives up
    # after 1 s. The send step may retry twice: it must not, the message went out.
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp_peer.url + "?timeout=1")
    smtp_peer.set_mode(Mode("slow_ack", delay=2.5))
    w, _ = fan_out(per_item(send_retries=2), over="recipients", max_attempts=3)
    result = w.run(context(recipients(3)))

    delivered = recipients_of(smtp_peer)
    assert delivered == ["c1@example.org", "c2@example.org", "c3@example.org"]  # once each
    assert result.status is sdk.RunStatus.FAILED  # nothing known to be delivered
    assert result.error is not None and result.error.details["unknown"] == 3
    sends = _rows(isolated_home, "SELECT status FROM outbound_email_log")
    assert sends == [("unknown",)] * 3
    items = _rows(
        isolated_home, "SELECT item_key, status, code FROM fan_out_items ORDER BY item_key"
    )
    assert items == [(str(i), "unknown", "email.unknown_outcome") for i in (1, 2, 3)]


def test_settled_sends_let_a_retry_resend_only_the_failed_ones(
    smtp_peer, cli, approver: str, isolated_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp_peer.url + "?timeout=1")
    smtp_peer.set_mode(Mode("slow_ack", delay=2.0))
    w, block = fan_out(per_item(), over="recipients")
    first = w.run(context(recipients(3)))
    keys = dict(_rows(isolated_home, "SELECT customer_id, idempotency_key FROM outbound_email_log"))
    assert len(recipients_of(smtp_peer)) == 3

    # Only the approver settles; a stranger is refused with exit 3.
    refused = cli("runs", "settle", first.run_id, "--key", keys["1"], "--as", "sent", "--by", "eve")
    assert refused.code == 3 and "only the configured approver" in refused.err
    ok = cli("runs", "settle", first.run_id, "--key", keys["1"], "--as", "sent", "--by", approver)
    assert ok.code == 0, ok
    ok = cli("runs", "settle", first.run_id, "--key", keys["2"], "--as", "failed", "--by", approver)
    assert ok.code == 0 and "runs resume" in ok.out
    settled = _rows(
        isolated_home, "SELECT event_type FROM events WHERE event_type = 'send.settled'"
    )
    assert len(settled) == 2

    smtp_peer.set_mode("accept")
    before = len(smtp_peer.deliveries)
    again = w.run(run_id=first.run_id, mode="retry")

    new = [rcpt for d in smtp_peer.deliveries[before:] for rcpt in d.rcpt_tos]
    assert new == ["c2@example.org"]  # only the send settled as failed, under the same key
    sends = dict(_rows(isolated_home, "SELECT customer_id, status FROM outbound_email_log"))
    assert sends == {"1": "sent", "2": "sent", "3": "unknown"}
    assert again.status is sdk.RunStatus.PARTIAL  # customer 3 still waits to be settled
    assert again.output(block) == {
        "total": 3,
        "sent": 2,
        "failed": 0,
        "skipped": 0,
        "unknown": 1,
        "rejected": 0,
        "not_started": 0,
    }


def test_a_retry_starts_only_failed_and_not_started_items(smtp_peer, isolated_home: Path):
    # The breaker opens after 2 consecutive failures: 2 failed, the rest never started.
    smtp_peer.set_mode(Mode("permanent", code=550, stage="rcpt"))
    w, block = fan_out(per_item(), over="recipients", concurrency=1, circuit_breaker=2)
    first = w.run(context(recipients(5)))
    assert first.status is sdk.RunStatus.FAILED
    counts = dict(_rows(isolated_home, "SELECT status, COUNT(*) FROM fan_out_items GROUP BY 1"))
    assert counts == {"failed": 2, "not_started": 3}

    smtp_peer.set_mode("accept")
    again = w.run(run_id=first.run_id, mode="retry")
    assert again.ok
    assert recipients_of(smtp_peer) == [f"c{i}@example.org" for i in range(1, 6)]
    assert again.output(block)["sent"] == 5
    attempts = _rows(isolated_home, "SELECT DISTINCT run_attempt FROM fan_out_items")
    assert attempts == [(2,)]


def test_item_rows_that_cannot_be_written_fail_the_fan_out_not_silently(
    isolated_home: Path,
) -> None:
    """Items do not wait for their row's commit, so a row the store refuses surfaces when
    the fan-out counts its rows: the run fails with the store's error, it is not lost."""
    import orchestrator_blocks as ob

    item = ob.new_workflow("null_item")
    item.add(ob.Block.custom_transform(lambda data: None))
    w = ob.new_workflow("rows_refused")
    w.add(ob.Block.for_each(item, over="xs", concurrency=4, progress=False))
    data = {"inputs": {}, "xs": [{"id": i} for i in range(20)]}
    assert w.run(data).status is sdk.RunStatus.SUCCEEDED  # the store exists now
    with sqlite3.connect(isolated_home / "state.db") as db:
        db.execute(
            "CREATE TRIGGER refuse_finish BEFORE UPDATE OF status ON fan_out_items "
            "WHEN NEW.status = 'sent' BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )

    result = w.run(data)

    assert result.status is sdk.RunStatus.FAILED
    assert result.error is not None
    assert "disk says no" in result.error.message, result.error
    rows = _rows(isolated_home, "SELECT status, COUNT(*) FROM fan_out_items GROUP BY 1")
    assert ("sent", 20) in rows and ("sent", 40) not in rows  # the first run's rows only
