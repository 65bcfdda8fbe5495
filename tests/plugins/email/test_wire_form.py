"""A plain-text message is written straight to its SMTP bytes instead of through
``EmailMessage`` and its generator: those bytes must be exactly what the ``email`` package
(as aiosmtplib flattens it) would have sent, and whatever that shortcut cannot write the
same way must still take the ``email`` package's path."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import getaddresses
from typing import Any

import pytest
from aiosmtplib.email import flatten_message
from support.smtp_server import SmtpPeer

from orchestrator_blocks import sdk
from orchestrator_blocks.plugins.email.message import compose, parse_addresses

NOW = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)
CONFIG_KEYS = ("to", "subject", "sender", "html", "cc", "reply_to", "message_id")
CONFIG_KEYS += ("idempotency_key", "attachments")


def _compose(envelope: dict[str, Any], now: datetime = NOW, **config: Any) -> Any:
    full = {key: config.get(key) for key in CONFIG_KEYS}
    return compose(
        sdk.Json(envelope), full, default_sender="orchestrator-blocks@localhost", now=now
    )


# Messages the shortcut writes: its bytes are compared with the email package's.
WRITTEN_DIRECTLY = [
    {"to": "c1@example.org", "subject": "Bench", "text": "Hello Customer 1"},
    {"to": "c1@example.org", "text": "no subject"},
    {"to": "c1@example.org", "subject": "Empty body", "text": ""},
    {"to": ["a@x.org", "b.c+tag@mail.y-z.org"], "cc": "d_e@x.org", "text": "two\nlines\n"},
    {"to": "Ann Lee <ann@x.org>", "reply_to": "Ops <ops@x.org>", "text": "named"},
    {"to": "a@x.org", "sender": "Growth <growth@company.example>", "text": "from a name"},
    {"to": "a@x.org", "subject": "Grüße aus Köln", "text": "a non-ASCII subject"},
    {"to": "a@x.org", "subject": 'A (comment) "quoted" =? subject', "text": "specials"},
    {"to": "a@x.org", "subject": "x" * 120, "text": "a subject folded over lines"},
    {"to": "a@x.org", "subject": "Order #17: <b@x.org>; [a] {b} \\ ~ 'c' !?", "text": "."},
    {"to": "a@x.org", "subject": "two  spaces, a trailing one ", "text": "spacing"},
    {"to": "a@x.org", "subject": "s" * 69, "text": "a subject filling the line"},
    {"to": "a@x.org", "subject": "s" * 70, "text": "one character more"},
    {"to": "a@x.org", "subject": "", "text": "an empty subject"},
    {"to": "a@x.org", "text": "CRLF\r\nline endings\r\n\r\nand a blank line"},
    {"to": "a@x.org", "text": ".a dot\nFrom the start\n\ttab and trailing space \n"},
    {"to": "a@x.org", "text": "y" * 78},
    {"to": 'Ann "The" Lee <a@x.org>', "text": "a quoted display name"},
    {"to": "Zoë <zoe@x.org>", "text": "a non-ASCII display name"},
    {"to": [f"recipient{i}@example.org" for i in range(6)], "text": "a folded To"},
    {"to": "a@x.org", "headers": {"X-Campaign": "spring", "X-Id": 7}, "text": "extra"},
    {"to": "a@x.org", "message_id": "<custom.id-1@host.example>", "text": "own id"},
    {"to": "a@x.org", "message_id": "odd!id{}@host.example", "text": "an unusual id"},
    {"to": "a@x.org", "idempotency_key": "order-17", "text": "a key's id"},
    {"to": "a@x.org", "text": {"not": "text"}},
]


@pytest.mark.parametrize("envelope", WRITTEN_DIRECTLY, ids=range(len(WRITTEN_DIRECTLY)))
def test_written_bytes_are_the_email_packages(envelope: dict[str, Any]) -> None:
    outgoing = _compose(envelope)
    assert outgoing.data is not None
    assert outgoing.data == flatten_message(outgoing.message)


@pytest.mark.parametrize(
    "now", [NOW, NOW.astimezone(timezone(timedelta(hours=-5))), NOW.replace(tzinfo=None)]
)
def test_dates_in_any_zone_are_written_as_the_email_package_writes_them(now: datetime) -> None:
    outgoing = _compose({"to": "a@x.org", "text": "hi"}, now=now)
    assert outgoing.data == flatten_message(outgoing.message)


# Messages the shortcut leaves to the email package (and what would change if it did not).
LEFT_TO_THE_EMAIL_PACKAGE = [
    {"to": "a@x.org", "text": "Grüße"},  # 8-bit body
    {"to": "a@x.org", "text": "z" * 79},  # a line too long for 7bit: quoted-printable
    {"to": "a@x.org", "text": "plain", "html": "<p>plain</p>"},  # multipart/alternative
    {"to": "a@x.org", "text": "<p>looks like <b>HTML</b></p>"},
    {"to": "a@x.org", "headers": {"Content-Language": "en"}, "text": "dropped header"},
    {"to": "a@x.org", "headers": {"Sender": "s@x.org"}, "text": "a structured header"},
]


@pytest.mark.parametrize(
    "envelope", LEFT_TO_THE_EMAIL_PACKAGE, ids=range(len(LEFT_TO_THE_EMAIL_PACKAGE))
)
def test_other_messages_take_the_email_package_path(envelope: dict[str, Any]) -> None:
    outgoing = _compose(envelope)
    assert outgoing.data is None
    assert outgoing.message["To"] == "a@x.org"


def test_a_header_the_email_package_refuses_is_still_an_invalid_request() -> None:
    with pytest.raises(sdk.BlockError) as caught:
        _compose({"to": "a@x.org", "subject": "form\x0cfeed", "text": "x"})
    assert caught.value.code == "email.invalid_request"


@pytest.mark.parametrize(
    "raw",
    [
        "a@x.org",
        "first.last@sub.example.co",
        "a+b_c-d@x-y.org",
        "x@localhost",
        ["a@x.org", "b@y.org"],
        "Ann <a@x.org>",
        "a@x.org, b@y.org",
        '"quoted"@x.org',
    ],
)
def test_plain_addresses_parse_as_getaddresses_parses_them(raw: str | list[str]) -> None:
    items = [raw] if isinstance(raw, str) else raw
    assert parse_addresses(raw, "to") == getaddresses(items)


def test_a_written_message_arrives_as_composed_over_smtp(smtp_peer: SmtpPeer, send: Any) -> None:
    envelope = {
        "to": "Ann Lee <ann@x.org>",
        "cc": "bob@x.org",
        "subject": "Grüße",
        "text": "Hello Ann,\n.a line starting with a dot\n",
        "idempotency_key": "wire-1",
    }
    assert _compose(envelope).data is not None
    result, block = send(envelope, to=None)
    assert result.ok, result.error
    (delivery,) = smtp_peer.deliveries
    assert delivery.rcpt_tos == ("ann@x.org", "bob@x.org")
    msg = delivery.message
    assert msg["To"] == "Ann Lee <ann@x.org>"
    assert msg["Subject"] == "Grüße"
    assert msg["Message-ID"] == result.output(block)["message_id"]
    assert msg.get_content() == "Hello Ann,\n.a line starting with a dot\n"
