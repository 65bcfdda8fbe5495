"""The ``orchestrator-blocks`` command line shell (typer, click's help; rich output).

The kernel owns two verbs, ``run`` and ``plugins``; every other verb (``serve``, ``runs``,
``logs``, ...) is added by a plugin through the ``register_commands`` hook, the built-in
ones included. ``--help`` stays fast: commands import heavy dependencies inside the command,
and only the verb that runs is made a click command (``sdk._cli``). :func:`main` prints a
user mistake, a usage error included, as one line on stderr: exit 2 (or its own code).
"""

from __future__ import annotations

import contextlib
import sys

import typer

from orchestrator_blocks.sdk import OrchestratorError
from orchestrator_blocks.sdk._cli import lazy_group

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
        rich_markup_mode=None,  # click's help: rich's help is slower to import than the rest
    )
    cli.command("run")(run_command)
    cli.add_typer(plugins_app, name="plugins")
    (host or default_host()).pm.hook.register_commands(cli=cli)
    return cli


_UsageError: type[Exception] = typer.BadParameter.__base__  # type: ignore[assignment] # click's


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: the command's exit code, or one line for a mistake."""
    try:
        code = lazy_group(build_cli())(argv, "orchestrator-blocks", standalone_mode=False)
    except (UserError, OrchestratorError, _UsageError) as exc:
        from orchestrator_blocks.sdk.redaction import redact_text, scrub  # (not for --help)

        text = getattr(exc, "format_message", exc.__str__)()  # click's adds the option's name
        if type(exc).__name__ == "NoArgsIsHelpError":  # the text is a group's help: exit 2
            with contextlib.suppress(BrokenPipeError):  # (`| head` has read enough)
                print(text, flush=True)
            sys.exit(2)
        if ctx := getattr(exc, "ctx", None):
            text += f" (see `{ctx.command_path} --help`)"
        err_console.print(f"error: {scrub(redact_text(text))}", markup=False, highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except (KeyboardInterrupt, typer.Abort):
        err_console.print("interrupted")
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)
