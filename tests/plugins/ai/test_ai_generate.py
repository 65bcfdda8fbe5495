"""ai_generate against a real OpenAI-compatible server: requests, outputs, configuration."""

from __future__ import annotations

import pytest
from support.openai_server import Fault, OpenAICompatibleServer, echo_of

import orchestrator_blocks as ob
from orchestrator_blocks.kernel.plugin_host import default_host
from orchestrator_blocks.sdk.testing import check_block_type


def test_success_outputs_the_reply_and_sends_model_system_user_and_key(ai, run_one) -> None:
    block = ob.Block.ai_generate("Summarize for a busy reader:", system="Be brief.")
    result = run_one(block, "Trials rose 12% this week.")

    assert result.status is ob.RunStatus.SUCCEEDED, result.error
    expected_user = "Summarize for a busy reader:\n\nTrials rose 12% this week."
    assert result.output(block) == echo_of(expected_user)
    assert result.value(block).kind == "text"
    [request] = ai.completions
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {ai.key}"
    assert request.json() == {
        "model": ai.models[0],
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": expected_user},
        ],
    }


def test_output_is_the_scripted_content_verbatim(ai, run_one) -> None:
    ai.fail_next(1, Fault.completion("Bonjour,\n  le monde {x}"))
    block = ob.Block.ai_generate("Say hello in French.")
    result = run_one(block)
    assert result.ok, result.error
    assert result.output(block) == "Bonjour,\n  le monde {x}"


def test_block_model_overrides_the_configured_model(ai, run_one) -> None:
    other = ai.models[1]
    block = ob.Block.ai_generate("hi", model=other, temperature=0.2, max_tokens=64)
    assert run_one(block).ok
    body = ai.completions[0].json()
    assert (body["model"], body["temperature"], body["max_tokens"]) == (other, 0.2, 64)


def test_without_system_and_input_only_the_prompt_is_sent(ai, run_one) -> None:
    assert run_one(ob.Block.ai_generate("Write a haiku.")).ok
    assert ai.completions[0].json()["messages"] == [{"role": "user", "content": "Write a haiku."}]


@pytest.mark.parametrize(
    ("prompt", "payload", "user"),
    [
        ("Summarize:", "text", "Summarize:\n\ntext"),
        ("Q: {input}\nA ({input}):", "x", "Q: x\nA (x):"),
        (
            "Keep {name}, {0} and {input.__class__}",
            "x",
            "Keep {name}, {0} and {input.__class__}\n\nx",
        ),
        ("A {input} B", "{input} {0}", "A {input} {0} B"),
        ("Explain {input}", None, "Explain "),
        (
            "Summarize:",
            {"trials": 3, "names": ["Ana"]},
            'Summarize:\n\n{\n  "trials": 3,\n  "names": [\n    "Ana"\n  ]\n}',
        ),
        ("", "only the input", "only the input"),
        ("Bytes:", b"caf\xc3\xa9", "Bytes:\n\ncaf\u00e9"),
    ],
    ids=[
        "appended",
        "placeholder",
        "other-braces-literal",
        "no-reexpansion",
        "empty-input",
        "json-input",
        "empty-prompt",
        "utf8-bytes",
    ],
)
def test_how_the_input_reaches_the_user_message(ai, run_one, prompt, payload, user) -> None:
    result = run_one(ob.Block.ai_generate(prompt), payload)
    assert result.ok, result.error
    assert ai.completions[0].json()["messages"] == [{"role": "user", "content": user}]


@pytest.mark.parametrize(
    ("suffix", "path"),
    [
        ("", "/v1/chat/completions"),
        ("/", "/v1/chat/completions"),
        ("/chat/completions", "/v1/chat/completions"),
        ("?api-version=2024-06-01", "/v1/chat/completions?api-version=2024-06-01"),
    ],
)
def test_ai_url_is_the_base_url_with_its_version_prefix(
    ai, run_one, monkeypatch, suffix, path
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_URL", ai.base_url + suffix)
    assert run_one(ob.Block.ai_generate("hi")).ok
    assert [r.path for r in ai.requests] == [path]


def test_no_key_configured_sends_no_authorization(monkeypatch, run_one) -> None:
    with OpenAICompatibleServer() as local:  # e.g. Ollama or llama.cpp without --api-key
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_URL", local.base_url)
        block = ob.Block.ai_generate("hi", model="llama3.2")
        result = run_one(block)
    assert result.output(block) == echo_of("hi")
    assert "Authorization" not in local.completions[0].headers


def test_one_http_client_per_run(ai) -> None:
    def run() -> ob.RunResult:
        w = ob.new_workflow("two_steps")
        first, second = ob.Block.ai_generate("Draft:"), ob.Block.ai_generate("Improve:")
        w.link(first, second)
        return w.run("notes")

    assert run().ok
    assert ai.completions[1].json()["messages"][0]["content"] == "Improve:\n\necho: Draft:\n\nnotes"
    assert ai.peers[0] == ai.peers[1], "both blocks of a run share one client connection"
    assert run().ok
    assert ai.peers[2] != ai.peers[0], "a new run opens its own client"


def test_response_event_carries_model_and_usage_without_content(ai, run_one) -> None:
    result = run_one(ob.Block.ai_generate("Count these words please"))
    [event] = result.events_of("ai.response")
    assert (event["status"], event["model"], event["finish_reason"]) == (200, ai.models[0], "stop")
    assert event["total_tokens"] == event["prompt_tokens"] + event["completion_tokens"] > 0
    assert event["block_id"] and event["run_id"] == result.run_id


# -- the type: defaults (contract §6.3), codes (§7.5), SDK contract -------------------------


def test_defaults_follow_contract_6_3() -> None:
    bt = default_host().get("ai_generate")
    policy, backoff = bt.default_policy, bt.default_policy.backoff
    assert (bt.domain, policy.timeout_ms, policy.retries) == ("ai", 120_000, 2)
    assert (backoff.kind, backoff.base_ms, backoff.factor) == ("exponential", 2_000, 2.0)
    assert (backoff.jitter, backoff.cap_ms) == (0.2, 30_000)
    assert bt.timeout_code == "ai.timeout"
    assert bt.side_effects == () and not bt.is_write({})
    assert ob.Block.ai_generate("x").policy == policy


@pytest.mark.parametrize(
    "code", ["ai.auth", "ai.rate_limited", "ai.timeout", "ai.provider_5xx", "ai.invalid_response"]
)
def test_declares_every_contract_7_5_code(code: str) -> None:
    assert code in default_host().get("ai_generate").codes


def test_passes_the_sdk_block_type_contract() -> None:
    check_block_type(default_host().get("ai_generate"))


def test_plugins_list_shows_the_block(cli) -> None:
    result = cli("plugins", "list")
    assert result.code == 0, result
    assert "ai_generate" in result.out


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ((), {}),
        ((42,), {}),
        (("x",), {"model": ""}),
        (("x",), {"system": 3}),
        (("x",), {"temperature": 2.5}),
        (("x",), {"temperature": True}),
        (("x",), {"max_tokens": 0}),
        (("x",), {"unknown": 1}),
    ],
)
def test_bad_configuration_fails_at_construction(args, kwargs) -> None:
    with pytest.raises(ob.InvalidBlockConfig, match="ai_generate"):
        ob.Block.ai_generate(*args, **kwargs)
