"""The run context handed to every block (contract §6.2).

A ``RunContext`` is immutable: the runtime derives one per block execution and the executor
one per attempt (``ctx.evolve(attempt=2)``), so concurrent branches can never see each
other's block id. Run-level mutable state (outputs, transitions) belongs to the kernel.

``ctx.log`` is a structlog logger. The kernel binds ``workflow_id``, ``run_id``, ``block_id``,
``attempt``, ``trace_id`` and ``span_id`` as structlog contextvars around every block
execution, so any line a block logs is enriched with no effort from its author.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from .credentials import read_secret
from .errors import ErrorEnvelope
from .policy import Policy
from .services import Clock, Services
from .settings import Settings

if TYPE_CHECKING:
    from pydantic import SecretStr

    from .run import RunView

T = TypeVar("T")

__all__ = ["Logger", "RunContext"]


class Logger(Protocol):
    """The logging surface blocks use (a structlog bound logger satisfies it)."""

    def debug(self, event: str, **kw: Any) -> Any: ...
    def info(self, event: str, **kw: Any) -> Any: ...
    def warning(self, event: str, **kw: Any) -> Any: ...
    def error(self, event: str, **kw: Any) -> Any: ...
    def bind(self, **kw: Any) -> Any: ...


@dataclass(frozen=True)  # (a __dict__, not slots: ``evolve`` copies it in one step)
class RunContext:
    """Who is running (workflow, run, block, attempt) and what the kernel lends the block."""

    workflow_id: str
    run_id: str
    services: Services
    log: Logger
    block_id: str | None = None
    block_type: str | None = None
    attempt: int = 0
    ts: str = ""
    trace_id: str | None = None
    span_id: str | None = None
    parent_run_id: str | None = None
    error: ErrorEnvelope | None = None
    run: RunView | None = None
    policy: Policy | None = None
    """The effective policy of the running attempt (``None`` outside the executor): a block
    can read ``ctx.policy.backoff.cap_ms`` to fail fast on a ``Retry-After`` it would
    never wait for, or compare ``ctx.attempt`` with ``ctx.policy.max_attempts``."""

    def evolve(self, **changes: Any) -> RunContext:
        """A copy with some fields changed (the original is never modified)."""
        if not changes.keys() <= _NAMES:
            unknown = ", ".join(sorted(changes.keys() - _NAMES))
            raise TypeError(f"RunContext has no field(s) {unknown}")
        new = object.__new__(RunContext)
        attrs = new.__dict__  # frozen to callers; the copy is filled before anyone sees it
        attrs.update(self.__dict__)
        attrs.update(changes)
        return new

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def clock(self) -> Clock:
        return self.services.clock

    def secret(self, name: str) -> SecretStr:
        """The credential ``name``: ``ORCHESTRATOR_BLOCKS_SECRET_<NAME>``, else ``<NAME>=``
        in ``$ORCHESTRATOR_BLOCKS_HOME/secrets.env`` (mode 0600). Registered with the
        redactor, so it is masked in every log, row and span even if logged by mistake;
        ``sdk.SecretNotFound`` (a ``LookupError``) names where it looked when missing::

            token = ctx.secret("crm_token").get_secret_value()
        """
        return read_secret(self.settings, name)

    def service(self, kind: type[T]) -> T:
        """The service implementing protocol ``kind`` (``ctx.service(sdk.SendLog)``); a
        ``LookupError`` that names it when no installed plugin provides one."""
        return self.services.get(kind)

    def correlation(self) -> dict[str, Any]:
        """The correlation fields of contract §8 that this context knows."""
        return {
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "block_id": self.block_id,
            "attempt": self.attempt,
            "trace_id": self.trace_id,
            "span_id": self.span_id,
        }


_NAMES = frozenset(f.name for f in fields(RunContext))
