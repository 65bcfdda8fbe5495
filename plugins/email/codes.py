"""Domain codes of the email family: contract §7.5's baseline plus ``email.invalid_request``
and ``email.unknown_outcome``.

The code a failure gets decides whether the executor retries it:

==========================  ===========  ==============================================
code                        disposition  when
==========================  ===========  ==============================================
``email.smtp.auth_failed``  never        the server rejected the login (535), wants a
                                         login we did not send (530), or offers no AUTH
                                         while credentials are configured
``email.smtp.timeout``      backoff      the block's per-attempt timeout fired, or the
                                         server did not answer within the URL's timeout
``email.smtp.transient``    backoff      4xx replies (421, 450, 451, 452...); connection
                                         refused, reset or closed
``email.smtp.permanent``    never        other 5xx replies (550, 554...); every
                                         recipient refused; a TLS failure; an unusable
                                         ``ORCHESTRATOR_BLOCKS_SMTP_URL``; an outbox
                                         that cannot be written
``email.invalid_request``   never        no recipient, a malformed address, CR/LF in a
                                         header value (header injection), a bad
                                         ``message_id`` or ``headers`` field
``email.unknown_outcome``   manual       the idempotency key's send is still marked
                                         ``sending`` (a process died between delivery
                                         and the log write): it may have gone out, so a
                                         human checks before anything is re-sent
==========================  ===========  ==============================================

``provider_status`` is the SMTP reply code whenever the server answered.
"""

from __future__ import annotations

from orchestrator_blocks import sdk

__all__ = [
    "AUTH_FAILED",
    "BASELINE_CODES",
    "CODES",
    "DEFAULT_SENDER",
    "DOMAIN",
    "FAMILY",
    "INVALID_REQUEST",
    "PERMANENT",
    "SMTP_FROM_SETTING",
    "SMTP_POOL_SETTING",
    "SMTP_URL_ENV",
    "SMTP_URL_SETTING",
    "TIMEOUT",
    "TRANSIENT",
    "UNKNOWN_OUTCOME",
]

DOMAIN = "email"

AUTH_FAILED = "email.smtp.auth_failed"
TIMEOUT = "email.smtp.timeout"
TRANSIENT = "email.smtp.transient"
PERMANENT = "email.smtp.permanent"
INVALID_REQUEST = "email.invalid_request"
UNKNOWN_OUTCOME = "email.unknown_outcome"

BASELINE_CODES = (AUTH_FAILED, TIMEOUT, TRANSIENT, PERMANENT)
CODES = (*BASELINE_CODES, INVALID_REQUEST, UNKNOWN_OUTCOME)

SMTP_URL_ENV = "ORCHESTRATOR_BLOCKS_SMTP_URL"
SMTP_FROM_SETTING = "SMTP_FROM"
"""``ORCHESTRATOR_BLOCKS_SMTP_FROM`` (or ``smtp_from:`` in the config file): the default sender."""
SMTP_URL_SETTING = "SMTP_URL"
SMTP_POOL_SETTING = "SMTP_POOL_SIZE"
"""SMTP sessions one run keeps open to its server at most (default 16; a fan-out's items
share them, so at most ``min(concurrency, SMTP_POOL_SIZE)`` are open)."""
"""``ORCHESTRATOR_BLOCKS_SMTP_URL``: ``smtp://user:pass@host:port`` (none: write .eml files)."""
DEFAULT_SENDER = "orchestrator-blocks@localhost"

FAMILY = sdk.family(
    "email",
    domain=DOMAIN,
    codes=[
        sdk.Code(AUTH_FAILED, "never", "the server rejected the login, or wants one we lack"),
        sdk.Code(TIMEOUT, "backoff", "the attempt outlived the block's timeout, or the server's"),
        sdk.Code(TRANSIENT, "backoff", "a 4xx reply; connection refused, reset or closed"),
        sdk.Code(PERMANENT, "never", "a 5xx reply; TLS failure; unusable SMTP URL or outbox"),
        sdk.Code(INVALID_REQUEST, "never", "no or malformed recipient; CR/LF in a header value"),
        sdk.Code(UNKNOWN_OUTCOME, "manual", "a send of this key may have gone out: a human checks"),
    ],
    timeout=30,
    retries=3,
    backoff=sdk.Backoff.exponential(1_000, 2.0, jitter=0.2, cap_ms=30_000),
    timeout_code=TIMEOUT,
    description="email over SMTP, or into the local outbox",
)
