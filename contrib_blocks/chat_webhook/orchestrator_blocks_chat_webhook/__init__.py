"""chat_webhook: post a message to a chat tool's incoming webhook.

A complete, small block family written against ``orchestrator_blocks.sdk`` only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from orchestrator_blocks import sdk

DOMAIN = "custom:chat_webhook"
TIMEOUT = "chat_webhook.timeout"
UNREACHABLE = "chat_webhook.unreachable"
RATE_LIMITED = "chat_webhook.rate_limited"
SERVER_ERROR = "chat_webhook.server_error"
REJECTED = "chat_webhook.rejected"
INVALID_CONFIG = "chat_webhook.invalid_config"
CODES = (TIMEOUT, UNREACHABLE, RATE_LIMITED, SERVER_ERROR, REJECTED, INVALID_CONFIG)

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


def _retry_after_ms(response: httpx.Response) -> int | None:
    raw = response.headers.get("retry-after", "")
    return int(float(raw) * 1000) if raw.replace(".", "", 1).isdigit() else None


@sdk.block_type(
    "chat_webhook",
    domain=DOMAIN,
    codes=CODES,
    timeout=10,
    retries=2,
    timeout_code=TIMEOUT,
    side_effects=[sdk.SideEffect("Chat", "channel", "post message")],
    validate=_validate,
)
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
    client = ctx.services.resource("httpx.AsyncClient", httpx.AsyncClient, lambda c: c.aclose())
    try:
        response = await client.post(target, json=payload)
    except httpx.TimeoutException as exc:
        raise sdk.BlockError(
            TIMEOUT, f"webhook timed out: {type(exc).__name__}", retry_disposition="backoff"
        ) from None
    except httpx.TransportError as exc:
        raise sdk.BlockError(
            UNREACHABLE, f"webhook unreachable: {type(exc).__name__}", retry_disposition="backoff"
        ) from None
    status = response.status_code
    if status == 429:
        raise sdk.BlockError(
            RATE_LIMITED,
            "webhook rate limited the message",
            retry_disposition="backoff",
            provider_status=status,
            retry_after_ms=_retry_after_ms(response),
        )
    if status >= 500:
        raise sdk.BlockError(
            SERVER_ERROR,
            f"webhook answered {status}",
            retry_disposition="backoff",
            provider_status=status,
        )
    if status >= 400:
        raise sdk.BlockError(
            REJECTED,
            f"webhook refused the message with {status}: {response.text[:200]}",
            provider_status=status,
        )
    ctx.log.info("chat_webhook.posted", flavor=flavor, status=status)
    return sdk.Json({"posted": True, "status": status})


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    registry.add(chat_webhook)
