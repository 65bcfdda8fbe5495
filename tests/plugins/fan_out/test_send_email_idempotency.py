"""send_email with an idempotency key: claimed in the store's outbound_email_log before
delivery, so a key is delivered at most once (real aiosmtpd peer, real SQLite store)."""

from __future__ import annotations

from typing import Any

import pytest
from support.smtp_server import Mode

import orchestrator_blocks as ob
from orchestrator_blocks import sdk

KEY = "batch_notify:proposal-7:42"


def send(input: Any = "Hello", *, retries: int = 2, **config: Any) -> tuple[Any, Any]:
    block = (
        ob.Block.send_email(**config)
        .set_retry_exponential(retries, 1, 2.0, jitter=0.0)
        .set_timeout_ms(5_000)
    )
    w = ob.new_workflow("idem_test")
    w.add(block)
    return w.run(input), block


def envelope(key: str = KEY, **extra: Any) -> dict[str, Any]:
    return {"to": "ann@example.org", "text": "Hi Ann", "idempotency_key": key, **extra}


def attempts(result: Any) -> int:
    return len(result.events_of("block.started"))


def test_a_keyed_send_is_logged_sent_with_its_message_id_and_customer(smtp_peer, store):
    r, block = send(envelope(customer_id=42, subject="Hi"))

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    [msg] = smtp_peer.messages
    row = store.outbound.get(KEY)
    assert row is not None and row.status == "sent" and row.error is None
    assert row.message_id == msg["Message-ID"] == r.output(block)["message_id"]
    assert row.recipient == "ann@example.org" and row.workflow_run_id == r.run_id
    [full] = store.outbound.for_run(r.run_id)
    assert full["customer_id"] == "42" and full["workflow_id"] == "idem_test"
    assert full["sent_at"]


@pytest.mark.parametrize("where", ["config", "envelope"])
def test_the_same_key_is_delivered_once_then_skipped(smtp_peer, where):
    def once() -> tuple[Any, Any]:
        if where == "config":
            return send("Hello", to="ann@example.org", idempotency_key=KEY)
        return send(envelope())

    r1, b1 = once()
    r2, b2 = once()

    assert r1.status == r2.status == ob.RunStatus.SUCCEEDED, (r1.error, r2.error)
    assert len(smtp_peer.messages) == 1
    assert smtp_peer.transactions == 1
    assert r2.output(b2) == {
        "sent": False,
        "skipped": "already_sent",
        "to": ["ann@example.org"],
        "message_id": r1.output(b1)["message_id"],
    }


def test_a_send_still_marked_sending_becomes_unknown_and_is_never_resent(smtp_peer, store):
    ok, _ = store.outbound.begin(
        KEY, workflow_id="idem_test", run_id="crashed-run", recipient="ann@example.org",
        message_id="<x@localhost>",
    )  # fmt: skip
    assert ok

    r, _ = send(envelope(), retries=3)

    assert r.status == ob.RunStatus.FAILED
    assert r.error.code == "email.unknown_outcome"
    assert r.error.retry_disposition == "manual"
    assert r.error.details["claimed_by_run_id"] == "crashed-run"
    assert attempts(r) == 1  # manual: the executor does not retry it
    assert smtp_peer.transactions == 0
    # the later attempt writes down what it found: a human settles it from the unknown list
    assert store.outbound.get(KEY).status == "unknown"
    assert [row["idempotency_key"] for row in store.outbound.unknown()] == [KEY]


def test_a_refused_delivery_is_logged_failed_and_the_key_can_be_sent_later(smtp_peer, store):
    smtp_peer.set_mode("permanent", code=550)
    r1, _ = send(envelope())

    assert r1.error.code == "email.smtp.permanent"
    row = store.outbound.get(KEY)
    assert row.status == "failed" and "email.smtp.permanent" in row.error

    smtp_peer.set_mode("accept")
    r2, b2 = send(envelope())

    assert r2.status == ob.RunStatus.SUCCEEDED, r2.error
    assert r2.output(b2)["sent"] is True
    assert len(smtp_peer.messages) == 1
    assert store.outbound.get(KEY).status == "sent"


def test_a_transient_failure_retried_by_the_block_delivers_once(smtp_peer, store):
    smtp_peer.script(Mode("transient", code=451), Mode("accept"))
    r, _ = send(envelope())

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert attempts(r) == 2  # the second attempt reclaims the key the first one freed
    assert smtp_peer.transactions == 2 and len(smtp_peer.messages) == 1
    assert store.outbound.get(KEY).status == "sent"


def test_a_send_without_a_key_is_not_logged(smtp_peer, store):
    r, _ = send("Hello", to="ann@example.org")
    r2, _ = send("Hello", to="ann@example.org")

    assert r.ok and r2.ok
    assert len(smtp_peer.messages) == 2
    assert store.outbound.for_run(r.run_id) == []


def test_the_outbox_transport_is_deduplicated_too():
    r1, b1 = send(envelope())
    r2, b2 = send(envelope())

    assert r1.output(b1)["transport"] == "outbox"
    assert r2.output(b2)["skipped"] == "already_sent"
    assert len(list(sdk.Settings.from_env().outbox_dir.glob("*.eml"))) == 1


def test_a_keyed_fan_out_records_each_outcome_on_its_own_row(smtp_peer, store):
    # Sixteen sends at a time claim and finish together (one transaction, the finishes of
    # one kind as one statement): each row still gets its own outcome.
    smtp_peer.set_mode("accept", refuse=("c3@example.org", "c11@example.org"))
    item = ob.new_workflow("keyed_item")
    item.link(
        ob.Block.custom_transform(
            lambda i: {
                "to": i["email"],
                "text": f"Hello {i['item_key']}",
                "idempotency_key": i["idempotency_key"],
            }
        ),
        ob.Block.send_email().set_retry(0),
    )
    w = ob.new_workflow("keyed_batch")
    block = ob.Block.for_each(item, concurrency=16, progress=False)
    w.add(block)
    r = w.run([{"id": i, "email": f"c{i}@example.org"} for i in range(40)])

    rows = {row["recipient"]: row for row in store.outbound.for_run(r.run_id)}
    assert len(rows) == 40
    refused = {"c3@example.org", "c11@example.org"}
    for recipient, row in rows.items():
        if recipient in refused:
            assert row["status"] == "failed" and "email.smtp.permanent" in row["error"]
            assert row["sent_at"] is None
        else:
            assert row["status"] == "sent" and row["error"] is None and row["sent_at"]
    delivered = sorted(rcpt for d in smtp_peer.deliveries for rcpt in d.rcpt_tos)
    assert delivered == sorted(set(rows) - refused)
