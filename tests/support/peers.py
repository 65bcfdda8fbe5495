"""System peers the suite needs but cannot install itself (Debian's ``chromium`` and
``postgresql``): without one, its tests skip with one line saying what to install; with
``ORCHESTRATOR_BLOCKS_REQUIRE_PEERS=1`` (CI sets it, and installs both) they fail instead,
so a run without them never passes as green."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

__all__ = ["REQUIRE_PEERS", "missing", "peer_unavailable"]

REQUIRE_PEERS = "ORCHESTRATOR_BLOCKS_REQUIRE_PEERS"
missing: set[str] = set()
"""What was missing in this session: tests/conftest.py prints one line for each at the end."""


def peer_unavailable(message: str) -> NoReturn:
    """Skip (or, when peers are required, fail) the test that needs a missing peer;
    ``message`` says what is missing and how to install it."""
    if os.environ.get(REQUIRE_PEERS, "").strip().lower() not in ("", "0", "false", "no"):
        pytest.fail(f"{message} ({REQUIRE_PEERS} is set: the peers are required)", pytrace=False)
    missing.add(message)
    pytest.skip(message)
