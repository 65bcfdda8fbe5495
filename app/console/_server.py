"""Serving the console with uvicorn: blocking (:func:`serve_console`) or as a coroutine
(:func:`run_console`) that ``serve`` runs next to its scheduler in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from pathlib import Path
from typing import Any

from orchestrator_blocks.sdk import Settings

__all__ = ["bind", "is_loopback", "run_console", "serve_console"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _server(
    settings: Settings, host: str, port: int, workflows_dir: Path | None, **config: Any
) -> Any:
    import uvicorn

    from ._app import create_app

    app = create_app(settings, workflows_dir)
    cfg = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=config.pop("log_level", "warning"),
        access_log=False,
        lifespan="off",
        **config,
    )
    return uvicorn.Server(cfg)


async def run_console(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8765,
    workflows_dir: Path | None = None,
    *,
    started: asyncio.Event | None = None,
) -> None:
    """Serve until cancelled (``task.cancel()``): then the server shuts down cleanly.

    Installs no signal handlers, so the caller's loop keeps its own. ``started`` is set
    once the socket is listening.
    """
    sock = bind(host, port)
    server = _server(settings, host, port, workflows_dir)
    server.capture_signals = contextlib.nullcontext  # the caller's loop owns the signals
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        if started is not None:
            while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn flag)
                await asyncio.sleep(0.02)
            started.set()
        await asyncio.shield(serving)
    except asyncio.CancelledError:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await serving
        raise


def serve_console(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 8765,
    workflows_dir: Path | None = None,
) -> None:
    """Serve the console in the foreground until SIGINT/SIGTERM (uvicorn's handlers)."""
    sock = bind(host, port)
    _server(settings, host, port, workflows_dir).run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; OSError with a one-line reason if it is taken."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
