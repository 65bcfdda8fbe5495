"""Fixtures of the console tests: a real uvicorn server on 127.0.0.1 over the test's home,
and an httpx client for it."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from console_support import APPROVER, REPO, WORKFLOW_PY, Console

from orchestrator_blocks.app.console import create_app
from orchestrator_blocks.app.store import open_store
from orchestrator_blocks.kernel.config import load_settings
from orchestrator_blocks.sdk import Settings


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    return sock


def pytest_configure(config: pytest.Config) -> None:
    # until pyproject registers it (harmless afterwards)
    config.addinivalue_line("markers", "browser: drives /usr/bin/chromium with Playwright")


@pytest.fixture
def console_settings(monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", APPROVER)
    return load_settings()


@pytest.fixture
def workflows_dir(tmp_path: Path) -> Path:
    d = tmp_path / "workflows"
    d.mkdir()
    (d / "nightly_digest.py").write_text(WORKFLOW_PY)
    shutil.copy(REPO / "examples" / "batch_notify_preview.yaml", d)
    return d


@pytest.fixture
def console(console_settings: Settings, workflows_dir: Path) -> Iterator[Console]:
    """The console served by uvicorn in a thread on a free 127.0.0.1 port."""
    import uvicorn

    app = create_app(console_settings, workflows_dir)
    sock = _free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "console did not start"
        time.sleep(0.01)
    yield Console(f"http://127.0.0.1:{port}", console_settings, open_store(console_settings), app)
    server.should_exit = True
    thread.join(10)
    sock.close()


@pytest.fixture
def client(console: Console) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=console.url, follow_redirects=False, timeout=10) as c:
        yield c
