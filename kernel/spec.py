"""What a workflow declares about itself beyond its graph (the card's sections).

Risk level, reflexion, kill switches that guard its writes, verify checks, its trigger and
its description. A YAML contract fills all of it; Python workflows set it with the
``Workflow.set_*`` methods. The runtime and the post actions read it; ``explain`` prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orchestrator_blocks.sdk import Rule

__all__ = ["VERIFY_NAMES", "TriggerSpec", "VerifySpec", "WorkflowSpec"]

VERIFY_NAMES = ("value", "row", "rows", "facts")


@dataclass(frozen=True)
class VerifySpec:
    """A check run later by the verify scheduler: ``sql_check`` against ``database``, its
    first column of the first row is ``value``; ``expect`` is a rule over ``value``,
    ``row``, ``rows`` and ``facts`` (the run's facts frozen when the check is staged)."""

    name: str
    sql_check: str
    expect: str = "value > 0"
    window_s: float = 60.0
    database: str = "local"
    timeout_ms: int = 30_000
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        Rule(self.expect, names=VERIFY_NAMES, label=f"verify {self.name}")
        if self.window_s < 0:
            raise ValueError(f"verify {self.name}: window must be >= 0 seconds")
        if self.timeout_ms <= 0:
            raise ValueError(f"verify {self.name}: timeout must be > 0")


@dataclass(frozen=True)
class TriggerSpec:
    """How a workflow is started: ``manual``, ``cron`` (``schedule``), ``event``
    (``event`` type plus an optional ``filter`` rule over ``event`` and ``payload``) or
    ``hitl_approval`` (``action_type`` of an approved proposal)."""

    kind: str = "manual"
    schedule: str | None = None
    event: str | None = None
    filter: str | None = None
    action_type: str | None = None


@dataclass
class WorkflowSpec:
    workflow_type: str
    description: str = ""
    risk_level: int = 0
    reflexion: bool = False
    tags: tuple[str, ...] = ()
    kill_switches: tuple[str, ...] = ()
    verify: list[VerifySpec] = field(default_factory=list)
    trigger: TriggerSpec = field(default_factory=TriggerSpec)
    allow_overlap: bool = False
    source: str | None = None  # the file it was loaded from (for `runs resume`)
    contract: Any = None
