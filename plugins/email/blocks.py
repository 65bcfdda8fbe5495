"""The ``send_email`` block type (contract §6.3: timeout 30 s, 3 retries, ``exp(1s)``)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.errors import STATE_STORE_WRITE_FAILED

from .codes import (
    DEFAULT_SENDER,
    FAMILY,
    PERMANENT,
    SMTP_FROM_SETTING,
    SMTP_POOL_SETTING,
    SMTP_URL_SETTING,
    UNKNOWN_OUTCOME,
)
from .message import Outgoing, check_config, compose
from .transport import SmtpPool, parse_smtp_url, write_outbox

__all__ = ["BLOCK_TYPES", "send_email"]


@FAMILY.block_type(
    "send_email",
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
    attachments: str | Sequence[str] | None = None,
) -> sdk.Value:
    """Send the input as an email over SMTP, or into the local outbox when none is configured.

    The input is the body (``Text``; HTML when ``html=True`` or when it looks like HTML), or
    a ``Json`` envelope whose ``to``/``cc``/``reply_to``/``subject``/``text``/``html``/
    ``sender``/``message_id``/``idempotency_key``/``headers``/``attachments`` fill what the
    block does not configure (configuration wins). ``attachments`` are paths under the files
    root (``ORCHESTRATOR_BLOCKS_FILES_ROOT``), at most 10 MiB each and 20 MiB per message; a
    missing or escaping one is ``email.invalid_request``. ``idempotency_key`` derives a
    stable Message-ID and makes the send happen at most once per key: the key is claimed in
    the store's ``outbound_email_log`` before delivery; a key already ``sent`` is skipped
    (output ``{"sent": false, "skipped": "already_sent", ...}``), one still ``sending``
    (outcome unknown) fails ``email.unknown_outcome`` (manual); a failed delivery frees the
    key.
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
        "attachments": attachments,
    }
    settings = ctx.settings
    now = ctx.clock.now()
    default_sender = settings.get(SMTP_FROM_SETTING) or DEFAULT_SENDER
    outgoing = compose(
        value, config, default_sender=default_sender, now=now, files_root=settings.files_root
    )
    envelope = value.value if isinstance(value, sdk.Json) else None
    envelope = envelope if isinstance(envelope, Mapping) else {}
    raw_key = idempotency_key or envelope.get("idempotency_key")
    key = str(raw_key) if raw_key else None
    store = _store(ctx) if key else None
    if store is None or key is None:
        return await _deliver(ctx, outgoing, now)
    customer = envelope.get("customer_id")
    try:
        claimed, existing = await store.claim(
            key,
            workflow_id=ctx.workflow_id,
            # A send inside a fan-out runs in a per-item child run; the log row belongs to
            # the run the user started (the card's verify query selects by that run id).
            run_id=ctx.parent_run_id or ctx.run_id,
            recipient=outgoing.to[0],
            message_id=outgoing.message_id,
            customer_id=str(customer) if customer is not None else None,
            related_workflow=envelope.get("related_workflow") or None,
        )
    except sdk.StateStoreError as exc:
        raise sdk.BlockError(
            STATE_STORE_WRITE_FAILED,
            f"could not claim the send in outbound_email_log, so nothing was sent: {exc}",
            retry_disposition=sdk.RetryDisposition.BACKOFF,
        ) from None
    if not claimed:
        if (existing or {}).get("status") == "sending":
            # The attempt that claimed it died mid-delivery (one claim per item or run at a
            # time): its fate is unknown until a human settles it, and the log says so.
            await _finish(ctx, store, key, "unknown", error="in flight when its attempt died")
            existing = {**(existing or {}), "status": "unknown"}
        return _already_claimed(ctx, outgoing, existing or {}, key)
    try:
        result = await _deliver(ctx, outgoing, now)
    except sdk.BlockError as exc:
        # Unknown: the server may have the message; the key stays taken until a human
        # settles it. Failed: nothing went out; the key may be claimed again.
        outcome = "unknown" if exc.code == UNKNOWN_OUTCOME else "failed"
        await _finish(ctx, store, key, outcome, error=f"{exc.code}: {exc.message}")
        raise
    await _finish(ctx, store, key, "sent")
    return result


def _store(ctx: sdk.RunContext) -> sdk.SendLog | None:
    """The send log, or ``None`` where there is none (SDK unit harnesses)."""
    try:
        return ctx.service(sdk.SendLog)
    except LookupError:
        ctx.log.warning("email.idempotency_unavailable", reason="this run has no state store")
        return None


def _already_claimed(
    ctx: sdk.RunContext, outgoing: Outgoing, existing: Mapping[str, Any], key: str
) -> sdk.Value:
    """Another send holds the key: skip it when it went out, stop for a human otherwise."""
    status = existing.get("status")
    details = {
        "message_id": outgoing.message_id,
        "status": status,
        "claimed_by_run_id": existing.get("workflow_run_id"),
    }
    if status == "sent":
        ctx.log.info("email.skipped", reason="already_sent", message_id=outgoing.message_id)
        return sdk.Json(
            {
                "sent": False,
                "skipped": "already_sent",
                "to": outgoing.to,
                "message_id": outgoing.message_id,
            }
        )
    raise sdk.BlockError(
        UNKNOWN_OUTCOME,
        f"message {outgoing.message_id} is marked {status!r} in outbound_email_log (run "
        f"{existing.get('workflow_run_id')}): it may already have been delivered, so it is "
        "not sent again; check the recipient's mailbox or the server's log, then settle it: "
        f"orchestrator-blocks runs settle {existing.get('workflow_run_id')} --key "
        f"{key} --as sent|failed --by APPROVER",
        retry_disposition=sdk.RetryDisposition.MANUAL,
        severity=sdk.Severity.WARN,
        details=details,
    )


async def _finish(
    ctx: sdk.RunContext,
    store: sdk.SendLog,
    key: str,
    status: str,
    *,
    error: str | None = None,
) -> None:
    """Record the delivery's outcome. A failure here is logged, never raised: the message's
    fate is already decided, and the row left ``sending`` makes a later send stop for a
    human instead of sending twice."""
    try:
        await store.finish(key, status, error=error)
    except sdk.StateStoreError as exc:
        ctx.log.error("email.send_log_failed", status=status, message=str(exc))


async def _deliver(ctx: sdk.RunContext, outgoing: Outgoing, now: Any) -> sdk.Value:
    settings = ctx.settings
    result: dict[str, Any] = {"sent": True, "to": outgoing.to, "message_id": outgoing.message_id}
    if outgoing.cc:
        result["cc"] = outgoing.cc
    smtp_url = settings.secret(SMTP_URL_SETTING)
    if smtp_url is None:
        path = write_outbox(settings.outbox_dir, outgoing, now)
        result.update(transport="outbox", path=str(path))
    else:
        url = smtp_url.get_secret_value()
        refused = await _pool(ctx, url).send(outgoing)
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


def _pool(ctx: sdk.RunContext, url: str) -> SmtpPool:
    """The run's open sessions to this server (created on the first send, closed with the
    run): the items of a fan-out reuse them instead of connecting once per message."""
    raw = ctx.settings.get(SMTP_POOL_SETTING) or "16"
    if not raw.isdigit() or int(raw) < 1:
        raise sdk.BlockError(
            PERMANENT,
            f"ORCHESTRATOR_BLOCKS_{SMTP_POOL_SETTING} must be a whole number >= 1, got {raw!r}",
            details={"transport": "smtp"},
        )
    key = "email.smtp_pool:" + hashlib.sha256(url.encode()).hexdigest()[:16]
    # The URL is parsed (and refused when unusable) once per run, when the pool is made.
    return ctx.services.resource(
        key, lambda: SmtpPool(parse_smtp_url(url), int(raw)), SmtpPool.aclose
    )


BLOCK_TYPES = (send_email,)
