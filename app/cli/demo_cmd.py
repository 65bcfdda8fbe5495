"""``orchestrator-blocks demo``: the main job on embedded defaults, with nothing to set up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from orchestrator_blocks.kernel.cli.common import UserError, console, err_console

demo_app = typer.Typer(
    help="Run the example workflows on embedded defaults (no configuration needed).",
    invoke_without_command=True,
)

MODES = ("ok", "malformed", "down")
_DEMO_ENV = (
    "ORCHESTRATOR_BLOCKS_TRIALS_URL",
    "ORCHESTRATOR_BLOCKS_SMTP_URL",
    "ORCHESTRATOR_BLOCKS_FILES_ROOT",
)


def example_path(name: str) -> Path:
    """The packaged example file ``name`` (shipped as ``orchestrator_blocks.examples``)."""
    from importlib.resources import files

    path = Path(str(files("orchestrator_blocks.examples").joinpath(name)))
    if not path.is_file():
        raise UserError(f"the example {name} is missing from this installation; reinstall")
    return path


@demo_app.callback()
def demo(
    ctx: typer.Context,
    upstream: Annotated[
        str,
        typer.Option(
            "--upstream",
            help="How the in-process upstream answers: ok, malformed (not JSON) or down (503).",
        ),
    ] = "ok",
) -> None:
    """Run trial_activation_nudge once: an in-process upstream on 127.0.0.1 serves sample
    non-activated trials, the nudge goes to the local outbox, and the run summary says where
    everything is."""
    if ctx.invoked_subcommand is not None:
        return
    if upstream not in MODES:
        raise UserError(f"--upstream {upstream!r}: expected one of {', '.join(MODES)}")
    raise typer.Exit(run_trial_demo(upstream))


def run_trial_demo(mode: str) -> int:
    from orchestrator_blocks.examples.demo_upstream import serve_trials
    from orchestrator_blocks.kernel.cli.run_cmd import print_run_summary
    from orchestrator_blocks.kernel.loader import WorkflowLoadError, load_workflow

    # The settings below hold for this demo run only: restored afterwards, so an in-process
    # caller (tests, a REPL) is not left pointing at an upstream that no longer exists.
    saved = {var: os.environ.get(var) for var in _DEMO_ENV}
    try:
        home = _prepare_env()
        with serve_trials(mode) as up:
            os.environ["ORCHESTRATOR_BLOCKS_TRIALS_URL"] = up.url
            console.print(f"upstream: {up.url} ({mode}), serving sample non-activated trials")
            try:
                workflow = load_workflow(example_path("trial_activation_nudge.py"))
            except WorkflowLoadError as exc:
                raise UserError(str(exc)) from None
            result = workflow.run()
        files_root = Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"])
    finally:
        for var, value in saved.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
    print_run_summary(result)
    sent = result.output("send_nudge") if result.ran("send_nudge") else None
    if isinstance(sent, dict) and sent.get("path"):
        console.print(f"nudge email: {sent['path']}", markup=False)
    error_log = files_root / "errors" / "trial_activation_nudge.jsonl"
    if not result.ok:
        console.print(f"error log: {error_log}", markup=False)
    console.print(f"home: {home} (state.db, logs/, outbox/)", markup=False)
    return 0 if result.ok else 1


def _prepare_env() -> Path:
    from orchestrator_blocks.kernel.config import load_settings

    settings = load_settings()
    if os.environ.pop("ORCHESTRATOR_BLOCKS_SMTP_URL", None):
        err_console.print(
            "note: the demo ignores ORCHESTRATOR_BLOCKS_SMTP_URL; mail goes to outbox/"
        )
    os.environ.setdefault("ORCHESTRATOR_BLOCKS_FILES_ROOT", str(settings.home / "files"))
    Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"]).mkdir(parents=True, exist_ok=True)
    return settings.home


DEMO_CUSTOMERS = [
    ("C-1001", "Northwind Bakery", "ana@northwind.example", "F", "trial", "UK"),
    ("C-1002", "Blue Harbor Dental", "sam@blueharbor.example", "F", "trial", "FR"),
    ("C-1003", "Kite & Key Studio", "lee@kitekey.example", "F", "trial", "UK"),
    ("C-1004", "Juniper Books", "kim@juniper.example", "F", "pro", "UK"),
    ("C-1005", "Orchard Lane Vets", "max@orchardlane.example", "F", "pro", "DE"),
    ("C-1006", "Tidewater Tools", "ola@tidewater.example", "T", "trial", "UK"),
    ("C-1007", "Granite <b>Gym</b>", "pat@granite.example", "F", "trial", "DE"),
    ("C-1008", "Copper Kettle Cafe", None, "F", "trial", "UK"),
]


@demo_app.command("seed-customers")
def seed_customers() -> None:
    """Create a demo `customers` table in the local store (idempotent): the data the example
    contracts query. One customer is inactive, one has no email, one has markup in its name."""
    from sqlalchemy import text

    from orchestrator_blocks.app.store import open_store
    from orchestrator_blocks.kernel.config import load_settings

    store = open_store(load_settings())

    def write(conn):  # type: ignore[no-untyped-def]
        conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS customers (id VARCHAR(32) PRIMARY KEY, "
                "companyname VARCHAR(200) NOT NULL, email VARCHAR(320), "
                "isinactive CHAR(1) NOT NULL DEFAULT 'F', plan VARCHAR(32), country VARCHAR(2))"
            )
        )
        existing = set(conn.execute(text("SELECT id FROM customers")).scalars())
        rows = [
            dict(
                zip(("id", "companyname", "email", "isinactive", "plan", "country"), r, strict=True)
            )
            for r in DEMO_CUSTOMERS
            if r[0] not in existing
        ]
        if rows:
            conn.execute(
                text(
                    "INSERT INTO customers (id, companyname, email, isinactive, plan, country) "
                    "VALUES (:id, :companyname, :email, :isinactive, :plan, :country)"
                ),
                rows,
            )
        return len(rows)

    added = store.engine.write(write, what="seed demo customers")
    console.print(f"customers: {added} added, {len(DEMO_CUSTOMERS) - added} already there")
