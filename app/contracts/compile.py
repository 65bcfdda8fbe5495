"""Compile a contract into the same block graph the Python API builds.

::

    [trigger] -> inputs -> context_<query>... -> context -> preconditions -> steps...

``inputs`` validates the run's inputs; each context query is a ``d1_query`` block fed the
validated inputs (cohort filters compile into its ``__filter__`` placeholder); ``context``
gathers inputs and rows into one mapping; ``preconditions`` evaluates the safety rules;
then the steps run in order, the first one receiving the context. Kill switches named in
the rules also guard every write step of the run (checked right before each).
"""

from __future__ import annotations

import ast
from typing import Any

from orchestrator_blocks.kernel.block import Block
from orchestrator_blocks.sdk import Backoff, OrchestratorError
from orchestrator_blocks.sdk.inputs import InputSpec
from orchestrator_blocks.sdk.policy import timeout_to_ms
from orchestrator_blocks.sdk.rules import Rule, RuleError
from orchestrator_blocks.sdk.sql import classify_statement

from ..card import TriggerSpec, Workflow
from .model import Contract, RetryModel, StepModel, parse_duration

__all__ = ["ContractError", "compile_contract", "input_specs"]


class ContractError(OrchestratorError):
    code = "contract.invalid"


def input_specs(contract: Contract) -> list[InputSpec]:
    specs = []
    for name, model in contract.inputs.items():
        try:
            specs.append(
                InputSpec(
                    name=name,
                    type=model.type,
                    required=model.required,
                    default=model.default,
                    description=model.description,
                    columns=tuple(model.columns),
                    max_length=model.max_length,
                )
            )
        except ValueError as exc:
            raise ContractError(f"inputs.{name}: {exc}") from None
    return specs


def _statement(sql: str) -> str:
    """A statement as an error message quotes it: on one line, at most 200 characters."""
    text = " ".join(sql.split())
    return repr(text if len(text) <= 200 else text[:199] + "…")


def _policy(
    block: Block, retry: RetryModel | None, timeout: str | float | None, where: str
) -> None:
    if retry is not None:
        if retry.backoff == "none":
            backoff = Backoff.none()
        elif retry.backoff == "fixed":
            backoff = Backoff.fixed(retry.base_ms, jitter=retry.jitter)
        else:
            backoff = Backoff.exponential(
                retry.base_ms, retry.factor, jitter=retry.jitter, cap_ms=retry.max_ms
            )
        block.set_retry(retry.max_attempts - 1, backoff)
    if timeout is not None:
        try:
            block.set_timeout_ms(timeout_to_ms(parse_duration(timeout)))
        except ValueError as exc:
            raise ContractError(f"{where}.timeout: {exc}") from None


def _kill_switches(rules: list[str]) -> list[str]:
    names = []
    for text in rules:
        for node in ast.walk(ast.parse(text, mode="eval")):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "kill_switch"
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                names.append(str(node.args[0].value))
    return names


def _step_block(step: StepModel, where: str) -> Block:
    try:
        block = Block.of(step.block, **step.with_)
    except OrchestratorError as exc:
        raise ContractError(f"{where} ({step.block}): {exc}") from None
    except TypeError as exc:
        raise ContractError(f"{where}.with: {exc}") from None
    return block.named(step.id)


def _link(w: Workflow, last: Block, block: Block) -> Block:
    w.link(last, block)
    return block


def _gate(c: Contract) -> Block:
    """Section 5: the approval gate, before any write of a workflow at or above its gate."""
    assert c.hitl is not None
    try:
        return Block.of(
            "hitl_gate",
            c.hitl.action_type,
            over=c.fan_out.over if c.fan_out is not None else "recipients",
            sample_size=c.hitl.sample_size,
            body_input=c.hitl.body_input,
            window_minutes=parse_duration(c.hitl.window) / 60,
            risk_level=c.risk_level,
        ).named("hitl_gate")
    except (OrchestratorError, ValueError) as exc:
        raise ContractError(f"hitl: {exc}") from None


def _fan_out(c: Contract, switches: list[str]) -> Block:
    """Section 6: the per-item steps as a sub-workflow run once per item by ``for_each``.

    With a per-recipient retry policy (section 9) the item is what is retried, so the
    steps inside get no retries of their own unless a step sets one."""
    assert c.fan_out is not None
    f = c.fan_out
    per_item = c.retry if c.retry is not None and c.retry.per_recipient else None
    sub = Workflow(f"{c.workflow_type}.{f.id}")
    prev: Block | None = None
    for j, step in enumerate(f.steps):
        where = f"fan_out.steps.{j}"
        block = _step_block(step, where)
        if step.retry is None and per_item is not None:
            block.set_retry(0)
        _policy(block, step.retry, step.timeout, where)
        if prev is None:
            sub.add(block)
        else:
            sub.link(prev, block)
        prev = block
    if prev is None:
        raise ContractError("fan_out.steps: give at least one step")
    item_policy: dict[str, Any] = {"max_attempts": 1}
    if per_item is not None:
        item_policy = {
            "max_attempts": per_item.max_attempts,
            "backoff": per_item.backoff,
            "base_ms": per_item.base_ms,
            "max_ms": per_item.max_ms,
            "factor": per_item.factor,
            "jitter": per_item.jitter,
        }
    try:
        return Block.of(
            "for_each",
            sub,
            over=f.over,
            item_key=f.item_key,
            concurrency=f.concurrency,
            circuit_breaker=f.circuit_breaker,
            kill_switches=tuple(switches),
            **item_policy,
        ).named(f.id)
    except OrchestratorError as exc:
        raise ContractError(f"fan_out: {exc}") from None


def compile_contract(contract: Contract) -> Workflow:
    """The workflow a contract describes (validated; raises :class:`ContractError`)."""
    c = contract
    specs = input_specs(c)
    by_name = {s.name: s for s in specs}
    w = Workflow(c.workflow_type)
    w.set_description(c.description).set_risk_level(c.risk_level)
    if c.reflexion_enabled or "reflexion" in c.post_actions:
        w.enable_reflexion(*(c.tags or [c.workflow_type]))
    if c.retry is not None and c.retry.alert_on_final_failure:
        w.set_alert_on_final_failure()

    inputs = Block.of("contract_inputs", specs=specs).named("inputs")
    if c.trigger.kind == "cron":
        try:
            trigger = Block.of("cron", c.trigger.schedule).named("trigger")
        except OrchestratorError as exc:
            raise ContractError(f"trigger.schedule: {exc}") from None
        w.link(trigger, inputs)
    else:
        w.add(inputs)
    w.set_trigger(
        TriggerSpec(
            kind=c.trigger.kind,
            schedule=c.trigger.schedule,
            event=c.trigger.event,
            filter=c.trigger.filter,
            action_type=c.trigger.action_type,
        )
    )
    if c.trigger.filter:
        try:
            Rule(c.trigger.filter, names=("event", "payload"), label="trigger.filter")
        except RuleError as exc:
            raise ContractError(str(exc)) from None

    context = Block.of("contract_context", names=["inputs", *c.context]).named("context")
    query_blocks = []
    for name, q in c.context.items():
        where = f"context.{name}"
        filter_columns = None
        if q.filter_input is not None:
            spec = by_name.get(q.filter_input)
            if spec is None or spec.type != "cohort_filter":
                raise ContractError(
                    f"{where}.filter_input: {q.filter_input!r} must name an input of type "
                    "cohort_filter"
                )
            filter_columns = list(spec.columns)
        for param, input_name in q.params_from_input.items():
            if input_name not in by_name:
                raise ContractError(
                    f"{where}.params_from_input.{param}: no input named {input_name!r}"
                )
        try:
            block = Block.of(
                "d1_query",
                q.sql,
                q.params or None,
                database=q.database,
                filter_input=q.filter_input,
                filter_columns=filter_columns,
                params_from_input=q.params_from_input or None,
                one=q.one,
            )
        except OrchestratorError as exc:
            raise ContractError(f"{where}: {exc}: {_statement(q.sql)}") from None
        if block.block_type.is_write(block.config):
            reason = classify_statement(q.sql).reason
            raise ContractError(
                f"{where}: context queries read; writes belong in steps ({reason}): "
                f"{_statement(q.sql)}"
            )
        block.named(f"context_{name}")
        w.link(inputs, block)
        query_blocks.append(block)
    w.link(inputs, context)
    for block in query_blocks:
        w.link(block, context)
    last: Block = context

    if c.preconditions:
        rules = [p.model_dump(include={"name", "rule", "severity"}) for p in c.preconditions]
        try:
            pre = Block.of("precondition", rules=rules, names=["inputs", *c.context]).named(
                "preconditions"
            )
        except OrchestratorError as exc:
            raise ContractError(f"preconditions: {exc}") from None
        w.link(last, pre)
        last = pre
    switches = _kill_switches([p.rule for p in c.preconditions])
    if switches:
        w.guard_with_kill_switches(*switches)

    if c.hitl is not None and c.risk_level >= c.hitl.risk_gate:
        last = _link(w, last, _gate(c))

    for i, step in enumerate(c.steps):
        where = f"steps.{i}"
        block = _step_block(step, where)
        _policy(block, step.retry or c.retry, step.timeout, where)
        w.link(last, block)
        last = block

    if c.fan_out is not None:
        last = _link(w, last, _fan_out(c, switches))

    for i, v in enumerate(c.verify):
        try:
            w.add_verify(
                v.name,
                v.sql_check,
                expect=v.expect,
                window_s=parse_duration(v.window),
                database=v.database,
                timeout_ms=max(1, int(parse_duration(v.timeout) * 1000)),
            )
        except (ValueError, RuleError) as exc:
            raise ContractError(f"verify.{i}: {exc}") from None
    w.spec.contract = c
    w.traits["inputs"] = specs
    return w


def describe_inputs(contract: Contract) -> list[dict[str, Any]]:
    return [
        {
            "name": name,
            "type": m.type,
            "required": m.required,
            "default": m.default,
            "description": m.description,
        }
        for name, m in contract.inputs.items()
    ]
