"""Domain codes of the http family: contract §7.5's baseline plus two of the family's own.

=========================  ===================================================  ========
code                       when                                                 retried
=========================  ===================================================  ========
``http.timeout``           the block's per-attempt timeout fired (connect,      backoff
                           pool wait, read...), or an httpx timeout
``http.rate_limited.429``  the server answered 429 (``Retry-After`` honoured,   backoff
                           up to the policy's backoff cap)
``http.server_error.5xx``  the server answered any 5xx                          backoff
``http.auth.401``          the server answered 401                              never
``http.forbidden.403``     the server answered 403                              never
``http.invalid_request``   any other 4xx; no URL, a bad URL or scheme; a        never
                           request that cannot be built
``http.connection``        connection refused, reset or closed without an       backoff
                           answer; DNS failure; proxy failure
``http.invalid_response``  ``parse="json"`` and the body is not JSON; a body    never
                           that cannot be decoded; too many redirects
=========================  ===================================================  ========

``provider_status`` is the HTTP status whenever the server answered. httpx exceptions and
statuses become these codes in the SDK's HTTP boundary (``sdk.http``), through
:data:`BOUNDARY_CODES`.
"""

from __future__ import annotations

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.http import HttpCodes

__all__ = [
    "AUTH",
    "BASELINE_CODES",
    "BOUNDARY_CODES",
    "CODES",
    "CONNECTION",
    "DOMAIN",
    "FAMILY",
    "FORBIDDEN",
    "INVALID_REQUEST",
    "INVALID_RESPONSE",
    "RATE_LIMITED",
    "SERVER_ERROR",
    "TIMEOUT",
]

DOMAIN = "http"

TIMEOUT = "http.timeout"
RATE_LIMITED = "http.rate_limited.429"
SERVER_ERROR = "http.server_error.5xx"
AUTH = "http.auth.401"
FORBIDDEN = "http.forbidden.403"
INVALID_REQUEST = "http.invalid_request"
CONNECTION = "http.connection"
INVALID_RESPONSE = "http.invalid_response"

BASELINE_CODES = (TIMEOUT, RATE_LIMITED, SERVER_ERROR, AUTH, FORBIDDEN, INVALID_REQUEST)
CODES = (*BASELINE_CODES, CONNECTION, INVALID_RESPONSE)

BOUNDARY_CODES = HttpCodes(
    timeout=TIMEOUT,
    connection=CONNECTION,
    invalid_request=INVALID_REQUEST,
    invalid_response=INVALID_RESPONSE,
    auth=AUTH,
    forbidden=FORBIDDEN,
    rate_limited=RATE_LIMITED,
    server_error=SERVER_ERROR,
)

FAMILY = sdk.family(
    "http",
    domain=DOMAIN,
    codes=[
        sdk.Code(TIMEOUT, "backoff", "the attempt outlived the timeout, or httpx timed out"),
        sdk.Code(RATE_LIMITED, "backoff", "the server answered 429 (Retry-After honoured)"),
        sdk.Code(SERVER_ERROR, "backoff", "the server answered a 5xx"),
        sdk.Code(AUTH, "never", "the server answered 401"),
        sdk.Code(FORBIDDEN, "never", "the server answered 403"),
        sdk.Code(INVALID_REQUEST, "never", "another 4xx; no URL, a bad URL; a request not built"),
        sdk.Code(CONNECTION, "backoff", "refused, reset or closed without an answer; DNS, proxy"),
        sdk.Code(INVALID_RESPONSE, "never", "a body that is not JSON or not decodable; redirects"),
    ],
    timeout=30,
    retries=2,
    backoff=sdk.Backoff.exponential(1_000, 2.0, jitter=0.2, cap_ms=30_000),
    timeout_code=TIMEOUT,
    description="HTTP calls on the family's own httpx client per run",
)
