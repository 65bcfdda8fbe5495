"""What a workflow declares about itself beyond its graph: the card's sections.

Risk level, reflexion, kill switches that guard its writes, verify checks, its trigger, its
declared inputs and its description. They live in ``workflow.traits`` (the kernel carries
them to every run and never reads them); :class:`WorkflowSpec` is the typed view the
built-in features use, and :class:`Workflow` adds the ``set_*`` methods of the Python API
(``ob.new_workflow`` returns one). A YAML contract fills the same traits.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from orchestrator_blocks.kernel.workflow import DEFAULT_ITERATION_BUDGET
from orchestrator_blocks.kernel.workflow import Workflow as KernelWorkflow
from orchestrator_blocks.sdk.rules import Rule
from orchestrator_blocks.sdk.sql import classify_statement

__all__ = [
    "VERIFY_NAMES",
    "TriggerSpec",
    "VerifySpec",
    "Workflow",
    "WorkflowSpec",
    "new_workflow",
    "spec_of",
]

VERIFY_NAMES = ("value", "row", "rows", "facts")
T = TypeVar("T")


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
        verdict = classify_statement(self.sql_check)
        if verdict.writes:
            raise ValueError(f"verify {self.name}: a check only reads; {verdict.reason}")
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


class _Trait(Generic[T]):
    """One card field stored in the traits mapping under its own name."""

    def __init__(self, default: T) -> None:
        self.default = default

    def __set_name__(self, owner: type, name: str) -> None:
        self.key = name

    def __get__(self, spec: WorkflowSpec | None, owner: type) -> T:
        if spec is None:
            return self  # type: ignore[return-value]
        value: T = spec.traits.get(self.key, self.default)
        return value

    def __set__(self, spec: WorkflowSpec, value: T) -> None:
        if not isinstance(spec.traits, MutableMapping):
            raise TypeError("a running workflow's card cannot change")
        spec.traits[self.key] = value


class WorkflowSpec:
    """The card of one workflow, read from (and written to) its traits."""

    description = _Trait("")
    risk_level = _Trait(0)
    reflexion = _Trait(False)
    tags: _Trait[tuple[str, ...]] = _Trait(())
    kill_switches: _Trait[tuple[str, ...]] = _Trait(())
    verify: _Trait[tuple[VerifySpec, ...]] = _Trait(())
    trigger = _Trait(TriggerSpec())
    allow_overlap = _Trait(False)
    alert_on_final_failure = _Trait(False)
    contract: _Trait[Any] = _Trait(None)

    def __init__(
        self, traits: Mapping[str, Any], workflow_type: str, source: str | None = None
    ) -> None:
        self.traits = traits
        self.workflow_type = workflow_type
        self.source = source


def spec_of(workflow: KernelWorkflow) -> WorkflowSpec:
    """The card of any workflow (built with ``ob.new_workflow``, a contract, or the kernel)."""
    return WorkflowSpec(workflow.traits, workflow.id, workflow.source)


class Workflow(KernelWorkflow):
    """A workflow with the card's declarations: ``ob.new_workflow`` returns one."""

    @property
    def spec(self) -> WorkflowSpec:
        return spec_of(self)

    def set_description(self, text: str) -> Workflow:
        self.spec.description = text
        return self

    def set_risk_level(self, level: int) -> Workflow:
        """0-5; from 3 up a human approves before the first write (see the approvals docs)."""
        if not isinstance(level, int) or not 0 <= level <= 5:
            raise ValueError(f"risk level must be an int from 0 to 5, got {level!r}")
        self.spec.risk_level = level
        return self

    def enable_reflexion(self, *tags: str) -> Workflow:
        """After every run, write a narrative of what happened to ``reflexion_log``."""
        self.spec.reflexion = True
        self.spec.tags = tuple(dict.fromkeys((*self.spec.tags, *tags)))
        return self

    def guard_with_kill_switches(self, *names: str) -> Workflow:
        """Refuse every write step while one of these switches is on (checked before each)."""
        for name in names:
            if not name or not all(c.isalnum() or c in "_-.:" for c in name):
                raise ValueError(f"kill switch names use letters, digits, '_-.:', got {name!r}")
        self.spec.kill_switches = tuple(dict.fromkeys((*self.spec.kill_switches, *names)))
        return self

    def add_verify(
        self,
        name: str,
        sql_check: str,
        *,
        expect: str = "value > 0",
        window_s: float = 60.0,
        database: str = "local",
        timeout_ms: int = 30_000,
        params: dict[str, Any] | None = None,
    ) -> Workflow:
        """Stage a check after every run, executed ``window_s`` later by the verify
        scheduler (``:run_id`` is bound to the run's id in ``sql_check``)."""
        if any(v.name == name for v in self.spec.verify):
            raise ValueError(f"workflow {self.id!r} already has a verify check {name!r}")
        check = VerifySpec(
            name, sql_check, expect, window_s, database, timeout_ms, dict(params or {})
        )
        self.spec.verify = (*self.spec.verify, check)
        return self

    def set_trigger(self, trigger: TriggerSpec) -> Workflow:
        self.spec.trigger = trigger
        return self

    def trigger_on_event(self, event_type: str, *, filter: str | None = None) -> Workflow:
        """Let ``serve`` start this workflow once per ledger event of ``event_type`` (whose
        payload becomes the run input); ``filter`` is a rule over ``event`` and ``payload``,
        e.g. ``payload["plan"] == "trial"``."""
        if not event_type or not isinstance(event_type, str):
            raise ValueError("event_type must be a non-empty string such as 'customer.created'")
        if filter is not None:
            Rule(filter, names=("event", "payload"), label=f"{self.id} trigger filter")
        self.spec.trigger = TriggerSpec(kind="event", event=event_type, filter=filter)
        return self

    def set_alert_on_final_failure(self, alert: bool = True) -> Workflow:
        """Email one alert per run whose items failed for good, or that failed or timed out
        (to ``alert_email``, else the approver's address; see ``app/alerts.py``)."""
        self.spec.alert_on_final_failure = bool(alert)
        return self

    def set_allow_overlap(self, allow: bool = True) -> Workflow:
        """Let ``serve`` start a scheduled run while the previous one is still going
        (off by default: such a firing is skipped and logged)."""
        self.spec.allow_overlap = bool(allow)
        return self


def new_workflow(workflow_id: str, *, iteration_budget: int = DEFAULT_ITERATION_BUDGET) -> Workflow:
    """Create an empty workflow (``ob.new_workflow("trial_activation_nudge")``)."""
    return Workflow(workflow_id, iteration_budget=iteration_budget)
