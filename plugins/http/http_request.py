"""``http_request``: one HTTP call per attempt, on the family's ``httpx.AsyncClient`` of the run.

Where the URL and the body come from (contract §10: a configured URL or ``Text(url)``):

* ``url`` configured: for POST/PUT/PATCH without a configured ``body``, the input *is* the
  body (``Json`` -> JSON, ``Text`` -> text, ``Bytes`` -> raw bytes, ``Empty`` -> none);
* ``url=None``: the input names the URL: a ``Text`` holding it, or a ``Json`` object with a
  ``"url"`` key (and optionally a ``"body"`` key, sent by POST/PUT/PATCH when ``body`` is not
  configured).

The executor bounds each attempt with the block's timeout (``http.timeout`` when it fires);
the client (``sdk.http.client``) has no httpx timeout of its own that could fire earlier.
Headers are passed per request, never set on the client, because the blocks of a run share
it: one block's ``Authorization`` must not ride along with the next block's call.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import httpx

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import http as sdk_http
from orchestrator_blocks.sdk.redaction import Redactor

from .codes import BOUNDARY_CODES, DOMAIN, FAMILY, INVALID_REQUEST, INVALID_RESPONSE

__all__ = ["PARSE_MODES", "http_request", "writes"]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
PARSE_MODES = ("text", "json", "bytes")

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_NO_CONTENT = frozenset({204, 205, 304})


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be requested (an http(s) URL with a host and a valid port is
    needed), or ``None``. The answer never contains the URL's credentials."""
    redactor = Redactor.for_request(url)
    shown = redactor.url(url)
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        return redactor.text(f"{shown!r} is not a valid URL ({exc})")
    if parsed.scheme not in ("http", "https"):
        return f"{shown!r} is not an http(s) URL"
    if not parsed.host:
        return f"{shown!r} has no host"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"{shown!r} has an invalid port"
    return None


def _bad_config(message: str) -> sdk.InvalidBlockConfig:
    return sdk.InvalidBlockConfig(f"Block.http_request: {message}", code=INVALID_REQUEST)


def _validate(config: dict[str, Any]) -> None:
    url, method, headers = config["url"], config["method"], config["headers"]
    if url is not None:
        if not isinstance(url, str):
            raise _bad_config(f"url must be a string or None, got {type(url).__name__}")
        problem = url_problem(url.strip())
        if problem:
            raise _bad_config(problem)
        config["url"] = url.strip()
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise _bad_config(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    config["method"] = method.upper()
    if config["parse"] not in PARSE_MODES:
        raise _bad_config(f"parse must be one of {PARSE_MODES}, got {config['parse']!r}")
    if headers is not None:
        if not isinstance(headers, Mapping):
            raise _bad_config(f"headers must be a dict, got {type(headers).__name__}")
        for name, val in headers.items():
            if not (isinstance(name, str) and _HEADER_NAME.match(name)):
                raise _bad_config(f"header name {name!r} is not a valid HTTP header name")
            if not (isinstance(val, str) and val.isascii() and val.isprintable()):
                raise _bad_config(f"header {name!r} needs a printable ASCII string value")
        config["headers"] = dict(headers)
    body = config["body"]
    if body is not None and not isinstance(body, str | bytes):
        try:
            json.dumps(body, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise _bad_config(f"body must be str, bytes or JSON-serialisable: {exc}") from None


def writes(config: Mapping[str, Any]) -> bool:
    """Whether a block so configured changes something: every method but GET/HEAD/OPTIONS."""
    return str(config.get("method", "GET")).upper() not in READ_ONLY_METHODS


def _no_url(value: sdk.Value, why: str) -> sdk.BlockError:
    return sdk.BlockError(
        INVALID_REQUEST,
        f"no URL: configure Block.http_request(url) or send a Text input holding the URL or a "
        f"Json object with a 'url' key ({why})",
        details={"input_kind": value.kind},
    )


def _request_target(url: str | None, value: sdk.Value) -> tuple[str, sdk.Value]:
    """The URL to call and the body the input supplies when it also names the URL."""
    if url is not None:
        return url, value
    raw: Any = None
    input_body: sdk.Value = sdk.Empty()
    if isinstance(value, sdk.Text | sdk.Json) and isinstance(value.value, str):
        raw = value.value
    elif isinstance(value, sdk.Bytes):
        raw = value.value.decode("utf-8", errors="replace")
    elif isinstance(value, sdk.Json) and isinstance(value.value, Mapping):
        if "url" not in value.value:
            raise _no_url(value, "the Json input has no 'url' key")
        raw = value.value["url"]
        if "body" in value.value:
            input_body = sdk.as_value(value.value["body"])
    if not isinstance(raw, str) or not raw.strip():
        raise _no_url(value, f"got {value.kind} input")
    target = raw.strip()
    problem = url_problem(target)
    if problem:
        shown = Redactor.for_request(target).url(target)
        raise sdk.BlockError(INVALID_REQUEST, problem, details={"url": shown})
    return target, input_body


def _body_source(method: str, body: Any, input_body: sdk.Value) -> sdk.Value:
    """The configured ``body``; else, for POST/PUT/PATCH, what the input supplies."""
    if body is not None:
        return sdk.as_value(body)
    if method in BODY_METHODS:
        return input_body
    return sdk.Empty()


def _encode_body(source: sdk.Value) -> tuple[bytes | None, str | None]:
    """The body bytes and their default ``Content-Type`` for a value."""
    if isinstance(source, sdk.Json):
        data = json.dumps(sdk.to_jsonable(source.value), ensure_ascii=False)
        return data.encode("utf-8"), "application/json"
    if isinstance(source, sdk.Text):
        return source.value.encode("utf-8"), "text/plain; charset=utf-8"
    if isinstance(source, sdk.Bytes):
        return source.value, "application/octet-stream"
    return None, None


def _response_text(response: httpx.Response) -> str:
    try:
        return response.text
    except (LookupError, UnicodeDecodeError):
        return response.content.decode("utf-8", errors="replace")


def _decode(
    response: httpx.Response, parse: str, where: str, redactor: Redactor, details: dict[str, Any]
) -> sdk.Value:
    if parse == "bytes":
        return sdk.Bytes(response.content)
    if parse == "text":
        return sdk.Text(_response_text(response))
    if response.request.method == "HEAD" or response.status_code in _NO_CONTENT:
        return sdk.Empty()
    try:
        return sdk.Json(json.loads(response.content))
    except ValueError as exc:
        what = (
            "an empty body" if not response.content.strip() else f"a body that is not JSON ({exc})"
        )
        raise sdk.BlockError(
            INVALID_RESPONSE,
            f"{where}: expected a JSON body, got {what}",
            provider_status=response.status_code,
            details={**details, "snippet": redactor.snippet(_response_text(response))},
        ) from None


@FAMILY.block_type(
    "http_request",
    side_effects=[sdk.SideEffect("HTTP", "host of the URL", "POST/PUT/PATCH/DELETE")],
    writes_when=writes,
    validate=_validate,
)
async def http_request(
    ctx: sdk.RunContext,
    value: sdk.Value,
    url: str | None = None,
    *,
    method: str = "GET",
    headers: Mapping[str, str] | None = None,
    body: Any = None,
    parse: str = "text",
) -> sdk.Value:
    """Call an HTTP endpoint and output its response body (Text; Json with parse="json").

    The URL is ``url`` or, when it is ``None``, the input (a Text URL or a Json object with
    a "url" key). ``body``: a str is sent as is, a dict/list as JSON; without it a
    POST/PUT/PATCH to a configured URL sends the input. ``parse="json"`` outputs Json (a body
    that is not JSON fails with ``http.invalid_response``), ``parse="bytes"`` raw Bytes.
    Timeouts, connection failures, 429 (honouring ``Retry-After``) and 5xx are retried with
    backoff; 401, 403 and other 4xx are not. Credentials never appear in logs or errors.
    """
    target, input_body = _request_target(url, value)
    redactor = Redactor.for_request(target, headers)
    shown = redactor.url(target)
    details: dict[str, Any] = {"method": method, "url": shown}
    where = f"{method} {shown}"
    content, content_type = _encode_body(_body_source(method, body, input_body))
    request_headers = dict(headers or {})
    if content_type and not any(k.lower() == "content-type" for k in request_headers):
        request_headers["Content-Type"] = content_type
    client = sdk_http.client(ctx, DOMAIN)
    started = ctx.clock.monotonic()
    with sdk_http.httpx_errors(BOUNDARY_CODES, where, redactor, details):
        try:
            request = client.build_request(method, target, headers=request_headers, content=content)
        except (UnicodeError, ValueError, TypeError) as exc:
            reason = redactor.text(str(exc))
            raise sdk.BlockError(
                INVALID_REQUEST,
                f"{where}: the request could not be built ({reason})",
                details=details,
            ) from None
        reply = await client.send(request, follow_redirects=True)
    status = reply.status_code
    ctx.log.info(
        "http.response",
        method=method,
        url=shown,
        status=status,
        duration_ms=round((ctx.clock.monotonic() - started) * 1000, 3),
        bytes=len(reply.content),
    )
    failure = sdk_http.status_error(
        status,
        BOUNDARY_CODES,
        subject=f"{where}: the server",
        retry_after=sdk_http.retry_after_ms(reply.headers.get("retry-after"), ctx.clock.now()),
        details={**details, "snippet": redactor.snippet(_response_text(reply))},
    )
    if failure is not None:
        raise failure
    return _decode(reply, parse, where, redactor, details)
