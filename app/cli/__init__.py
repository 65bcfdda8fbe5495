"""The built-in CLI verbs, added to the kernel's shell through ``register_commands``.

Each group lives in its own module and imports heavy dependencies inside the command, so
``orchestrator-blocks --help`` stays fast.
"""

from __future__ import annotations

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.hookspecs import CommandLine


@sdk.hookimpl
def register_commands(cli: CommandLine) -> None:
    from .approvals_cmd import approvals_app
    from .console_cmd import console_command
    from .demo_batch import batch_notify_demo
    from .demo_cmd import demo_app
    from .explain_cmd import explain_command
    from .logs_cmd import logs_command
    from .runs_cmd import runs_app
    from .serve_cmd import serve_command
    from .store_cmd import events_app, kill_app, reflexion_app, verify_app
    from .worker_cmd import worker_command

    _extend_plugins_group()

    cli.command("logs")(logs_command)
    cli.add_typer(runs_app, name="runs")
    cli.add_typer(approvals_app, name="approvals")
    cli.command("serve")(serve_command)
    cli.command("worker")(worker_command)
    cli.command("console")(console_command)
    cli.command("explain")(explain_command)
    if "batch-notify" not in {c.name for c in demo_app.registered_commands}:
        demo_app.command("batch-notify")(batch_notify_demo)
    cli.add_typer(demo_app, name="demo")
    cli.add_typer(kill_app, name="kill")
    cli.add_typer(events_app, name="events")
    cli.add_typer(reflexion_app, name="reflexion")
    cli.add_typer(verify_app, name="verify")


def _extend_plugins_group() -> None:
    """``plugins show`` and ``plugins new`` join the kernel's ``plugins`` group (once)."""
    from orchestrator_blocks.kernel.cli.plugins_cmd import plugins_app

    from .plugins_more import new_plugin, show_plugin

    present = {c.name for c in plugins_app.registered_commands}
    if "show" not in present:
        plugins_app.command("show")(show_plugin)
    if "new" not in present:
        plugins_app.command("new")(new_plugin)
