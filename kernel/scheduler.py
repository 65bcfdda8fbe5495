"""``serve``: run workflows at their cron times, on ledger events, and run due verify checks.

One asyncio loop drives everything:

- **cron** — a workflow whose entry block is a schedulable trigger (a block type declaring
  ``next_fire``, such as ``cron``) runs at each firing, with the firing time (ISO 8601, UTC)
  as its input. A firing that comes due while the previous run of the same workflow is still
  going is skipped (``schedule.skipped_overlap``) unless the workflow allows overlap. After
  the machine slept through several firings, the workflow runs once and the next firing is
  computed from *now*: missed firings are not replayed one by one.
- **events** — a workflow whose trigger is ``event`` (or ``hitl_approval``) runs once per
  matching ledger event. The delivery is claimed in the store *before* the run starts, so an
  event starts its workflow exactly once even across restarts (at most once if the process
  dies mid-run: the run is then visible as unfinished, never silently repeated).
- **approvals** — a ``hitl_approval`` workflow starts with the approved proposal's inputs
  (plus ``_proposal_id``); a run paused at a gate continues under its run_id once its
  proposal is decided (claimed once per decision, like events); proposals past their window
  are expired.
- **verify** — due verify checks run at the configured minutes past each hour.

Stopping (SIGINT/SIGTERM or :meth:`Server.stop`) stops new work and waits for in-flight runs.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator_blocks.sdk import Rule, RuleError, Settings, Text

from .loader import (
    CONTRACT_SUFFIXES,
    WorkflowLoadError,
    load_module,
    load_workflow,
    workflows_in_module,
)
from .result import RunResult
from .runtime import run_workflow
from .store import Store
from .telemetry import get_logger, sinks_installed, telemetry_for
from .verify import next_verify_time, run_due_checks
from .workflow import PlanNode, Workflow

__all__ = ["Schedule", "Server", "cron_trigger_of", "discover_workflows", "iso"]

EVENT_TRIGGERS = ("event", "hitl_approval")
APPROVED_EVENT = "proposal.approved"
DECISION_EVENTS = ("proposal.approved", "proposal.rejected", "proposal.expired")
RESUMER = "serve.resume"  # the ledger subscriber that continues runs paused at a gate
EXPIRE_EVERY_S = 5.0


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def cron_trigger_of(workflow: Workflow) -> PlanNode | None:
    """The entry block that schedules ``workflow`` (a type with ``next_fire``), if any."""
    plan = workflow.plan()
    for block_id in plan.entries:
        node = plan.nodes[block_id]
        if node.block_type.next_fire is not None:
            return node
    return None


def discover_workflows(directory: Path) -> tuple[list[tuple[Path, Workflow]], list[str]]:
    """Every workflow in ``directory``'s ``*.py`` and ``*.yaml`` files, and the problems of
    files that could not be loaded (reported, never fatal)."""
    found: list[tuple[Path, Workflow]] = []
    problems: list[str] = []
    files = (
        sorted(p for p in directory.iterdir() if p.suffix in (".py", *CONTRACT_SUFFIXES))
        if directory.is_dir()
        else []
    )
    for path in files:
        if path.name.startswith("_"):
            continue
        try:
            if path.suffix == ".py":
                workflows = workflows_in_module(load_module(path))
            else:
                workflows = [load_workflow(path)]
        except WorkflowLoadError as exc:
            problems.append(str(exc))
            continue
        found.extend((path, w) for w in workflows)
    return found, problems


@dataclass
class Schedule:
    """One workflow the server starts: by cron (``node``) or by events (``event_type``)."""

    workflow: Workflow
    source: Path | None = None
    node: PlanNode | None = None
    next_at: datetime | None = None
    event_type: str | None = None
    event_filter: Rule | None = None
    running: set[asyncio.Task[RunResult]] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.workflow.id

    def advance(self, after: datetime) -> None:
        assert self.node is not None and self.node.block_type.next_fire is not None
        self.next_at = self.node.block_type.next_fire(self.node.config, after)


def schedules_for(workflows: list[tuple[Path | None, Workflow]], now: datetime) -> list[Schedule]:
    out = []
    for source, workflow in workflows:
        trigger = workflow.spec.trigger
        node = cron_trigger_of(workflow)
        if node is not None:
            schedule = Schedule(workflow, source, node=node)
            schedule.advance(now)
            out.append(schedule)
        elif trigger.kind in EVENT_TRIGGERS:
            event_type = trigger.event if trigger.kind == "event" else APPROVED_EVENT
            rule = None
            text = trigger.filter
            if trigger.kind == "hitl_approval" and trigger.action_type:
                extra = f"payload['action_type'] == {trigger.action_type!r}"
                text = f"({text}) and {extra}" if text else extra
            if text:
                rule = Rule(text, names=("event", "payload"), label=f"{workflow.id} trigger")
            out.append(Schedule(workflow, source, event_type=event_type, event_filter=rule))
    return out


class Server:
    """The ``serve`` loop over a set of schedules; ``await server.run()`` until stopped."""

    def __init__(
        self,
        schedules: list[Schedule],
        settings: Settings,
        store: Store | None,
        *,
        verify_minutes: list[int] | None = None,
        poll_s: float = 0.5,
        say: Callable[[str], None] = print,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.schedules = schedules
        self.settings = settings
        self.store = store
        self.verify_minutes = verify_minutes or []
        self.poll_s = poll_s
        self.say = say
        self.now = now
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._event_cursor = 0
        self._next_expiry = 0.0
        self.next_verify: datetime | None = (
            next_verify_time(now(), self.verify_minutes) if self.verify_minutes else None
        )
        self.log = get_logger()

    def stop(self) -> None:
        self._stop.set()

    # -- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        sinks = telemetry_for(self.settings).run_sinks()
        try:
            while not self._stop.is_set():
                with sinks_installed(*sinks):
                    now = self.now()
                    self._fire_due(now)
                    await self._deliver_events()
                    await self._expire_due()
                    await self._verify_if_due(now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self._sleep_for())
        finally:
            await self.drain()

    def _sleep_for(self) -> float:
        now = self.now()
        dues = [s.next_at for s in self.schedules if s.next_at is not None]
        if self.next_verify is not None:
            dues.append(self.next_verify)
        wait = min(((d - now).total_seconds() for d in dues), default=self.poll_s)
        return max(0.01, min(wait, self.poll_s))

    async def drain(self) -> None:
        """Wait for every in-flight run (shutdown finishes what it started)."""
        if self._tasks:
            self.say(f"waiting for {len(self._tasks)} run(s) to finish")
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, schedule: Schedule, payload: Any, why: str) -> asyncio.Task[RunResult]:
        task = asyncio.create_task(
            run_workflow(schedule.workflow, payload, settings=self.settings),
            name=f"{schedule.name}:{why}",
        )
        schedule.running.add(task)
        self._tasks.add(task)

        def done(t: asyncio.Task[RunResult]) -> None:
            schedule.running.discard(t)
            self._tasks.discard(t)
            if t.cancelled():
                return
            if (exc := t.exception()) is not None:
                self.say(f"{schedule.name}: run raised {type(exc).__name__}: {exc}")
                return
            result = t.result()
            self.say(f"{schedule.name}: run {result.run_id} {result.status} ({why})")

        task.add_done_callback(done)
        return task

    def _fire_due(self, now: datetime) -> None:
        for s in self.schedules:
            if s.next_at is None or s.next_at > now:
                continue
            firing = s.next_at
            if s.running and not s.workflow.spec.allow_overlap:
                self.log.warning(
                    "schedule.skipped_overlap",
                    workflow_id=s.name,
                    origin="runtime",
                    firing=iso(firing),
                    message="the previous run is still going; this firing is skipped",
                )
            else:
                self._start(s, Text(iso(firing)), f"cron {iso(firing)}")
            # From now, not from the firing: a long sleep yields one run, not one per miss.
            s.advance(max(now, firing))

    async def _deliver_events(self) -> None:
        if self.store is None:
            return
        subscribed = [s for s in self.schedules if s.event_type is not None]
        store = self.store
        while True:
            batch = await asyncio.to_thread(store.ledger.list, after_id=self._event_cursor)
            if not batch:
                return
            for event in batch:
                self._event_cursor = max(self._event_cursor, event.id)
                if event.event_type in DECISION_EVENTS and event.payload.get("run_id"):
                    await self._resume_decided(event)
                for s in subscribed:
                    if event.event_type != s.event_type or not self._matches(s, event):
                        continue
                    claimed = await asyncio.to_thread(store.ledger.claim_delivery, s.name, event.id)
                    if not claimed:
                        continue
                    payload = dict(event.payload)
                    if s.workflow.spec.trigger.kind == "hitl_approval":
                        # The approved proposal's inputs are the run's inputs.
                        payload = {
                            **dict(event.payload.get("inputs") or {}),
                            "_proposal_id": event.payload.get("proposal_id"),
                        }
                    task = self._start(s, payload, f"event {event.id}")
                    task.add_done_callback(self._remember_delivery(s.name, event.id))

    async def _resume_decided(self, event: Any) -> None:
        """Continue the run paused at the gate of a proposal that was just decided."""
        from .resume import ResumeError, resume_run

        store = self.store
        assert store is not None
        run_id = str(event.payload["run_id"])
        row = await asyncio.to_thread(store.runs.get, run_id)
        if row is None or row["status"] != "awaiting_approval":
            return
        if not await asyncio.to_thread(store.ledger.claim_delivery, RESUMER, event.id):
            return

        async def resume() -> RunResult:
            try:
                return await resume_run(store, self.settings, run_id)
            except ResumeError as exc:
                self.say(f"resume {run_id}: {exc}")
                raise

        task = asyncio.create_task(resume(), name=f"resume:{run_id}")
        self._tasks.add(task)

        def done(t: asyncio.Task[RunResult]) -> None:
            self._tasks.discard(t)
            if t.cancelled() or t.exception() is not None:
                return
            result = t.result()
            self.say(f"{result.workflow_id}: run {result.run_id} resumed, {result.status}")
            with contextlib.suppress(Exception):
                store.ledger.set_delivery_run(RESUMER, event.id, result.run_id)

        task.add_done_callback(done)

    async def _expire_due(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if self.store is None or loop_now < self._next_expiry:
            return
        self._next_expiry = loop_now + EXPIRE_EVERY_S
        from .approvals import expire_due

        try:
            expired = await asyncio.to_thread(expire_due, self.store)
        except Exception as exc:  # a store hiccup must not stop serve
            self.say(f"expiring proposals failed: {exc}")
            return
        for p in expired:
            self.say(f"proposal {p.id} ({p.action_type}) expired")

    def _matches(self, s: Schedule, event: Any) -> bool:
        if s.event_filter is None:
            return True
        facts = {"type": event.event_type, "id": event.id, "key": event.idempotency_key}
        try:
            return bool(s.event_filter.evaluate({"event": facts, "payload": event.payload}))
        except RuleError as exc:
            self.say(f"{s.name}: trigger filter failed on event {event.id}: {exc}")
            return False

    def _remember_delivery(
        self, subscriber: str, event_id: int
    ) -> Callable[[asyncio.Task[RunResult]], None]:
        def done(t: asyncio.Task[RunResult]) -> None:
            if self.store is None or t.cancelled() or t.exception() is not None:
                return
            with contextlib.suppress(Exception):
                self.store.ledger.set_delivery_run(subscriber, event_id, t.result().run_id)

        return done

    async def _verify_if_due(self, now: datetime) -> None:
        if self.next_verify is None or self.next_verify > now or self.store is None:
            return
        self.next_verify = next_verify_time(now, self.verify_minutes)
        outcomes = await run_due_checks(self.store, self.settings, now=now)
        for o in outcomes:
            self.say(f"verify {o.check.workflow_type}/{o.check.check_name}: {o.status}")
