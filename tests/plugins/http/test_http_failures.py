"""How http_request classifies failures and how many attempts each one gets (contract §6.3,
§7.5), against a real server on loopback. The block runs with 2 retries, as by default."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

import pytest
from support.http_server import Reply

import orchestrator_blocks as ob
from orchestrator_blocks.sdk.http import retry_after_ms

BASE_MS = 5  # the backoff base of the ``run_one`` fixture's test policy


def attempts(result) -> int:
    return len(result.events_of("block.started"))


# status -> (code, disposition, attempts with 2 retries); provider_status is the status.
STATUS_TABLE = [
    (401, "http.auth.401", "never", 1),
    (403, "http.forbidden.403", "never", 1),
    (400, "http.invalid_request", "never", 1),
    (404, "http.invalid_request", "never", 1),
    (422, "http.invalid_request", "never", 1),
    (429, "http.rate_limited.429", "backoff", 3),
    (500, "http.server_error.5xx", "backoff", 3),
    (502, "http.server_error.5xx", "backoff", 3),
    (503, "http.server_error.5xx", "backoff", 3),
    (504, "http.server_error.5xx", "backoff", 3),
]


def test_200_succeeds_on_the_first_attempt_with_the_body_as_text(upstream, run_one):
    url = upstream.script("/ok", Reply(200, "hello", headers={"Content-Type": "text/plain"}))
    r, block = run_one(url)
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == "hello"
    assert isinstance(r.value(block), ob.Text)
    assert attempts(r) == 1
    assert len(upstream.requests_to("/ok")) == 1
    [response] = r.events_of("http.response")
    assert response["status"] == 200 and response["url"] == url


@pytest.mark.parametrize(("status", "code", "disposition", "expected_attempts"), STATUS_TABLE)
def test_status_is_classified(upstream, run_one, status, code, disposition, expected_attempts):
    url = upstream.script("/s", Reply(status, {"error": "scripted"}))
    r, _ = run_one(url)
    assert r.status == ob.RunStatus.FAILED
    err = r.error
    assert (err.origin, err.domain, err.code) == ("block", "http", code)
    assert err.retry_disposition == disposition
    assert err.provider_status == status
    assert err.attempt == expected_attempts
    assert attempts(r) == expected_attempts
    assert len(upstream.requests_to("/s")) == expected_attempts
    assert len(r.events_of("block.retry_scheduled")) == expected_attempts - 1
    assert "scripted" in err.details["snippet"]


def test_success_after_a_503_then_a_200(upstream, run_one):
    url = upstream.script("/flaky", Reply(503, "busy"), Reply(200, "fine"))
    r, block = run_one(url)
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == "fine"
    assert attempts(r) == 2
    [retry] = r.events_of("block.retry_scheduled")
    assert retry["code"] == "http.server_error.5xx"
    assert retry["provider_status"] == 503
    assert retry["delay_ms"] == BASE_MS


def test_a_slow_reply_times_out_and_is_retried(upstream, run_one):
    url = upstream.script("/slow", Reply(200, "late", delay=1.0))
    r, _ = run_one(url, retries=1, timeout_ms=100)
    assert r.status == ob.RunStatus.FAILED
    err = r.error
    assert (err.origin, err.domain, err.code) == ("block", "http", "http.timeout")
    assert err.retry_disposition == "backoff"
    assert attempts(r) == 2
    assert [e["code"] for e in r.events_of("block.retry_scheduled")] == ["http.timeout"]


def test_slow_then_fast_recovers_after_the_timeout(upstream, run_one):
    url = upstream.script("/slow-once", Reply(200, "late", delay=1.0), Reply(200, "quick"))
    r, block = run_one(url, retries=1, timeout_ms=300)
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == "quick"
    assert attempts(r) == 2


def test_connection_refused_is_a_connection_failure_retried_with_backoff(closed_port_url, run_one):
    r, _ = run_one(closed_port_url)
    assert r.status == ob.RunStatus.FAILED
    err = r.error
    assert (err.domain, err.code, err.retry_disposition) == ("http", "http.connection", "backoff")
    assert err.provider_status is None
    assert err.details["exception_type"] == "ConnectError"
    assert attempts(r) == 3
    assert [e["delay_ms"] for e in r.events_of("block.retry_scheduled")] == [BASE_MS, 2 * BASE_MS]


def test_a_connection_dropped_without_an_answer_is_retried(upstream, run_one):
    url = upstream.script("/drop", Reply(close=True), Reply(200, "back"))
    r, block = run_one(url)
    assert r.status == ob.RunStatus.SUCCEEDED
    assert r.output(block) == "back"
    assert [e["code"] for e in r.events_of("block.retry_scheduled")] == ["http.connection"]


def _http_date(delta: timedelta) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + delta, usegmt=True)


# (status, Retry-After, backoff cap ms, expected delay_ms before the retry)
RETRY_AFTER_TABLE = [
    pytest.param(429, "1", 30_000, 1_000, id="429-seconds-honoured"),
    pytest.param(429, "120", 50, 50, id="429-seconds-capped"),
    pytest.param(429, _http_date(timedelta(hours=1)), 50, 50, id="429-http-date-capped"),
    pytest.param(429, _http_date(timedelta(hours=-1)), 30_000, BASE_MS, id="429-date-past"),
    pytest.param(429, "soon", 30_000, BASE_MS, id="429-unreadable"),
    pytest.param(503, "120", 50, 50, id="503-seconds-capped"),
    pytest.param(500, "120", 50, BASE_MS, id="500-ignores-retry-after"),
]


@pytest.mark.parametrize(("status", "header", "cap_ms", "delay_ms"), RETRY_AFTER_TABLE)
def test_retry_after_sets_the_retry_delay_up_to_the_cap(
    upstream, run_one, status, header, cap_ms, delay_ms
):
    url = upstream.script("/limited", Reply(status, "{}", {"Retry-After": header}), Reply(200))
    r, _ = run_one(url, cap_ms=cap_ms)
    assert r.status == ob.RunStatus.SUCCEEDED
    [retry] = r.events_of("block.retry_scheduled")
    assert retry["provider_status"] == status
    assert retry["delay_ms"] == delay_ms
    assert len(upstream.requests_to("/limited")) == 2


NOW = datetime(2026, 11, 23, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0", 0),
        ("2", 2_000),
        (" 30 ", 30_000),
        ("1.5", 1_500),
        ("-3", 0),
        ("Mon, 23 Nov 2026 12:00:10 GMT", 10_000),
        ("Mon, 23 Nov 2026 11:00:00 GMT", 0),
        ("", None),
        (None, None),
        ("tomorrow", None),
        ("nan", None),
    ],
)
def test_retry_after_values(raw, expected):
    assert retry_after_ms(raw, NOW) == expected
