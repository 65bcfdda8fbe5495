"""The ``orchestrator-blocks`` command line shell (typer + rich).

The kernel owns two verbs, ``run`` and ``plugins``; every other verb (``serve``, ``runs``,
``logs``, ...) is added by a plugin through the ``register_commands`` hook, the
built-in ones included. Commands import heavy dependencies inside the command, so
``--help`` stays fast. User mistakes print one line on stderr and exit non-zero with no
traceback (:func:`main` turns :class:`UserError` and the library's own errors into that).
"""

from __future__ import annotations

import sys

import typer

from orchestrator_blocks.sdk import OrchestratorError
from orchestrator_blocks.sdk.redaction import redact_text, scrub

from ..plugin_host import PluginHost, default_host
from .common import UserError, err_console
from .plugins_cmd import plugins_app
from .run_cmd import run_command

__all__ = ["UserError", "build_cli", "main"]


def build_cli(host: PluginHost | None = None) -> typer.Typer:
    """The root command: the kernel's verbs, then every plugin's ``register_commands``."""
    cli = typer.Typer(
        name="orchestrator-blocks",
        help="Run local-first workflows built from blocks; debug any run from its run_id.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    cli.command("run")(run_command)
    cli.add_typer(plugins_app, name="plugins")
    (host or default_host()).pm.hook.register_commands(cli=cli)
    return cli


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (typer's standalone mode exits with the command's code)."""
    try:
        build_cli()(args=argv, prog_name="orchestrator-blocks")
    except (UserError, OrchestratorError) as exc:
        err_console.print(f"error: {scrub(redact_text(str(exc)))}", markup=False, highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
