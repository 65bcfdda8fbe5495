"""The web console: approvals, runs and workflows in a browser, over the CLI's store and logs.

:func:`create_app` builds the ASGI app (FastAPI, server-rendered Jinja2 pages, a JSON API
under ``/api/`` described at ``/api/openapi.json``); :func:`serve_console` serves it in the
foreground and :func:`run_console` as a coroutine for ``serve``'s asyncio loop. Access needs
the token kept in ``$ORCHESTRATOR_BLOCKS_HOME/console-token`` (see :func:`ensure_token`).
"""

from __future__ import annotations

from ._app import create_app
from ._auth import ensure_token, token_path
from ._server import is_loopback, run_console, serve_console

__all__ = [
    "create_app",
    "ensure_token",
    "is_loopback",
    "run_console",
    "serve_console",
    "token_path",
]
