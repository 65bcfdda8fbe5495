"""The YAML workflow contract, as pydantic models (the card's sections, in order).

Every model forbids unknown keys, so a typo is an error with the path of the offending key
and the keys its section takes, rather than a silently ignored setting. Every key carries
its description: ``docs/contracts.md`` is written from these models by
:mod:`.reference` (a test keeps the two equal).
"""

from __future__ import annotations

import re
from typing import Any, Literal, get_args, get_origin

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
    "section_model",
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
    """What starts the workflow. Without a trigger it runs when you run it (`run`, the Python
    API, `runs resume`); `serve` starts the other kinds."""

    kind: Literal["manual", "cron", "event", "hitl_approval"] = Field(
        default="manual",
        description="`manual` (run by hand), `cron` (at `schedule`), `event` (once per ledger "
        "event of type `event`) or `hitl_approval` (once per approved proposal of "
        "`action_type`).",
    )
    schedule: str | None = Field(
        default=None,
        description="For `cron` (required): 5 fields (minute hour day month weekday), 6 "
        "(seconds first) or 7 (seconds first, year last), in UTC.",
    )
    event: str | None = Field(
        default=None,
        description="For `event` (required): the ledger event type, e.g. `price.changed`.",
    )
    filter: str | None = Field(
        default=None,
        description="For `event` and `hitl_approval`: a rule over `event` (its `type`, `id`, "
        "`key`) and `payload`; only matching events start a run.",
    )
    action_type: str | None = Field(
        default=None,
        description="For `hitl_approval` (required): the action type of the proposals that "
        "start the workflow once approved; the run's inputs are the proposal's.",
    )
    invoker: str | None = Field(default=None, description="Informational: who starts it.")
    description: str = Field(default="", description="Informational.")

    @model_validator(mode="after")
    def _needs(self) -> TriggerModel:
        need = {"cron": "schedule", "event": "event", "hitl_approval": "action_type"}.get(self.kind)
        if need and not getattr(self, need):
            raise ValueError(f"a {self.kind} trigger needs `{need}`")
        return self


class InputModel(_Model):
    """One typed input, validated before anything runs (`run --input NAME=VALUE`)."""

    type: str = Field(
        default="string",
        description="`string`, `text`, `integer`, `number`, `boolean`, `list`, `object`, "
        "`email` or `cohort_filter` (a filter over `columns`, compiled to parameterised SQL).",
    )
    required: bool = Field(default=False, description="A run without it is refused.")
    default: Any = Field(default=None, description="The value when the input is not given.")
    description: str = Field(default="", description="Shown by `explain` and the console.")
    columns: list[str] = Field(
        default_factory=list,
        description="For `cohort_filter` (required): the columns a filter may name.",
    )
    max_length: int | None = Field(
        default=None, description="For text types: the longest value accepted."
    )


class ContextQuery(_Model):
    """A named SQL read run before any write; the rules see its rows under its name
    (`len(recipients)`), and so does the first step (in the mapping it receives). A
    statement that writes is refused when the contract loads."""

    sql: str = Field(
        description="One read statement with `:name` parameters; `__filter__` is where the "
        "cohort filter of `filter_input` goes."
    )
    database: str = Field(
        default="local",
        description="`local` (the store) or a name under `databases:` in the config.",
    )
    tables: list[str] = Field(
        default_factory=list, description="Informational: the tables it reads (`explain`)."
    )
    filter_input: str | None = Field(
        default=None, description="The `cohort_filter` input compiled into `__filter__`."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Fixed parameter values.")
    params_from_input: dict[str, str] = Field(
        default_factory=dict, description="Parameter name -> the input that gives its value."
    )
    one: bool = Field(
        default=False, description="The first row (or null) instead of a list of rows."
    )
    description: str = Field(default="", description="Informational.")


class PreconditionModel(_Model):
    """A safety rule checked after the context is read, before any step."""

    name: str = Field(description="Its name in events and on the card.")
    rule: str = Field(
        description="An expression over `inputs` and the context names: literals, "
        "comparisons, `and`/`or`/`not`, arithmetic and functions such as `len`, `coalesce`, "
        '`days_since` and `kill_switch("name")` (a switch named here also guards every '
        "write step). Never `eval`: an unknown name fails when the contract loads."
    )
    severity: Literal["block", "warn"] = Field(
        default="block",
        description="`block`: a false rule stops the run before any write "
        "(`precondition.blocked`); `warn`: it is recorded and shown to the approver.",
    )
    description: str = Field(default="", description="Informational.")


class RetryModel(_Model):
    """How a step is retried (or, with `per_recipient`, each fan-out item)."""

    max_attempts: int = Field(
        default=1, ge=1, le=20, description="Attempts in all, the first included."
    )
    backoff: Literal["exponential", "fixed", "none"] = Field(
        default="exponential", description="The wait between attempts."
    )
    base_ms: int = Field(default=1_000, ge=0, description="The first wait, in milliseconds.")
    max_ms: int = Field(default=30_000, ge=0, description="The longest wait, in milliseconds.")
    factor: float = Field(
        default=2.0, ge=1.0, description="Each `exponential` wait is this times the last."
    )
    jitter: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Random spread of each wait (deterministic per run).",
    )
    alert_on_final_failure: bool = Field(default=False, description="Informational.")
    per_recipient: bool = Field(
        default=False,
        description="With `fan_out`: retry each item (all its steps) instead of each step.",
    )


class StepModel(_Model):
    """One block of the workflow; steps run in order, each receiving the one before's
    output (the first receives the context)."""

    id: str = Field(description="The step's name (an identifier), its block id in logs and runs.")
    block: str = Field(
        description="A block type (`orchestrator-blocks plugins list`), e.g. `send_email`."
    )
    with_: dict[str, Any] = Field(
        default_factory=dict,
        alias="with",
        description="The block's configuration: the arguments of `Block.<type>(...)`.",
    )
    retry: RetryModel | None = Field(
        default=None, description="This step's retry; else the contract's."
    )
    timeout: str | float | None = Field(
        default=None, description="A time limit per attempt; else the block type's default."
    )
    description: str = Field(default="", description="Informational.")

    @field_validator("id")
    @classmethod
    def _ident(cls, value: str) -> str:
        if not _IDENT.match(value):
            raise ValueError("step ids are identifiers (letters, digits, _)")
        return value


class HitlModel(_Model):
    """The approval gate: at `risk_level >= risk_gate` the run stages a proposal (inputs,
    recipient count and sample, a rendered email, the warnings) and waits in
    `awaiting_approval` until the configured approver decides."""

    action_type: str = Field(
        description="The proposal's action type, e.g. `workflow_batch_notify`."
    )
    approver: str | None = Field(
        default=None,
        description="Informational: the approver is `approver:` in the config file or "
        "`ORCHESTRATOR_BLOCKS_APPROVER`.",
    )
    risk_gate: int = Field(
        default=3, ge=0, le=5, description="The gate applies when `risk_level` is at least this."
    )
    window: str | float = Field(
        default="60m", description="How long the approver has; then the run ends `rejected`."
    )
    entity_ref: str | None = Field(default=None, description="Informational.")
    sample_size: int = Field(
        default=3, ge=0, le=50, description="Recipients shown to the approver."
    )
    body_input: str | None = Field(
        default="body_template",
        description="The input holding the email body rendered for the sample (null: none).",
    )
    description: str = Field(default="", description="Informational.")


class FanOutModel(_Model):
    """Per-item steps run once per item of a context list, with bounded concurrency, an
    idempotency key per item and a circuit breaker; the run may end `partial`."""

    id: str = Field(default="fan_out", description="The fan-out's block id.")
    kind: Literal["loop_over_recipients"] = Field(
        default="loop_over_recipients", description="The only kind."
    )
    over: str = Field(description="The context name of the list to go over, e.g. `recipients`.")
    item_key: str = Field(default="id", description="The field of an item that identifies it.")
    concurrency: int = Field(default=4, ge=1, le=256, description="Items in flight at once.")
    circuit_breaker: int = Field(
        default=5, ge=1, description="Consecutive failed items after which no new item starts."
    )
    steps: list[StepModel] = Field(
        default_factory=list, description="The steps run for each item (at least one)."
    )
    description: str = Field(default="", description="Informational.")


class VerifyModel(_Model):
    """A check staged `pending` after each run and run once due (by `serve` or
    `verify run-due`); it ends `pass`, `fail` (with the value seen) or `timeout`."""

    name: str = Field(description="The check's name.")
    sql_check: str = Field(
        description="A read returning the value to check; `:run_id` is the run's id."
    )
    window: str | float = Field(
        default="60s", description="How long after the run the check is due."
    )
    expect: str = Field(
        default="value > 0",
        description="A rule over `value` (the first column of the first row), `row`, `rows` "
        "and `facts` (the run's outputs, as staged).",
    )
    database: str = Field(default="local", description="As for context queries.")
    timeout: str | float = Field(default="30s", description="The query's time limit.")
    description: str = Field(default="", description="Informational.")


class Contract(_Model):
    """The workflow: its identity and risk, then the card's sections in order."""

    workflow_type: str = Field(description="The workflow's name (an identifier).")
    version: int = Field(default=1, description="Informational.")
    description: str = Field(default="", description="Shown by `explain` and the console.")
    owner: str | None = Field(default=None, description="Informational.")
    risk_level: int = Field(
        default=0,
        ge=0,
        le=5,
        description="0 to 5; at 3 or more no step may write before an approved gate.",
    )
    reflexion_enabled: bool = Field(
        default=False, description="Write a narrative of each run to the reflexion log."
    )
    tags: list[str] = Field(
        default_factory=list, description="The narratives' tags (default: `workflow_type`)."
    )
    trigger: TriggerModel = Field(default_factory=TriggerModel, description="See `trigger`.")
    inputs: dict[str, InputModel] = Field(
        default_factory=dict, description="Input name -> its declaration."
    )
    context: dict[str, ContextQuery] = Field(
        default_factory=dict, description="Context name -> its query."
    )
    preconditions: list[PreconditionModel] = Field(
        default_factory=list, description="Rules checked before any step."
    )
    hitl: HitlModel | None = Field(default=None, description="The approval gate, if any.")
    steps: list[StepModel] = Field(default_factory=list, description="The steps, in order.")
    fan_out: FanOutModel | None = Field(default=None, description="Per-item steps, after `steps`.")
    post_actions: list[str] = Field(
        default_factory=lambda: ["log_run", "event"],
        description="`log_run` (a run-log row) and `event` (a `workflow.*` ledger event) "
        "happen for every run; `reflexion` turns on the narrative; `verify` is implied by "
        "`verify` checks.",
    )
    verify: list[VerifyModel] = Field(default_factory=list, description="Checks run after the run.")
    retry: RetryModel | None = Field(
        default=None, description="The retry of every step without its own (see `per_recipient`)."
    )

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


def section_model(path: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model of the section at ``path`` (as pydantic reports locations: field names,
    list indexes, mapping keys), e.g. ``("steps", 0)`` -> :class:`StepModel`."""
    model: type[BaseModel] = Contract
    container = False  # the next part is a list index or a mapping key
    for part in path:
        if container:
            container = False
            continue
        field = next((f for name, f in model.model_fields.items() if part in (name, f.alias)), None)
        if field is None:
            return None
        found = _model_in(field.annotation)
        if found is None:
            return None
        model, container = found
    return model


def _model_in(annotation: Any) -> tuple[type[BaseModel], bool] | None:
    """The model an annotation holds, and whether it holds it in a list or mapping."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = [a for a in get_args(annotation) if a is not type(None)]
    inner = next((m for a in args if (m := _model_in(a)) is not None), None)
    if inner is None:
        return None
    container = get_origin(annotation) in (list, dict)
    return inner[0], container or inner[1]
