"""Blocks of compiled contracts: inputs, context, preconditions."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.inputs import InputError, InputSpec, validate_inputs
from orchestrator_blocks.sdk.rules import Rule, RuleError

INPUTS_MISSING = "inputs.missing"
INPUTS_INVALID = "inputs.invalid"
CONTEXT_INVALID = "context.invalid"
BLOCKED = "precondition.blocked"
INVALID = "precondition.invalid"
SEVERITIES = ("block", "warn")

FAMILY = sdk.family(
    "contract",
    domain="precondition",
    codes=[
        sdk.Code(BLOCKED, "never", "a severity: block rule is false: nothing was written"),
        sdk.Code(INVALID, "never", "a rule cannot be evaluated on this context"),
    ],
    description="the blocks a declarative workflow contract compiles into",
)


def _validate_inputs_config(config: dict[str, Any]) -> None:
    specs = config["specs"]
    if not isinstance(specs, Sequence) or not all(isinstance(s, InputSpec) for s in specs):
        raise TypeError("specs must be a list of InputSpec")
    config["specs"] = list(specs)


@FAMILY.block_type(
    "contract_inputs",
    domain="inputs",
    codes=[
        sdk.Code(INPUTS_MISSING, "never", "a required input was not given"),
        sdk.Code(INPUTS_INVALID, "never", "an input does not match its declared type"),
    ],
    validate=_validate_inputs_config,
)
def contract_inputs(
    ctx: sdk.RunContext, value: sdk.Value, specs: list[InputSpec], strict: bool = False
) -> sdk.Value:
    """Validate the run's inputs against the contract; output them with defaults applied.

    A run started by the scheduler (whose input is the firing time) or by an event (whose
    payload may carry more fields) is validated too; unknown names are ignored unless
    ``strict``. ``files`` inputs are checked against the run's files root: a missing or
    escaping path fails here, before any approval is asked for.
    """
    given = value.payload if isinstance(value.payload, Mapping) else {}
    try:
        inputs = validate_inputs(specs, given, strict=strict, files_root=ctx.settings.files_root)
        return sdk.Json(inputs)
    except InputError as exc:
        code = INPUTS_MISSING if str(exc).startswith("missing required") else INPUTS_INVALID
        raise sdk.BlockError(code, str(exc)) from None


def _validate_names(config: dict[str, Any]) -> None:
    names = config["names"]
    if not names or not all(isinstance(n, str) and n.isidentifier() for n in names):
        raise ValueError("names must be identifiers, one per predecessor, in link order")
    config["names"] = list(names)


@FAMILY.block_type(
    "contract_context",
    domain="context",
    codes=[sdk.Code(CONTEXT_INVALID, "never", "one output per name was expected")],
    validate=_validate_names,
)
def contract_context(ctx: sdk.RunContext, value: sdk.Value, names: list[str]) -> sdk.Value:
    """Gather the outputs of its predecessors (inputs first, then each context query) into
    one mapping keyed by ``names``."""
    items = value.payload if len(names) > 1 else [value.payload]
    if not isinstance(items, list) or len(items) != len(names):
        raise sdk.BlockError(
            CONTEXT_INVALID, f"expected {len(names)} inputs ({', '.join(names)}), got {items!r:.80}"
        )
    return sdk.Json(dict(zip(names, items, strict=True)))


def _switch_names(rule: Rule) -> list[str]:
    names = []
    for node in ast.walk(rule.tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id != "kill_switch":
                continue
            if (
                len(node.args) != 1
                or not isinstance(node.args[0], ast.Constant)
                or not isinstance(node.args[0].value, str)
            ):
                raise ValueError(f"{rule.label}: kill_switch() takes one quoted name")
            names.append(node.args[0].value)
    return names


def _validate_rules(config: dict[str, Any]) -> None:
    rules = config["rules"]
    names = config["names"]
    parsed = []
    for i, item in enumerate(rules or []):
        if not isinstance(item, Mapping) or "rule" not in item:
            raise ValueError(f"rule {i}: expected a mapping with name, rule, severity")
        name = str(item.get("name") or f"rule_{i}")
        severity = item.get("severity", "block")
        if severity not in SEVERITIES:
            raise ValueError(f"precondition {name!r}: severity must be block or warn")
        try:
            rule = Rule(
                item["rule"],
                names=names or (),
                functions=["kill_switch"],
                label=f"precondition {name!r}",
            )
        except RuleError as exc:
            raise sdk.InvalidBlockConfig(str(exc), code=INVALID) from None
        _switch_names(rule)
        parsed.append({"name": name, "rule": item["rule"], "severity": severity})
    if not parsed:
        raise ValueError("precondition needs at least one rule")
    config["rules"] = parsed


@FAMILY.block_type("precondition", validate=_validate_rules)
async def precondition(
    ctx: sdk.RunContext,
    value: sdk.Value,
    rules: list[Mapping[str, Any]],
    names: list[str] | None = None,
) -> sdk.Value:
    """Check safety rules before any write: ``block`` stops the run, ``warn`` records a
    warning and continues. Rules see the context (``inputs`` and every context query) and
    may call ``kill_switch("name")``."""
    context = value.payload if isinstance(value.payload, Mapping) else {"input": value.payload}
    parsed = [
        (r, Rule(r["rule"], functions=["kill_switch"], label=f"precondition {r['name']!r}"))
        for r in rules
    ]
    switches: dict[str, bool] = {}
    for _, rule in parsed:
        for name in _switch_names(rule):
            if name not in switches:
                switches[name] = await ctx.service(sdk.KillSwitches).engaged(name)
    functions = {"kill_switch": lambda name: switches[name]}
    warned: list[str] = []
    for spec, rule in parsed:
        try:
            ok = rule.evaluate(context, functions)
        except RuleError as exc:
            raise sdk.BlockError(
                INVALID, str(exc), details={"precondition": spec["name"]}
            ) from None
        if ok:
            continue
        message = f"precondition {spec['name']!r} is not met: {spec['rule']}"
        if spec["severity"] == "block":
            raise sdk.BlockError(
                BLOCKED,
                f"{message}; nothing was written",
                severity="warn",
                details={
                    "precondition": spec["name"],
                    "rule": spec["rule"],
                    "kill_switches": {k: v for k, v in switches.items() if v},
                },
            )
        warned.append(spec["name"])
        ctx.log.warning("precondition.warned", precondition=spec["name"], message=message)
    return sdk.Json({**context, "precondition_warnings": warned})


BLOCK_TYPES = (contract_inputs, contract_context, precondition)
