"""The runtime: runs a workflow plan to a terminal state (spec §6, §7.7; DESIGN §4).

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
* Plugins take part through hooks (``sdk.hookspecs``): ``block_guard`` may refuse a block
  right before it starts; ``run_started`` / ``run_finished`` bracket every run;
  ``provide_run_store`` and ``provide_services`` furnish what blocks ask for. A block that
  raises ``sdk.RunPaused`` ends the pass in the status it names; a failure whose code the
  block type maps in ``ends_run_as`` ends the run in that status instead of ``failed``.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal, NamedTuple

from orchestrator_blocks.sdk import (
    Empty,
    ErrorEnvelope,
    Json,
    Refusal,
    RunContext,
    RunPaused,
    RunStatus,
    Value,
    _logfields,
)
from orchestrator_blocks.sdk._executor import Outcome, execute_block
from orchestrator_blocks.sdk.durable import Checkpoint
from orchestrator_blocks.sdk.errors import (
    GRAPH_ITERATION_BUDGET_EXCEEDED,
    RUNTIME_CANCELED,
    RUNTIME_TIMEOUT,
)
from orchestrator_blocks.sdk.services import (
    IterationBudgetExceeded,
    Services,
    utc_now_iso,
)

from .durable import Lease, restored_outcome
from .plugin_host import PluginHost
from .result import RunResult
from .telemetry import (
    emit,
    encode_event,
    flush_sinks,
    get_logger,
    installed_sinks,
    sinks_installed,
    telemetry_for,
)
from .workflow import Plan

__all__ = ["Run"]

JobKind = Literal["core", "handler", "error_path"]
MAX_TASKS = 1_000
"""Blocks of one run executing at once, at most (independent branches beyond wait)."""


class _Job(NamedTuple):  # (one per block: a tuple is made in a third of a frozen dataclass's time)
    kind: JobKind
    block_id: str
    source: str | None = None
    envelope: ErrorEnvelope | None = None


def _run_event(status: RunStatus) -> str:
    return "run.started" if status is RunStatus.RUNNING else f"run.{status}"


class Run:
    """One run in progress: its state, its scheduler, and the ``sdk.RunView`` hooks see."""

    def __init__(
        self,
        plan: Plan,
        *,
        run_id: str,
        services: Services,
        input_value: Value,
        parent: RunContext | None,
        root: bool,
        host: PluginHost,
        lease: Lease | None = None,
        part_of: str | None = None,
    ) -> None:
        self.plan = plan
        self.host = host
        self.lease = lease
        self.restored: dict[str, Checkpoint] = {}
        # What hooks see (sdk.RunView).
        self.workflow_id, self.source, self.traits = plan.workflow_id, plan.source, plan.traits
        self.parent_run_id = parent.run_id if parent else part_of
        self.settings = services.settings
        self.run_attempt = lease.attempt if lease is not None else 1
        self.previous_owner = lease.claim.previous_owner if lease is not None else None
        self.guarded = host.has_guards
        self.run_id = run_id
        self.services = services
        self.input = input_value
        self.root = root
        self.events = _logfields.EventRecorder()
        self.outputs: dict[str, Value] = {}
        self.errors: list[ErrorEnvelope] = []
        self.error: ErrorEnvelope | None = None
        self.transitions: list[str] = []
        self.status = RunStatus.CREATED
        self.succeeded: dict[str, str] = {}
        self.waiting_on: Mapping[str, Any] = {}
        self._inline = False  # (the run's own task works through its blocks, see _schedule)
        self.log = get_logger()
        self.ctx = RunContext(
            workflow_id=plan.workflow_id,
            run_id=run_id,
            services=services,
            log=self.log,
            parent_run_id=self.parent_run_id,
            run=self,
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
        emit("info", _run_event(status), status=str(status), **fields)

    def _runtime_envelope(
        self, code: str, message: str, block_id: str | None = None, **details: Any
    ) -> ErrorEnvelope:
        """A failure the runtime owns: of the run, or of a block a guard refused (manual)."""
        wid, rid, ts = self.plan.workflow_id, self.run_id, utc_now_iso()
        return ErrorEnvelope.of_runtime(code, message, wid, rid, block_id, ts, details)

    async def execute(self, timeout_ms: int | None) -> RunResult:
        clock = self.services.clock
        sinks: tuple[Any, ...] = (self._keep_event,)
        if not self.root and _logfields.current().get("fan_out_item") is not None:
            sinks = ()  # a fan-out item's run: its events go to the log files only
        elif self.root:  # a sink the caller installed already (serve's) is not added twice
            present = installed_sinks()
            own = telemetry_for(self.settings).run_sinks() + self.host.event_sinks(self.settings)
            sinks += tuple(s for s in own if s not in present)
        attrs = {"workflow.id": self.plan.workflow_id, "run.id": self.run_id}
        if self.ctx.parent_run_id:
            attrs["run.parent_id"] = self.ctx.parent_run_id
        started_at = utc_now_iso(clock.now())
        t0 = clock.monotonic()
        with (
            sinks_installed(*sinks),
            self.services.tracing.span(f"run {self.plan.workflow_id}", attrs) as span,
            _logfields.bound(
                workflow_id=self.plan.workflow_id,
                run_id=self.run_id,
                parent_run_id=self.ctx.parent_run_id,
                block_id=None,
                attempt=None,
                trace_id=span.trace_id,
                span_id=span.span_id,
            ),
        ):
            self.ctx = self.ctx.evolve(trace_id=span.trace_id, span_id=span.span_id)
            self._transition(
                RunStatus.CREATED,
                parent_run_id=self.ctx.parent_run_id,
                run_attempt=self.run_attempt,
                previous_owner=self.previous_owner,
            )
            if self.lease is not None:
                self.restored = await self.lease.restored()
            await self.host.run_started(self)
            self._transition(RunStatus.RUNNING, entries=list(self.plan.entries))
            final = RunStatus.SUCCEEDED
            try:
                await self._schedule_with_timeout(timeout_ms)
            except RunPaused as pause:
                final = RunStatus(pause.status)
                self.waiting_on = dict(pause.waiting_on)
                self.log.info("run.paused", message=pause.message, **self.waiting_on)
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
                why = self.lease.stop_reason if self.lease is not None else None
                self.error = self._runtime_envelope(RUNTIME_CANCELED, "run was canceled")
                self.errors.append(self.error)
                span.record_error(self.error)
                if not self.root:  # its parent decides (a timeout, a sibling's failure)
                    self._transition(RunStatus.FAILED, duration_ms=self._ms(t0))
                    raise
                if why in ("lost", "handback") and self.lease is not None:  # another process
                    self.log.warning(f"run.{'ownership_lost' if why == 'lost' else 'handed_back'}")
                    await self.lease.close(str(RunStatus.RUNNING), {}, None)  # goes on with it
                    raise
                if why is None:  # interrupted (Ctrl-C): record it, then stop
                    await self._finish(RunStatus.CANCELED, started_at, t0, span)
                    raise
                final = RunStatus.CANCELED
            if final is RunStatus.SUCCEEDED and self.error is not None:
                final = self._failed_status(self.error)
            if final is RunStatus.SUCCEEDED and self.root and self.services.partial:
                final = RunStatus.PARTIAL
            return await self._finish(final, started_at, t0, span)

    async def _finish(self, final: RunStatus, started_at: str, t0: float, span: Any) -> RunResult:
        """End the pass: the last transition, the ``run_finished`` hooks, then the lease."""
        if self.error is not None:
            span.record_error(self.error)
        span.set_attribute("run.status", str(final))
        duration = self._ms(t0)
        self._transition(final, duration_ms=duration)
        reports: dict[str, Any] = {}  # filled in once the hooks answered
        result = self._result(final, started_at, duration, reports)
        reports.update(await self.host.run_finished(self, result, self.log))
        if self.lease is not None:
            await self.lease.close(str(final), self.waiting_on, self.error)
        if self.root:
            flush_sinks()
        return replace(result, recorded=self.events.recorded()) if self.root else result

    def _failed_status(self, error: ErrorEnvelope) -> RunStatus:
        """``failed``, unless the failing block's type maps the code elsewhere (``ends_run_as``)."""
        node = self.plan.nodes.get(error.block_id or "")
        mapped = node.block_type.ends_run_as.get(error.code) if node is not None else None
        return RunStatus(mapped) if mapped else RunStatus.FAILED

    def _keep_event(self, event: dict[str, Any]) -> None:
        """The in-memory event list of the result. Events of per-item runs of a fan-out
        (``fan_out_item`` bound) go to the log files only, so memory does not grow with
        the number of items."""
        if event.get("fan_out_item") is None:
            self.events.add(encode_event(event))

    def _result(
        self, final: RunStatus, started_at: str, duration: float, reports: dict[str, Any]
    ) -> RunResult:
        return RunResult(
            workflow_id=self.plan.workflow_id,
            run_id=self.run_id,
            status=final,
            transitions=tuple(self.transitions),
            recorded=self.events.recorded(),
            reports=reports,
            error=self.error,
            errors=tuple(self.errors),
            started_at=started_at,
            finished_at=utc_now_iso(self.services.clock.now()),
            duration_ms=duration,
            parent_run_id=self.ctx.parent_run_id,
            values=dict(self.outputs),
            block_ids=self.plan.block_ids,
            sinks=self.plan.sinks,
            input=self.input.payload,
            waiting_on=self.waiting_on,
            partial=tuple(self.services.partial) if self.root else (),
        )

    def _ms(self, t0: float) -> float:
        return round((self.services.clock.monotonic() - t0) * 1000, 3)

    async def _schedule_with_timeout(self, timeout_ms: int | None) -> None:
        if timeout_ms is None:  # (a child run: the root's deadline stands)
            return await self._schedule()
        try:
            async with asyncio.timeout(timeout_ms / 1000) as scope:
                self.services.deadline = scope.when()
                await self._schedule()
        except TimeoutError:
            if scope.expired():
                raise _RunTimedOut() from None
            raise

    # -- scheduling -----------------------------------------------------------------------

    async def _schedule(self) -> None:
        """Run every ready block until none is left. A few worker tasks share one queue of
        ready blocks (at most ``MAX_TASKS`` at once; a chain runs in one task, with no task
        or wake-up per block); the first exception a block lets through ends the pass."""
        plan = self.plan
        self._waiting = {b: len(plan.pred[b]) for b in plan.core}
        self._blocked: set[str] = set()
        self._ready: deque[tuple[_Job, Value]] = deque(
            (_Job("core", bid), self.input) for bid in plan.entries
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._idle: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            if len(self._ready) == 1:  # one entry block: its worker is this very task
                self._inline = True  # (left so when a block raises: the pass ends here)
                await self._work()
                self._inline = False
                if not self._tasks and not self._idle.done():  # (done: a sibling task raised)
                    return
            self._spawn()
            await self._idle
        finally:
            for task in self._tasks:
                task.cancel()
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self) -> None:
        while len(self._tasks) + self._inline < min(len(self._ready), MAX_TASKS):
            task = asyncio.create_task(self._work(), name=f"{self.run_id}:blocks")
            self._tasks.add(task)
            task.add_done_callback(self._reap)

    def _reap(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._idle.done():
            return
        if task.cancelled():
            self._idle.cancel()
        elif task.exception() is not None:
            self._idle.set_exception(task.exception())  # type: ignore[arg-type]
        elif not self._tasks and not self._ready and not self._inline:
            self._idle.set_result(None)

    async def _work(self) -> None:
        while self._ready and not self._idle.done():
            job, value = self._ready.popleft()
            outcome = await self._run_block(job, value)
            self._ready.extend(self._after(job, outcome))
            self._spawn()

    async def _run_block(self, job: _Job, value: Value) -> Outcome:
        node = self.plan.nodes[job.block_id]
        ctx = self.ctx.evolve(
            block_id=job.block_id, block_type=node.block_type.type_id, error=job.envelope
        )
        key = job.block_id if job.kind == "core" else f"{job.block_id}@{job.source}"
        restored = self.restored.get(key)
        if restored is not None:
            return self._restore(job, restored)
        if self.guarded:
            refusal = await self.host.guard(ctx, node)
            if refusal is not None:
                return self._refuse(ctx, refusal)
        if self.lease is not None and node.writes:  # what it acts on is committed first
            await self.lease.store.flush()
        outcome = await execute_block(node.block_type, node.config, node.policy, ctx, value)
        if self.lease is not None:
            reported = self.services.partial
            partial = bool(reported) and any(p["block_id"] == job.block_id for p in reported)
            await self.lease.save(key, outcome, partial, wait=node.writes)
        return outcome

    def _restore(self, job: _Job, checkpoint: Checkpoint) -> Outcome:
        """A block checkpointed by an earlier pass: its stored outcome, not run again."""
        outcome = restored_outcome(checkpoint)
        if checkpoint.status == "partial" and isinstance(outcome.value.payload, dict):
            self.services.report_partial(job.block_id, outcome.value.payload)
        self.log.info(
            "block.restored",
            block_id=job.block_id,
            attempt=checkpoint.attempts,
            outcome=checkpoint.status,
            code=outcome.error.code if outcome.error else None,
        )
        return outcome

    def _refuse(self, ctx: RunContext, refusal: Refusal) -> Outcome:
        """A block a guard does not let start (fail closed, never retried)."""
        env = self._runtime_envelope(
            refusal.code, refusal.message, ctx.block_id or "?", **refusal.details
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

    def _after(self, job: _Job, outcome: Outcome) -> list[tuple[_Job, Value]]:
        plan, bid, waiting = self.plan, job.block_id, self._waiting
        new: list[tuple[_Job, Value]] = []
        if job.kind == "handler":
            self._log_handler_outcome(job, outcome)
        if outcome.ok:
            self.outputs[bid] = outcome.value
            if job.kind == "core":
                self.succeeded[bid] = plan.nodes[bid].block_type.type_id
            for nxt in plan.succ[bid]:
                if job.kind != "core":
                    new.append((_Job("error_path", nxt, job.source), outcome.value))
                    continue
                waiting[nxt] -= 1
                if waiting[nxt] == 0 and nxt not in self._blocked:
                    new.append((_Job("core", nxt), self._input_for(nxt)))
            return new
        env = outcome.error
        assert env is not None
        self.errors.append(env)
        if job.kind == "core":
            if self.error is None:
                self.error = env
            self._blocked.add(bid)
            self._skip_downstream(bid, self._blocked)
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
            new.append((_Job("handler", handler, bid, env), Json(env.to_dict())))
        return new

    def _log_handler_outcome(self, job: _Job, outcome: Outcome) -> None:
        handled, failure = job.envelope, outcome.error
        assert handled is not None
        env = failure or handled  # what the event's origin/domain/code describe
        fields = {"origin": str(env.origin), "domain": env.domain, "code": env.code}
        if failure is not None:
            fields.update(message=failure.message, handled_code=handled.code)
        log = self.log.error if failure is not None else self.log.info
        log(
            f"on_error.handler_{'failed' if failure is not None else 'succeeded'}",
            block_id=job.block_id,
            attempt=outcome.attempts,
            source_block_id=job.source,
            **fields,
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
