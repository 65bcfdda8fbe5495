"""The http family's boundary: httpx exceptions and HTTP statuses become domain codes, once.

Like httpx's own ``map_httpcore_exceptions``, every failure the library can raise is
translated here and nowhere else; the block function only uses :func:`httpx_errors` and
:func:`status_error`. Retryable conditions follow contract §6.3: connect/reset/timeout,
HTTP 429 and HTTP 5xx back off; everything else fails on the first attempt.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import httpx

from orchestrator_blocks import sdk

from .codes import (
    AUTH,
    CONNECTION,
    FORBIDDEN,
    INVALID_REQUEST,
    INVALID_RESPONSE,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
)
from .redaction import Redactor

__all__ = ["classify_exception", "httpx_errors", "retry_after_ms", "status_error"]

BACKOFF = sdk.RetryDisposition.BACKOFF
NEVER = sdk.RetryDisposition.NEVER

Classification = tuple[str, sdk.RetryDisposition, str]

# Most specific first: TimeoutException and UnsupportedProtocol are TransportErrors too.
_EXCEPTION_CODES: tuple[tuple[type[Exception], str, sdk.RetryDisposition, str], ...] = (
    (httpx.TimeoutException, TIMEOUT, BACKOFF, "timed out"),
    (httpx.UnsupportedProtocol, INVALID_REQUEST, NEVER, "cannot be requested"),
    (httpx.LocalProtocolError, INVALID_REQUEST, NEVER, "could not be sent"),
    (httpx.InvalidURL, INVALID_REQUEST, NEVER, "is not a valid URL"),
    (httpx.TooManyRedirects, INVALID_RESPONSE, NEVER, "was redirected too many times"),
    (httpx.DecodingError, INVALID_RESPONSE, NEVER, "got a body that could not be decoded"),
    (httpx.TransportError, CONNECTION, BACKOFF, "could not reach the server"),
)
_FALLBACK: Classification = (CONNECTION, BACKOFF, "failed")


def classify_exception(exc: Exception) -> Classification:
    """``(code, disposition, phrase)`` for an httpx exception (a transport failure when
    httpx adds a kind this table does not know yet)."""
    for kind, code, disposition, phrase in _EXCEPTION_CODES:
        if isinstance(exc, kind):
            return code, disposition, phrase
    return _FALLBACK


@contextmanager
def httpx_errors(where: str, redactor: Redactor, details: Mapping[str, Any]) -> Iterator[None]:
    """Re-raise httpx failures inside the block as :class:`sdk.BlockError` with our codes.

    ``where`` ("METHOD url") and ``details`` must already be safe to log; the library's own
    message is scrubbed with ``redactor`` before it is quoted.
    """
    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        code, disposition, phrase = classify_exception(exc)
        reason = redactor.text(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        raise sdk.BlockError(
            code,
            f"{where} {phrase} ({reason})",
            retry_disposition=disposition,
            details={**details, "exception_type": type(exc).__name__},
        ) from exc


def retry_after_ms(raw: str | None, now: datetime) -> int | None:
    """A ``Retry-After`` value (delay-seconds or an HTTP-date) in milliseconds from ``now``.

    ``None`` when absent or unreadable; a date in the past is ``0``.
    """
    if not raw or not raw.strip():
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0, math.ceil(seconds * 1000))


def status_error(
    status: int, *, retry_after: int | None, details: Mapping[str, Any], where: str
) -> sdk.BlockError | None:
    """The failure an HTTP status means (``None`` below 400). ``where`` is "METHOD url".

    ``retry_after`` (ms) is passed on for 429 and 503, the statuses ``Retry-After`` is
    defined for; the executor waits that long before the retry, never beyond its cap.
    """
    if status < 400:
        return None
    if status == 401:
        code, disposition, what = AUTH, NEVER, "refused the credentials (401)"
    elif status == 403:
        code, disposition, what = FORBIDDEN, NEVER, "forbade the request (403)"
    elif status == 429:
        code, disposition, what = RATE_LIMITED, BACKOFF, "rate limited the request (429)"
    elif status >= 500:
        code, disposition, what = SERVER_ERROR, BACKOFF, f"failed with a server error ({status})"
    else:
        code, disposition, what = INVALID_REQUEST, NEVER, f"rejected the request ({status})"
    return sdk.BlockError(
        code,
        f"{where}: the server {what}",
        retry_disposition=disposition,
        provider_status=status,
        details=dict(details),
        retry_after_ms=retry_after if status in (429, 503) else None,
    )
