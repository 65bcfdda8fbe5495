"""``docs/contracts.md``, written from the contract's models so the two cannot drift.

Every key, its type, default and description come from :mod:`.model`; each section's
example is below and is validated by the test that compares the file with
:func:`render_reference` (``tests/unit/test_contract_reference.py``). To refresh the file
after changing the models::

    python -m orchestrator_blocks.app.contracts.reference > docs/contracts.md
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from .model import (
    ContextQuery,
    Contract,
    FanOutModel,
    HitlModel,
    InputModel,
    PreconditionModel,
    RetryModel,
    StepModel,
    TriggerModel,
    VerifyModel,
)

__all__ = ["EXAMPLES", "SECTIONS", "render_reference"]

# (heading, anchor, model): the card's sections in the order a contract lists them.
SECTIONS: tuple[tuple[str, str, type[BaseModel]], ...] = (
    ("Top level", "top-level", Contract),
    ("`trigger`", "trigger", TriggerModel),
    ("`inputs.<name>`", "inputs", InputModel),
    ("`context.<name>`", "context", ContextQuery),
    ("`preconditions[]`", "preconditions", PreconditionModel),
    ("`hitl`", "hitl", HitlModel),
    ("`steps[]`", "steps", StepModel),
    ("`fan_out`", "fan_out", FanOutModel),
    ("`verify[]`", "verify", VerifyModel),
    ("`retry`, `steps[].retry`", "retry", RetryModel),
)
_ANCHOR = {model: anchor for _, anchor, model in SECTIONS}
_DURATION = "duration"

# One example per section; each is a whole contract (the test loads every one).
EXAMPLES: dict[str, str] = {
    "top-level": """\
workflow_type: weekly_digest
description: Email the ops team a digest of last week's failed runs.
risk_level: 1
reflexion_enabled: true
tags: [ops, digest]
steps:
  - {id: render, block: template_handlebars, with: {template: "{{inputs.note}}"}}
""",
    "trigger": """\
workflow_type: nightly_sync
trigger:
  kind: cron
  schedule: "0 2 * * *"     # 02:00 UTC every day
steps:
  - {id: say, block: template_handlebars, with: {template: "synced"}}
""",
    "inputs": """\
workflow_type: note_cohort
inputs:
  cohort: {type: cohort_filter, required: true, columns: [plan, country]}
  max_recipients: {type: integer, default: 50, description: "at most this many"}
  subject: {type: string, required: true, max_length: 120}
steps:
  - {id: say, block: template_handlebars, with: {template: "{{inputs.subject}}"}}
""",
    "context": """\
workflow_type: trial_report
inputs:
  cohort: {type: cohort_filter, required: true, columns: [plan, country]}
context:
  recipients:
    sql: SELECT id, email FROM customers WHERE __filter__ AND email IS NOT NULL
    filter_input: cohort
    tables: [customers]
  newest:
    sql: SELECT max(id) AS id FROM customers WHERE plan = :plan
    params: {plan: trial}
    one: true
steps:
  - {id: say, block: template_handlebars, with: {template: "{{recipients.length}}"}}
""",
    "preconditions": """\
workflow_type: guarded
inputs:
  max_recipients: {type: integer}
context:
  recipients: {sql: "SELECT id FROM customers"}
preconditions:
  - {name: recipients_cap, rule: "len(recipients) <= coalesce(inputs.max_recipients, 50)"}
  - {name: kill_switch, rule: 'not kill_switch("high_risk_ops")'}
  - {name: not_empty, rule: "len(recipients) > 0", severity: warn}
steps:
  - {id: say, block: template_handlebars, with: {template: "ok"}}
""",
    "hitl": """\
workflow_type: gated_notice
risk_level: 4
inputs:
  body_template: {type: string, required: true}
hitl:
  action_type: workflow_gated_notice
  window: 30m
  sample_size: 2
steps:
  - {id: send, block: send_email, with: {to: ops@example.com, subject: Notice}}
""",
    "steps": """\
workflow_type: fetch_and_mail
steps:
  - id: fetch
    block: http_request
    with: {url: "https://example.com/report.json", parse: json}
    timeout: 30s
    retry: {max_attempts: 3, backoff: exponential, base_ms: 1000}
  - id: render
    block: template_handlebars
    with: {template: "{{{json this}}}"}
  - id: mail
    block: send_email
    with: {to: ops@example.com, subject: Report}
""",
    "fan_out": """\
workflow_type: per_customer
context:
  recipients: {sql: "SELECT id, email FROM customers WHERE email IS NOT NULL"}
fan_out:
  over: recipients
  item_key: id
  concurrency: 4
  circuit_breaker: 5
  steps:
    - id: personalise
      block: render_email
      with: {to: "{{email}}", subject: Hello, body: "<p>Hello {{email}}</p>"}
    - {id: send, block: send_email}
retry: {max_attempts: 3, base_ms: 2000, max_ms: 30000, per_recipient: true}
""",
    "verify": """\
workflow_type: checked
steps:
  - {id: say, block: template_handlebars, with: {template: "ok"}}
verify:
  - name: logged
    sql_check: SELECT COUNT(*) FROM workflow_run_log WHERE run_id = :run_id
    window: 60s
    expect: value == 1
""",
    "retry": """\
workflow_type: patient
retry: {max_attempts: 4, backoff: fixed, base_ms: 500}
steps:
  - {id: fetch, block: http_request, with: {url: "https://example.com/"}}
  - id: slow
    block: http_request
    with: {url: "https://example.com/slow"}
    retry: {max_attempts: 2, backoff: none}
""",
}

INTRO = """\
# Contract reference

A contract is a workflow written as YAML: the card's sections (trigger, inputs, context,
preconditions, approval gate, steps, fan-out, post actions, verify checks, retry policy),
compiled into the same block graph as the Python API and run on the same runtime:

```bash
orchestrator-blocks explain my_workflow.yaml          # the card, before running it
orchestrator-blocks run my_workflow.yaml --input k=v  # inputs are validated first
```

Every section refuses keys it does not know: the error names the key and lists the ones
the section takes. [`examples/batch_notify.yaml`](../examples/batch_notify.yaml) uses every
section. A *duration* is `250ms`, `60s`, `30m`, `24h`, `1.5d` or a number of seconds.

<!-- Written by `python -m orchestrator_blocks.app.contracts.reference > docs/contracts.md`
     from app/contracts/model.py; tests/unit/test_contract_reference.py keeps them equal. -->
"""


def render_reference() -> str:
    """The whole of ``docs/contracts.md``."""
    parts = [INTRO]
    for heading, anchor, model in SECTIONS:
        parts.append(f'\n<a id="{anchor}"></a>\n\n## {heading}\n\n{_doc(model)}\n')
        parts.append("\n| key | type | default | what it does |\n| --- | --- | --- | --- |\n")
        for name, field in model.model_fields.items():
            cells = (
                f"`{field.alias or name}`",
                _type(field.annotation, field.metadata),
                _default(field),
                field.description or "",
            )
            parts.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")
        parts.append(f"\n```yaml\n{EXAMPLES[anchor]}```\n")
    return "".join(parts)


def _doc(model: type[BaseModel]) -> str:
    return " ".join((model.__doc__ or "").split())


def _type(annotation: Any, metadata: list[Any] | None = None) -> str:
    label = _label(annotation)
    bounds = []
    for m in metadata or []:
        if isinstance(m, annotated_types.Ge):
            bounds.append(f">= {m.ge}")
        elif isinstance(m, annotated_types.Le):
            bounds.append(f"<= {m.le}")
    return f"{label} ({', '.join(bounds)})" if bounds else label


def _label(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return f"[{_ANCHOR[annotation]}](#{_ANCHOR[annotation]})"
    if origin is Literal:
        return " or ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        if set(kept) == {str, float}:
            return _DURATION
        return " or ".join(_label(a) for a in kept)
    if origin is list:
        return f"list of {_label(args[0])}"
    if origin is dict:
        return "mapping" if args[1] is Any else f"mapping of name to {_label(args[1])}"
    names = {str: "text", int: "integer", float: "number", bool: "boolean"}
    return names.get(annotation, "any")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
    elif field.default is PydanticUndefined:
        return "required"
    else:
        value = field.default
    return f"`{_yaml(value)}`"


def _yaml(value: Any) -> str:
    if isinstance(value, BaseModel):
        value = {k: v for k, v in value.model_dump().items() if v not in (None, "")}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, list):
        return "[" + ", ".join(_yaml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_yaml(v)}" for k, v in value.items()) + "}"
    return str(value)


if __name__ == "__main__":
    print(render_reference(), end="")
