"""The httpx boundary shared by every family that speaks HTTP (http, ai, third parties).

Like httpx's own ``map_httpcore_exceptions``, library failures are translated here, once;
a family brings only its codes (an :class:`HttpCodes`) and, if it likes, its own wording.
This module imports httpx, so ``orchestrator_blocks.sdk`` never imports it: only a family
that needs it does (``from orchestrator_blocks.sdk import http as sdk_http``).

* :func:`client`: the run's ``httpx.AsyncClient`` for one plugin namespace. Each family has
  its own, so headers or auth one family configures never reach another family's server.
  It has no timeout of its own: the block policy's timeout bounds every attempt (the
  executor raises the type's ``timeout_code``), and httpx's default 5 s would fire first.
* :func:`classify_exception` / :func:`httpx_errors`: httpx exceptions as four kinds.
  Retryable conditions follow contract §6.3: connect/reset/timeout back off, a request that
  cannot be built or an answer that cannot be read fails on the first attempt.

  ==========================  ====================  ========  ==================================
  httpx exception             kind (``Cause``)      retried   default phrase
  ==========================  ====================  ========  ==================================
  ``TimeoutException``        ``timeout``           backoff   timed out
  ``UnsupportedProtocol``     ``invalid_request``   never     cannot be requested
  ``LocalProtocolError``      ``invalid_request``   never     could not be sent
  ``InvalidURL``              ``invalid_request``   never     is not a valid URL
  ``TooManyRedirects``        ``invalid_response``  never     was redirected too many times
  ``DecodingError``           ``invalid_response``  never     got a body that could not be decoded
  other ``TransportError``    ``connection``        backoff   could not reach the server
  any other ``HTTPError``     ``connection``        backoff   failed
  ==========================  ====================  ========  ==================================

* :func:`classify_status` / :func:`status_error`: what an HTTP status means.

  ==============  ======================================  ===============================
  status          code (``HttpCodes`` field)              retried
  ==============  ======================================  ===============================
  2xx             (success)
  1xx, 3xx        ``unexpected``, or success when unset    never
  401             ``auth``                                 never
  403             ``forbidden``, or ``auth`` when unset    never
  429             ``rate_limited``                         backoff, ``Retry-After`` honoured
  5xx             ``server_error``                         backoff, ``Retry-After`` on 503
  any other 4xx   ``rejected``, or ``invalid_request``     never
  ==============  ======================================  ===============================

* :func:`retry_after_ms`: a ``Retry-After`` header (delay-seconds or HTTP-date).
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import httpx

from .context import RunContext
from .errors import BlockError, RetryDisposition
from .redaction import Redactor

__all__ = [
    "RESOURCE_PREFIX",
    "Cause",
    "Classification",
    "HttpCodes",
    "Kind",
    "StatusClass",
    "classify_exception",
    "classify_status",
    "client",
    "httpx_errors",
    "retry_after_ms",
    "status_error",
]

Kind = Literal["timeout", "connection", "invalid_request", "invalid_response"]
"""What went wrong, in a family-neutral word; :class:`HttpCodes` maps each to a code."""

Cause = Literal[
    "timeout",
    "unsupported_protocol",
    "local_protocol_error",
    "invalid_url",
    "too_many_redirects",
    "decoding_error",
    "transport_error",
    "other",
]
"""Which row of the exception table matched: the key a family uses to reword a phrase."""

RESOURCE_PREFIX = "sdk.http:"

_BACKOFF = RetryDisposition.BACKOFF
_NEVER = RetryDisposition.NEVER
_NO_TIMEOUT = httpx.Timeout(None)
_CODE = re.compile(r"[^.\s]+(?:\.[^.\s]+)+")


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpCodes:
    """A family's codes for the conditions of the HTTP boundary.

    The four exception kinds and the four status classes every HTTP family meets are
    required; the optional ones say how the family splits them further (``None``: fold
    into the code named in the field's comment).
    """

    timeout: str
    connection: str
    invalid_request: str
    invalid_response: str
    auth: str  # 401
    rate_limited: str  # 429
    server_error: str  # 5xx
    forbidden: str | None = None  # 403; None: auth
    rejected: str | None = None  # any other 4xx; None: invalid_request
    unexpected: str | None = None  # 1xx/3xx; None: not a failure

    def __post_init__(self) -> None:
        for item in fields(self):
            code = getattr(self, item.name)
            if code is not None and not (isinstance(code, str) and _CODE.fullmatch(code)):
                raise ValueError(
                    f"HttpCodes.{item.name} must be a dotted domain code like "
                    f"'http.timeout', got {code!r}"
                )

    def for_kind(self, kind: Kind) -> str:
        """The family's code for an exception kind."""
        code: str = getattr(self, kind)
        return code

    def all_codes(self) -> frozenset[str]:
        """Every code this boundary may raise: a family declares at least these."""
        return frozenset(
            code for item in fields(self) if (code := getattr(self, item.name)) is not None
        )


class Classification(NamedTuple):
    """An httpx exception, classified: ``(kind, disposition, phrase)``."""

    kind: Kind
    disposition: RetryDisposition
    phrase: str


class StatusClass(NamedTuple):
    """An HTTP status, classified for one family: ``(code, disposition, what)``; ``what``
    completes a sentence whose subject is the server ("rate limited the request (429)")."""

    code: str
    disposition: RetryDisposition
    what: str


# Most specific first: TimeoutException and UnsupportedProtocol are TransportErrors too.
_EXCEPTIONS: tuple[tuple[type[Exception], Cause, Kind, RetryDisposition], ...] = (
    (httpx.TimeoutException, "timeout", "timeout", _BACKOFF),
    (httpx.UnsupportedProtocol, "unsupported_protocol", "invalid_request", _NEVER),
    (httpx.LocalProtocolError, "local_protocol_error", "invalid_request", _NEVER),
    (httpx.InvalidURL, "invalid_url", "invalid_request", _NEVER),
    (httpx.TooManyRedirects, "too_many_redirects", "invalid_response", _NEVER),
    (httpx.DecodingError, "decoding_error", "invalid_response", _NEVER),
    (httpx.TransportError, "transport_error", "connection", _BACKOFF),
)
_PHRASES: dict[Cause, str] = {
    "timeout": "timed out",
    "unsupported_protocol": "cannot be requested",
    "local_protocol_error": "could not be sent",
    "invalid_url": "is not a valid URL",
    "too_many_redirects": "was redirected too many times",
    "decoding_error": "got a body that could not be decoded",
    "transport_error": "could not reach the server",
    "other": "failed",
}


def classify_exception(
    exc: BaseException, phrases: Mapping[Cause, str] | None = None
) -> Classification:
    """``(kind, disposition, phrase)`` for an httpx exception; an exception this table does
    not know yet (a new httpx kind) is a transport failure. ``phrases`` rewords rows by
    :data:`Cause` (the phrase follows the request's description: "GET https://h/ timed
    out")."""
    cause: Cause = "other"
    kind: Kind = "connection"
    disposition = _BACKOFF
    for exc_type, row_cause, row_kind, row_disposition in _EXCEPTIONS:
        if isinstance(exc, exc_type):
            cause, kind, disposition = row_cause, row_kind, row_disposition
            break
    phrase = (phrases or {}).get(cause) or _PHRASES[cause]
    return Classification(kind, disposition, phrase)


@contextmanager
def httpx_errors(
    codes: HttpCodes,
    where: str,
    redactor: Redactor,
    details: Mapping[str, Any],
    *,
    phrases: Mapping[Cause, str] | None = None,
) -> Iterator[None]:
    """Re-raise the httpx failures of the ``with`` body as :class:`BlockError` with the
    family's ``codes``: "``where`` ``phrase`` (``Exception: library message``)".

    ``where`` (e.g. "GET https://h/path") and ``details`` must already be safe to log; the
    library's own message is scrubbed with ``redactor`` before it is quoted, and
    ``details`` gains ``exception_type``. The httpx exception is not chained: it holds the
    request, headers included, which must not travel further than this boundary.
    """
    try:
        yield
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        kind, disposition, phrase = classify_exception(exc, phrases)
        name = type(exc).__name__
        reason = redactor.text(f"{name}: {exc}" if str(exc) else name)
        raise BlockError(
            codes.for_kind(kind),
            f"{where} {phrase} ({reason})",
            retry_disposition=disposition,
            details={**details, "exception_type": name},
        ) from None


def classify_status(status: int, codes: HttpCodes) -> StatusClass | None:
    """What ``status`` means for a family with ``codes`` (``None``: not a failure)."""
    if 200 <= status < 300:
        return None
    if status < 400:
        if codes.unexpected is None:
            return None
        return StatusClass(codes.unexpected, _NEVER, f"answered an unexpected {status}")
    if status == 401:
        return StatusClass(codes.auth, _NEVER, "refused the credentials (401)")
    if status == 403:
        if codes.forbidden is None:
            return StatusClass(codes.auth, _NEVER, "refused the credentials (403)")
        return StatusClass(codes.forbidden, _NEVER, "forbade the request (403)")
    if status == 429:
        return StatusClass(codes.rate_limited, _BACKOFF, "rate limited the request (429)")
    if status >= 500:
        return StatusClass(codes.server_error, _BACKOFF, f"failed with a server error ({status})")
    rejected = codes.rejected or codes.invalid_request
    return StatusClass(rejected, _NEVER, f"rejected the request ({status})")


def status_error(
    status: int,
    codes: HttpCodes,
    *,
    subject: str,
    details: Mapping[str, Any],
    retry_after: int | None = None,
    said: str = "",
) -> BlockError | None:
    """The failure ``status`` means, or ``None``: "``subject`` ``what``[: ``said``]".

    ``subject`` names who answered ("GET https://h/: the server", "the AI provider");
    ``said`` is the server's own explanation, already scrubbed. ``retry_after`` (ms, from
    :func:`retry_after_ms`) is passed on for 429 and 503, the statuses ``Retry-After`` is
    defined for; the executor waits that long before the retry, never beyond its cap.
    ``provider_status`` is the status.
    """
    found = classify_status(status, codes)
    if found is None:
        return None
    code, disposition, what = found
    return BlockError(
        code,
        f"{subject} {what}" + (f": {said}" if said else ""),
        retry_disposition=disposition,
        provider_status=status,
        details=details,
        retry_after_ms=retry_after if status in (429, 503) else None,
    )


_DELAY_SECONDS = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")


def retry_after_ms(raw: str | None, now: datetime) -> int | None:
    """A ``Retry-After`` value (delay-seconds or an HTTP-date) in milliseconds from ``now``.

    ``None`` when absent or unreadable (the policy's own backoff applies then); a negative
    delay or a date in the past is ``0``.
    """
    if raw is None or not raw.strip():
        return None
    raw = raw.strip()
    if _DELAY_SECONDS.fullmatch(raw):
        seconds = float(raw)
    else:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    ms = seconds * 1000
    if not math.isfinite(ms):
        return None
    return max(0, math.ceil(ms))


async def _close(http: httpx.AsyncClient) -> None:
    await http.aclose()


def client(ctx: RunContext, namespace: str, **kwargs: Any) -> httpx.AsyncClient:
    """The run's ``httpx.AsyncClient`` for ``namespace`` (a plugin's own name: "http", "ai",
    "chat_webhook"): created on first use, shared by that family's blocks in the run (one
    connection pool), closed when the run ends, never handed to another namespace.

    ``kwargs`` go to ``httpx.AsyncClient`` when the run first creates the namespace's
    client; later calls in the run get that client unchanged, so settings that differ
    between blocks of one family (a per-block token) belong on the request instead. The
    client has no timeout (``httpx.Timeout(None)``) unless ``timeout`` is given: the block
    policy's timeout bounds each attempt.
    """
    if not isinstance(namespace, str) or not namespace.strip():
        raise ValueError(f"sdk.http.client needs a plugin namespace like 'http', got {namespace!r}")

    def make() -> httpx.AsyncClient:
        return httpx.AsyncClient(**{"timeout": _NO_TIMEOUT, **kwargs})

    return ctx.services.resource(RESOURCE_PREFIX + namespace, make, _close)
