"""The ``send_email`` block type (contract §6.3: timeout 30 s, 3 retries, ``exp(1s)``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from orchestrator_blocks import sdk

from .codes import CODES, DEFAULT_SENDER, DOMAIN, SMTP_FROM_ENV, TIMEOUT
from .message import check_config, compose
from .transport import parse_smtp_url, send_smtp, write_outbox

__all__ = ["BLOCK_TYPES", "send_email"]


@sdk.block_type(
    "send_email",
    domain=DOMAIN,
    codes=CODES,
    timeout=30,
    retries=3,
    backoff=sdk.Backoff.exponential(1_000, 2.0, jitter=0.2, cap_ms=30_000),
    timeout_code=TIMEOUT,
    side_effects=[sdk.SideEffect("Email", "recipients", "send")],
    validate=check_config,
)
async def send_email(
    ctx: sdk.RunContext,
    value: sdk.Value,
    to: str | Sequence[str] | None = None,
    subject: str | None = None,
    *,
    sender: str | None = None,
    html: bool | None = None,
    cc: str | Sequence[str] | None = None,
    reply_to: str | Sequence[str] | None = None,
    message_id: str | None = None,
    idempotency_key: str | None = None,
) -> sdk.Value:
    """Send the input as an email over SMTP, or into the local outbox when none is configured.

    The input is the body (``Text``; HTML when ``html=True`` or when it looks like HTML),
    or a ``Json`` envelope whose ``to``/``cc``/``reply_to``/``subject``/``text``/``html``/
    ``sender``/``message_id``/``idempotency_key``/``headers`` fill what the block does not
    configure (configuration wins). ``idempotency_key`` derives a stable Message-ID.
    Transport: ``ORCHESTRATOR_BLOCKS_SMTP_URL`` (``smtp://`` or ``smtps://``); without it,
    an ``.eml`` file in ``$ORCHESTRATOR_BLOCKS_HOME/outbox``. Output:
    ``{"sent": true, "to": [...], "message_id": ..., "transport": "smtp"|"outbox"}`` plus
    ``"path"`` (outbox), ``"cc"`` and ``"refused"`` (recipients the server refused while
    accepting others) when there are any.
    """
    config: dict[str, Any] = {
        "to": to,
        "subject": subject,
        "sender": sender,
        "html": html,
        "cc": cc,
        "reply_to": reply_to,
        "message_id": message_id,
        "idempotency_key": idempotency_key,
    }
    settings = ctx.settings
    now = ctx.clock.now()
    default_sender = settings.extra.get(SMTP_FROM_ENV) or DEFAULT_SENDER
    outgoing = compose(value, config, default_sender=default_sender, now=now)
    result: dict[str, Any] = {"sent": True, "to": outgoing.to, "message_id": outgoing.message_id}
    if outgoing.cc:
        result["cc"] = outgoing.cc
    if settings.smtp_url is None:
        path = write_outbox(settings.outbox_dir, outgoing, now)
        result.update(transport="outbox", path=str(path))
    else:
        target = parse_smtp_url(settings.smtp_url.get_secret_value())
        refused = await send_smtp(target, outgoing)
        result["transport"] = "smtp"
        if refused:
            result["refused"] = refused
            ctx.log.warning(
                "email.recipients_refused",
                refused=len(refused),
                message_id=outgoing.message_id,
            )
    ctx.log.info(
        "email.sent",
        transport=result["transport"],
        recipients=len(outgoing.recipients),
        message_id=outgoing.message_id,
    )
    return sdk.Json(result)


BLOCK_TYPES = (send_email,)
