"""The runtime: runs a workflow plan to a terminal state (contract §6, §7.7; DESIGN §4).

* States: ``created -> running -> succeeded | failed | timed_out``; every transition is a
  ``run.<state>`` event (``run.started`` for ``running``).
* A core-path block starts when all its predecessors succeeded; independent branches run
  concurrently. A block with one predecessor receives that predecessor's output; a block
  with several receives a ``Json`` list of their payloads in the order the links were made.
  Entry blocks receive the run's input.
* A block's terminal failure (its executor already retried it) builds one frozen
  envelope; every ``on_error`` handler of that block starts at once with that same envelope
  (``ctx.error``; its ``to_dict()`` form as input). A failing handler never cancels a
  sibling. Blocks downstream of the failure are skipped (``block.skipped``). Independent
  branches continue. The run ends ``failed`` whatever the handlers do.
* The iteration budget (block attempts across the run and its child runs) ends a runaway run
  ``failed`` with ``graph.iteration_budget_exceeded``; ``timeout_ms`` ends it ``timed_out``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

import structlog

from orchestrator_blocks.sdk import (
    GRAPH_ITERATION_BUDGET_EXCEEDED,
    RUNTIME_APPROVAL_REQUIRED,
    RUNTIME_CANCELED,
    RUNTIME_KILL_SWITCH,
    RUNTIME_TIMEOUT,
    STATE_STORE_WRITE_FAILED,
    AwaitingApproval,
    Budget,
    ChildOutcome,
    Empty,
    ErrorEnvelope,
    IterationBudgetExceeded,
    Json,
    Origin,
    Outcome,
    RetryDisposition,
    RunContext,
    RunStatus,
    Services,
    Settings,
    Severity,
    StateStoreError,
    Value,
    as_value,
    execute_block,
    utc_now_iso,
)

from .config import load_settings
from .ids import new_run_id
from .post_actions import run_post_actions
from .result import RunResult
from .store import Databases, Store, StoreFacade, open_store
from .telemetry import get_logger, sinks_installed, telemetry_for
from .workflow import Plan, Workflow

__all__ = ["APPROVAL_RISK", "GATE_TYPE", "REJECTING_CODES", "run_workflow"]

APPROVAL_RISK = 3  # from this risk level a human approves before the first write
GATE_TYPE = "hitl_gate"
REJECTING_CODES = frozenset({"hitl.rejected", "hitl.expired"})


@dataclass(frozen=True, slots=True)
class _Job:
    kind: str  # "core" | "handler" | "error_path"
    block_id: str
    source: str | None = None
    envelope: ErrorEnvelope | None = None


def _run_event(status: RunStatus) -> str:
    return "run.started" if status is RunStatus.RUNNING else f"run.{status}"


class _Run:
    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str,
        services: Services,
        input_value: Value,
        parent: RunContext | None,
        block_ids: dict[int, str],
        root: bool,
        store: Store | None = None,
    ) -> None:
        self.plan = plan
        self.store = store
        self.guards = plan.spec.kill_switches if plan.spec is not None else ()
        self.run_id = run_id
        self.services = services
        self.input = input_value
        self.root = root
        self.block_ids = block_ids
        self.events: list[dict[str, Any]] = []
        self.outputs: dict[str, Value] = {}
        self.errors: list[ErrorEnvelope] = []
        self.error: ErrorEnvelope | None = None
        self.transitions: list[str] = []
        self.status = RunStatus.CREATED
        self.risk_level = plan.spec.risk_level if plan.spec is not None else 0
        self.gate_passed = False
        self.proposal_id: int | None = None
        self.log = get_logger()
        self.ctx = RunContext(
            workflow_id=plan.workflow_id,
            run_id=run_id,
            services=services,
            log=self.log,
            parent_run_id=parent.run_id if parent else None,
        )

    # -- lifecycle ------------------------------------------------------------------------

    def _transition(self, status: RunStatus, **fields: Any) -> None:
        self.status = status
        self.transitions.append(str(status))
        env = self.error if status.terminal else None
        if env is not None:
            fields.update(
                origin=str(env.origin), domain=env.domain, code=env.code, envelope=env.to_dict()
            )
        self.log.info(_run_event(status), status=str(status), **fields)

    def _runtime_envelope(self, code: str, message: str, **details: Any) -> ErrorEnvelope:
        return ErrorEnvelope(
            origin=Origin.RUNTIME,
            domain=None,
            code=code,
            message=message,
            retry_disposition=RetryDisposition.NEVER,
            severity=Severity.ERROR,
            workflow_id=self.plan.workflow_id,
            run_id=self.run_id,
            block_id=None,
            attempt=0,
            ts=utc_now_iso(),
            details=details,
        )

    async def execute(self, timeout_ms: int | None) -> RunResult:
        clock = self.services.clock
        sinks: tuple[Any, ...] = (self._keep_event,)
        if self.root:
            sinks += telemetry_for(self.services.settings).run_sinks()
        attrs = {"workflow.id": self.plan.workflow_id, "run.id": self.run_id}
        if self.ctx.parent_run_id:
            attrs["run.parent_id"] = self.ctx.parent_run_id
        started_at = utc_now_iso(clock.now())
        t0 = clock.monotonic()
        with (
            sinks_installed(*sinks),
            structlog.contextvars.bound_contextvars(
                workflow_id=self.plan.workflow_id,
                run_id=self.run_id,
                parent_run_id=self.ctx.parent_run_id,
                block_id=None,
                attempt=None,
            ),
            self.services.tracing.span(f"run {self.plan.workflow_id}", attrs) as span,
            structlog.contextvars.bound_contextvars(trace_id=span.trace_id, span_id=span.span_id),
        ):
            self.ctx = self.ctx.evolve(trace_id=span.trace_id, span_id=span.span_id)
            self._transition(RunStatus.CREATED, parent_run_id=self.ctx.parent_run_id)
            self._transition(RunStatus.RUNNING, entries=list(self.plan.entries))
            final = RunStatus.SUCCEEDED
            try:
                await self._schedule_with_timeout(timeout_ms)
            except AwaitingApproval as pause:
                final = RunStatus.AWAITING_APPROVAL
                self.proposal_id = pause.proposal_id
                self.log.info("run.paused", proposal_id=pause.proposal_id, message=pause.message)
            except _RunTimedOut:
                final = RunStatus.TIMED_OUT
                self.error = self._runtime_envelope(
                    RUNTIME_TIMEOUT,
                    f"run exceeded its timeout of {timeout_ms} ms",
                    timeout_ms=timeout_ms,
                )
                self.errors.append(self.error)
            except IterationBudgetExceeded as exc:
                self.error = self._runtime_envelope(
                    GRAPH_ITERATION_BUDGET_EXCEEDED, str(exc), limit=exc.limit
                )
                self.errors.append(self.error)
                if not self.root:
                    # The budget is the root run's: end every level, not just this child.
                    span.record_error(self.error)
                    self._transition(RunStatus.FAILED, duration_ms=self._ms(t0))
                    raise
            except asyncio.CancelledError:
                self.error = self._runtime_envelope(RUNTIME_CANCELED, "run was canceled")
                self.errors.append(self.error)
                span.record_error(self.error)
                self._transition(RunStatus.FAILED, duration_ms=self._ms(t0))
                raise
            if final is RunStatus.SUCCEEDED and self.error is not None:
                final = (
                    RunStatus.REJECTED if self.error.code in REJECTING_CODES else RunStatus.FAILED
                )
            if final is RunStatus.SUCCEEDED and self.root and self.services.partial:
                final = RunStatus.PARTIAL
            if self.error is not None:
                span.record_error(self.error)
            span.set_attribute("run.status", str(final))
            duration = self._ms(t0)
            self._transition(final, duration_ms=duration)
            result = self._result(final, started_at, duration)
            if self.root and self.plan.spec is not None:
                done = await run_post_actions(self.plan.spec, result, self.store, self.log)
                result = replace(result, events=tuple(self.events), post_actions=done)
        return result

    def _keep_event(self, event: dict[str, Any]) -> None:
        """The in-memory event list of the result. Events of per-item runs of a fan-out
        (``fan_out_item`` bound) go to the log files only, so memory does not grow with
        the number of items."""
        if event.get("fan_out_item") is None:
            self.events.append(event)

    def _result(self, final: RunStatus, started_at: str, duration: float) -> RunResult:
        return RunResult(
            workflow_id=self.plan.workflow_id,
            run_id=self.run_id,
            status=final,
            transitions=tuple(self.transitions),
            events=tuple(self.events),
            error=self.error,
            errors=tuple(self.errors),
            started_at=started_at,
            finished_at=utc_now_iso(self.services.clock.now()),
            duration_ms=duration,
            parent_run_id=self.ctx.parent_run_id,
            values=dict(self.outputs),
            block_ids=self.block_ids,
            sinks=self.plan.sinks,
            input=self.input.payload,
            proposal_id=self.proposal_id,
            partial=tuple(self.services.partial) if self.root else (),
        )

    def _ms(self, t0: float) -> float:
        return round((self.services.clock.monotonic() - t0) * 1000, 3)

    async def _schedule_with_timeout(self, timeout_ms: int | None) -> None:
        if timeout_ms is None:
            await self._schedule()
            return
        try:
            async with asyncio.timeout(timeout_ms / 1000) as scope:
                await self._schedule()
        except TimeoutError:
            if scope.expired():
                raise _RunTimedOut() from None
            raise

    # -- scheduling -----------------------------------------------------------------------

    async def _schedule(self) -> None:
        plan = self.plan
        waiting = {b: len(plan.pred[b]) for b in plan.core}
        blocked: set[str] = set()
        tasks: set[asyncio.Task[tuple[_Job, Outcome]]] = set()
        try:
            for bid in plan.entries:
                tasks.add(self._start(_Job("core", bid), self.input))
            while tasks:
                done, tasks = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    job, outcome = task.result()
                    tasks |= self._after(job, outcome, waiting, blocked)
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def _start(self, job: _Job, value: Value) -> asyncio.Task[tuple[_Job, Outcome]]:
        node = self.plan.nodes[job.block_id]
        ctx = self.ctx.evolve(
            block_id=job.block_id, block_type=node.block_type.type_id, error=job.envelope
        )

        async def run() -> tuple[_Job, Outcome]:
            writes = node.block_type.is_write(node.config)
            if writes and self.risk_level >= APPROVAL_RISK and not self.gate_passed:
                return job, self._refuse(
                    ctx,
                    RUNTIME_APPROVAL_REQUIRED,
                    f"write step {ctx.block_id!r} refused: risk level {self.risk_level} needs "
                    "an approved hitl_gate before the first write",
                    {"risk_level": self.risk_level},
                )
            if self.guards and writes:
                refusal = await self._kill_switch_refusal(ctx)
                if refusal is not None:
                    return job, refusal
            outcome = await execute_block(node.block_type, node.config, node.policy, ctx, value)
            return job, outcome

        return asyncio.create_task(run(), name=f"{self.run_id}:{job.block_id}")

    async def _kill_switch_refusal(self, ctx: RunContext) -> Outcome | None:
        """Refuse a write step while a guarding kill switch is on (checked right before it,
        so a switch turned on mid-run stops the next write). Fails closed: a store that
        cannot be read refuses the write too."""
        engaged: str | None = None
        reason = ""
        try:
            if self.store is None:
                raise StateStoreError("the state store is not available")
            for name in self.guards:
                if await asyncio.to_thread(self.store.kill_switches.engaged, name):
                    engaged, reason = name, f"kill switch {name!r} is on"
                    break
        except StateStoreError as exc:
            engaged, reason = "?", f"cannot read kill switches ({exc})"
        if engaged is None:
            return None
        return self._refuse(
            ctx,
            RUNTIME_KILL_SWITCH,
            f"write step {ctx.block_id!r} refused: {reason}",
            {"kill_switch": engaged, "guards": list(self.guards)},
        )

    def _refuse(self, ctx: RunContext, code: str, message: str, details: dict[str, Any]) -> Outcome:
        """A write step the runtime does not let start (fail closed, never retried)."""
        env = ErrorEnvelope(
            origin=Origin.RUNTIME,
            domain=None,
            code=code,
            message=message,
            retry_disposition=RetryDisposition.MANUAL,
            severity=Severity.WARN,
            workflow_id=ctx.workflow_id,
            run_id=ctx.run_id,
            block_id=ctx.block_id,
            attempt=0,
            ts=utc_now_iso(),
            details=details,
        )
        self.log.warning(
            "block.failed",
            block_id=ctx.block_id,
            attempt=0,
            terminal=True,
            origin=str(env.origin),
            code=env.code,
            message=env.message,
            envelope=env.to_dict(),
        )
        return Outcome(Empty(), env, 0)

    def _input_for(self, bid: str) -> Value:
        preds = self.plan.pred[bid]
        if len(preds) == 1:
            return self.outputs[preds[0]]
        return Json([self.outputs[p].payload for p in preds])

    def _after(
        self, job: _Job, outcome: Outcome, waiting: dict[str, int], blocked: set[str]
    ) -> set[asyncio.Task[tuple[_Job, Outcome]]]:
        plan, bid = self.plan, job.block_id
        new: set[asyncio.Task[tuple[_Job, Outcome]]] = set()
        if job.kind == "handler":
            self._log_handler_outcome(job, outcome)
        if outcome.ok:
            self.outputs[bid] = outcome.value
            if plan.nodes[bid].block_type.type_id == GATE_TYPE and job.kind == "core":
                self.gate_passed = True
            for nxt in plan.succ[bid]:
                if job.kind != "core":
                    new.add(self._start(_Job("error_path", nxt), outcome.value))
                    continue
                waiting[nxt] -= 1
                if waiting[nxt] == 0 and nxt not in blocked:
                    new.add(self._start(_Job("core", nxt), self._input_for(nxt)))
            return new
        env = outcome.error
        assert env is not None
        self.errors.append(env)
        if job.kind == "core":
            if self.error is None:
                self.error = env
            blocked.add(bid)
            self._skip_downstream(bid, blocked)
        for handler in plan.handlers[bid]:
            self.log.info(
                "on_error.handler_started",
                block_id=handler,
                attempt=None,
                source_block_id=bid,
                origin=str(env.origin),
                domain=env.domain,
                code=env.code,
            )
            new.add(self._start(_Job("handler", handler, bid, env), Json(env.to_dict())))
        return new

    def _log_handler_outcome(self, job: _Job, outcome: Outcome) -> None:
        handled = job.envelope
        assert handled is not None
        if outcome.ok:
            self.log.info(
                "on_error.handler_succeeded",
                block_id=job.block_id,
                attempt=outcome.attempts,
                source_block_id=job.source,
                origin=str(handled.origin),
                domain=handled.domain,
                code=handled.code,
            )
        else:
            failure = outcome.error
            assert failure is not None
            self.log.error(
                "on_error.handler_failed",
                block_id=job.block_id,
                attempt=outcome.attempts,
                source_block_id=job.source,
                origin=str(failure.origin),
                domain=failure.domain,
                code=failure.code,
                message=failure.message,
                handled_code=handled.code,
            )

    def _skip_downstream(self, failed: str, blocked: set[str]) -> None:
        stack = list(self.plan.succ[failed])
        while stack:
            nxt = stack.pop()
            if nxt in blocked:
                continue
            blocked.add(nxt)
            self.log.info(
                "block.skipped",
                block_id=nxt,
                attempt=None,
                reason="upstream_failed",
                upstream_block_id=failed,
            )
            stack.extend(self.plan.succ[nxt])


class _RunTimedOut(Exception):
    pass


def _block_ids(workflow: Workflow) -> dict[int, str]:
    return {id(block): str(bid) for bid, block in workflow.blocks.items()}


async def _run_child(workflow: Any, value: Value, ctx: RunContext) -> ChildOutcome:
    """The ``run_child`` service: a child run shares its parent's services and budget."""
    if not isinstance(workflow, Workflow):
        raise TypeError(f"a child workflow must be a Workflow, got {type(workflow).__name__}")
    run = _Run(
        workflow.plan(),
        run_id=new_run_id(),
        services=ctx.services,
        input_value=value,
        parent=ctx,
        block_ids=_block_ids(workflow),
        root=False,
        store=ctx.services.extra("kernel.store"),  # noqa: S610 - not Django
    )
    result = await run.execute(None)
    return ChildOutcome(
        workflow_id=workflow.id,
        run_id=result.run_id,
        status=str(result.status),
        output=result.final_value,
        error=result.error,
    )


def _open_store(settings: Settings) -> tuple[Store | None, str | None]:
    try:
        return open_store(settings), None
    except StateStoreError as exc:
        return None, str(exc)


async def run_workflow(
    workflow: Workflow,
    input: Any = None,
    *,
    timeout_ms: int | None = None,
    run_id: str | None = None,
    settings: Settings | None = None,
) -> RunResult:
    """Run ``workflow`` once as a root run (what ``Workflow.run_async`` calls)."""
    if timeout_ms is not None and (not isinstance(timeout_ms, int) or timeout_ms <= 0):
        raise ValueError(f"timeout_ms must be a positive int or None, got {timeout_ms!r}")
    plan = workflow.plan()
    settings = settings or load_settings()
    store, store_problem = _open_store(settings)
    services = Services(
        settings=settings,
        tracing=telemetry_for(settings).tracing,
        budget=Budget(plan.iteration_budget),
        child_runner=_run_child,
        sql=Databases(store, settings) if store is not None else None,
        store=StoreFacade(store) if store is not None else None,
        extras={"kernel.store": store},
    )
    run = _Run(
        plan,
        run_id=run_id or new_run_id(),
        services=services,
        input_value=as_value(input) if input is not None else Empty(),
        parent=None,
        block_ids=_block_ids(workflow),
        root=True,
        store=store,
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
        return await run.execute(timeout_ms)
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
