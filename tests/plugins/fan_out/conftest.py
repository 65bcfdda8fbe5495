"""Real parts for the fan-out tests: an aiosmtpd server on loopback and the engine's SQLite
store under the test's ORCHESTRATOR_BLOCKS_HOME (helpers are in ``fanout_parts``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from support.smtp_server import SmtpPeer

from orchestrator_blocks import sdk
from orchestrator_blocks.app.store import Store, open_store

SMTP_URL_ENV = "ORCHESTRATOR_BLOCKS_SMTP_URL"


@pytest.fixture(autouse=True)
def no_smtp_url(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test on the outbox, whatever the machine's environment says."""
    monkeypatch.delenv(SMTP_URL_ENV, raising=False)
    monkeypatch.delenv("ORCHESTRATOR_BLOCKS_SMTP_FROM", raising=False)


@pytest.fixture
def smtp_peer(monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpPeer]:
    """An accepting SMTP server, configured as the transport."""
    with SmtpPeer() as peer:
        monkeypatch.setenv(SMTP_URL_ENV, peer.url)
        yield peer


@pytest.fixture
def store() -> Store:
    """The engine's store for this test's home (the one runs use)."""
    return open_store(sdk.Settings.from_env())
