"""Real peers for the email family: an aiosmtpd server on loopback, a port nobody listens on,
and a runner that sends through a one-block workflow the way users do."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.smtp_server import SmtpPeer

import orchestrator_blocks as ob

SMTP_URL_ENV = "ORCHESTRATOR_BLOCKS_SMTP_URL"
RETRIES = 2  # the test policy's retries: 3 attempts at most
BASE_MS = 2  # the test policy's backoff base


@pytest.fixture(autouse=True)
def no_smtp_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test on the embedded default (the outbox), whatever the machine says."""
    monkeypatch.delenv(SMTP_URL_ENV, raising=False)
    monkeypatch.delenv("ORCHESTRATOR_BLOCKS_SMTP_FROM", raising=False)


@pytest.fixture
def use_smtp(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """``use_smtp(url)`` points ORCHESTRATOR_BLOCKS_SMTP_URL at ``url`` for this test."""
    return lambda url: monkeypatch.setenv(SMTP_URL_ENV, url)


@pytest.fixture
def smtp_peer(use_smtp: Callable[[str], None]) -> Iterator[SmtpPeer]:
    """An accepting SMTP server, already configured as the transport."""
    with SmtpPeer() as peer:
        use_smtp(peer.url)
        yield peer


@pytest.fixture
def closed_port() -> int:
    """A loopback port that refuses connections (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SendFn = Callable[..., tuple[Any, Any]]


@pytest.fixture
def send() -> SendFn:
    """``send(input, *args, timeout_ms=..., **config)`` -> ``(RunResult, block)``.

    Runs one ``send_email`` block in a workflow with a fast test policy (2 retries,
    2 ms exponential backoff without jitter, 5 s per attempt unless ``timeout_ms``).
    """

    def run(
        input: Any = "Hello", *args: Any, timeout_ms: int = 5_000, **config: Any
    ) -> tuple[Any, Any]:
        if not args and "to" not in config:
            args = ("ann@example.org",)
        block = (
            ob.Block.send_email(*args, **config)
            .set_retry_exponential(RETRIES, BASE_MS, 2.0, jitter=0.0)
            .set_timeout_ms(timeout_ms)
        )
        w = ob.new_workflow("email_test")
        w.add(block)
        return w.run(input), block

    return run
