"""Kernel services a block reaches through its ``RunContext`` (DESIGN §1 layer rules).

Plugins never import the kernel; everything they need from it (settings, clock, tracing,
per-run shared resources such as one HTTP client, child-workflow execution, the iteration
budget) arrives on ``ctx.services``. The kernel builds one :class:`Services` per root run
and closes it when the run ends; child runs share their root's services.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pydantic import SecretStr

from .errors import ErrorEnvelope

if TYPE_CHECKING:
    from .context import RunContext
    from .values import Value

__all__ = [
    "Budget",
    "ChildOutcome",
    "ChildRunner",
    "Clock",
    "IterationBudgetExceeded",
    "NoopTracing",
    "Services",
    "Settings",
    "Span",
    "SqlDatabase",
    "StoreService",
    "SystemClock",
    "Tracing",
    "utc_now_iso",
]

T = TypeVar("T")


def utc_now_iso(now: datetime | None = None) -> str:
    """ISO 8601 UTC with milliseconds: the ``ts`` format of every event and envelope."""
    return (now or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Clock(Protocol):
    def now(self) -> datetime: ...
    def monotonic(self) -> float: ...
    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock (UTC wall time, monotonic durations, asyncio sleeps)."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Span(Protocol):
    """The slice of a tracing span a block may touch."""

    @property
    def trace_id(self) -> str | None: ...
    @property
    def span_id(self) -> str | None: ...
    def set_attribute(self, key: str, value: Any) -> None: ...
    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None: ...
    def record_error(self, envelope: ErrorEnvelope) -> None: ...


class Tracing(Protocol):
    def span(
        self, name: str, attributes: Mapping[str, Any] | None = None
    ) -> AbstractContextManager[Span]: ...


class _NoopSpan:
    trace_id: str | None = None
    span_id: str | None = None

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        return None

    def record_error(self, envelope: ErrorEnvelope) -> None:
        return None


class NoopTracing:
    """Tracing that records nothing (when telemetry is off, and in SDK unit tests)."""

    _span = _NoopSpan()

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
        yield self._span


class IterationBudgetExceeded(Exception):
    """Raised by :meth:`Budget.spend` when a run exhausts its iteration budget.

    The executor lets it through untouched; the runtime ends the run ``failed`` with code
    ``graph.iteration_budget_exceeded``. Block code must not swallow it.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"the run exceeded its iteration budget of {limit} block executions; "
            "raise it with Workflow.set_iteration_budget(n) if this is expected"
        )


class Budget:
    """Counts block executions (attempts and fan-out items) across a run and its children."""

    def __init__(self, limit: int) -> None:
        if limit <= 0:
            raise ValueError(f"iteration budget must be > 0, got {limit}")
        self.limit = limit
        self.spent = 0

    def spend(self, n: int = 1) -> None:
        self.spent += n
        if self.spent > self.limit:
            raise IterationBudgetExceeded(self.limit)


@dataclass(frozen=True, slots=True)
class ChildOutcome:
    """What a child workflow run produced, as the ``child_workflow`` family sees it."""

    workflow_id: str
    run_id: str
    status: str
    output: Value
    error: ErrorEnvelope | None


class ChildRunner(Protocol):
    async def __call__(self, workflow: Any, value: Value, ctx: RunContext) -> ChildOutcome: ...


class SqlDatabase(Protocol):
    """A named database a block may query (``databases:`` in the config; ``local`` is the
    engine's own store). Statements take bound parameters only (``:name`` style); failures
    raise :class:`SqlError` with a kind."""

    name: str

    async def query(
        self, sql: str, params: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]: ...

    async def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> int: ...


class StoreService(Protocol):
    """The slice of the engine's store that block families may use."""

    async def record_event(
        self,
        event_type: str,
        payload: Mapping[str, Any],
        idempotency_key: str,
        *,
        workflow_id: str | None = None,
        run_id: str | None = None,
    ) -> tuple[int, bool]: ...

    async def kill_switch_engaged(self, name: str) -> bool: ...

    async def stage_proposal(
        self,
        *,
        action_type: str,
        entity_ref: str,
        payload: Mapping[str, Any],
        risk_level: int,
        workflow_type: str | None,
        run_id: str | None,
        window_minutes: float,
    ) -> dict[str, Any]:
        """Stage a proposal once per ``entity_ref``; returns the row (new or existing) as a
        dict with ``id``, ``status`` (pending/approved/rejected/expired), ``expires_at``..."""
        ...

    async def expire_proposal(self, proposal_id: int) -> bool: ...

    async def claim_send(
        self,
        key: str,
        *,
        workflow_id: str,
        run_id: str,
        recipient: str,
        message_id: str,
        customer_id: str | None = None,
        related_workflow: str | None = None,
    ) -> tuple[bool, dict[str, Any] | None]:
        """Claim an idempotency key before delivering: ``(True, None)`` to send, else
        ``(False, existing)`` (``status`` sent, or sending = outcome unknown)."""
        ...

    async def finish_send(self, key: str, status: str, *, error: str | None = None) -> None: ...


def _env_path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name)
    return Path(raw).expanduser() if raw else default


def _env_secret(env: Mapping[str, str], name: str) -> SecretStr | None:
    raw = env.get(name)
    return SecretStr(raw) if raw else None


@dataclass(frozen=True)
class Settings:
    """Configuration read from ``ORCHESTRATOR_BLOCKS_*`` environment variables.

    Secrets are :class:`pydantic.SecretStr`, so they print as ``**********`` in logs and
    reprs; read them with ``.get_secret_value()`` at the point of use only.
    """

    home: Path
    files_root: Path
    smtp_url: SecretStr | None = None
    ai_url: str | None = None
    ai_key: SecretStr | None = None
    ai_model: str | None = None
    db_url: SecretStr | None = None
    approver: str | None = None
    databases: Mapping[str, SecretStr] = field(default_factory=dict)
    extra: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        prefix = "ORCHESTRATOR_BLOCKS_"
        return cls(
            home=_env_path(env, prefix + "HOME", Path.home() / ".orchestrator-blocks"),
            files_root=_env_path(env, prefix + "FILES_ROOT", Path.cwd()),
            smtp_url=_env_secret(env, prefix + "SMTP_URL"),
            ai_url=env.get(prefix + "AI_URL") or None,
            ai_key=_env_secret(env, prefix + "AI_KEY"),
            ai_model=env.get(prefix + "AI_MODEL") or None,
            db_url=_env_secret(env, prefix + "DB_URL"),
            approver=env.get(prefix + "APPROVER") or None,
            extra={k: v for k, v in env.items() if k.startswith(prefix)},
        )

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def state_db(self) -> Path:
        return self.home / "state.db"


class Services:
    """What the kernel lends a run. One instance per root run; children share it."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock | None = None,
        tracing: Tracing | None = None,
        budget: Budget | None = None,
        child_runner: ChildRunner | None = None,
        sql: Callable[[str], SqlDatabase] | None = None,
        store: StoreService | None = None,
        extras: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.tracing: Tracing = tracing or NoopTracing()
        self.budget = budget or Budget(1_000_000)
        self._child_runner = child_runner
        self._sql = sql
        self._store = store
        self._resources: dict[str, tuple[Any, Callable[[Any], Any] | None]] = {}
        self._extras = dict(extras or {})
        self.partial: list[dict[str, Any]] = []

    def report_partial(self, block_id: str | None, counts: Mapping[str, Any]) -> None:
        """A block that succeeded for some items and failed for others (a fan-out) says so:
        the root run then ends ``partial`` instead of ``succeeded``."""
        self.partial.append({"block_id": block_id, **counts})

    async def run_child(self, workflow: Any, value: Value, ctx: RunContext) -> ChildOutcome:
        """Run ``workflow`` as a child of ``ctx``'s run and return its outcome (never raises
        for a failed child: the outcome says ``failed`` and carries the child's envelope)."""
        if self._child_runner is None:
            raise RuntimeError("this run context cannot start child workflows")
        return await self._child_runner(workflow, value, ctx)

    def sql(self, database: str = "local") -> SqlDatabase:
        """The named database (``local``: the engine's store). Unknown names raise
        ``LookupError`` listing the configured ones."""
        if self._sql is None:
            raise LookupError("this run has no SQL databases configured")
        return self._sql(database)

    @property
    def store(self) -> StoreService:
        """The engine's store (event ledger, kill switches, ...)."""
        if self._store is None:
            raise LookupError("this run has no state store")
        return self._store

    def resource(
        self,
        key: str,
        factory: Callable[[], T],
        close: Callable[[T], Awaitable[None] | None] | None = None,
    ) -> T:
        """A per-run shared object (e.g. one ``httpx.AsyncClient``), created on first use
        and closed by the kernel when the run ends."""
        if key not in self._resources:
            self._resources[key] = (factory(), close)
        obj: T = self._resources[key][0]
        return obj

    def extra(self, name: str) -> Any:
        """A service a later kernel version or a host application added by name."""
        try:
            return self._extras[name]
        except KeyError:
            raise LookupError(f"no kernel service named {name!r} in this run") from None

    async def aclose(self) -> None:
        """Close every resource in reverse order of creation; one failure never hides another."""
        errors: list[BaseException] = []
        for obj, close in reversed(list(self._resources.values())):
            if close is None:
                continue
            try:
                result = close(obj)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                errors.append(exc)
        self._resources.clear()
        if errors:
            raise errors[0]
