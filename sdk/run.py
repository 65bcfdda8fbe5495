"""What run-level hooks see: a run in progress, a planned block, a refusal, a finished run.

The kernel hands these to ``block_guard``, ``run_started`` and ``run_finished`` (see
:mod:`.hookspecs`). They are read-only views: a hook decides or records, it never steers
the scheduler except by refusing a block.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from .policy import Policy
from .run_status import RunStatus

if TYPE_CHECKING:
    from .errors import ErrorEnvelope
    from .registry import BlockType
    from .settings import Settings
    from .values import Value

__all__ = ["FinishedRun", "PlannedBlock", "Refusal", "RunView"]


@dataclass(frozen=True, slots=True)
class PlannedBlock:
    """A block as a run sees it: type, config and policy frozen when the run started.

    ``writes`` is the type's answer for this configuration (:meth:`BlockType.is_write`),
    computed once per plan.
    """

    block_id: str
    block_type: BlockType
    config: Mapping[str, Any]
    policy: Policy
    writes: bool = False


@dataclass(frozen=True, slots=True)
class Refusal:
    """A ``block_guard``'s "no": the block does not start and fails with this code.

    The failure is the runtime's (origin ``runtime``), never retried (disposition
    ``manual``: a person has to act), logged as ``block.failed`` with ``details``.
    """

    code: str
    message: str
    details: Mapping[str, Any] = field(default_factory=dict)


class RunView(Protocol):
    """One run in progress, as run-level hooks see it."""

    @property
    def workflow_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def parent_run_id(self) -> str | None:
        """``None`` for a root run; the parent's run id for a child (fan-out items too)."""
        ...

    @property
    def source(self) -> str | None:
        """The file the workflow was loaded from, ``None`` for a workflow built in code."""
        ...

    @property
    def traits(self) -> Mapping[str, Any]:
        """What the workflow declares about itself beyond its graph (``risk_level``,
        ``kill_switches``, ...): written by the features that use them, never read by the
        kernel."""
        ...

    @property
    def succeeded(self) -> Mapping[str, str]:
        """Blocks of the success path that succeeded so far: ``block_id -> type_id``."""
        ...

    @property
    def settings(self) -> Settings: ...

    @property
    def run_attempt(self) -> int:
        """1 for a run's first attempt; ``runs retry`` starts the next one."""
        ...

    @property
    def previous_owner(self) -> str | None:
        """Set when this pass took the run over from a process whose lease expired (it
        died mid-run): what it was doing when it died is unknown."""
        ...


class FinishedRun(Protocol):
    """A run's result, as ``run_finished`` hooks see it."""

    @property
    def workflow_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def status(self) -> RunStatus: ...
    @property
    def error(self) -> ErrorEnvelope | None: ...
    @property
    def errors(self) -> tuple[ErrorEnvelope, ...]: ...
    @property
    def started_at(self) -> str: ...
    @property
    def finished_at(self) -> str: ...
    @property
    def duration_ms(self) -> float: ...
    @property
    def input(self) -> Any: ...
    @property
    def values(self) -> Mapping[str, Value]: ...
    @property
    def partial(self) -> tuple[Mapping[str, Any], ...]: ...
    @property
    def waiting_on(self) -> Mapping[str, Any]: ...
    @property
    def events(self) -> tuple[dict[str, Any], ...]: ...
    def events_of(self, event: str) -> list[dict[str, Any]]: ...
    def summary(self) -> dict[str, Any]: ...
