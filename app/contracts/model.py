"""The YAML workflow contract, as pydantic models (the card's sections, in order).

Every model forbids unknown keys, so a typo is an error with the path of the offending key
rather than a silently ignored setting.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "ContextQuery",
    "Contract",
    "FanOutModel",
    "HitlModel",
    "InputModel",
    "PreconditionModel",
    "RetryModel",
    "StepModel",
    "TriggerModel",
    "VerifyModel",
    "parse_duration",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}
POST_ACTIONS = ("log_run", "reflexion", "event", "verify")


def parse_duration(value: str | float | int) -> float:
    """``"60s"``, ``"30m"``, ``"24h"``, ``"1.5d"``, ``"250ms"`` or a number of seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value < 0:
            raise ValueError("durations must be >= 0")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration like 60s, 30m, 24h or 250ms, got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class TriggerModel(_Model):
    kind: Literal["manual", "cron", "event", "hitl_approval"] = "manual"
    schedule: str | None = None
    event: str | None = None
    filter: str | None = None
    action_type: str | None = None
    invoker: str | None = None
    description: str = ""

    @model_validator(mode="after")
    def _needs(self) -> TriggerModel:
        need = {"cron": "schedule", "event": "event", "hitl_approval": "action_type"}.get(self.kind)
        if need and not getattr(self, need):
            raise ValueError(f"a {self.kind} trigger needs `{need}`")
        return self


class InputModel(_Model):
    type: str = "string"
    required: bool = False
    default: Any = None
    description: str = ""
    columns: list[str] = Field(default_factory=list)
    max_length: int | None = None


class ContextQuery(_Model):
    sql: str
    database: str = "local"
    tables: list[str] = Field(default_factory=list)
    filter_input: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    params_from_input: dict[str, str] = Field(default_factory=dict)
    one: bool = False
    description: str = ""


class PreconditionModel(_Model):
    name: str
    rule: str
    severity: Literal["block", "warn"] = "block"
    description: str = ""


class RetryModel(_Model):
    max_attempts: int = Field(default=1, ge=1, le=20)
    backoff: Literal["exponential", "fixed", "none"] = "exponential"
    base_ms: int = Field(default=1_000, ge=0)
    max_ms: int = Field(default=30_000, ge=0)
    factor: float = Field(default=2.0, ge=1.0)
    jitter: float = Field(default=0.2, ge=0.0, le=1.0)
    alert_on_final_failure: bool = False
    per_recipient: bool = False


class StepModel(_Model):
    id: str
    block: str
    with_: dict[str, Any] = Field(default_factory=dict, alias="with")
    retry: RetryModel | None = None
    timeout: str | float | None = None
    description: str = ""

    @field_validator("id")
    @classmethod
    def _ident(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("step ids are identifiers (letters, digits, _)")
        return value


class HitlModel(_Model):
    action_type: str
    approver: str | None = None
    risk_gate: int = Field(default=3, ge=0, le=5)
    window: str | float = "60m"
    entity_ref: str | None = None
    sample_size: int = Field(default=3, ge=0, le=50)
    body_input: str | None = "body_template"
    description: str = ""


class FanOutModel(_Model):
    id: str = "fan_out"
    kind: Literal["loop_over_recipients"] = "loop_over_recipients"
    over: str
    item_key: str = "id"
    concurrency: int = Field(default=4, ge=1, le=256)
    circuit_breaker: int = Field(default=5, ge=1)
    steps: list[StepModel] = Field(default_factory=list)
    description: str = ""


class VerifyModel(_Model):
    name: str
    sql_check: str
    window: str | float = "60s"
    expect: str = "value > 0"
    database: str = "local"
    timeout: str | float = "30s"
    description: str = ""


class Contract(_Model):
    workflow_type: str
    version: int = 1
    description: str = ""
    owner: str | None = None
    risk_level: int = Field(default=0, ge=0, le=5)
    reflexion_enabled: bool = False
    tags: list[str] = Field(default_factory=list)
    trigger: TriggerModel = Field(default_factory=TriggerModel)
    inputs: dict[str, InputModel] = Field(default_factory=dict)
    context: dict[str, ContextQuery] = Field(default_factory=dict)
    preconditions: list[PreconditionModel] = Field(default_factory=list)
    hitl: HitlModel | None = None
    steps: list[StepModel] = Field(default_factory=list)
    fan_out: FanOutModel | None = None
    post_actions: list[str] = Field(default_factory=lambda: ["log_run", "event"])
    verify: list[VerifyModel] = Field(default_factory=list)
    retry: RetryModel | None = None

    @field_validator("workflow_type")
    @classmethod
    def _type(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("workflow_type is an identifier (letters, digits, _)")
        return value

    @field_validator("inputs", "context")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        bad = [k for k in value if not _IDENT.match(k)]
        if bad:
            raise ValueError(f"names must be identifiers: {bad}")
        if "inputs" in value:
            raise ValueError("'inputs' is reserved")
        return value

    @field_validator("post_actions")
    @classmethod
    def _post(cls, value: list[str]) -> list[str]:
        bad = [a for a in value if a not in POST_ACTIONS]
        if bad:
            raise ValueError(f"unknown post actions {bad}; known: {', '.join(POST_ACTIONS)}")
        return value
