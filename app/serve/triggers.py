"""The triggers ``serve`` ticks: cron, ledger events, approvals, verify checks.

- **cron** (:class:`CronTrigger`): a workflow whose entry block is a schedulable trigger (a
  block type declaring ``next_fire``, such as ``cron``) runs at each firing, with the firing
  time (ISO 8601, UTC) as its input. Each firing is claimed in the store, so any number of
  ``serve`` processes start one run per firing. A firing that comes due while a run of the
  same workflow is still going (in any process) is skipped (``schedule.skipped_overlap``)
  unless the workflow allows overlap. After the machine slept through several firings, the workflow
  runs once and the next firing is computed from *now*: missed firings are not replayed.
- **events** (:class:`EventTrigger`): a workflow whose trigger is ``event`` (or
  ``hitl_approval``) runs once per matching ledger event. The delivery is claimed in the
  store *before* the run starts, so an event starts its workflow exactly once even across
  restarts (at most once if the process dies mid-run: the run is then visible as
  unfinished, never silently repeated). A ``hitl_approval`` workflow starts with the
  approved proposal's inputs (plus ``_proposal_id``), read from the store: the event only
  says which proposal to look at. Unless that proposal's stored status is ``approved`` by
  the configured approver (and the event is the approval's own), nothing starts and
  ``trigger.refused`` is logged: a hand-recorded ``proposal.approved`` starts nothing.
- **approvals** (:class:`ApprovalTrigger`): a run paused at a gate, or on per-recipient
  reviews, continues under its run_id once a proposal of it is decided, under the run's
  lease (one process wins the run; if it dies, recovery continues the run); a decision
  taken while the run was running continues it once more when it pauses; proposals past
  their window are expired.
- **recovery** (:class:`RecoveryTrigger`): a run whose owner stopped renewing its lease
  (the process died) is taken over and continued from its checkpoints, with no human
  action; its sends that were in flight become ``unknown`` for a human.
- **verify** (:class:`VerifyTrigger`): due verify checks run at the configured minutes past
  each hour.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from orchestrator_blocks.kernel.durable import owner_id
from orchestrator_blocks.kernel.loader import file_hash
from orchestrator_blocks.kernel.result import RunResult
from orchestrator_blocks.kernel.workflow import Workflow
from orchestrator_blocks.sdk import PlannedBlock, Text
from orchestrator_blocks.sdk.rules import Rule, RuleError

from ..card import spec_of
from ..resume import ResumeError, load_for, mode_for, workflow_file
from ..store.durable import RunRow
from ..verify import next_verify_time, run_due_checks
from .server import Served, Server, iso

__all__ = [
    "ApprovalTrigger",
    "CronSchedule",
    "CronTrigger",
    "EventTrigger",
    "RecoveryTrigger",
    "VerifyTrigger",
    "cron_trigger_of",
]

EVENT_TRIGGERS = ("event", "hitl_approval")
APPROVED_EVENT = "proposal.approved"
DECISION_EVENTS = ("proposal.approved", "proposal.rejected", "proposal.expired")
EXPIRE_EVERY_S = 5.0


def cron_trigger_of(workflow: Workflow) -> PlannedBlock | None:
    """The entry block that schedules ``workflow`` (a type with ``next_fire``), if any."""
    plan = workflow.plan()
    for block_id in plan.entries:
        node = plan.nodes[block_id]
        if node.block_type.next_fire is not None:
            return node
    return None


@dataclass
class CronSchedule:
    served: Served
    node: PlannedBlock
    next_at: datetime | None = None

    def advance(self, after: datetime) -> None:
        assert self.node.block_type.next_fire is not None
        self.next_at = self.node.block_type.next_fire(self.node.config, after)


class CronTrigger:
    """Start workflows at their cron firings (one run per firing, none replayed)."""

    name = "cron"

    def __init__(self) -> None:
        self.schedules: list[CronSchedule] = []

    def attach(self, server: Server) -> None:
        self.server = server
        now = server.now()
        for served in server.served:
            node = cron_trigger_of(served.workflow)
            if node is not None:
                schedule = CronSchedule(served, node)
                schedule.advance(now)
                self.schedules.append(schedule)

    def describe(self, served: Served) -> str | None:
        for s in self.schedules:
            if s.served is served and s.next_at is not None:
                return f"next at {iso(s.next_at)}"
        return None

    async def tick(self, now: datetime) -> datetime | None:
        for s in self.schedules:
            if s.next_at is None or s.next_at > now:
                continue
            firing = s.next_at
            # From now, not from the firing: a long sleep yields one run, not one per miss.
            s.advance(max(now, firing))
            if not await self._claim(s, firing):
                continue  # another serve took this firing
            if await self._overlaps(s):
                self.server.log.warning(
                    "schedule.skipped_overlap",
                    workflow_id=s.served.name,
                    origin="runtime",
                    firing=iso(firing),
                    message="the previous run is still going; this firing is skipped",
                )
            else:
                self.server.start(s.served, Text(iso(firing)), f"cron {iso(firing)}")
        return min((s.next_at for s in self.schedules if s.next_at is not None), default=None)

    async def _claim(self, s: CronSchedule, firing: datetime) -> bool:
        store = self.server.store
        if store is None:
            return True
        return await asyncio.to_thread(
            store.durable.claim_firing, s.served.name, iso(firing), owner_id()
        )

    async def _overlaps(self, s: CronSchedule) -> bool:
        if spec_of(s.served.workflow).allow_overlap:
            return False
        if s.served.running:
            return True
        store = self.server.store
        if store is None:
            return False
        return await asyncio.to_thread(store.durable.live_runs_of, s.served.name) > 0


@dataclass
class _Subscription:
    served: Served
    event_type: str
    rule: Rule | None


class EventTrigger:
    """Start event- and approval-triggered workflows once per matching ledger event."""

    name = "events"

    def __init__(self) -> None:
        self.subscriptions: list[_Subscription] = []
        self.cursor = 0

    def attach(self, server: Server) -> None:
        self.server = server
        for served in server.served:
            trigger = spec_of(served.workflow).trigger
            if cron_trigger_of(served.workflow) is not None or trigger.kind not in EVENT_TRIGGERS:
                continue
            event_type = trigger.event if trigger.kind == "event" else APPROVED_EVENT
            text = trigger.filter
            if trigger.kind == "hitl_approval" and trigger.action_type:
                extra = f"payload['action_type'] == {trigger.action_type!r}"
                text = f"({text}) and {extra}" if text else extra
            rule = (
                Rule(text, names=("event", "payload"), label=f"{served.name} trigger")
                if text
                else None
            )
            self.subscriptions.append(_Subscription(served, str(event_type), rule))

    def describe(self, served: Served) -> str | None:
        for sub in self.subscriptions:
            if sub.served is served:
                return f"on event {sub.event_type}"
        return None

    async def tick(self, now: datetime) -> datetime | None:
        store = self.server.store
        if store is None or not self.subscriptions:
            return None
        while True:
            batch = await asyncio.to_thread(store.ledger.list, after_id=self.cursor)
            if not batch:
                return None
            for event in batch:
                self.cursor = max(self.cursor, event.id)
                for sub in self.subscriptions:
                    if event.event_type != sub.event_type or not self._matches(sub, event):
                        continue
                    name = sub.served.name
                    if not await asyncio.to_thread(store.ledger.claim_delivery, name, event.id):
                        continue
                    payload = dict(event.payload)
                    if spec_of(sub.served.workflow).trigger.kind == "hitl_approval":
                        proposal = await self._approved_proposal(name, event)
                        if proposal is None:
                            continue
                        # The approved proposal's inputs (as stored) are the run's inputs.
                        payload = {
                            **dict(proposal.payload.get("inputs") or {}),
                            "_proposal_id": proposal.id,
                        }
                    self.server.start(
                        sub.served,
                        payload,
                        f"event {event.id}",
                        on_done=_remember(store, name, event.id),
                    )

    async def _approved_proposal(self, name: str, event: Any) -> Any:
        """The proposal ``event`` announces, if the store says the approver approved it;
        else ``None``, with ``trigger.refused`` logged (the delivery stays claimed)."""
        from ..approvals import APPROVED, configured_approver

        store = self.server.store
        assert store is not None
        raw_id = event.payload.get("proposal_id")
        proposal = None
        if isinstance(raw_id, int) or (isinstance(raw_id, str) and raw_id.isdigit()):
            proposal = await asyncio.to_thread(store.proposals.get, int(raw_id))
        approver = configured_approver(self.server.settings)
        if proposal is None:
            why = "no such proposal"
        elif proposal.status != APPROVED:
            why = f"the proposal is {proposal.status}, not approved"
        elif not approver or proposal.decided_by != approver:
            why = f"it was not decided by the configured approver ({approver or 'none set'})"
        elif event.idempotency_key != f"{APPROVED_EVENT}:{proposal.id}":
            why = "the event is not the one the approval recorded"
        else:
            return proposal
        self.server.log.warning(
            "trigger.refused",
            workflow_id=name,
            origin="runtime",
            event_id=event.id,
            event_type=event.event_type,
            proposal_id=raw_id,
            stored_status=proposal.status if proposal is not None else None,
            message=f"event {event.id} does not start {name}: {why}",
        )
        self.server.say(f"{name}: event {event.id} refused: {why}")
        return None

    def _matches(self, sub: _Subscription, event: Any) -> bool:
        if sub.rule is None:
            return True
        facts = {"type": event.event_type, "id": event.id, "key": event.idempotency_key}
        try:
            return bool(sub.rule.evaluate({"event": facts, "payload": event.payload}))
        except RuleError as exc:
            self.server.say(f"{sub.served.name}: trigger filter failed on event {event.id}: {exc}")
            return False


def _remember(store: Any, subscriber: str, event_id: int) -> Callable[[RunResult], None]:
    def done(result: RunResult) -> None:
        store.ledger.set_delivery_run(subscriber, event_id, result.run_id)

    return done


class ApprovalTrigger:
    """Continue runs paused at a gate once decided; expire proposals past their window."""

    name = "approvals"

    def __init__(self) -> None:
        self.cursor = 0
        self.next_expiry = 0.0
        # Runs with a decision not yet seen by a pass: run_id -> the proposal decided.
        self.decided: dict[str, Any] = {}

    def attach(self, server: Server) -> None:
        self.server = server

    async def tick(self, now: datetime) -> datetime | None:
        store = self.server.store
        if store is None:
            return None
        while True:
            batch = await asyncio.to_thread(store.ledger.list, after_id=self.cursor)
            if not batch:
                break
            for event in batch:
                self.cursor = max(self.cursor, event.id)
                if event.event_type in DECISION_EVENTS and event.payload.get("run_id"):
                    self.decided[str(event.payload["run_id"])] = event.payload.get("proposal_id")
        await self._resume_decided()
        await self._expire_due()
        return None

    async def _resume_decided(self) -> None:
        """Continue each run paused on a proposal that was decided (a gate, or one of its
        per-recipient reviews). A run still running when its decision came may have read
        that review before: it is continued once more when it pauses."""
        store = self.server.store
        assert store is not None
        for run_id, proposal_id in list(self.decided.items()):
            row = await asyncio.to_thread(store.durable.get, run_id)
            if row is not None and row.status in ("created", "running"):
                continue  # its pass may not have seen the decision: wait for it to pause
            del self.decided[run_id]
            if row is not None and row.status == "awaiting_approval":
                _continue(self.server, row, f"resumed after proposal {proposal_id}")

    async def _expire_due(self) -> None:
        loop_now = asyncio.get_running_loop().time()
        if loop_now < self.next_expiry:
            return
        self.next_expiry = loop_now + EXPIRE_EVERY_S
        from ..approvals import expire_due

        store = self.server.store
        if store is None:
            return
        try:
            expired = await asyncio.to_thread(expire_due, store)
        except Exception as exc:  # a store hiccup must not stop serve
            self.server.say(f"expiring proposals failed: {exc}")
            return
        for p in expired:
            self.server.say(f"proposal {p.id} ({p.action_type}) expired")


class RecoveryTrigger:
    """Take over runs whose owner's lease expired and continue them from their checkpoints."""

    name = "recovery"

    def __init__(self) -> None:
        self.refused: dict[str, str] = {}

    def attach(self, server: Server) -> None:
        self.server = server

    async def tick(self, now: datetime) -> datetime | None:
        store = self.server.store
        if store is None:
            return None
        for row in await asyncio.to_thread(store.durable.orphaned):
            if not row.source:
                continue  # built in code: nothing to reload; `runs` says so
            problem = await asyncio.to_thread(_changed, row, store.durable.workflows_dir)
            if problem is not None:
                if self.refused.get(row.run_id) != problem:
                    self.refused[row.run_id] = problem
                    self.server.say(problem)
                continue
            self.refused.pop(row.run_id, None)
            _continue(self.server, row, f"recovered from {row.owner}")
        return None


def _changed(row: RunRow, workflows_dir: Path) -> str | None:
    """Why the run cannot be continued from its file now, or ``None``."""
    path = workflow_file(row, workflows_dir)
    if path is None or not path.is_file():
        return f"run {row.run_id}: its workflow file {row.workflow_ref} is missing"
    now = file_hash(path)
    if row.source_hash and now != row.source_hash:
        return (
            f"run {row.run_id}: its workflow file {row.workflow_ref} changed since the run "
            f"started (sha256 {row.source_hash} then, {now} now); restore it to continue"
        )
    return None


def _continue(server: Server, row: RunRow, why: str) -> None:
    """Continue ``row`` on the server's executor (the run's lease decides who wins)."""
    try:
        workflow = load_for(row, server.store.durable.workflows_dir if server.store else Path())
    except ResumeError as exc:
        server.say(str(exc))
        return
    path = Path(workflow.source) if workflow.source else None
    server.start(Served(workflow, path), None, why, run_id=row.run_id, mode=mode_for(row))


class VerifyTrigger:
    """Run due verify checks at the configured minutes past each hour."""

    name = "verify"

    def attach(self, server: Server) -> None:
        self.server = server
        minutes = server.verify_minutes
        self.next_at: datetime | None = next_verify_time(server.now(), minutes) if minutes else None

    async def tick(self, now: datetime) -> datetime | None:
        store = self.server.store
        if self.next_at is None or store is None:
            return None
        if self.next_at <= now:
            self.next_at = next_verify_time(now, self.server.verify_minutes)
            outcomes = await run_due_checks(store, self.server.settings, now=now)
            for o in outcomes:
                self.server.say(f"verify {o.check.workflow_type}/{o.check.check_name}: {o.status}")
        return self.next_at
