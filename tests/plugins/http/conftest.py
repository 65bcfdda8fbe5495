"""Real peers for the http family: a scripted upstream server and a port nobody listens on.

``run_one`` runs a single ``http_request`` block the way users do (``new_workflow``, ``add``,
``run``) with a fast test policy: 5 ms exponential backoff without jitter, so retries are
quick and every ``delay_ms`` is exact.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.http_server import ScriptedHTTPServer

import orchestrator_blocks as ob

BASE_MS = 5
RunOne = Callable[..., tuple[Any, Any]]


def _fast(block: Any, *, retries: int = 2, cap_ms: int = 30_000, timeout_ms: int = 5_000) -> Any:
    return block.set_retry_exponential(
        retries, BASE_MS, 2.0, jitter=0.0, cap_ms=cap_ms
    ).set_timeout_ms(timeout_ms)


@pytest.fixture
def fast() -> Callable[..., Any]:
    """``fast(block, retries=2, cap_ms=30_000, timeout_ms=5_000)``: the test policy (small,
    deterministic backoff; a generous per-attempt bound), applied to ``block``."""
    return _fast


@pytest.fixture
def upstream() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A loopback URL whose port refuses connections (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/trials"


@pytest.fixture
def run_one() -> RunOne:
    """``run_one(*args, input=None, retries=2, cap_ms=..., timeout_ms=..., **config)``
    -> ``(result, block)`` for one ``Block.http_request(*args, **config)``."""

    def run(
        *args: Any,
        input: Any = None,
        retries: int = 2,
        cap_ms: int = 30_000,
        timeout_ms: int = 5_000,
        **config: Any,
    ) -> tuple[Any, Any]:
        block = _fast(
            ob.Block.http_request(*args, **config),
            retries=retries,
            cap_ms=cap_ms,
            timeout_ms=timeout_ms,
        )
        w = ob.new_workflow("http_test")
        w.add(block)
        return w.run(input), block

    return run
