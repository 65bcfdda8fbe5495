"""chat_webhook: post a message to a chat tool's incoming webhook.

A complete, small block family written against ``orchestrator_blocks.sdk`` only. HTTP goes
through the SDK's boundary (``sdk.http``): the family's own client of the run (no httpx
timeout: the block's 10 s policy bounds each attempt), httpx failures and statuses mapped
onto the family's codes by :data:`BOUNDARY_CODES`, ``Retry-After`` honoured. A webhook URL
is itself the credential, so it is never logged and is masked if the server echoes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import http as sdk_http
from orchestrator_blocks.sdk.redaction import Redactor

DOMAIN = "custom:chat_webhook"
TIMEOUT = "chat_webhook.timeout"
UNREACHABLE = "chat_webhook.unreachable"
RATE_LIMITED = "chat_webhook.rate_limited"
SERVER_ERROR = "chat_webhook.server_error"
REJECTED = "chat_webhook.rejected"
INVALID_CONFIG = "chat_webhook.invalid_config"
CODES = (TIMEOUT, UNREACHABLE, RATE_LIMITED, SERVER_ERROR, REJECTED, INVALID_CONFIG)
FAMILY = sdk.family(
    "chat_webhook",
    domain=DOMAIN,
    codes=[
        sdk.Code(TIMEOUT, "backoff", "the attempt outlived the block's timeout"),
        sdk.Code(UNREACHABLE, "backoff", "connection refused or reset"),
        sdk.Code(RATE_LIMITED, "backoff", "HTTP 429 (Retry-After honoured: seconds or a date)"),
        sdk.Code(SERVER_ERROR, "backoff", "HTTP 5xx (Retry-After honoured on 503)"),
        sdk.Code(REJECTED, "never", "another 4xx (bad token, bad payload); an unreadable answer"),
        sdk.Code(INVALID_CONFIG, "never", "no URL configured, or one that cannot be requested"),
    ],
    timeout=10,
    retries=2,
    timeout_code=TIMEOUT,
    side_effects=[sdk.SideEffect("Chat", "channel", "post message")],
    description="post a message to a chat tool's incoming webhook",
)
BOUNDARY_CODES = sdk_http.HttpCodes(
    timeout=TIMEOUT,
    connection=UNREACHABLE,
    invalid_request=INVALID_CONFIG,  # a URL that cannot be requested is a configuration error
    invalid_response=REJECTED,
    auth=REJECTED,
    rate_limited=RATE_LIMITED,
    server_error=SERVER_ERROR,
    forbidden=REJECTED,
    rejected=REJECTED,
)
_SAID_CHARS = 200

URL_ENV = "ORCHESTRATOR_BLOCKS_CHAT_WEBHOOK_URL"
_FLAVOR_KEY = {
    "slack": "text",
    "mattermost": "text",
    "rocketchat": "text",
    "discord": "content",
    "teams": "text",
}


def _validate(config: Mapping[str, Any]) -> None:
    if config["flavor"] not in _FLAVOR_KEY:
        choices = ", ".join(_FLAVOR_KEY)
        raise ValueError(f"flavor must be one of {choices}, got {config['flavor']!r}")


def _message(value: sdk.Value) -> str:
    if isinstance(value, sdk.Json) and not isinstance(value.value, str):
        return "```\n" + json.dumps(sdk.to_jsonable(value.value), indent=2) + "\n```"
    return value.text()


def _redactor(target: str) -> Redactor:
    """The webhook URL is the credential: mask it whole, and its path (the token part)."""
    try:
        path = urlsplit(target).path
    except ValueError:
        path = ""
    return Redactor.for_request(target, secrets=[target, path if len(path) > 1 else None])


@FAMILY.block_type("chat_webhook", validate=_validate)
async def chat_webhook(
    ctx: sdk.RunContext,
    value: sdk.Value,
    url: str | None = None,
    *,
    flavor: str = "slack",
    username: str | None = None,
) -> sdk.Value:
    """Post the input as a message to an incoming webhook; output ``{"posted": true}``."""
    target = url or ctx.settings.extra.get(URL_ENV)
    if not target:
        raise sdk.BlockError(
            INVALID_CONFIG, f"no webhook URL: pass one to Block.chat_webhook or set {URL_ENV}"
        )
    payload: dict[str, Any] = {_FLAVOR_KEY[flavor]: _message(value)}
    if username:
        payload["username"] = username
    redactor = _redactor(target)
    client = sdk_http.client(ctx, "chat_webhook")
    with sdk_http.httpx_errors(BOUNDARY_CODES, "webhook", redactor, {"flavor": flavor}):
        response = await client.post(target, json=payload)
    status = response.status_code
    failure = sdk_http.status_error(
        status,
        BOUNDARY_CODES,
        subject="webhook",
        said=redactor.text(response.text).strip()[:_SAID_CHARS],
        retry_after=sdk_http.retry_after_ms(response.headers.get("retry-after"), ctx.clock.now()),
        details={"flavor": flavor},
    )
    if failure is not None:
        raise failure
    ctx.log.info("chat_webhook.posted", flavor=flavor, status=status)
    return sdk.Json({"posted": True, "status": status})


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    registry.add(FAMILY)
