"""The SDK's httpx boundary (``orchestrator_blocks.sdk.http``) against real peers on loopback:
a refused port, a server that accepts and never answers, a scripted server (redirect loops,
broken gzip, dropped connections), and two plugins registered at run time that must never
see each other's client."""

from __future__ import annotations

import json
import socket
import types
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.http_server import Reply, ScriptedHTTPServer

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import http as sdk_http
from orchestrator_blocks.sdk.http import (
    Classification,
    HttpCodes,
    StatusClass,
    classify_exception,
    classify_status,
    httpx_errors,
    retry_after_ms,
    status_error,
)
from orchestrator_blocks.sdk.redaction import REDACTED, Redactor
from orchestrator_blocks.sdk.testing import make_context

BACKOFF, NEVER = sdk.RetryDisposition.BACKOFF, sdk.RetryDisposition.NEVER


def codes_for(ns: str, **split: str) -> HttpCodes:
    """A family's codes under namespace ``ns``; ``split`` sets the optional ones."""
    return HttpCodes(
        timeout=f"{ns}.timeout",
        connection=f"{ns}.connection",
        invalid_request=f"{ns}.invalid_request",
        invalid_response=f"{ns}.invalid_response",
        auth=f"{ns}.auth",
        rate_limited=f"{ns}.rate_limited",
        server_error=f"{ns}.server_error",
        **{name: f"{ns}.{code}" for name, code in split.items()},
    )


PLAIN = codes_for("plain")
SPLIT = codes_for("split", forbidden="forbidden", rejected="rejected", unexpected="unexpected")


def test_the_public_surface_is_pinned():
    assert set(sdk_http.__all__) == {
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
    }


def test_importing_the_sdk_does_not_import_httpx():
    import subprocess
    import sys

    probe = "import sys, orchestrator_blocks.sdk; print('httpx' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


# -- Retry-After ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("2", 2_000, id="seconds"),
        pytest.param(" 30 ", 30_000, id="padded"),
        pytest.param("1.5", 1_500, id="fraction"),
        pytest.param("0.0004", 1, id="rounds-up"),
        pytest.param("-3", 0, id="negative"),
        pytest.param("Mon, 23 Nov 2026 12:00:10 GMT", 10_000, id="date"),
        pytest.param("Monday, 23-Nov-26 12:00:10 GMT", 10_000, id="rfc850-date"),
        pytest.param("Mon, 23 Nov 2026 11:00:00 GMT", 0, id="past-date"),
        pytest.param("Mon, 23 Nov 2026 12:00:10 -0000", 10_000, id="date-without-zone"),
        pytest.param("", None, id="empty"),
        pytest.param("   ", None, id="blank"),
        pytest.param(None, None, id="absent"),
        pytest.param("tomorrow", None, id="garbage"),
        pytest.param("nan", None, id="nan"),
        pytest.param("inf", None, id="inf"),
        pytest.param("1e308", None, id="exponent"),
        pytest.param("1_000", None, id="underscores"),
        pytest.param("0x10", None, id="hex"),
    ],
)
def test_retry_after_values(raw, expected):
    assert retry_after_ms(raw, NOW) == expected


# -- the exception table, against real failures ---------------------------------------------


@pytest.fixture
def upstream() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as server:
        yield server


@pytest.fixture
def refused_url() -> str:
    """A loopback URL whose port refuses connections (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/x"


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A server that accepts connections (the kernel's backlog does) and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield f"http://127.0.0.1:{s.getsockname()[1]}/silent"


Provoke = Callable[[httpx.AsyncClient, ScriptedHTTPServer, str, str], Awaitable[Any]]


def _get(url: Callable[[ScriptedHTTPServer, str, str], str], **kw: Any) -> Provoke:
    async def provoke(http, upstream, refused, silent):
        return await http.get(url(upstream, refused, silent), **kw)

    return provoke


def _scripted(path: str, reply: Reply, **kw: Any) -> Provoke:
    async def provoke(http, upstream, refused, silent):
        return await http.get(upstream.script(path, reply), **kw)

    return provoke


# (how to fail for real, httpx exception, (kind, disposition, default phrase))
EXCEPTIONS = [
    pytest.param(
        _get(lambda u, refused, s: refused),
        "ConnectError",
        Classification("connection", BACKOFF, "could not reach the server"),
        id="refused-port",
    ),
    pytest.param(
        _get(lambda u, r, silent: silent, timeout=0.2),
        "ReadTimeout",
        Classification("timeout", BACKOFF, "timed out"),
        id="never-answers",
    ),
    pytest.param(
        _scripted("/drop", Reply(close=True)),
        "RemoteProtocolError",
        Classification("connection", BACKOFF, "could not reach the server"),
        id="dropped-without-answer",
    ),
    pytest.param(
        _get(lambda u, r, s: "ftp://127.0.0.1/file"),
        "UnsupportedProtocol",
        Classification("invalid_request", NEVER, "cannot be requested"),
        id="unsupported-scheme",
    ),
    pytest.param(
        _get(lambda u, r, s: "http://[::1"),
        "InvalidURL",
        Classification("invalid_request", NEVER, "is not a valid URL"),
        id="invalid-url",
    ),
    pytest.param(
        _scripted("/h", Reply(200), headers={"X-Bad": "a\nb"}),
        "LocalProtocolError",
        Classification("invalid_request", NEVER, "could not be sent"),
        id="illegal-header",
    ),
    pytest.param(
        _scripted("/loop", Reply(302, "", {"Location": "/loop"}), follow_redirects=True),
        "TooManyRedirects",
        Classification("invalid_response", NEVER, "was redirected too many times"),
        id="redirect-loop",
    ),
    pytest.param(
        _scripted("/gz", Reply(200, b"not gzip", {"Content-Encoding": "gzip"})),
        "DecodingError",
        Classification("invalid_response", NEVER, "got a body that could not be decoded"),
        id="broken-gzip",
    ),
]


async def _failure_of(provoke: Provoke, upstream, refused_url, silent_url) -> Exception:
    async with httpx.AsyncClient(max_redirects=3) as http:
        try:
            await provoke(http, upstream, refused_url, silent_url)
        except Exception as exc:
            return exc
    raise AssertionError("the request did not fail")


@pytest.mark.parametrize(("provoke", "exc_type", "expected"), EXCEPTIONS)
async def test_exception_table(provoke, exc_type, expected, upstream, refused_url, silent_url):
    exc = await _failure_of(provoke, upstream, refused_url, silent_url)
    assert type(exc).__name__ == exc_type
    assert classify_exception(exc) == expected


@pytest.mark.parametrize(("provoke", "exc_type", "expected"), EXCEPTIONS)
async def test_httpx_errors_raises_the_familys_code(
    provoke, exc_type, expected, upstream, refused_url, silent_url
):
    details = {"url": "http://h/x"}
    async with httpx.AsyncClient(max_redirects=3) as http:
        boundary = httpx_errors(SPLIT, "GET http://h/x", Redactor(), details)
        with pytest.raises(sdk.BlockError) as caught, boundary:
            await provoke(http, upstream, refused_url, silent_url)
    err = caught.value
    assert err.code == f"split.{expected.kind}"
    assert err.retry_disposition == expected.disposition
    assert err.message.startswith(f"GET http://h/x {expected.phrase} ({exc_type}")
    assert err.details == {"url": "http://h/x", "exception_type": exc_type}
    assert details == {"url": "http://h/x"}  # the caller's dict is left alone
    assert err.__cause__ is None and err.__suppress_context__  # the request stays here


async def test_a_family_rewords_a_phrase_and_its_secrets_are_scrubbed(refused_url):
    url = refused_url.replace("http://", "http://bob:hunter22@")
    redactor = Redactor.for_request(url)
    async with httpx.AsyncClient() as http:
        try:
            await http.get(url)
        except httpx.HTTPError as exc:
            found = classify_exception(exc, {"transport_error": "is unreachable"})
            assert found == Classification("connection", BACKOFF, "is unreachable")
    boundary = httpx_errors(PLAIN, f"the provider at {redactor.url(url)}", redactor, {})
    with pytest.raises(sdk.BlockError) as caught, boundary:
        raise httpx.ConnectError(f"cannot connect to {url}")
    assert caught.value.message == (
        f"the provider at {redactor.url(url)} could not reach the server "
        f"(ConnectError: cannot connect to http://{REDACTED}@{url.split('@')[1]})"
    )
    assert "hunter22" not in caught.value.message


def test_an_httpx_error_the_table_does_not_know_is_a_transport_failure():
    class NewInHttpx(httpx.HTTPError):
        pass

    assert classify_exception(NewInHttpx("x")) == Classification("connection", BACKOFF, "failed")
    with pytest.raises(sdk.BlockError) as caught, httpx_errors(PLAIN, "GET u", Redactor(), {}):
        raise NewInHttpx("")
    assert (caught.value.code, caught.value.message) == (
        "plain.connection",
        "GET u failed (NewInHttpx)",
    )


def test_other_exceptions_pass_through_untouched():
    with pytest.raises(KeyError), httpx_errors(PLAIN, "GET u", Redactor(), {}):
        raise KeyError("not httpx")


# -- the status table ------------------------------------------------------------------------


def _cls(code: str, disposition: sdk.RetryDisposition, what: str) -> StatusClass:
    return StatusClass(code, disposition, what)


STATUSES = [
    (200, PLAIN, None),
    (204, SPLIT, None),
    (302, PLAIN, None),
    (302, SPLIT, _cls("split.unexpected", NEVER, "answered an unexpected 302")),
    (101, SPLIT, _cls("split.unexpected", NEVER, "answered an unexpected 101")),
    (401, PLAIN, _cls("plain.auth", NEVER, "refused the credentials (401)")),
    (401, SPLIT, _cls("split.auth", NEVER, "refused the credentials (401)")),
    (403, PLAIN, _cls("plain.auth", NEVER, "refused the credentials (403)")),
    (403, SPLIT, _cls("split.forbidden", NEVER, "forbade the request (403)")),
    (400, PLAIN, _cls("plain.invalid_request", NEVER, "rejected the request (400)")),
    (404, PLAIN, _cls("plain.invalid_request", NEVER, "rejected the request (404)")),
    (404, SPLIT, _cls("split.rejected", NEVER, "rejected the request (404)")),
    (408, PLAIN, _cls("plain.invalid_request", NEVER, "rejected the request (408)")),
    (409, SPLIT, _cls("split.rejected", NEVER, "rejected the request (409)")),
    (422, PLAIN, _cls("plain.invalid_request", NEVER, "rejected the request (422)")),
    (429, PLAIN, _cls("plain.rate_limited", BACKOFF, "rate limited the request (429)")),
    (500, PLAIN, _cls("plain.server_error", BACKOFF, "failed with a server error (500)")),
    (503, SPLIT, _cls("split.server_error", BACKOFF, "failed with a server error (503)")),
    (599, PLAIN, _cls("plain.server_error", BACKOFF, "failed with a server error (599)")),
]


@pytest.mark.parametrize(("status", "codes", "expected"), STATUSES)
def test_status_table(status, codes, expected):
    assert classify_status(status, codes) == expected


@pytest.mark.parametrize(
    ("status", "retry_after"), [(429, 1_000), (503, 1_000), (500, None), (404, None)]
)
def test_status_error_carries_retry_after_only_where_it_is_defined(status, retry_after):
    err = status_error(status, PLAIN, subject="the server", details={"u": 1}, retry_after=1_000)
    assert err is not None
    assert err.retry_after_ms == retry_after
    assert err.provider_status == status
    assert err.details == {"u": 1}


def test_status_error_message_and_success():
    assert status_error(200, PLAIN, subject="the server", details={}) is None
    err = status_error(401, PLAIN, subject="GET http://h/: the server", details={}, said="bad key")
    assert err is not None
    assert err.message == "GET http://h/: the server refused the credentials (401): bad key"
    assert (err.code, err.retry_disposition) == ("plain.auth", NEVER)


def test_codes_are_checked_when_a_family_declares_them():
    with pytest.raises(ValueError, match=r"HttpCodes\.forbidden must be a dotted domain code"):
        codes_for("x", forbidden="")
    with pytest.raises(ValueError, match=r"HttpCodes\.timeout"):
        HttpCodes(
            timeout="timeout",
            connection="x.c",
            invalid_request="x.r",
            invalid_response="x.s",
            auth="x.a",
            rate_limited="x.l",
            server_error="x.e",
        )
    kinds = ["timeout", "connection", "invalid_request", "invalid_response", "auth"]
    kinds += ["rate_limited", "server_error", "forbidden", "rejected", "unexpected"]
    assert SPLIT.all_codes() == {f"split.{kind}" for kind in kinds}


# -- one client per plugin namespace and run ------------------------------------------------


def caller_plugin(ns: str, token: str, clients: list[httpx.AsyncClient]) -> types.ModuleType:
    """A third-party family ``ns`` whose one block type GETs a URL with ``Bearer token`` set
    on the family's client (the way a plugin with one credential would configure it)."""
    codes = codes_for(ns)

    @sdk.block_type(
        f"{ns}_call",
        domain=f"custom:{ns}",
        codes=codes.all_codes(),
        timeout_code=codes.timeout,
    )
    async def call(ctx: sdk.RunContext, value: sdk.Value, url: str) -> sdk.Value:
        """GET ``url`` with the family's credentials; output the body."""
        http = sdk_http.client(ctx, ns, headers={"Authorization": f"Bearer {token}"})
        clients.append(http)
        redactor = Redactor.for_request(url, http.headers)
        where = f"GET {redactor.url(url)}"
        with httpx_errors(codes, where, redactor, {"url": redactor.url(url)}):
            reply = await http.get(url)
        failure = status_error(reply.status_code, codes, subject=f"{where}: the server", details={})
        if failure is not None:
            raise failure
        return sdk.Text(reply.text)

    plugin = types.ModuleType(f"{ns}_plugin")
    plugin.register_block_types = sdk.hookimpl(lambda registry: registry.add(call))
    return plugin


def test_two_plugins_in_one_run_never_share_a_client(upstream):
    alpha_clients: list[httpx.AsyncClient] = []
    beta_clients: list[httpx.AsyncClient] = []
    ob.register_plugin(caller_plugin("alpha", "alpha-token-111", alpha_clients))
    ob.register_plugin(caller_plugin("beta", "beta-token-222", beta_clients))
    for path in ("/a1", "/a2", "/b1", "/b2"):
        upstream.script(path, Reply(200, path))
    a1, a2 = ob.Block.alpha_call(upstream.url("/a1")), ob.Block.alpha_call(upstream.url("/a2"))
    b1, b2 = ob.Block.beta_call(upstream.url("/b1")), ob.Block.beta_call(upstream.url("/b2"))
    w = ob.new_workflow("two_families")
    w.link(a1, b1)
    w.link(b1, a2)
    w.link(a2, b2)

    result = w.run()

    assert result.ok, result.error
    assert [result.output(b) for b in (a1, b1, a2, b2)] == ["/a1", "/b1", "/a2", "/b2"]
    sent = {r.path: r for r in upstream.requests}
    for path, own, other in [
        ("/a1", "alpha-token-111", "beta-token-222"),
        ("/a2", "alpha-token-111", "beta-token-222"),
        ("/b1", "beta-token-222", "alpha-token-111"),
        ("/b2", "beta-token-222", "alpha-token-111"),
    ]:
        assert sent[path].headers["Authorization"] == f"Bearer {own}"
        assert other not in json.dumps(sent[path].headers)
    # one client per family in the run, shared by its blocks (and their connection) ...
    assert alpha_clients[0] is alpha_clients[1] and beta_clients[0] is beta_clients[1]
    assert alpha_clients[0] is not beta_clients[0]
    assert sent["/a1"].client == sent["/a2"].client
    # ... with no timeout of its own, closed when the run ended
    for http in (alpha_clients[0], beta_clients[0]):
        assert http.timeout == httpx.Timeout(None)
        assert http.is_closed

    again = ob.new_workflow("again")
    again.add(ob.Block.alpha_call(upstream.url("/a1")))
    assert again.run().ok
    assert alpha_clients[-1] is not alpha_clients[0]  # a new run, a new client


def test_a_refused_port_is_the_familys_connection_failure_retried(refused_url):
    ob.register_plugin(caller_plugin("alpha", "alpha-token-111", []))
    block = ob.Block.alpha_call(refused_url.replace("http://", "http://bob:hunter22@"))
    w = ob.new_workflow("refused")
    w.add(block.set_retry_exponential(2, 5, 2.0, jitter=0.0))
    result = w.run()
    err = result.error
    assert (err.code, err.retry_disposition, err.attempt) == ("alpha.connection", "backoff", 3)
    assert "could not reach the server (ConnectError" in err.message
    assert "hunter22" not in json.dumps(result.events, default=str) + err.message
    assert f"http://{REDACTED}@127.0.0.1" in err.message


def test_a_server_that_never_answers_is_bounded_by_the_block_timeout(silent_url):
    ob.register_plugin(caller_plugin("alpha", "alpha-token-111", []))
    block = ob.Block.alpha_call(silent_url).set_timeout_ms(200)
    w = ob.new_workflow("silent")
    w.add(block.set_retry_exponential(1, 5, 2.0, jitter=0.0))
    result = w.run()
    err = result.error
    assert (err.code, err.retry_disposition, err.attempt) == ("alpha.timeout", "backoff", 2)
    assert [e["code"] for e in result.events_of("block.retry_scheduled")] == ["alpha.timeout"]


async def test_client_per_namespace_closed_with_the_run(tmp_path: Path):
    ctx, _logs = make_context(home=tmp_path)
    with pytest.raises(ValueError, match="plugin namespace"):
        sdk_http.client(ctx, " ")
    http = sdk_http.client(ctx, "alpha", timeout=3.0)
    assert http.timeout == httpx.Timeout(3.0)  # an explicit timeout is the caller's choice
    assert sdk_http.client(ctx, "alpha") is http
    other = sdk_http.client(ctx, "beta")
    assert other is not http and other.timeout == httpx.Timeout(None)
    await ctx.services.aclose()
    assert http.is_closed and other.is_closed
