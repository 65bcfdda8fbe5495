"""The ``orchestrator-blocks`` command line (typer + rich).

Commands live in one module per group and import heavy dependencies inside the command, so
``--help`` stays fast. User mistakes print one line on stderr and exit non-zero with no
traceback (:func:`main` turns :class:`UserError` and the library's own errors into that).
"""

from __future__ import annotations

import sys

import typer

from orchestrator_blocks.sdk import OrchestratorError

from .approvals_cmd import approvals_app
from .common import UserError, err_console
from .console_cmd import console_command
from .demo_batch import batch_notify_demo
from .demo_cmd import demo_app
from .explain_cmd import explain_command
from .logs_cmd import logs_command, runs_app
from .plugins_cmd import plugins_app
from .run_cmd import run_command
from .serve_cmd import serve_command
from .store_cmd import events_app, kill_app, reflexion_app, verify_app

__all__ = ["UserError", "app", "main"]

app = typer.Typer(
    name="orchestrator-blocks",
    help="Run local-first workflows built from blocks; debug any run from its run_id.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(plugins_app, name="plugins")
app.command("run")(run_command)
app.command("logs")(logs_command)
app.add_typer(runs_app, name="runs")
app.add_typer(approvals_app, name="approvals")
app.command("serve")(serve_command)
app.command("console")(console_command)
app.command("explain")(explain_command)
demo_app.command("batch-notify")(batch_notify_demo)
app.add_typer(demo_app, name="demo")
app.add_typer(kill_app, name="kill")
app.add_typer(events_app, name="events")
app.add_typer(reflexion_app, name="reflexion")
app.add_typer(verify_app, name="verify")


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point (typer's standalone mode exits with the command's code)."""
    try:
        app(args=argv, prog_name="orchestrator-blocks")
    except (UserError, OrchestratorError) as exc:
        err_console.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
