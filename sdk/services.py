"""What a block reaches through its ``RunContext`` (DESIGN §1 layer rules).

Plugins never import the kernel; everything they need from it arrives on ``ctx.services``:
the core (settings, clock, tracing, per-run shared resources such as one HTTP client,
child-workflow execution, the iteration budget) as attributes, and whatever other plugins
provide as typed protocols looked up with ``ctx.service(...)``: :class:`SqlDatabases`,
:class:`SendLog`, :class:`KillSwitches`, :class:`ApprovalDesk`, :class:`FanOutItems`. The
kernel builds one :class:`Services` per root run and closes it when the run ends; child
runs share it.
"""

from __future__ import annotations

import contextvars
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import getrandbits
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .errors import ErrorEnvelope
from .settings import Settings

if TYPE_CHECKING:
    from .context import RunContext
    from .values import Value

__all__ = [
    "ApprovalDesk",
    "Budget",
    "ChildOutcome",
    "ChildRunner",
    "Clock",
    "FanOutItems",
    "IdTracing",
    "ItemDispatcher",
    "IterationBudgetExceeded",
    "KillSwitches",
    "NoopTracing",
    "SendLog",
    "Services",
    "Span",
    "SqlDatabase",
    "SqlDatabases",
    "SystemClock",
    "Tracing",
    "utc_now_iso",
]

T = TypeVar("T")


def utc_now_iso(now: datetime | None = None) -> str:
    """ISO 8601 UTC with milliseconds: the ``ts`` format of every event and envelope."""
    # Every event and block asks for the time: the text of a millisecond is made once.
    if now is None:
        ms = _time_ns() // 1_000_000
    elif now.tzinfo is UTC:
        ms = (now - _EPOCH) // _MS
    else:
        return now.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if ms == _last_ms:
        return _last_text
    return _text_of(ms)


def _text_of(ms: int) -> str:
    global _last_ms, _last_text, _second, _second_text
    second = ms // 1000
    if second != _second:
        _second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    text = f"{_second_text}.{ms - second * 1000:03d}Z"
    _last_ms, _last_text = ms, text  # (a race between threads: both texts are right)
    return text


_time_ns = time.time_ns
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_second, _second_text = -1, ""
_last_ms, _last_text = -1, ""


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
        import asyncio  # (not at import: a plugin that never sleeps need not load it)

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

    def __enter__(self) -> _NoopSpan:  # its own context manager: no generator per span
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        return None

    def record_error(self, envelope: ErrorEnvelope) -> None:
        return None


class NoopTracing:
    """Tracing that records nothing (when telemetry is off, and in SDK unit tests)."""

    _span = _NoopSpan()

    def span(self, name: str, attributes: Mapping[str, Any] | None = None) -> _NoopSpan:
        return self._span


class _IdSpan:
    """A span nothing records: its ids, for the log lines; the rest is ignored."""

    __slots__ = ("_token", "span_id", "trace_id")

    def __init__(self, trace_id: str | None, span_id: str) -> None:
        self.trace_id, self.span_id = trace_id, span_id

    def __enter__(self) -> _IdSpan:
        self._token = _current.set(self)
        return self

    def __exit__(self, *_exc: object) -> None:
        _current.reset(self._token)

    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        return None

    def record_error(self, envelope: ErrorEnvelope) -> None:
        return None


_current: contextvars.ContextVar[_IdSpan | None] = contextvars.ContextVar(
    "orchestrator_blocks_id_span", default=None
)


class IdTracing:
    """Tracing with no exporter: one trace id per root run (children inherit it), a fresh
    span id per run and block execution, in the same formats as OpenTelemetry's."""

    def span(self, name: str, attributes: Mapping[str, Any] | None = None) -> _IdSpan:
        parent = _current.get()
        trace_id = parent.trace_id if parent is not None else f"{getrandbits(128) or 1:032x}"
        return _IdSpan(trace_id, f"{getrandbits(64) or 1:016x}")


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


class SqlDatabases(Protocol):
    """The SQL service: ``ctx.service(SqlDatabases).get("crm")``."""

    def get(self, name: str = "local") -> SqlDatabase:
        """The named database; unknown names raise ``LookupError`` listing the known ones."""
        ...

    def names(self) -> list[str]: ...


class KillSwitches(Protocol):
    """Named switches an operator turns on to stop writes (``orchestrator-blocks kill on``)."""

    async def engaged(self, name: str) -> bool:
        """Whether switch ``name`` is on; raises :class:`StateStoreError` when unknowable
        (callers fail closed: an unreadable switch counts as on)."""
        ...


class ApprovalDesk(Protocol):
    """Where a family stages what a human must approve, and learns the decision."""

    @property
    def approver(self) -> str | None:
        """The one person who may decide (``None`` when nobody is configured)."""
        ...

    @property
    def window_minutes(self) -> float:
        """How long a proposal stays open unless the family asks for another window."""
        ...

    async def stage(
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
        dict with ``id``, ``status`` (pending/approved/rejected/expired), ``expires_at``,
        ``decided_by``, ``note``."""
        ...

    async def expire(self, proposal_id: int) -> bool:
        """Mark a pending proposal expired (its window passed); False if already decided."""
        ...


class SendLog(Protocol):
    """Idempotency claims for messages sent outside the run (one row per key)."""

    async def claim(
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
        """Claim ``key`` before delivering: ``(True, None)`` to send, else
        ``(False, existing)`` (``status`` sent, or sending = outcome unknown)."""
        ...

    async def finish(self, key: str, status: str, *, error: str | None = None) -> None: ...


class FanOutItems(Protocol):
    """One row per item of a fan-out (``run_id, block_id, item_key``): a continued or
    retried fan-out starts only the items that did not finish, and counts from the rows."""

    async def open(
        self, run_id: str, block_id: str, run_attempt: int, keys: Sequence[str]
    ) -> dict[str, str]:
        """Register the items; return those already finished (``key -> status``). Items
        ``awaiting_review`` start again on every pass; on a new attempt, ``failed`` and
        ``not_started`` items do too; ``sent``, ``skipped``, ``unknown`` and ``rejected``
        ones never are."""
        ...

    async def finish(
        self,
        run_id: str,
        block_id: str,
        key: str,
        status: str,
        *,
        attempts: int = 1,
        code: str | None = None,
    ) -> None: ...

    async def close(self, run_id: str, block_id: str) -> dict[str, int]:
        """Mark what never started ``not_started``; return the counts by status."""
        ...

    # Across workers (see ItemDispatcher): claims under a lease, a shared stop.

    async def claim(self, run_id: str, block_id: str, key: str, owner: str, lease_s: float) -> bool:
        """Take an item to run it (``pending``, or held under an expired lease); one wins."""
        ...

    async def renew(
        self, run_id: str, block_id: str, keys: Sequence[str], owner: str, lease_s: float
    ) -> None: ...

    async def due(self, run_id: str, block_id: str, redispatch_s: float) -> list[str]:
        """Items no live worker holds: never dispatched, long queued, or a dead claim."""
        ...

    async def dispatched(self, run_id: str, block_id: str, keys: Sequence[str]) -> None: ...

    async def count(
        self, run_id: str, block_id: str, outcome: str, breaker: int | None
    ) -> str | None:
        """Count an outcome towards the shared circuit breaker; return the stop reason."""
        ...

    async def stop(self, run_id: str, block_id: str, reason: str) -> None: ...

    async def stop_reason(self, run_id: str, block_id: str) -> str | None: ...

    async def counts(self, run_id: str, block_id: str) -> dict[str, int]: ...


class ItemDispatcher(Protocol):
    """Where a fan-out sends its items when they run on other processes (workers).

    A fan-out that finds one hands its unfinished items over in chunks with
    :meth:`dispatch`, then waits on the item rows (:class:`FanOutItems`). The worker that
    takes a chunk runs the same fan-out block with ``ctx.services.lent("fan_out.chunk")``
    set: ``{"run_id", "block_id", "owner", "lease_s"}`` plus the items' payloads as input.
    """

    chunk_size: int
    poll_s: float
    lease_s: float

    async def dispatch(
        self, run_id: str, block_id: str, payloads: Sequence[Mapping[str, Any]]
    ) -> None: ...


class Services:
    """What the kernel lends a run. One instance per root run; children share it.

    Core services are attributes (``settings``, ``clock``, ``tracing``, ``budget``,
    :meth:`run_child`, :meth:`resource`, :meth:`report_partial`). Everything else a plugin
    provides (the SQL databases, the send log, kill switches, an approval desk, ...) is
    looked up by its protocol with :meth:`get` (``ctx.service(SendLog)`` for short).
    """

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock | None = None,
        tracing: Tracing | None = None,
        budget: Budget | None = None,
        child_runner: ChildRunner | None = None,
        provided: Mapping[type, object] | None = None,
        lent: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.tracing: Tracing = tracing or NoopTracing()
        self.budget = budget or Budget(1_000_000)
        self._child_runner = child_runner
        self._provided: dict[type, object] = dict(provided or {})
        self._lent = dict(lent or {})
        self._resources: dict[str, tuple[Any, Callable[[Any], Any] | None]] = {}
        self.partial: list[dict[str, Any]] = []
        self.deadline: float | None = None
        """When the root run must end, in event-loop time (``loop.time()``); ``None``
        without a run timeout. Set by the runtime; the block executor runs sync blocks in a
        worker thread while a deadline stands, so the run's timeout can end them."""

    def get(self, kind: type[T]) -> T:
        """The service implementing protocol ``kind``; ``LookupError`` names what is missing."""
        try:
            return self._provided[kind]  # type: ignore[return-value]
        except KeyError:
            have = ", ".join(sorted(k.__name__ for k in self._provided)) or "none"
            raise LookupError(
                f"this run has no {kind.__name__} service (provided: {have}); "
                "is the plugin that provides it installed?"
            ) from None

    def provides(self, kind: type) -> bool:
        return kind in self._provided

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

    def resource(
        self,
        key: str,
        factory: Callable[[], T],
        close: Callable[[T], Awaitable[None] | None] | None = None,
    ) -> T:
        """A per-run shared object (e.g. one HTTP client), created on first use and closed
        by the kernel when the run ends. Namespace ``key`` with your family's name."""
        if key not in self._resources:
            self._resources[key] = (factory(), close)
        obj: T = self._resources[key][0]
        return obj

    def lent(self, name: str) -> Any:
        """A value the host that started the run lent it by name (a scheduler's firing
        time, ``"trigger.fire_time"``); ``LookupError`` when none was lent."""
        try:
            return self._lent[name]
        except KeyError:
            raise LookupError(f"nothing named {name!r} was lent to this run") from None

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
