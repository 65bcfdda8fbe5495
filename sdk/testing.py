"""The plugin author's test kit: an opt-in pytest plugin (pytest's ``pytester``, for blocks).

Enable it in a ``conftest.py``::

    pytest_plugins = ["orchestrator_blocks.sdk.testing"]

Fixtures (each documented in ``docs/plugins.md``):

=====================  =================================================================
fixture                what it gives
=====================  =================================================================
``fake_clock``         a :class:`FakeClock`: backoff, ``Retry-After`` and ``ctx.clock``
                       sleeps return at once and are recorded (``fake_clock.delays_ms``)
``block_harness``      a :class:`BlockHarness`: one block type through the real executor
                       (retries, timeouts, events), on the fake clock, logs captured and
                       redacted like the engine's
``run_workflow``       a :class:`WorkflowRunner`: whole workflows on the real runtime with
                       only ``plugins_under_test`` and ``builtin_plugins`` registered
``plugins_under_test`` override it: the plugin objects or modules ``run_workflow``
                       registers (default: none)
``builtin_plugins``    override it: entry-point names of installed plugins to load too,
                       e.g. ``["transform"]`` (default: none)
=====================  =================================================================

Checks: :func:`check_block_type`, :func:`check_family`, :func:`check_registry` assert the
SDK's contract for a type (namespaced codes, each with a retry disposition and a meaning, a
description, a sane default policy). :func:`value_of` unwraps a successful outcome.

Timeouts are real time (the executor bounds an attempt with ``asyncio.timeout``): give a
block a short timeout in a test (``policy=Policy(timeout_ms=50)``) rather than a long wait.

The context sees only the environment it is given (``env=``): ``ctx.settings`` and
``ctx.secret(name)`` never read the process environment, so a test decides exactly which
settings and secrets a block has.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog

from . import _logfields
from ._executor import Outcome, execute_block
from .context import RunContext
from .family import Family, code_namespace
from .policy import Policy
from .redaction import redact_event
from .registry import BlockType, Registry
from .services import Budget, Services
from .settings import ENV_PREFIX, Settings
from .values import Empty, Value, as_value

__all__ = [
    "BlockHarness",
    "CapturedLogs",
    "FakeClock",
    "Outcome",
    "WorkflowRunner",
    "block_harness",
    "builtin_plugins",
    "check_block_type",
    "check_family",
    "check_registry",
    "fake_clock",
    "make_context",
    "plugins_under_test",
    "run_workflow",
    "value_of",
]

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class FakeClock:
    """A clock whose sleeps return at once: time moves only when something sleeps.

    Implements the SDK's ``Clock`` protocol. ``now()`` starts at ``start`` (2026-01-01
    UTC) and ``monotonic()`` at 0; ``await sleep(s)`` records ``s`` and advances both, so
    an HTTP-date ``Retry-After`` computed against ``ctx.clock.now()`` is exact. The
    executor's backoff sleeps go through the clock: a test asserts the delays exactly
    (``delays_ms == [1000, 2000]``) and spends no time waiting.
    """

    def __init__(self, start: datetime = EPOCH) -> None:
        if start.utcoffset() is None:
            raise ValueError("FakeClock needs a timezone-aware start time")
        self.start = start
        self.elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)

    def advance(self, seconds: float) -> None:
        """Move time forward without a sleep (a test simulating time passing)."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.elapsed += seconds

    @property
    def delays_ms(self) -> list[int]:
        """Every sleep so far, in whole milliseconds, in order."""
        return [round(s * 1000) for s in self.sleeps]


@dataclass
class CapturedLogs:
    """Every event logged through a kit context, redacted as the engine redacts its logs.

    ``events`` holds dicts with the event name under ``"event"``, its ``"level"`` and the
    correlation fields bound at the time (``block_id``, ``attempt``, ...).
    """

    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, _logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        event = dict(redact_event(event_dict))
        event["level"] = "warning" if method == "warn" else method
        self.events.append(event)
        raise structlog.DropEvent

    def named(self, event: str) -> list[dict[str, Any]]:
        """The captured events called ``event`` (``"block.retry_scheduled"``), in order."""
        return [e for e in self.events if e.get("event") == event]

    def clear(self) -> None:
        self.events.clear()


def _settings(home: Path, env: Mapping[str, str] | None) -> Settings:
    environ = {ENV_PREFIX + "HOME": str(home), ENV_PREFIX + "FILES_ROOT": str(home)}
    environ.update(env or {})
    return Settings.from_env(environ)


def make_context(
    *,
    home: Path,
    workflow_id: str = "test",
    run_id: str = "test-run",
    block_id: str = "block",
    logs: CapturedLogs | None = None,
    env: Mapping[str, str] | None = None,
    clock: FakeClock | None = None,
    services: Mapping[type, object] | None = None,
) -> tuple[RunContext, CapturedLogs]:
    """A real run context rooted at ``home`` with captured logs (no kernel involved).

    ``env`` holds settings by their full names (``ORCHESTRATOR_BLOCKS_GITHUB_TOKEN``), read
    instead of the process environment (never ``os.environ``); ``services`` what
    ``ctx.service(Protocol)`` finds.
    """
    captured = logs if logs is not None else CapturedLogs()
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[_logfields.merge_into, captured],
    )
    run_services = Services(
        settings=_settings(home, env),
        clock=clock,
        budget=Budget(10_000),
        provided=services,
    )
    ctx = RunContext(
        workflow_id=workflow_id, run_id=run_id, services=run_services, log=logger, block_id=block_id
    )
    return ctx, captured


class BlockHarness:
    """Run one block type at a time through the real executor.

    ``logs`` collects every event (``block.started``, ``block.retry_scheduled`` with its
    ``delay_ms``, what the block logs itself); ``clock`` is the fake clock every run uses;
    ``env`` (full ``ORCHESTRATOR_BLOCKS_*`` names) and ``services`` apply to every run.
    """

    def __init__(self, home: Path, clock: FakeClock | None = None) -> None:
        self.home = home
        self.clock = clock if clock is not None else FakeClock()
        self.logs = CapturedLogs()
        self.env: dict[str, str] = {}
        self.services: dict[type, object] = {}

    async def run_async(
        self,
        block_type: BlockType,
        value: Any = None,
        /,
        *,
        config: Mapping[str, Any] | None = None,
        policy: Policy | None = None,
        env: Mapping[str, str] | None = None,
        block_id: str | None = None,
    ) -> Outcome:
        """Execute ``block_type`` once (all its attempts) on ``value``.

        ``config`` is the block's configuration, bound and validated exactly as
        ``Block.<type_id>(**config)`` would (any key is allowed: nothing is reserved).
        ``policy`` replaces the type's default policy; ``env`` adds settings for this run.
        Returns the executor's :class:`Outcome`: ``value``, ``error`` (the
        ``ErrorEnvelope``, or ``None``), ``attempts`` and ``ok``.
        """
        ctx, _ = make_context(
            home=self.home,
            logs=self.logs,
            env={**self.env, **(env or {})},
            block_id=block_id or block_type.type_id,
            clock=self.clock,
            services=self.services,
        )
        bound = block_type.configure(**dict(config or {}))
        try:
            return await execute_block(
                block_type,
                bound,
                policy or block_type.default_policy,
                ctx.evolve(block_type=block_type.type_id),
                as_value(value) if value is not None else Empty(),
            )
        finally:
            await ctx.services.aclose()

    def run(
        self,
        block_type: BlockType,
        value: Any = None,
        /,
        *,
        config: Mapping[str, Any] | None = None,
        policy: Policy | None = None,
        env: Mapping[str, str] | None = None,
        block_id: str | None = None,
    ) -> Outcome:
        """:meth:`run_async` from synchronous code (not from a running event loop)."""
        return asyncio.run(
            self.run_async(
                block_type, value, config=config, policy=policy, env=env, block_id=block_id
            )
        )

    @property
    def delays_ms(self) -> list[int]:
        """The ``delay_ms`` of every ``block.retry_scheduled`` so far, in order."""
        return [int(e["delay_ms"]) for e in self.logs.named("block.retry_scheduled")]


def _kernel(module: str) -> Any:
    """A kernel module, for whole-workflow runs only.

    The SDK never imports the kernel statically: ``import orchestrator_blocks.sdk`` must
    stay light and the layer contracts hold it. Running a workflow needs the runtime,
    though, so the kit resolves it by name when a test first asks for a run, the way the
    facade resolves its names (tests/unit/test_architecture.py checks that importing the
    kit imports no kernel module).
    """
    return importlib.import_module(f"orchestrator_blocks.kernel.{module}")


class WorkflowRunner:
    """Whole workflows on the real runtime, with only chosen plugins registered.

    While the ``run_workflow`` fixture is active, ``ob.Block.<type_id>`` resolves through
    a plugin host holding only ``plugins_under_test`` and ``builtin_plugins`` (entry
    points by name), so the test proves the plugin works without anything else installed
    helping it. Runs use the fake clock, a temporary home, no store (unless
    ``builtin_plugins`` names one) and settings from ``env`` only, not the process
    environment.
    """

    def __init__(
        self,
        home: Path,
        clock: FakeClock,
        plugins: Sequence[Any] = (),
        builtins: Iterable[str] = (),
    ) -> None:
        self.home = home
        self.clock = clock
        self.env: dict[str, str] = {ENV_PREFIX + "LOGS": "off"}
        plugin_host = _kernel("plugin_host")
        self.host = plugin_host.PluginHost(load_entry_points=False)
        wanted = tuple(builtins)
        if wanted:
            self.host.load_entry_points(only=wanted)
            missing = sorted(set(wanted) - {p.name for p in self.host.plugins})
            if missing:
                failures = {f.name: f.reason for f in self.host.failures}
                why = "; ".join(f"{m}: {failures.get(m, 'no such entry point')}" for m in missing)
                raise LookupError(f"builtin_plugins not loaded: {why}")
        for plugin in plugins:
            self.host.register(plugin)

    @property
    def registry(self) -> Registry:
        """The block types this runner's host knows."""
        registry: Registry = self.host.registry
        return registry

    @property
    def active(self) -> Any:
        """A context manager making this runner's host the process-wide one."""
        return _kernel("plugin_host").hosting(self.host)

    async def run_async(
        self,
        workflow: Any,
        input: Any = None,
        *,
        timeout_ms: int | None = None,
        env: Mapping[str, str] | None = None,
        run_id: str | None = None,
    ) -> Any:
        """Run ``workflow`` once; returns its ``RunResult`` (``status``, ``error``,
        ``events``, ``output(block)``...)."""
        settings = _settings(self.home, {**self.env, **(env or {})})
        runtime = _kernel("runtime")
        return await runtime.run_workflow(
            workflow,
            input,
            timeout_ms=timeout_ms,
            run_id=run_id,
            settings=settings,
            host=self.host,
            clock=self.clock,
        )

    def __call__(
        self,
        workflow: Any,
        input: Any = None,
        *,
        timeout_ms: int | None = None,
        env: Mapping[str, str] | None = None,
        run_id: str | None = None,
    ) -> Any:
        """:meth:`run_async` from synchronous code (not from a running event loop)."""
        return asyncio.run(
            self.run_async(workflow, input, timeout_ms=timeout_ms, env=env, run_id=run_id)
        )


def check_block_type(block_type: BlockType) -> None:
    """Assert the SDK contract for one block type (raises ``AssertionError``).

    Codes are namespaced under the domain and each declares its retry disposition and a
    meaning (declare them with ``sdk.Code`` or a family); the timeout code is declared;
    the default policy is sane; the type has a description (its docstring).
    """
    tid = block_type.type_id
    prefix = code_namespace(block_type.domain) + "."
    assert block_type.domain, f"{tid}: no domain"
    assert block_type.codes, f"{tid}: declares no domain codes"
    for code in sorted(block_type.codes):
        assert code.startswith(prefix), f"{tid}: {code} not under {prefix}"
        entry = block_type.code_table[code]
        assert entry.retry is not None, f"{tid}: {code} declares no retry disposition"
        assert entry.meaning, f"{tid}: {code} declares no meaning"
    policy = block_type.default_policy
    assert policy.retries >= 0
    assert policy.timeout_ms is None or policy.timeout_ms > 0
    if block_type.timeout_code is not None:
        assert block_type.timeout_code in block_type.codes
    assert block_type.description, f"{tid}: no description (docstring)"


def check_family(family: Family) -> list[str]:
    """Assert the SDK contract for a family and every type declared through it; returns
    the type ids checked."""
    assert family.types, f"family {family.name}: no block type declared through it"
    for entry in family.codes.values():
        assert entry.retry is not None, f"family {family.name}: {entry.code} has no disposition"
        assert entry.meaning, f"family {family.name}: {entry.code} has no meaning"
    return check_registry(family)


def check_registry(registry: Registry | Iterable[BlockType]) -> list[str]:
    """Check every type of a registry (or family); returns the type ids checked."""
    checked = []
    for bt in registry:
        check_block_type(bt)
        checked.append(bt.type_id)
    return checked


def value_of(outcome: Outcome) -> Value:
    """The outcome's value, failing the test with the envelope if the block failed."""
    if outcome.error is not None:
        raise AssertionError(f"block failed: {outcome.error.code}: {outcome.error.message}")
    return outcome.value


@pytest.fixture
def fake_clock() -> FakeClock:
    """A :class:`FakeClock` shared by ``block_harness`` and ``run_workflow`` in a test."""
    return FakeClock()


@pytest.fixture
def block_harness(tmp_path: Path, fake_clock: FakeClock) -> BlockHarness:
    """A :class:`BlockHarness` on the fake clock, rooted in a temporary home directory."""
    home = tmp_path / "block-harness"
    home.mkdir(exist_ok=True)
    return BlockHarness(home, fake_clock)


@pytest.fixture
def plugins_under_test() -> Sequence[Any]:
    """The plugins ``run_workflow`` registers; override it in your ``conftest.py``::

    @pytest.fixture
    def plugins_under_test():
        return [my_plugin_module]
    """
    return []


@pytest.fixture
def builtin_plugins() -> Sequence[str]:
    """Entry-point names of installed plugins ``run_workflow`` loads too (``["transform"]``);
    override it like :func:`plugins_under_test`."""
    return []


@pytest.fixture
def run_workflow(
    tmp_path: Path,
    fake_clock: FakeClock,
    plugins_under_test: Sequence[Any],
    builtin_plugins: Sequence[str],
) -> Iterator[WorkflowRunner]:
    """A :class:`WorkflowRunner`; ``ob.Block`` resolves through its host during the test."""
    home = tmp_path / "workflow-home"
    home.mkdir(exist_ok=True)
    runner = WorkflowRunner(home, fake_clock, plugins_under_test, builtin_plugins)
    with runner.active:
        yield runner
