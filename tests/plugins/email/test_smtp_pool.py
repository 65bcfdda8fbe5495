"""SMTP sessions are pooled per run: the items of a fan-out share a few open sessions
(bounded by the fan-out's concurrency and ``ORCHESTRATOR_BLOCKS_SMTP_POOL_SIZE``), and a
session the server dropped while idle is replaced without failing the next message."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

import orchestrator_blocks as ob


class _Counting:
    """An accepting aiosmtpd server that counts connections and keeps every message."""

    def __init__(self, idle_timeout: float = 300.0) -> None:
        self.opened = 0
        self.closed = 0
        self.live = 0
        self.most_live = 0
        self.messages: list[str] = []
        self.lock = threading.Lock()
        self.idle_timeout = idle_timeout

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Counting]:
    counts = _Counting(getattr(request, "param", 300.0))

    class _Server(SMTP):
        def connection_made(self, transport: Any) -> None:
            with counts.lock:
                counts.opened += 1
                counts.live += 1
                counts.most_live = max(counts.most_live, counts.live)
            super().connection_made(transport)

        def connection_lost(self, exc: Exception | None) -> None:
            with counts.lock:
                counts.closed += 1
                counts.live -= 1
            super().connection_lost(exc)

    class _Controller(Controller):
        def factory(self) -> SMTP:
            return _Server(self.handler, timeout=counts.idle_timeout)

    port = _free_port()
    controller = _Controller(counts, hostname="127.0.0.1", port=port)
    controller.start()
    _wait_until(lambda: counts.live == 0)  # the controller's own check that it is up
    with counts.lock:
        counts.opened = counts.closed = counts.most_live = 0
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", f"smtp://127.0.0.1:{port}")
    try:
        yield counts
    finally:
        controller.stop()


def _per_item() -> ob.Workflow:
    w = ob.new_workflow("per_recipient")
    w.link(
        ob.Block.custom_transform(
            lambda item: {"to": item["email"], "subject": "Hi", "text": f"Hello {item['id']}"}
        ),
        ob.Block.send_email().set_retry(0),
    )
    return w


def _fan_out(n: int, concurrency: int) -> ob.RunResult:
    w = ob.new_workflow("batch")
    block = ob.Block.for_each(_per_item(), concurrency=concurrency, progress=False)
    w.add(block)
    result = w.run([{"id": i, "email": f"c{i}@example.org"} for i in range(n)])
    assert result.status is ob.RunStatus.SUCCEEDED, result.error
    assert result.output(block)["sent"] == n
    return result


def _wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met before the deadline"
        time.sleep(0.02)


def test_a_fan_out_shares_at_most_concurrency_sessions(server: _Counting) -> None:
    _fan_out(30, concurrency=4)

    assert len(server.messages) == 30
    assert 1 <= server.opened <= 4
    assert server.most_live <= 4
    # The run closed its sessions when it ended (QUIT, then the server lets go).
    _wait_until(lambda: server.live == 0)


def test_the_pool_size_setting_bounds_sessions_below_the_concurrency(
    server: _Counting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_POOL_SIZE", "1")

    _fan_out(10, concurrency=4)

    assert len(server.messages) == 10
    assert server.opened == 1


@pytest.mark.parametrize("server", [0.3], indirect=True)
def test_a_session_the_server_dropped_while_idle_is_replaced(server: _Counting) -> None:
    def wait_for_the_server_to_drop_it(value: Any) -> Any:
        _wait_until(lambda: server.closed >= 1)
        return value

    w = ob.new_workflow("two_sends")
    first = ob.Block.send_email("a@example.org", subject="one").set_retry(0)
    second = ob.Block.send_email("b@example.org", subject="two").set_retry(0)
    wait = ob.Block.custom_transform(wait_for_the_server_to_drop_it)
    w.link(first, wait)
    w.link(wait, second)

    result = w.run("hello")

    assert result.status is ob.RunStatus.SUCCEEDED, result.error
    assert len(server.messages) == 2
    assert server.opened == 2  # the dropped session was replaced, nothing failed


def test_an_invalid_pool_size_is_a_permanent_failure(
    server: _Counting, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_POOL_SIZE", "zero")
    w = ob.new_workflow("one_send")
    w.add(ob.Block.send_email("a@example.org", subject="one").set_retry(0))

    result = w.run("hello")

    assert result.status is ob.RunStatus.FAILED
    assert result.error is not None and result.error.code == "email.smtp.permanent"
    assert "SMTP_POOL_SIZE" in result.error.message
    assert server.messages == []
