"""Contract §6.6: the child-workflow reliability boundary and error bubbling."""

from __future__ import annotations

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk


def test_child_output_is_its_sink_output() -> None:
    child = ob.new_workflow("child")
    double = ob.Block.custom_transform(lambda p: p * 2)
    inc = ob.Block.custom_transform(lambda p: p + 1)
    child.link(double, inc)
    parent = ob.new_workflow("parent")
    call = ob.Block.child_workflow(child)
    parent.link(ob.Block.custom_transform(lambda p: 20), call)
    result = parent.run()
    assert result.ok
    assert result.output(call) == 41
    child_runs = {e["run_id"] for e in result.events if e["workflow_id"] == "child"}
    assert len(child_runs) == 1
    child_created = [e for e in result.events_of("run.created") if e["workflow_id"] == "child"]
    assert child_created[0]["parent_run_id"] == result.run_id


def test_child_defaults_infinite_timeout_no_retries() -> None:
    pol = ob.Block.child_workflow(ob.new_workflow("c")).policy
    assert (pol.retries, pol.timeout_ms) == (0, None)


def test_child_failure_bubbles_with_cause() -> None:
    def bad(_: object) -> None:
        raise sdk.BlockError("transform.invalid_input", "bad row 7")

    child = ob.new_workflow("child")
    child.add(ob.Block.custom_transform(bad).named("inner"))
    parent = ob.new_workflow("parent")
    call = ob.Block.child_workflow(child).named("call")
    parent.add(call)
    result = parent.run()
    env = result.error
    assert env is not None
    assert (env.origin, env.domain, env.code, env.block_id) == (
        "block",
        "child_workflow",
        "child_workflow.failed",
        "call",
    )
    assert env.cause is not None
    assert (env.cause.code, env.cause.block_id, env.cause.workflow_id) == (
        "transform.invalid_input",
        "inner",
        "child",
    )
    assert env.details["child_run_id"] == env.cause.run_id
    assert env.root_cause is env.cause
    assert env.to_dict()["cause"]["code"] == "transform.invalid_input"


def test_retry_reruns_child_from_its_entry() -> None:
    entry_calls: list[int] = []
    attempts = {"n": 0}

    def entry(p: object) -> object:
        entry_calls.append(1)
        return p

    def second(p: object) -> object:
        attempts["n"] += 1
        if attempts["n"] < 3:
            raise sdk.BlockError("transform.execution_failed", "not yet")
        return "done"

    child = ob.new_workflow("child")
    child.link(ob.Block.custom_transform(entry), ob.Block.custom_transform(second))
    parent = ob.new_workflow("parent")
    call = ob.Block.child_workflow(child).set_retry_exponential(2, 1, 1.0)
    parent.add(call)
    result = parent.run()
    assert result.ok
    assert result.output(call) == "done"
    assert len(entry_calls) == 3  # every retry starts the child again at its entry
    child_runs = {
        e["run_id"] for e in result.events_of("run.created") if e["workflow_id"] == "child"
    }
    assert len(child_runs) == 3


def test_child_timeout_on_block_instance() -> None:
    import asyncio

    async def slow(p: object) -> object:
        await asyncio.sleep(5)
        return p

    child = ob.new_workflow("child")
    child.add(ob.Block.custom_transform(slow))
    parent = ob.new_workflow("parent")
    parent.add(ob.Block.child_workflow(child).set_timeout_ms(50))
    result = parent.run()
    assert result.error is not None
    assert result.error.code == "child_workflow.timeout"
    child_end = [
        e
        for e in result.events
        if e["workflow_id"] == "child"
        and e["event"].startswith("run.")
        and e["event"] != "run.created"
    ]
    assert child_end[-1]["event"] == "run.failed"
    assert child_end[-1]["code"] == "runtime.canceled"


def test_on_error_child_receives_the_envelope() -> None:
    received: list[dict] = []
    handler = ob.new_workflow("error_handler")
    handler.link(
        ob.Block.custom_transform(lambda env: received.append(env) or env["code"]),
        ob.Block.custom_transform(lambda code: f"logged {code}"),
    )
    w = ob.new_workflow("main")
    fails = ob.Block.custom_transform(lambda p: 1 / 0).named("fails")
    err = ob.Block.child_workflow(handler)
    w.on_error(fails, err)
    result = w.run()
    assert result.status is ob.RunStatus.FAILED
    assert received[0]["code"] == "transform.execution_failed"
    assert received[0]["block_id"] == "fails"
    assert result.output(err) == "logged transform.execution_failed"
    assert result.events_of("on_error.handler_succeeded")


def test_child_workflow_needs_a_workflow() -> None:
    with pytest.raises(ob.InvalidBlockConfig, match="Workflow"):
        ob.Block.child_workflow("not a workflow")


def test_recursive_child_is_stopped_by_the_budget() -> None:
    w = ob.new_workflow("recursive").set_iteration_budget(20)
    w.add(ob.Block.child_workflow(w))
    result = w.run()
    assert result.status is ob.RunStatus.FAILED
    assert result.error is not None
    assert result.error.code == "graph.iteration_budget_exceeded"
