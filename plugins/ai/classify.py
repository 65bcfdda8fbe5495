"""The ai family's boundary: httpx exceptions and provider statuses become domain codes, once.

Retryable conditions follow contract §6.3 (upstream timeout, rate limit, provider 5xx) plus a
connection the provider refused or dropped (``ai.unreachable``: a local model server that is
still starting). Everything else fails on the first attempt.

The API key travels only in the request's ``Authorization`` header, which is never logged;
every text that does reach an error message or a log line (library messages, the provider's
own error message) passes through a :class:`Scrubber` first, in case it echoes the key or
the endpoint's credentials back.
"""

from __future__ import annotations

import email.utils
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from orchestrator_blocks import sdk

from .codes import (
    AUTH,
    INVALID_REQUEST,
    INVALID_RESPONSE,
    PROVIDER_5XX,
    RATE_LIMITED,
    TIMEOUT,
    UNREACHABLE,
)

BACKOFF = sdk.RetryDisposition.BACKOFF
NEVER = sdk.RetryDisposition.NEVER
REDACTED = "**********"
SNIPPET_CHARS = 500

# Most specific first: TimeoutException and the protocol errors are TransportErrors too.
_EXCEPTION_CODES: tuple[tuple[type[Exception], str, sdk.RetryDisposition, str], ...] = (
    (httpx.TimeoutException, TIMEOUT, BACKOFF, "timed out"),
    (httpx.UnsupportedProtocol, INVALID_REQUEST, NEVER, "cannot be requested"),
    (httpx.LocalProtocolError, INVALID_REQUEST, NEVER, "request could not be sent"),
    (httpx.InvalidURL, INVALID_REQUEST, NEVER, "is not a valid URL"),
    (httpx.TooManyRedirects, INVALID_RESPONSE, NEVER, "redirected too many times"),
    (httpx.DecodingError, INVALID_RESPONSE, NEVER, "sent a body that could not be decoded"),
    (httpx.TransportError, UNREACHABLE, BACKOFF, "is unreachable"),
)


def redact_url(url: str) -> str:
    """The endpoint as it may be logged: no userinfo, no query string, no fragment."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<unparseable url>"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


class Scrubber:
    """Masks the request's secrets (the API key, a URL password, the raw URL) in any text."""

    def __init__(self, url: str, secrets: Iterable[str | None] = ()) -> None:
        self._safe_url = redact_url(url)
        found = [s for s in secrets if s]
        try:
            parts = urlsplit(url)
            if parts.password and len(parts.password) >= 4:
                found += [parts.password, unquote(parts.password)]
        except ValueError:
            pass
        self._url = url
        # Longest first, so a secret containing another is masked whole.
        self._secrets = sorted(set(found), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        text = text.replace(self._url, self._safe_url)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def classify_exception(exc: Exception) -> tuple[str, sdk.RetryDisposition, str] | None:
    """``(code, disposition, phrase)`` for an httpx exception, ``None`` for anything else."""
    for kind, code, disposition, phrase in _EXCEPTION_CODES:
        if isinstance(exc, kind):
            return code, disposition, phrase
    return None


@contextmanager
def httpx_errors(scrub: Scrubber, details: Mapping[str, Any]) -> Iterator[None]:
    """Re-raise httpx failures inside the block as :class:`sdk.BlockError` with our codes.

    ``details`` must already be safe to log; the library's message is scrubbed.
    """
    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        code, disposition, phrase = classify_exception(exc) or (UNREACHABLE, BACKOFF, "failed")
        reason = scrub(f"{type(exc).__name__}: {exc}")
        raise sdk.BlockError(
            code,
            f"the AI provider at {details.get('url', '?')} {phrase} ({reason})",
            retry_disposition=disposition,
            details={**details, "exception_type": type(exc).__name__},
        ) from None


def retry_after_ms(raw: str | None, now: datetime) -> int | None:
    """A ``Retry-After`` header (delay-seconds or HTTP-date) in milliseconds from ``now``.

    ``None`` when absent or unparseable; a date in the past is ``0``.
    """
    if not raw:
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


def provider_message(body: bytes) -> str:
    """The provider's own explanation (OpenAI ``{"error": {"message": ...}}``), or a snippet."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])[:SNIPPET_CHARS]
        if isinstance(error, str):
            return error[:SNIPPET_CHARS]
    return body[:SNIPPET_CHARS].decode("utf-8", errors="replace")


def status_error(
    status: int,
    *,
    body: bytes,
    retry_after: int | None,
    details: Mapping[str, Any],
    scrub: Scrubber,
) -> sdk.BlockError | None:
    """The failure a provider's HTTP status means (``None`` for 2xx).

    ``Retry-After`` raises the next backoff delay on 429 and 503 (the statuses that define
    it); the executor still caps it at the policy's ``cap_ms``.
    """
    if 200 <= status < 300:
        return None
    said = scrub(provider_message(body)).strip()
    if status in (401, 403):
        code, disposition, what = AUTH, NEVER, f"refused the credentials ({status})"
    elif status == 429:
        code, disposition, what = RATE_LIMITED, BACKOFF, "rate limited the request (429)"
    elif status >= 500:
        code, disposition, what = PROVIDER_5XX, BACKOFF, f"failed with a server error ({status})"
    elif status >= 400:
        code, disposition, what = INVALID_REQUEST, NEVER, f"rejected the request ({status})"
    else:
        code, disposition, what = INVALID_RESPONSE, NEVER, f"answered an unexpected {status}"
    return sdk.BlockError(
        code,
        f"the AI provider {what}" + (f": {said}" if said else ""),
        retry_disposition=disposition,
        provider_status=status,
        details={**details, "provider_message": said},
        retry_after_ms=retry_after if status in (429, 503) else None,
    )
