"""Real peers for the ai family: an OpenAI-compatible server on loopback, and its settings."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest
from support.openai_server import OpenAICompatibleServer

import orchestrator_blocks as ob

KEY = "sk-test-4b1d9e0c7a2f5e88"
MODEL = "llama-3.2-1b-instruct"
OTHER_MODEL = "qwen2.5-7b-instruct"

AI_ENV = (
    "ORCHESTRATOR_BLOCKS_AI_URL",
    "ORCHESTRATOR_BLOCKS_AI_KEY",
    "ORCHESTRATOR_BLOCKS_AI_MODEL",
)


@pytest.fixture(autouse=True)
def no_ai_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test without AI settings from the developer's environment."""
    for name in AI_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def ai(monkeypatch: pytest.MonkeyPatch) -> Iterator[OpenAICompatibleServer]:
    """A provider configured as the run's AI: it demands ``KEY`` (``ai.key``) and knows two
    models (``ai.models``), the first of which is ``ORCHESTRATOR_BLOCKS_AI_MODEL``."""
    with OpenAICompatibleServer(key=KEY, models=(MODEL, OTHER_MODEL)) as server:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_URL", server.base_url)
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_KEY", KEY)
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_MODEL", MODEL)
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A loopback base URL whose port refuses connections (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


@pytest.fixture
def fast() -> Callable[..., ob.Block]:
    """Give a block small policies so failure tests stay quick (5 ms then 10 ms backoff)."""

    def apply(block: ob.Block, *, retries: int = 2, timeout_ms: int = 300) -> ob.Block:
        return block.set_retry_exponential(retries, 5, 2.0, jitter=0.0).set_timeout_ms(timeout_ms)

    return apply


@pytest.fixture
def run_one() -> Callable[..., ob.RunResult]:
    """Run one block in a fresh one-block workflow, the way users do."""

    def run(block: ob.Block, payload: object = None) -> ob.RunResult:
        w = ob.new_workflow("ai_test")
        w.add(block)
        return w.run(payload)

    return run
