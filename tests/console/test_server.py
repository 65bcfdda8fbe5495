"""Serving: ``run_console`` in an asyncio loop with clean cancellation; the CLI command's
loopback rule."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
import typer
from typer.testing import CliRunner

from orchestrator_blocks.app.cli.console_cmd import console_command
from orchestrator_blocks.app.console import is_loopback, run_console
from orchestrator_blocks.kernel.cli.common import UserError
from orchestrator_blocks.sdk import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_run_console_serves_until_cancelled() -> None:
    port = _free_port()
    started = asyncio.Event()
    task = asyncio.create_task(run_console(Settings.from_env(), port=port, started=started))
    await asyncio.wait_for(started.wait(), 10)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        assert (await client.get("/login")).status_code == 200
        assert (await client.get("/api/runs")).status_code == 401
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(httpx.ConnectError):
        async with httpx.AsyncClient() as client:
            await client.get(f"http://127.0.0.1:{port}/login")


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("localhost", True),
        ("::1", True),
        ("0.0.0.0", False),
        ("192.168.1.5", False),
        ("example.org", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_console_command_refuses_remote_host_without_flag() -> None:
    app = typer.Typer()
    app.command()(console_command)
    result = CliRunner().invoke(app, ["--host", "0.0.0.0", "--port", "0"])
    assert isinstance(result.exception, UserError)
    assert result.exception.exit_code == 2
    assert "--allow-remote" in str(result.exception)
