"""ai_generate failures: each code with its retry disposition, attempts, Retry-After, secrets.

The table mirrors the codes table of ``plugins/ai/codes.py`` (contract §7.5 plus the
family's own codes); every case runs against the real local provider.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from support.openai_server import Fault, echo_of

import orchestrator_blocks as ob
from orchestrator_blocks.sdk.http import retry_after_ms

# (fault scripted for every attempt, code, disposition, provider_status, attempts with retries=2)
FAILURES = [
    pytest.param(Fault.unauthorized(), "ai.auth", "never", 401, 1, id="401"),
    pytest.param(Fault.forbidden(), "ai.auth", "never", 403, 1, id="403"),
    pytest.param(Fault.rate_limited(), "ai.rate_limited", "backoff", 429, 3, id="429"),
    pytest.param(Fault.server_error(500), "ai.provider_5xx", "backoff", 500, 3, id="500"),
    pytest.param(Fault.server_error(502), "ai.provider_5xx", "backoff", 502, 3, id="502"),
    pytest.param(Fault.server_error(503), "ai.provider_5xx", "backoff", 503, 3, id="503"),
    pytest.param(Fault.slow(1.5), "ai.timeout", "backoff", None, 3, id="slow"),
    pytest.param(Fault.malformed(), "ai.invalid_response", "never", 200, 1, id="not-json"),
    pytest.param(Fault.missing_choices(), "ai.invalid_response", "never", 200, 1, id="no-choices"),
    pytest.param(Fault.empty_choices(), "ai.invalid_response", "never", 200, 1, id="[]-choices"),
    pytest.param(Fault.completion(None), "ai.invalid_response", "never", 200, 1, id="no-content"),
    pytest.param(Fault.bad_request(), "ai.invalid_request", "never", 400, 1, id="400"),
    pytest.param(Fault.drop(), "ai.unreachable", "backoff", None, 3, id="dropped"),
]


@pytest.mark.parametrize(("fault", "code", "disposition", "status", "attempts"), FAILURES)
def test_failure_codes_dispositions_and_attempts(
    ai, run_one, fast, fault, code, disposition, status, attempts
) -> None:
    ai.fail_next(3, fault)
    result = run_one(fast(ob.Block.ai_generate("hi")))

    assert result.status is ob.RunStatus.FAILED
    error = result.error
    assert (error.origin, error.domain, error.code) == ("block", "ai", code)
    assert error.retry_disposition == disposition
    assert error.provider_status == status
    assert error.attempt == attempts
    assert len(result.events_of("block.started")) == attempts
    assert len(result.events_of("block.retry_scheduled")) == attempts - 1
    assert len(ai.completions) == attempts


def test_unknown_model_is_an_invalid_request_from_the_provider(ai, run_one, fast) -> None:
    result = run_one(fast(ob.Block.ai_generate("hi", model="no-such-model")))
    assert (result.error.code, result.error.provider_status) == ("ai.invalid_request", 404)
    assert "no-such-model" in result.error.message
    assert result.error.attempt == 1


def test_wrong_key_is_ai_auth_and_not_retried(ai, run_one, fast, monkeypatch) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_KEY", "sk-wrong-key-0000")
    result = run_one(fast(ob.Block.ai_generate("hi")))
    assert (result.error.code, result.error.provider_status) == ("ai.auth", 401)
    assert len(result.events_of("block.started")) == 1


def test_refused_connection_is_unreachable_and_retried(run_one, fast, monkeypatch, closed_port_url):
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_URL", closed_port_url)
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_MODEL", "m")
    result = run_one(fast(ob.Block.ai_generate("hi")))
    assert (result.error.code, result.error.retry_disposition) == ("ai.unreachable", "backoff")
    assert len(result.events_of("block.started")) == 3


@pytest.mark.parametrize(
    "fault", [Fault.rate_limited(), Fault.server_error(503), Fault.slow(1.5), Fault.drop()]
)
def test_transient_failures_recover_within_the_retries(ai, run_one, fast, fault) -> None:
    ai.fail_next(2, fault)
    block = fast(ob.Block.ai_generate("hi"))
    result = run_one(block)
    assert result.ok, result.error
    assert result.output(block) == echo_of("hi")
    assert len(result.events_of("block.started")) == 3


def test_retries_stop_at_the_block_policy(ai, run_one, fast) -> None:
    ai.fail_next(5, Fault.server_error(500))
    result = run_one(fast(ob.Block.ai_generate("hi"), retries=4))
    assert result.error.attempt == 5
    assert len(ai.completions) == 5


# -- Retry-After --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "delay_ms"),
    [
        (Fault.rate_limited(retry_after="1"), 1_000),
        (Fault(503, headers={"Retry-After": "1"}), 1_000),
        (Fault.rate_limited(), 5),  # no header: the policy's own 5 ms
        (Fault(500, headers={"Retry-After": "1"}), 5),  # Retry-After means nothing on a 500
    ],
    ids=["429", "503", "429-without-header", "500-ignored"],
)
def test_retry_after_raises_the_backoff_delay(ai, run_one, fast, fault, delay_ms) -> None:
    ai.fail_next(1, fault)
    result = run_one(fast(ob.Block.ai_generate("hi"), retries=1))
    assert result.ok, result.error
    [scheduled] = result.events_of("block.retry_scheduled")
    assert scheduled["delay_ms"] == delay_ms


def test_retry_after_is_capped_by_the_policy(ai, run_one) -> None:
    ai.fail_next(1, Fault.rate_limited(retry_after="3600"))
    block = ob.Block.ai_generate("hi").set_retry_exponential(1, 5, 2.0, jitter=0.0, cap_ms=50)
    result = run_one(block)
    assert result.ok, result.error
    assert result.events_of("block.retry_scheduled")[0]["delay_ms"] == 50


NOW = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "ms"),
    [
        ("2", 2_000),
        (" 0.25 ", 250),
        ("0", 0),
        ("Wed, 01 Jan 2025 12:00:30 GMT", 30_000),
        ("Wed, 01 Jan 2025 11:00:00 GMT", 0),  # a date in the past: retry now
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_header_forms(header, ms) -> None:
    assert retry_after_ms(header, NOW) == ms


# -- configuration errors are clear and never retried --------------------------------------


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"ORCHESTRATOR_BLOCKS_AI_URL": None}, "ORCHESTRATOR_BLOCKS_AI_URL"),
        ({"ORCHESTRATOR_BLOCKS_AI_URL": "  "}, "ORCHESTRATOR_BLOCKS_AI_URL"),
        ({"ORCHESTRATOR_BLOCKS_AI_URL": "ftp://127.0.0.1/v1"}, "http(s) URL"),
        ({"ORCHESTRATOR_BLOCKS_AI_URL": "127.0.0.1:8080/v1"}, "http(s) URL"),
        ({"ORCHESTRATOR_BLOCKS_AI_MODEL": None}, "ORCHESTRATOR_BLOCKS_AI_MODEL"),
        ({"ORCHESTRATOR_BLOCKS_AI_KEY": "sk-has space"}, "ORCHESTRATOR_BLOCKS_AI_KEY"),
    ],
    ids=["no-url", "blank-url", "ftp-url", "no-scheme", "no-model", "bad-key"],
)
def test_missing_or_unusable_configuration(ai, run_one, monkeypatch, env, needle) -> None:
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name)
        else:
            monkeypatch.setenv(name, value)
    result = run_one(ob.Block.ai_generate("hi"))
    assert result.status is ob.RunStatus.FAILED
    assert (result.error.domain, result.error.code) == ("ai", "ai.not_configured")
    assert result.error.retry_disposition == "never"
    assert needle in result.error.message
    assert len(result.events_of("block.started")) == 1
    assert ai.requests == []


@pytest.mark.parametrize(
    ("prompt", "payload"), [("hi", b"\xff\xfe binary"), ("", None), (" {input} ", "  ")]
)
def test_unusable_input_is_an_invalid_request(ai, run_one, prompt, payload) -> None:
    result = run_one(ob.Block.ai_generate(prompt), payload)
    assert (result.error.code, result.error.retry_disposition) == ("ai.invalid_request", "never")
    assert ai.requests == []


# -- the key never leaves the Authorization header ------------------------------------------


def _log_text(home) -> str:
    files = sorted((home / "logs").rglob("*"))
    assert any(f.is_file() for f in files), "the run wrote no log files"
    return "".join(f.read_text(encoding="utf-8") for f in files if f.is_file())


def test_api_key_never_appears_in_logs_events_or_errors(
    ai, run_one, fast, isolated_home, monkeypatch
) -> None:
    key = ai.key
    ok = run_one(ob.Block.ai_generate("hi"))
    # Scripted answers ignore credentials, so the URL may carry some of its own from here on.
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_URL", ai.base_url.replace("://", "://ops:pw-9731@"))
    ai.fail_next(1, Fault.unauthorized(f"Incorrect API key provided: {key}. Check pw-9731."))
    echoed = run_one(fast(ob.Block.ai_generate("hi")))
    ai.fail_next(3, Fault(500, {"error": {"message": f"boom for Bearer {key}"}}))
    failed = run_one(fast(ob.Block.ai_generate("hi")))
    ai.fail_next(1, Fault(200, f'{{"choices": "{key}"}}'))
    invalid = run_one(fast(ob.Block.ai_generate("hi")))

    assert ok.ok and ai.completions[0].headers["Authorization"] == f"Bearer {key}"
    assert [r.error.code for r in (echoed, failed, invalid)] == [
        "ai.auth",
        "ai.provider_5xx",
        "ai.invalid_response",
    ]
    assert "Incorrect API key provided: **********" in echoed.error.message
    logs = _log_text(isolated_home)
    assert "ai.response" in logs and "ai.auth" in logs
    for result in (ok, echoed, failed, invalid):
        events = json.dumps(result.events, default=str)
        envelope = json.dumps(result.error.to_dict() if result.error else {}, default=str)
        for text in (events, envelope):
            assert key not in text
            assert "pw-9731" not in text
    assert key not in logs
    assert "pw-9731" not in logs
