"""``ai_generate``: one chat completion per attempt from an OpenAI-compatible endpoint.

Configuration (read from the run's settings at each attempt, so the environment of the run
decides):

* ``ORCHESTRATOR_BLOCKS_AI_URL``: the provider's *base URL, version prefix included*, the
  value OpenAI clients call ``base_url``: ``https://api.openai.com/v1``,
  ``http://127.0.0.1:8080/v1`` (llama.cpp server), ``http://127.0.0.1:11434/v1`` (Ollama).
  The block POSTs to ``<AI_URL>/chat/completions`` and never adds ``/v1`` itself; a URL that
  already ends in ``/chat/completions`` is used as is, a query string is kept.
* ``ORCHESTRATOR_BLOCKS_AI_KEY``: optional; sent as ``Authorization: Bearer <key>`` and
  nowhere else (never logged, masked if a provider echoes it).
* ``ORCHESTRATOR_BLOCKS_AI_MODEL``: the model when the block has no ``model=``.

Requests go through the family's ``httpx.AsyncClient`` of the run (``sdk.http.client``),
which has no httpx timeout of its own: the executor bounds each attempt by the block's
timeout (``ai.timeout``). The key travels per request, never on the client, and never on a
client another family shares.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import http as sdk_http
from orchestrator_blocks.sdk.redaction import Redactor, redact_url

from .classify import PHRASES, provider_message
from .codes import (
    BOUNDARY_CODES,
    DOMAIN,
    FAMILY,
    INVALID_REQUEST,
    INVALID_RESPONSE,
    NOT_CONFIGURED,
)

COMPLETIONS_PATH = "/chat/completions"
INPUT_PLACEHOLDER = "{input}"
DEFAULT_BACKOFF = FAMILY.policy.backoff


def _bad_config(message: str) -> sdk.InvalidBlockConfig:
    return sdk.InvalidBlockConfig(f"Block.ai_generate: {message}", code=INVALID_REQUEST)


def _validate(config: dict[str, Any]) -> None:
    if not isinstance(config["prompt"], str):
        raise _bad_config(f"prompt must be a string, got {type(config['prompt']).__name__}")
    for name in ("model", "system"):
        if config[name] is not None and not (isinstance(config[name], str) and config[name]):
            raise _bad_config(f"{name} must be a non-empty string or None")
    temperature = config["temperature"]
    if temperature is not None and (
        isinstance(temperature, bool)
        or not isinstance(temperature, int | float)
        or not 0 <= temperature <= 2
    ):
        raise _bad_config(f"temperature must be a number from 0 to 2, got {temperature!r}")
    max_tokens = config["max_tokens"]
    if max_tokens is not None and (
        isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0
    ):
        raise _bad_config(f"max_tokens must be a positive int, got {max_tokens!r}")


def endpoint_of(base: str | None) -> str:
    """The chat-completions URL for an ``ORCHESTRATOR_BLOCKS_AI_URL`` value."""
    if not base or not base.strip():
        raise sdk.BlockError(
            NOT_CONFIGURED,
            "no AI endpoint configured: set ORCHESTRATOR_BLOCKS_AI_URL to an OpenAI-compatible "
            "base URL including its version prefix (e.g. http://127.0.0.1:8080/v1)",
        )
    try:
        parts = urlsplit(base.strip())
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise sdk.BlockError(
            NOT_CONFIGURED,
            f"ORCHESTRATOR_BLOCKS_AI_URL must be an http(s) URL, got {redact_url(base)!r}",
        )
    path = parts.path.rstrip("/")
    if not path.endswith(COMPLETIONS_PATH):
        path += COMPLETIONS_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _auth_headers(key: str | None) -> dict[str, str]:
    if not key:
        return {}
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        raise sdk.BlockError(
            NOT_CONFIGURED,
            "ORCHESTRATOR_BLOCKS_AI_KEY contains characters an HTTP header cannot carry "
            "(whitespace, control or non-ASCII characters)",
        )
    return {"Authorization": f"Bearer {key}"}


def _input_text(value: sdk.Value) -> str:
    if isinstance(value, sdk.Empty):
        return ""
    if isinstance(value, sdk.Json) and not isinstance(value.value, str):
        return json.dumps(sdk.to_jsonable(value.value), ensure_ascii=False, indent=2)
    try:
        return value.text()
    except UnicodeDecodeError as exc:
        raise sdk.BlockError(
            INVALID_REQUEST, f"ai_generate needs text, JSON or UTF-8 bytes as input: {exc}"
        ) from None


def user_content(prompt: str, value: sdk.Value) -> str:
    """The user message: ``prompt`` with every ``{input}`` replaced by the input's text, or,
    without that placeholder, ``prompt``, a blank line and the input (when there is one).

    The replacement is a plain substitution of that one token: no other braces mean
    anything, and text inside the input is never expanded.
    """
    text = _input_text(value)
    if INPUT_PLACEHOLDER in prompt:
        content = prompt.replace(INPUT_PLACEHOLDER, text)
    else:
        content = "\n\n".join(part for part in (prompt, text) if part)
    if not content.strip():
        raise sdk.BlockError(
            INVALID_REQUEST, "ai_generate has nothing to send: the prompt and the input are empty"
        )
    return content


def messages_for(prompt: str, system: str | None, value: sdk.Value) -> list[dict[str, str]]:
    """The chat messages: ``system`` (when given), then one user turn."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user_content(prompt, value)})
    return messages


def _snippet(body: bytes, redactor: Redactor) -> str:
    return redactor.snippet(body.decode("utf-8", errors="replace"))


def _completion(
    status: int, body: bytes, details: dict[str, Any], redactor: Redactor
) -> tuple[str, dict[str, Any]]:
    """``choices[0].message.content`` and the response's model/usage/finish_reason."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise sdk.BlockError(
            INVALID_RESPONSE,
            f"the AI provider answered a body that is not JSON ({exc})",
            provider_status=status,
            details={**details, "snippet": _snippet(body, redactor)},
        ) from None
    try:
        choice = data["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        content = None
    if not isinstance(content, str):
        raise sdk.BlockError(
            INVALID_RESPONSE,
            "the AI provider's answer has no choices[0].message.content text",
            provider_status=status,
            details={**details, "snippet": _snippet(body, redactor)},
        )
    meta: dict[str, Any] = {"model": data.get("model") or details["model"]}
    if isinstance(choice.get("finish_reason"), str):
        meta["finish_reason"] = choice["finish_reason"]
    usage = data.get("usage")
    if isinstance(usage, dict):
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            if isinstance(usage.get(name), int):
                meta[name] = usage[name]
    return content, meta


@FAMILY.block_type("ai_generate", validate=_validate)
async def ai_generate(
    ctx: sdk.RunContext,
    value: sdk.Value,
    prompt: str,
    *,
    model: str | None = None,
    system: str | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
) -> sdk.Value:
    """Ask an OpenAI-compatible chat model; output its reply as Text.

    The user message is ``prompt`` with ``{input}`` replaced by the input's text, or the
    prompt followed by a blank line and the input (Json as indented JSON). Endpoint, key and
    default model come from ``ORCHESTRATOR_BLOCKS_AI_URL`` / ``_AI_KEY`` / ``_AI_MODEL``.
    Timeouts, 429, provider 5xx and refused connections are retried with backoff
    (``Retry-After`` honoured); auth failures, other 4xx, malformed answers and missing
    configuration are not.
    """
    settings = ctx.settings
    endpoint = endpoint_of(settings.get("AI_URL"))
    chosen = model or settings.get("AI_MODEL")
    if not chosen:
        raise sdk.BlockError(
            NOT_CONFIGURED,
            "no model: pass Block.ai_generate(..., model=...) or set ORCHESTRATOR_BLOCKS_AI_MODEL",
        )
    secret = settings.secret("AI_KEY")
    key = secret.get_secret_value().strip() if secret is not None else None
    headers = _auth_headers(key)
    payload: dict[str, Any] = {"model": chosen, "messages": messages_for(prompt, system, value)}
    if temperature is not None:
        payload["temperature"] = temperature
    if max_tokens is not None:
        payload["max_tokens"] = max_tokens
    redactor = Redactor.for_request(endpoint, headers, secrets=[key])
    shown = redactor.url(endpoint)
    details: dict[str, Any] = {"model": chosen, "url": shown}
    client = sdk_http.client(ctx, DOMAIN)
    started = ctx.clock.monotonic()
    with sdk_http.httpx_errors(
        BOUNDARY_CODES, f"the AI provider at {shown}", redactor, details, phrases=PHRASES
    ):
        reply = await client.post(endpoint, json=payload, headers=headers)
    duration_ms = round((ctx.clock.monotonic() - started) * 1000, 3)
    status = reply.status_code
    failed = sdk_http.classify_status(status, BOUNDARY_CODES) is not None
    said = redactor.snippet(provider_message(reply.content)).strip() if failed else ""
    failure = sdk_http.status_error(
        status,
        BOUNDARY_CODES,
        subject="the AI provider",
        said=said,
        retry_after=sdk_http.retry_after_ms(reply.headers.get("retry-after"), ctx.clock.now()),
        details={**details, "provider_message": said},
    )
    if failure is not None:
        ctx.log.info("ai.response", model=chosen, status=status, duration_ms=duration_ms)
        raise failure
    content, meta = _completion(status, reply.content, details, redactor)
    ctx.log.info("ai.response", status=status, duration_ms=duration_ms, **meta)
    return sdk.Text(content)
