"""``serve``: one asyncio loop that lets triggers start runs, and finishes what it started.

The server knows the workflows of a directory and nothing about *why* a run starts: each
trigger (registered through the ``register_triggers`` hook: cron, ledger events,
approvals, verify checks) is attached once, then ticked; a tick does the trigger's due work
and says when it next wants to be ticked. Runs execute on an executor (``register_executors``;
in-process by default). Stopping (SIGINT/SIGTERM or :meth:`Server.stop`) stops new work and
waits for the runs in flight.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator_blocks.kernel.loader import (
    WorkflowLoadError,
    load_module,
    load_workflow,
    loaders_of,
    mark_source,
    workflows_in_module,
)
from orchestrator_blocks.kernel.plugin_host import PluginHost, default_host
from orchestrator_blocks.kernel.result import RunResult
from orchestrator_blocks.kernel.telemetry import get_logger, sinks_installed, telemetry_for
from orchestrator_blocks.kernel.workflow import Workflow
from orchestrator_blocks.sdk import Settings
from orchestrator_blocks.sdk.durable import RunMode, RunOwned

from ..store import Store

__all__ = ["Served", "Server", "discover_workflows", "executor_for", "iso", "triggers_of"]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def discover_workflows(directory: Path) -> tuple[list[tuple[Path, Workflow]], list[str]]:
    """Every workflow in ``directory``'s ``*.py`` files and files a registered loader reads
    (``*.yaml``), and the problems of files that could not be loaded (never fatal)."""
    found: list[tuple[Path, Workflow]] = []
    problems: list[str] = []
    suffixes = loaders_of().suffixes
    files = (
        sorted(p for p in directory.iterdir() if p.suffix in suffixes) if directory.is_dir() else []
    )
    for path in files:
        if path.name.startswith("_"):
            continue
        try:
            if path.suffix == ".py":
                workflows = workflows_in_module(load_module(path))
                for w in workflows:
                    mark_source(w, path)
            else:
                workflows = [load_workflow(path)]
        except WorkflowLoadError as exc:
            problems.append(str(exc))
            continue
        found.extend((path, w) for w in workflows)
    return found, problems


@dataclass
class Served:
    """One workflow the server may start, and its runs in flight."""

    workflow: Workflow
    source: Path | None = None
    running: set[asyncio.Task[RunResult]] = field(default_factory=set)

    @property
    def name(self) -> str:
        return self.workflow.id


class _Triggers:
    def __init__(self) -> None:
        self.items: list[Any] = []

    def add(self, trigger: Any) -> None:
        self.items.append(trigger)


class _Executors:
    def __init__(self) -> None:
        self.named: dict[str, Callable[[Settings], Any]] = {}

    def add(self, name: str, factory: Callable[[Settings], Any]) -> None:
        self.named[name] = factory


def triggers_of(host: PluginHost | None = None) -> list[Any]:
    """Every trigger the plugins register (fresh instances for one server)."""
    found = _Triggers()
    (host or default_host()).pm.hook.register_triggers(triggers=found)
    return found.items


def executor_for(settings: Settings, host: PluginHost | None = None) -> Any:
    """The executor named by ``ORCHESTRATOR_BLOCKS_EXECUTOR`` (default ``in_process``)."""
    found = _Executors()
    (host or default_host()).pm.hook.register_executors(executors=found)
    name = settings.get("EXECUTOR") or "in_process"
    factory = found.named.get(name)
    if factory is None:
        known = ", ".join(sorted(found.named)) or "none"
        raise LookupError(f"no executor named {name!r} (installed: {known})")
    return factory(settings)


class Server:
    """The ``serve`` loop over the triggers; ``await server.run()`` until stopped."""

    def __init__(
        self,
        workflows: Iterable[tuple[Path | None, Workflow]],
        settings: Settings,
        store: Store | None,
        *,
        triggers: list[Any] | None = None,
        executor: Any = None,
        verify_minutes: list[int] | None = None,
        poll_s: float = 0.5,
        say: Callable[[str], None] = print,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.served = [Served(w, source) for source, w in workflows]
        self.settings = settings
        self.store = store
        self.verify_minutes = list(verify_minutes or [])
        self.poll_s = poll_s
        self.say = say
        self.now = now
        self.log = get_logger()
        self.executor = executor if executor is not None else executor_for(settings)
        self._stop = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._due: dict[int, datetime | None] = {}
        self.triggers = triggers if triggers is not None else triggers_of()
        for trigger in self.triggers:
            trigger.attach(self)

    def stop(self) -> None:
        self._stop.set()

    def trigger(self, kind: type) -> Any:
        """The attached trigger of class ``kind`` (tests and the CLI banner)."""
        return next(t for t in self.triggers if isinstance(t, kind))

    async def run(self) -> None:
        sinks = telemetry_for(self.settings).run_sinks()
        try:
            while not self._stop.is_set():
                with sinks_installed(*sinks):
                    now = self.now()
                    for trigger in self.triggers:
                        self._due[id(trigger)] = await self._tick(trigger, now)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=self._sleep_for())
        finally:
            await self.drain()

    async def _tick(self, trigger: Any, now: datetime) -> datetime | None:
        try:
            due: datetime | None = await trigger.tick(now)
        except Exception as exc:  # one trigger's trouble must not stop the others
            self.say(f"{trigger.name}: {type(exc).__name__}: {exc}")
            return None
        return due

    def _sleep_for(self) -> float:
        now = self.now()
        dues = [d for d in self._due.values() if d is not None]
        wait = min(((d - now).total_seconds() for d in dues), default=self.poll_s)
        return max(0.01, min(wait, self.poll_s))

    async def drain(self) -> None:
        """Wait for every in-flight run (shutdown finishes what it started)."""
        if self._tasks:
            self.say(f"waiting for {len(self._tasks)} run(s) to finish")
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def start(
        self,
        served: Served,
        payload: Any,
        why: str,
        *,
        run_id: str | None = None,
        mode: RunMode = "new",
        on_done: Callable[[RunResult], None] | None = None,
    ) -> asyncio.Task[RunResult]:
        """Run ``served``'s workflow with ``payload`` on the executor; say how it ended.

        ``mode`` ``continue``/``retry`` goes on with ``run_id`` (sdk.durable); a run another
        process already took (``RunOwned``) is left to it quietly."""
        coro = self.executor.run(served.workflow, payload, run_id=run_id, mode=mode)
        task: asyncio.Task[RunResult] = asyncio.create_task(coro, name=f"{served.name}:{why}")
        served.running.add(task)
        self._tasks.add(task)

        def done(t: asyncio.Task[RunResult]) -> None:
            served.running.discard(t)
            self._tasks.discard(t)
            if t.cancelled():
                return
            if (exc := t.exception()) is not None:
                if not isinstance(exc, RunOwned):
                    self.say(f"{served.name}: run {run_id or ''} not run: {exc}")
                return
            result = t.result()
            self.say(f"{served.name}: run {result.run_id} {result.status} ({why})")
            if on_done is not None:
                with contextlib.suppress(Exception):
                    on_done(result)

        task.add_done_callback(done)
        return task
