"""What http_request sends and outputs: URL sources, bodies, parse modes, configuration."""

from __future__ import annotations

import pytest
from support.http_server import Reply

import orchestrator_blocks as ob


def attempts(result) -> int:
    return len(result.events_of("block.started"))


def test_url_from_a_text_input(upstream, run_one):
    url = upstream.script("/from-input", Reply(200, "via input"))
    r, block = run_one(input=f"  {url}\n")
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == "via input"
    [request] = upstream.requests_to("/from-input")
    assert request.method == "GET"


def test_url_from_a_previous_blocks_text_output(upstream, fast):
    url = upstream.script("/chained", Reply(200, "chained"))
    make_url = ob.Block.custom_transform(lambda _: url)
    fetch = fast(ob.Block.http_request())
    w = ob.new_workflow("chain")
    w.link(make_url, fetch)
    r = w.run()
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(fetch) == "chained"


def test_url_and_body_from_a_json_input(upstream, run_one):
    url = upstream.script("/described", Reply(201, {"id": 7}))
    r, block = run_one(input={"url": url, "body": {"name": "Ada"}}, method="POST", parse="json")
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == {"id": 7}
    [request] = upstream.requests_to("/described")
    assert request.method == "POST"
    assert request.json() == {"name": "Ada"}
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "given",
    [
        pytest.param(None, id="empty-input"),
        pytest.param("   ", id="blank-text"),
        pytest.param({"href": "http://127.0.0.1/"}, id="json-without-url"),
        pytest.param(["http://127.0.0.1/"], id="json-list"),
        pytest.param("ftp://127.0.0.1/file", id="unsupported-scheme"),
        pytest.param("not a url", id="no-scheme"),
        pytest.param("http://127.0.0.1:99999/", id="bad-port"),
        pytest.param("http:///path-only", id="no-host"),
    ],
)
def test_a_missing_or_bad_url_is_an_invalid_request_never_retried(run_one, given):
    r, _ = run_one(input=given)
    assert r.status == ob.RunStatus.FAILED
    assert (r.error.domain, r.error.code) == ("http", "http.invalid_request")
    assert r.error.retry_disposition == "never"
    assert attempts(r) == 1


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        pytest.param({"url": "ftp://example.test/"}, "not an http(s) URL", id="scheme"),
        pytest.param({"url": "http://[::1"}, "not a valid URL", id="unparseable"),
        pytest.param({"url": 42}, "url must be a string", id="url-type"),
        pytest.param({"url": "http://h/", "method": "FETCH"}, "method must be one of", id="method"),
        pytest.param({"url": "http://h/", "parse": "xml"}, "parse must be one of", id="parse"),
        pytest.param({"url": "http://h/", "headers": ["x"]}, "headers must be a dict", id="hdrs"),
        pytest.param({"url": "http://h/", "headers": {"Bad Name": "x"}}, "header name", id="hn"),
        pytest.param({"url": "http://h/", "headers": {"X-N": 1}}, "printable ASCII", id="hv"),
        pytest.param({"url": "http://h/", "body": {"x": {1, 2}}}, "JSON-serialisable", id="body"),
    ],
)
def test_bad_configuration_fails_at_construction_with_the_family_code(config, fragment):
    with pytest.raises(ob.InvalidBlockConfig) as caught:
        ob.Block.http_request(**config)
    assert caught.value.code == "http.invalid_request"
    assert fragment in str(caught.value)


def test_post_sends_a_configured_dict_body_as_json(upstream, run_one):
    url = upstream.script("/orders", Reply(201, {"ok": True}))
    r, block = run_one(url, method="post", body={"sku": "A-1", "qty": [1, 2]})
    assert r.status == ob.RunStatus.SUCCEEDED
    [request] = upstream.requests_to("/orders")
    assert request.method == "POST"
    assert request.json() == {"sku": "A-1", "qty": [1, 2]}
    assert request.headers["Content-Type"] == "application/json"
    assert r.output(block) == '{"ok": true}'


def test_a_str_body_is_sent_as_is_and_a_content_type_header_wins(upstream, run_one):
    url = upstream.script("/raw", Reply(200))
    body = "<note>not JSON</note>"
    r, _ = run_one(url, method="PUT", body=body, headers={"Content-Type": "application/xml"})
    assert r.status == ob.RunStatus.SUCCEEDED
    [request] = upstream.requests_to("/raw")
    assert (request.method, request.body) == ("PUT", body.encode())
    assert request.headers["Content-Type"] == "application/xml"


@pytest.mark.parametrize(
    ("given", "sent", "content_type"),
    [
        pytest.param(
            {"lead": "Ada", "score": 3}, b'{"lead": "Ada", "score": 3}', "application/json"
        ),
        pytest.param("plain words", b"plain words", "text/plain; charset=utf-8"),
        pytest.param(b"\x00\x01", b"\x00\x01", "application/octet-stream"),
    ],
)
def test_post_without_body_sends_the_input(upstream, run_one, given, sent, content_type):
    url = upstream.script("/ingest", Reply(202))
    r, _ = run_one(url, input=given, method="PATCH")
    assert r.status == ob.RunStatus.SUCCEEDED
    [request] = upstream.requests_to("/ingest")
    assert (request.method, request.body) == ("PATCH", sent)
    assert request.headers["Content-Type"] == content_type


def test_get_never_sends_the_input_as_a_body(upstream, run_one):
    url = upstream.script("/read", Reply(200, "r"))
    r, _ = run_one(url, input={"ignored": True})
    assert r.status == ob.RunStatus.SUCCEEDED
    [request] = upstream.requests_to("/read")
    assert request.body == b""
    assert "Content-Type" not in request.headers


def test_configured_headers_are_sent(upstream, run_one):
    url = upstream.script("/h", Reply(200))
    run_one(url, headers={"X-Tenant": "acme", "Accept": "text/csv"})
    [request] = upstream.requests_to("/h")
    assert request.headers["X-Tenant"] == "acme"
    assert request.headers["Accept"] == "text/csv"


def test_parse_json_outputs_json(upstream, run_one):
    url = upstream.script("/trials", Reply(200, [{"email": "a@x.test"}, {"email": "b@x.test"}]))
    r, block = run_one(url, parse="json")
    assert r.status == ob.RunStatus.SUCCEEDED
    assert isinstance(r.value(block), ob.Json)
    assert r.output(block) == [{"email": "a@x.test"}, {"email": "b@x.test"}]


@pytest.mark.parametrize("body", ["<html>oops</html>", ""])
def test_parse_json_with_a_body_that_is_not_json_is_an_invalid_response(upstream, run_one, body):
    url = upstream.script("/html", Reply(200, body, headers={"Content-Type": "text/html"}))
    r, _ = run_one(url, parse="json")
    assert r.status == ob.RunStatus.FAILED
    assert (r.error.domain, r.error.code) == ("http", "http.invalid_response")
    assert r.error.retry_disposition == "never"
    assert r.error.provider_status == 200
    assert attempts(r) == 1
    assert r.error.details["snippet"] == body


@pytest.mark.parametrize(
    ("method", "status"), [pytest.param("HEAD", 200, id="head"), pytest.param("DELETE", 204)]
)
def test_parse_json_without_content_outputs_nothing(upstream, run_one, method, status):
    url = upstream.script("/gone", Reply(status, ""))
    r, block = run_one(url, method=method, parse="json")
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) is None
    assert [q.method for q in upstream.requests_to("/gone")] == [method]


def test_parse_bytes_outputs_the_raw_body(upstream, run_one):
    url = upstream.script("/blob", Reply(200, b"\x89PNG\x00\xff"))
    r, block = run_one(url, parse="bytes")
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == b"\x89PNG\x00\xff"


def test_redirects_are_followed(upstream, run_one):
    target = upstream.script("/new", Reply(200, "moved here"))
    url = upstream.script("/old", Reply(301, "", headers={"Location": target}))
    r, block = run_one(url)
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == "moved here"


def test_blocks_of_one_run_share_one_client_and_its_connection(upstream, fast):
    first = upstream.script("/one", Reply(200, "1"))
    second = upstream.script("/two", Reply(200, "2"))
    a = fast(ob.Block.http_request(first))
    b = fast(ob.Block.http_request(second))
    w = ob.new_workflow("shared")
    w.link(a, b)
    r = w.run()
    assert r.status == ob.RunStatus.SUCCEEDED
    [one], [two] = upstream.requests_to("/one"), upstream.requests_to("/two")
    assert one.client == two.client  # keep-alive: the second block reused the connection


def test_the_harness_runs_the_block_type_directly(upstream, block_harness):
    from orchestrator_blocks.plugins.http import http_request

    url = upstream.script("/direct", Reply(200, {"n": 1}))
    outcome = block_harness.run(http_request, config={"url": url, "parse": "json"})
    assert outcome.ok and outcome.attempts == 1
    assert outcome.value.payload == {"n": 1}
    [logged] = block_harness.logs.named("http.response")
    assert (logged["method"], logged["status"], logged["url"]) == ("GET", 200, url)
