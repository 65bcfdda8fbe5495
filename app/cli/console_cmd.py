"""``orchestrator-blocks console``: the web console on its own (``serve`` also runs it)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console


def console_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="TCP port.")] = 8765,
    directory: Annotated[
        Path,
        typer.Option("--dir", "-d", help="Directory of workflow files shown under /workflows."),
    ] = Path("workflows"),
    allow_remote: Annotated[
        bool,
        typer.Option(
            "--allow-remote",
            help="Allow a non-loopback --host (anyone who can reach it "
            "and has the token can log in).",
        ),
    ] = False,
) -> None:
    """Serve the web console (approvals, runs, workflows) until Ctrl-C."""
    from orchestrator_blocks.app.console import ensure_token, is_loopback, serve_console
    from orchestrator_blocks.app.console._server import bind
    from orchestrator_blocks.kernel.config import load_settings

    if not is_loopback(host) and not allow_remote:
        raise UserError(
            f"--host {host} is not a loopback address; pass --allow-remote to listen on it"
        )
    settings = load_settings()
    token_file, token, created = ensure_token(settings.home)
    try:
        bind(host, port).close()
    except OSError as exc:
        raise UserError(str(exc)) from None
    shown = f"[{host}]" if ":" in host else host
    console.print(f"console at http://{shown}:{port}/", markup=False)
    if created:
        console.print(f"login token (new): {token}", markup=False)
    console.print(f"the login token is in {token_file} (mode 0600)", markup=False)
    from orchestrator_blocks.app.approvals import configured_approver

    if not configured_approver(settings):
        console.print("no approver configured (ORCHESTRATOR_BLOCKS_APPROVER): decisions are off")
    serve_console(
        settings, host=host, port=port, workflows_dir=directory if directory.is_dir() else None
    )
    console.print("stopped")
