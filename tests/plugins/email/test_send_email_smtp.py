"""send_email delivering to a real SMTP server (aiosmtpd on 127.0.0.1): what arrives, where
each part of the message comes from, Message-IDs, authentication and TLS."""

from __future__ import annotations

import pytest
from support.smtp_server import Mode, SmtpPeer, tls_available

import orchestrator_blocks as ob

HTML = "<html><body><h1>Hi Ann</h1><p>Your trial ends <b>soon</b>.</p></body></html>"


def attempts(result) -> int:
    return len(result.events_of("block.started"))


def parts(message) -> dict[str, str]:
    """content type -> decoded text of every leaf part."""
    return {p.get_content_type(): p.get_content() for p in message.walk() if not p.is_multipart()}


def test_html_input_is_delivered_with_to_subject_and_an_html_part(smtp_peer, send):
    r, block = send(HTML, "ann@example.org", subject="Trial Activation Nudge")

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    [delivery] = smtp_peer.deliveries
    msg = delivery.message
    assert msg["To"] == "ann@example.org"
    assert msg["Subject"] == "Trial Activation Nudge"
    assert msg["From"] == "orchestrator-blocks@localhost"
    assert delivery.rcpt_tos == ("ann@example.org",)
    body = parts(msg)
    assert body["text/html"].strip() == HTML
    assert "Hi Ann" in body["text/plain"] and "<h1>" not in body["text/plain"]
    out = r.output(block)
    assert out == {
        "sent": True,
        "to": ["ann@example.org"],
        "message_id": msg["Message-ID"],
        "transport": "smtp",
    }
    assert "path" not in out
    assert attempts(r) == 1


def test_plain_text_input_is_sent_as_plain_text_to_every_recipient(smtp_peer, send):
    r, block = send("Hello Ann,\nsee you soon.", ["ann@example.org", "Bob <bob@example.org>"])

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    [delivery] = smtp_peer.deliveries
    assert set(delivery.rcpt_tos) == {"ann@example.org", "bob@example.org"}
    assert delivery.message.get_content_type() == "text/plain"
    assert delivery.message.get_content() == "Hello Ann,\nsee you soon.\n"
    assert "Subject" not in delivery.message
    assert r.output(block)["to"] == ["ann@example.org", "bob@example.org"]


@pytest.mark.parametrize(
    ("html", "body", "expected_types"),
    [
        (None, HTML, {"text/plain", "text/html"}),  # auto: looks like HTML
        (None, "a < b and c > d", {"text/plain"}),  # auto: does not
        (True, "<b>bold</b> claim", {"text/plain", "text/html"}),  # declared HTML
        (False, HTML, {"text/plain"}),  # declared plain: sent verbatim
    ],
)
def test_html_is_detected_or_declared(smtp_peer, send, html, body, expected_types):
    r, _ = send(body, html=html)
    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    got = parts(smtp_peer.messages[0])
    assert set(got) == expected_types
    if "text/html" not in expected_types:
        assert got["text/plain"].strip() == body


def test_a_json_envelope_fills_recipient_subject_and_bodies(smtp_peer, send):
    envelope = {
        "to": ["cara@example.org"],
        "cc": "dan@example.org",
        "subject": "Your weekly report",
        "text": "Plain version",
        "html": "<p>HTML version</p>",
        "headers": {"List-Unsubscribe": "<mailto:unsubscribe@example.org>"},
    }
    r, block = send(envelope, to=None)

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    [delivery] = smtp_peer.deliveries
    msg = delivery.message
    assert (msg["To"], msg["Cc"], msg["Subject"]) == (
        "cara@example.org",
        "dan@example.org",
        "Your weekly report",
    )
    assert msg["List-Unsubscribe"] == "<mailto:unsubscribe@example.org>"
    assert set(delivery.rcpt_tos) == {"cara@example.org", "dan@example.org"}
    body = parts(msg)
    assert body["text/plain"].strip() == "Plain version"
    assert body["text/html"].strip() == "<p>HTML version</p>"
    assert r.output(block)["cc"] == ["dan@example.org"]


def test_configuration_wins_over_the_envelope(smtp_peer, send):
    envelope = {"to": "mallory@evil.example", "subject": "from upstream", "text": "body"}
    r, _ = send(envelope, "ann@example.org", subject="configured")

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    [delivery] = smtp_peer.deliveries
    assert delivery.rcpt_tos == ("ann@example.org",)
    assert delivery.message["Subject"] == "configured"
    assert delivery.message.get_content().strip() == "body"


def test_json_without_envelope_keys_is_the_body_pretty_printed(smtp_peer, send):
    r, _ = send({"customer": "Ann", "plan": "trial"})
    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert '"customer": "Ann"' in smtp_peer.messages[0].get_content()


def test_sender_comes_from_config_or_the_smtp_from_setting(smtp_peer, send, monkeypatch):
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_FROM", "Growth <growth@company.example>")
    send("x")
    send("y", sender="ops@company.example")
    first, second = smtp_peer.deliveries
    assert first.message["From"] == "Growth <growth@company.example>"
    assert first.mail_from == "growth@company.example"
    assert second.message["From"] == "ops@company.example"
    assert second.mail_from == "ops@company.example"


def test_every_message_gets_a_fresh_well_formed_message_id(smtp_peer, send):
    send("one")
    send("two")
    ids = [m["Message-ID"] for m in smtp_peer.messages]
    assert len(set(ids)) == 2
    for mid in ids:
        assert mid.startswith("<") and mid.endswith("@localhost>")


def test_an_idempotency_key_derives_a_stable_message_id(smtp_peer, send):
    r1, b1 = send("first run", idempotency_key="batch_notify:cust-42")
    r2, b2 = send("second run", idempotency_key="batch_notify:cust-42")
    r3, b3 = send({"text": "per item", "idempotency_key": "batch_notify:cust-43"})

    first, third = (m["Message-ID"] for m in smtp_peer.messages)  # the key is sent once
    assert first == r1.output(b1)["message_id"] == r2.output(b2)["message_id"]
    assert r2.output(b2)["skipped"] == "already_sent"
    assert third == r3.output(b3)["message_id"] != first
    assert first.endswith("@localhost>")
    assert "cust-42" not in first  # derived, not revealed


def test_an_explicit_message_id_is_used_as_given(smtp_peer, send):
    r, block = send("x", message_id="abc.123@company.example")
    assert smtp_peer.messages[0]["Message-ID"] == "<abc.123@company.example>"
    assert r.output(block)["message_id"] == "<abc.123@company.example>"


def test_a_transient_failure_then_success_delivers_once(smtp_peer, send):
    smtp_peer.script(Mode("transient", code=451), Mode("accept"))
    r, block = send("retry me")

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert attempts(r) == 2
    assert smtp_peer.transactions == 2
    assert len(smtp_peer.messages) == 1
    assert r.output(block)["sent"] is True


def test_recipients_refused_alongside_accepted_ones_are_reported(smtp_peer, send):
    smtp_peer.set_mode("accept", refuse=("gone@example.org",))
    r, block = send("x", ["ann@example.org", "gone@example.org"])

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert smtp_peer.deliveries[0].rcpt_tos == ("ann@example.org",)
    out = r.output(block)
    assert out["to"] == ["ann@example.org", "gone@example.org"]
    assert list(out["refused"]) == ["gone@example.org"]
    assert out["refused"]["gone@example.org"].startswith("550")
    assert attempts(r) == 1


def test_login_with_the_right_credentials_delivers(use_smtp, send):
    with SmtpPeer(auth=("mailer", "p@ss word")) as peer:
        use_smtp(peer.url_for("mailer", "p@ss word"))
        r, _ = send("authenticated")
        assert r.status == ob.RunStatus.SUCCEEDED, r.error
        assert peer.logins[-1] == ("mailer", True)
        assert len(peer.messages) == 1


@pytest.mark.skipif(not tls_available(), reason="needs the openssl CLI for a certificate")
@pytest.mark.parametrize("tls", ["starttls", "implicit"])
def test_tls_with_a_trusted_certificate_delivers(use_smtp, send, tls):
    with SmtpPeer(tls=tls, auth=("mailer", "s3cret")) as peer:
        query = {"cafile": str(peer.cafile)}
        if tls == "starttls":
            query["starttls"] = "1"
        use_smtp(peer.url_for("mailer", "s3cret", **query))
        r, _ = send("over TLS")
        assert r.status == ob.RunStatus.SUCCEEDED, r.error
        assert len(peer.messages) == 1
        assert peer.logins == [("mailer", True)]


@pytest.mark.skipif(not tls_available(), reason="needs the openssl CLI for a certificate")
def test_starttls_is_used_when_offered_and_an_untrusted_certificate_is_permanent(use_smtp, send):
    with SmtpPeer(tls="starttls") as peer:
        use_smtp(peer.url)  # no starttls= parameter: upgrade when offered; cert unknown
        r, _ = send("x")
        assert r.status == ob.RunStatus.FAILED
        assert (r.error.code, r.error.retry_disposition) == ("email.smtp.permanent", "never")
        assert "certificate" in r.error.message
        assert attempts(r) == 1
        assert peer.messages == []


def test_attachments_from_config_or_envelope_go_with_the_message(smtp_peer, send):
    import os
    from pathlib import Path

    root = Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"])
    (root / "report.csv").write_text("a,b\n1,2\n")
    (root / "blob.weird-ext").write_bytes(b"\x00\x01")
    r, _ = send("See attached.", attachments="report.csv")
    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    r, _ = send({"text": "Also.", "attachments": ["blob.weird-ext"]})
    assert r.status == ob.RunStatus.SUCCEEDED, r.error

    first, second = (list(m.iter_attachments()) for m in smtp_peer.messages)
    assert [(p.get_filename(), p.get_content_type()) for p in first] == [("report.csv", "text/csv")]
    assert first[0].get_content() == "a,b\n1,2\n"
    assert [(p.get_filename(), p.get_content_type()) for p in second] == [
        ("blob.weird-ext", "application/octet-stream")
    ]


def test_an_attachment_outside_the_files_root_is_refused(smtp_peer, send):
    with pytest.raises(ob.InvalidBlockConfig, match="climbs out of the files root"):
        ob.Block.send_email("ann@example.org", attachments=["../etc/passwd"])
    r, _ = send({"text": "x", "attachments": ["/etc/passwd"]})
    assert r.status == ob.RunStatus.FAILED
    assert r.error.code == "email.invalid_request"
    assert "outside the files root" in r.error.message
    assert len(r.events_of("block.started")) == 1  # never retried
    assert smtp_peer.deliveries == []
