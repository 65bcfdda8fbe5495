"""Credentials never reach the logs: not the JSON-lines files under
``$ORCHESTRATOR_BLOCKS_HOME/logs``, not the run's events, not the error envelope. The
upstream here is hostile: it echoes the secrets back in its error bodies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.http_server import Reply

import orchestrator_blocks as ob
from orchestrator_blocks.sdk.redaction import REDACTED, Redactor, redact_url

TOKEN = "tok-9f8e7d6c5b4a3921"
API_KEY = "key-0a1b2c3d4e5f6789"
COOKIE = "sess-77aa88bb99cc"
PASSWORD = "pw-Zq81!xy77"
QUERY_SECRET = "qs-4455667788"
SECRETS = [TOKEN, API_KEY, COOKIE, PASSWORD, QUERY_SECRET]
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "X-API-Key": API_KEY,
    "Cookie": f"theme=dark; session={COOKIE}",
}


def with_credentials(url: str) -> str:
    return url.replace("http://", f"http://alice:{PASSWORD}@") + f"?api_key={QUERY_SECRET}&q=1"


def echo(status: int, *sent: str) -> Reply:
    """A reply whose body repeats the secrets the request carried, as a careless upstream
    might (the block can only mask what it sent)."""
    return Reply(status, {"error": "denied", "you_sent": list(sent)})


def logged_text(home: Path) -> str:
    files = sorted((home / "logs").glob("*.jsonl"))
    assert files, "the run wrote no JSON-lines log file"
    return "\n".join(f.read_text(encoding="utf-8") for f in files)


def assert_no_secret(result, home: Path) -> None:
    logs = logged_text(home)
    assert result.run_id in logs  # the run really was logged there
    events = json.dumps(result.events, default=str)
    envelope = json.dumps(result.error.to_dict(), default=str) if result.error else ""
    for secret in SECRETS:
        assert secret not in logs
        assert secret not in events
        assert secret not in envelope


@pytest.mark.parametrize(
    ("status", "code"), [(401, "http.auth.401"), (500, "http.server_error.5xx")]
)
def test_credentials_never_appear_when_the_server_echoes_them(
    upstream, run_one, isolated_home, status, code
):
    echoed = echo(status, *HEADERS.values(), QUERY_SECRET)
    url = upstream.script("/secure", echoed) + f"?api_key={QUERY_SECRET}&q=1"
    r, _ = run_one(url, headers=HEADERS)
    assert r.error.code == code
    [first, *_] = upstream.requests_to("/secure")
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"  # sent, not dropped
    assert first.headers["X-API-Key"] == API_KEY
    assert_no_secret(r, isolated_home)
    assert f"api_key={REDACTED}" in r.error.message
    assert f"api_key={REDACTED}" in r.error.details["url"]
    assert REDACTED in r.error.details["snippet"]  # the echo is there, masked


def test_url_credentials_never_appear_when_the_server_echoes_them(upstream, run_one, isolated_home):
    echoed = echo(401, f"alice:{PASSWORD}", API_KEY, COOKIE, QUERY_SECRET)
    url = with_credentials(upstream.script("/secure", echoed))
    r, _ = run_one(url, headers={"X-API-Key": API_KEY, "Cookie": HEADERS["Cookie"]})
    assert r.error.code == "http.auth.401"
    [request] = upstream.requests_to("/secure")
    assert request.headers["Authorization"].startswith("Basic ")  # userinfo -> basic auth
    assert_no_secret(r, isolated_home)
    assert f"http://{REDACTED}@127.0.0.1" in r.error.message


def test_url_credentials_are_sent_as_basic_auth_but_never_logged(upstream, run_one, isolated_home):
    url = with_credentials(upstream.script("/basic", Reply(200, "welcome")))
    r, block = run_one(url)
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == "welcome"
    [request] = upstream.requests_to("/basic")
    assert request.headers["Authorization"].startswith("Basic ")
    assert_no_secret(r, isolated_home)
    [response] = r.events_of("http.response")
    assert response["url"].startswith(f"http://{REDACTED}@127.0.0.1:")


def test_credentials_never_appear_when_the_connection_fails(
    closed_port_url, run_one, isolated_home
):
    r, _ = run_one(with_credentials(closed_port_url), headers=HEADERS)
    assert r.error.code == "http.connection"
    assert len(r.events_of("block.retry_scheduled")) == 2
    assert_no_secret(r, isolated_home)


def test_credentials_never_appear_when_the_url_comes_from_the_input(
    upstream, run_one, isolated_home
):
    url = with_credentials(upstream.script("/in", echo(403, PASSWORD, API_KEY)))
    r, _ = run_one(input=url, headers=HEADERS)
    assert r.error.code == "http.forbidden.403"
    assert_no_secret(r, isolated_home)


def test_credentials_never_appear_in_a_bad_input_url(run_one, isolated_home):
    r, _ = run_one(input=f"gopher://alice:{PASSWORD}@127.0.0.1/x")
    assert r.error.code == "http.invalid_request"
    assert_no_secret(r, isolated_home)


def test_credentials_never_appear_in_a_construction_error():
    with pytest.raises(ob.InvalidBlockConfig) as caught:
        ob.Block.http_request(f"ftp://alice:{PASSWORD}@127.0.0.1/x")
    assert PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:p%40ss@h:8/a?b=1#frag", f"http://{REDACTED}@h:8/a?b=1"),
        ("http://token@h/a", f"http://{REDACTED}@h/a"),
        ("https://h/a?token=t&page=2", f"https://h/a?token={REDACTED}&page=2"),
        (
            "https://h/a?X-Amz-Signature=s&accessToken=t",
            f"https://h/a?X-Amz-Signature={REDACTED}&accessToken={REDACTED}",
        ),
        ("https://h/search?keyword=shoes&monkey=1", "https://h/search?keyword=shoes&monkey=1"),
        ("https://h/users/@me", "https://h/users/@me"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redactor_masks_secrets_echoed_in_text():
    redactor = Redactor.for_request(f"http://alice:{PASSWORD}@h/", HEADERS)
    text = f"got Bearer {TOKEN}, {API_KEY}, session={COOKIE}, pw {PASSWORD}, ftp://x:y@h/"
    masked = redactor.text(text)
    for secret in (TOKEN, API_KEY, COOKIE, PASSWORD, "x:y"):
        assert secret not in masked
    assert masked.startswith("got ")  # ordinary words survive
