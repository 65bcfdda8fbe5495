"""Domain codes of the ai family (contract §7.5 baseline plus three of the family's own).

=======================  ======================================================  =======
code                     when                                                    retried
=======================  ======================================================  =======
``ai.auth``              the provider answered 401 or 403 (bad or missing key)   never
``ai.rate_limited``      the provider answered 429 (``Retry-After`` honoured)    backoff
``ai.timeout``           the block's per-attempt timeout fired, or httpx timed   backoff
                         out
``ai.provider_5xx``      the provider answered any 5xx (``Retry-After`` on a     backoff
                         503 honoured)
``ai.invalid_response``  a body that is not JSON, or has no                      never
                         ``choices[0].message.content`` text; an unexpected
                         1xx/3xx status
``ai.invalid_request``   any other 4xx (unknown model, bad parameters); an       never
                         input that is not text; a bad block configuration
``ai.unreachable``       connection refused, reset or dropped before an answer   backoff
                         (a local server still starting)
``ai.not_configured``    no ``ORCHESTRATOR_BLOCKS_AI_URL``, no model, or a URL    never
                         or key that cannot be used
=======================  ======================================================  =======

httpx exceptions and provider statuses become these codes in the SDK's HTTP boundary
(``sdk.http``), through :data:`BOUNDARY_CODES`: a 403 is ``ai.auth`` like a 401 (a key
without access to the model), and a status below 400 that is not 2xx is an invalid response.
"""

from __future__ import annotations

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.http import HttpCodes

DOMAIN = "ai"

AUTH = "ai.auth"
RATE_LIMITED = "ai.rate_limited"
TIMEOUT = "ai.timeout"
PROVIDER_5XX = "ai.provider_5xx"
INVALID_RESPONSE = "ai.invalid_response"
INVALID_REQUEST = "ai.invalid_request"
UNREACHABLE = "ai.unreachable"
NOT_CONFIGURED = "ai.not_configured"

BASELINE_CODES = (AUTH, RATE_LIMITED, TIMEOUT, PROVIDER_5XX, INVALID_RESPONSE)
CODES = (*BASELINE_CODES, INVALID_REQUEST, UNREACHABLE, NOT_CONFIGURED)

BOUNDARY_CODES = HttpCodes(
    timeout=TIMEOUT,
    connection=UNREACHABLE,
    invalid_request=INVALID_REQUEST,
    invalid_response=INVALID_RESPONSE,
    auth=AUTH,
    rate_limited=RATE_LIMITED,
    server_error=PROVIDER_5XX,
    unexpected=INVALID_RESPONSE,
)

FAMILY = sdk.family(
    "ai",
    domain=DOMAIN,
    codes=[
        sdk.Code(AUTH, "never", "the provider answered 401 or 403 (bad or missing key)"),
        sdk.Code(RATE_LIMITED, "backoff", "the provider answered 429 (Retry-After honoured)"),
        sdk.Code(TIMEOUT, "backoff", "the attempt outlived the timeout, or httpx timed out"),
        sdk.Code(PROVIDER_5XX, "backoff", "the provider answered a 5xx"),
        sdk.Code(INVALID_RESPONSE, "never", "not JSON, or no choices[0].message.content text"),
        sdk.Code(INVALID_REQUEST, "never", "another 4xx; an input that is not text; bad config"),
        sdk.Code(UNREACHABLE, "backoff", "refused, reset or dropped before an answer"),
        sdk.Code(NOT_CONFIGURED, "never", "no endpoint URL or model, or one that cannot be used"),
    ],
    timeout=120,
    retries=2,
    backoff=sdk.Backoff.exponential(2_000, 2.0, jitter=0.2, cap_ms=30_000),
    timeout_code=TIMEOUT,
    description="text from an OpenAI-compatible chat-completions endpoint",
)
