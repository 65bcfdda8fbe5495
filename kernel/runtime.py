"""Running a workflow: the entry point of every root run and of child runs.

:func:`run_workflow` plans the workflow, opens the run store and the services plugins
provide (``provide_run_store``, ``provide_services``), and hands the plan to a
:class:`~orchestrator_blocks.kernel.run.Run`; child workflows (``child_workflow``,
``for_each`` items) run through :func:`_run_child` with their root's services.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from orchestrator_blocks.sdk import (
    Empty,
    RunContext,
    Settings,
    StateStoreError,
    Value,
    as_value,
)
from orchestrator_blocks.sdk.durable import RunMode, RunRecord, RunRefused
from orchestrator_blocks.sdk.errors import STATE_STORE_WRITE_FAILED
from orchestrator_blocks.sdk.services import Budget, ChildOutcome, Clock, Services
from orchestrator_blocks.sdk.values import json_native

from .config import load_settings
from .durable import Lease, lease_seconds, owner_id
from .ids import new_run_id
from .plugin_host import PluginHost, default_host
from .result import RunResult
from .run import Run
from .telemetry import get_logger, sinks_installed, telemetry_for
from .workflow import Workflow

__all__ = ["run_workflow"]


async def _run_child(workflow: Any, value: Value, ctx: RunContext) -> ChildOutcome:
    """The ``run_child`` service: a child run shares its parent's services and budget."""
    if not isinstance(workflow, Workflow):
        raise TypeError(f"a child workflow must be a Workflow, got {type(workflow).__name__}")
    plan = workflow.plan()
    run = Run(
        plan,
        run_id=new_run_id(),
        services=ctx.services,
        input_value=value,
        parent=ctx,
        root=False,
        host=_host_of(ctx),
    )
    result = await run.execute(None)
    return ChildOutcome(
        workflow_id=workflow.id,
        run_id=result.run_id,
        status=str(result.status),
        output=result.final_value,
        error=result.error,
    )


def _host_of(ctx: RunContext) -> PluginHost:
    run = ctx.run
    return run.host if isinstance(run, Run) else default_host()


def _open_store(host: PluginHost, settings: Settings) -> tuple[Any, str | None]:
    try:
        return host.open_run_store(settings), None
    except StateStoreError as exc:
        return None, str(exc)


async def run_workflow(
    workflow: Workflow,
    input: Any = None,
    *,
    timeout_ms: int | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
    host: PluginHost | None = None,
    mode: RunMode = "new",
    clock: Clock | None = None,
    part_of: str | None = None,
    lent: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run ``workflow`` once as a root run (what ``Workflow.run_async`` calls).

    With a run store the run is durable (``sdk.durable``): ``mode="continue"`` goes on with
    ``run_id`` from its checkpoints (after a pause or a crash), ``mode="retry"`` starts a new
    attempt of a failed or partial run, reusing what succeeded; both use the run's stored
    input. They raise ``RunOwned`` when another live process holds the run and
    ``RunRefused`` when it cannot be continued as asked (nothing runs then). ``host`` and
    ``clock`` replace the process-wide host and the system clock (the testing kit).
    ``part_of`` runs it as a piece of another run (hooks see it as a child; no lease of its
    own), ``lent`` values its blocks read with ``ctx.services.lent(name)``.
    """
    if timeout_ms is not None and (not isinstance(timeout_ms, int) or timeout_ms <= 0):
        raise ValueError(f"timeout_ms must be a positive int or None, got {timeout_ms!r}")
    plan = workflow.plan()
    settings = settings or load_settings()
    host = host or default_host()
    store, store_problem = _open_store(host, settings)
    if mode != "new" and (run_id is None or store is None):
        raise RunRefused(
            f"mode {mode!r} needs a run id and a run store ({store_problem or 'none'})"
        )
    run_id = run_id or new_run_id()
    lease = None
    durable = (settings.get("DURABLE") or "on").lower() not in ("off", "0", "false", "no")
    if store is not None and durable and part_of is None and hasattr(store, "open_run"):
        record = RunRecord(
            run_id=run_id,
            workflow_id=plan.workflow_id,
            source=plan.source,
            source_hash=plan.source_hash,
            input=json_native(input),
            owner=owner_id(),
            lease_s=lease_seconds(settings),
            mode=mode,
        )
        lease = await Lease.open(store, record)
        if mode != "new":
            input = lease.claim.input
    services = Services(
        settings=settings,
        clock=clock,
        tracing=telemetry_for(settings).tracing,
        budget=Budget(plan.iteration_budget),
        child_runner=_run_child,
        provided=host.services(settings, store),
        lent=lent,
    )
    run = Run(
        plan,
        run_id=run_id,
        services=services,
        input_value=as_value(input) if input is not None else Empty(),
        parent=None,
        root=True,
        host=host,
        lease=lease,
        part_of=part_of,
    )
    if store_problem is not None:
        with sinks_installed(*telemetry_for(settings).run_sinks()):
            get_logger().error(
                "store.unavailable",
                workflow_id=plan.workflow_id,
                run_id=run.run_id,
                origin="runtime",
                code=STATE_STORE_WRITE_FAILED,
                message=store_problem,
            )
    try:
        if lease is None:
            return await run.execute(timeout_ms)
        task = asyncio.ensure_future(run.execute(timeout_ms))
        lease.watch(task)
        return await task
    finally:
        try:
            await services.aclose()
        except Exception as exc:
            with sinks_installed(*telemetry_for(settings).run_sinks()):
                get_logger().warning(
                    "run.resource_close_failed",
                    workflow_id=plan.workflow_id,
                    run_id=run.run_id,
                    message=f"{type(exc).__name__}: {exc}",
                )
