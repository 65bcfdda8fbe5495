"""Contract §5 and §12 items 1–2: block-first link/on_error, inline and BlockId endpoints."""

from __future__ import annotations

import pytest

import orchestrator_blocks as ob


def counter_block(calls: list[str], label: str) -> ob.Block:
    def fn(payload: object) -> str:
        calls.append(label)
        return f"{payload}>{label}"

    return ob.Block.custom_transform(fn)


def test_reference_reused_across_links_runs_once() -> None:
    calls: list[str] = []
    src = counter_block(calls, "src")
    a, b = counter_block(calls, "a"), counter_block(calls, "b")
    w = ob.new_workflow("reuse")
    w.link(src, a)
    w.link(src, b)  # the same `src` reference: registered once, reused
    result = w.run("in")
    assert result.status is ob.RunStatus.SUCCEEDED
    assert calls.count("src") == 1
    assert len(w.blocks) == 3
    assert result.output(a) == "in>src>a"
    assert result.output(b) == "in>src>b"


def test_inline_blocks_are_one_shot() -> None:
    calls: list[str] = []
    head = counter_block(calls, "head")
    w = ob.new_workflow("inline")
    w.link(head, counter_block(calls, "x"))
    w.link(head, counter_block(calls, "x"))  # a second inline expression: a second block
    result = w.run("in")
    assert result.ok
    assert calls.count("x") == 2
    assert len(w.blocks) == 3


def test_block_id_endpoints_stay_valid() -> None:
    w = ob.new_workflow("legacy")
    first = w.add(ob.Block.custom_transform(lambda p: p + 1))
    second = w.add(ob.Block.custom_transform(lambda p: p * 10))
    assert isinstance(first, ob.BlockId)
    assert w.add(w.blocks[first]) == first  # adding again returns the same id
    w.link(first, second)
    result = w.run(4)
    assert result.output(second) == 50
    assert result.output(str(second)) == 50


def test_mixed_endpoints_and_named_blocks() -> None:
    w = ob.new_workflow("mixed")
    fetch = ob.Block.custom_transform(lambda p: [1, 2, 3]).named("fetch")
    fid = w.add(fetch)
    assert fid == "fetch"
    first = ob.Block.select_first()
    w.link(fid, first)
    w.link(first, ob.Block.custom_transform(lambda p: p * 2).named("double"))
    result = w.run()
    assert result.output("double") == 2


def test_on_error_accepts_blocks_and_ids_and_alias() -> None:
    def boom(_: object) -> None:
        raise ValueError("nope")

    seen: list[str] = []
    w = ob.new_workflow("errs")
    src = ob.Block.custom_transform(boom)
    h1 = ob.Block.custom_transform(lambda env: seen.append("h1"))
    h2_id = w.add(ob.Block.custom_transform(lambda env: seen.append("h2")))
    w.add(src)
    w.on_error(src, h1)
    w.link_on_error(w.id_of(src), h2_id)
    result = w.run()
    assert result.status is ob.RunStatus.FAILED
    assert sorted(seen) == ["h1", "h2"]


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (lambda w, a, b: (w.link(a, b), w.link(b, a)), "cycle"),
        (lambda w, a, b: w.link(a, a), "itself"),
        (lambda w, a, b: w.on_error(a, a), "own on_error handler"),
        (lambda w, a, b: w.link(a, "nope"), "dangling"),
        (lambda w, a, b: w.link(a, ob.new_workflow("other").add(b)), "dangling"),
        (lambda w, a, b: (w.on_error(a, b), w.link(a, b)), "handler"),
    ],
    ids=["cycle", "self-link", "self-handler", "dangling-str", "foreign-id", "two-roles"],
)
def test_graph_invalid_before_anything_runs(build, fragment: str) -> None:
    ran: list[int] = []
    w = ob.new_workflow("bad")
    a = ob.Block.custom_transform(lambda p: ran.append(1))
    b = ob.Block.custom_transform(lambda p: ran.append(2))
    w.add(a)
    with pytest.raises(ob.GraphInvalid, match=fragment) as info:
        build(w, a, b)
    assert info.value.code == "graph.invalid"
    assert ran == []


def test_cycle_through_error_edges_is_invalid() -> None:
    w = ob.new_workflow("errcycle")
    a = ob.Block.custom_transform(lambda p: p)
    h1 = ob.Block.custom_transform(lambda p: p)
    h2 = ob.Block.custom_transform(lambda p: p)
    w.on_error(a, h1)
    w.on_error(h1, h2)
    with pytest.raises(ob.GraphInvalid, match="cycle"):
        w.on_error(h2, h1)


def test_rejected_link_leaves_graph_unchanged() -> None:
    w = ob.new_workflow("rollback")
    a = ob.Block.custom_transform(lambda p: "a")
    b = ob.Block.custom_transform(lambda p: "b")
    w.link(a, b)
    with pytest.raises(ob.GraphInvalid):
        w.link(b, a)
    assert w.edges() == [(w.id_of(a), w.id_of(b), "success")]
    assert w.run().output(b) == "b"


def test_empty_workflow_is_invalid() -> None:
    with pytest.raises(ob.GraphInvalid, match="no blocks"):
        ob.new_workflow("empty").run()


def test_policy_setters_are_chainable_and_fall_back_to_type_defaults() -> None:
    blk = ob.Block.custom_transform(lambda p: p)
    assert blk.policy == ob.Policy(retries=0, timeout_ms=None)
    same = blk.set_retry_exponential(3, 10, 3.0, jitter=0.0, cap_ms=500).set_timeout_ms(250)
    assert same is blk
    pol = blk.policy
    assert (pol.retries, pol.timeout_ms) == (3, 250)
    assert (pol.backoff.kind, pol.backoff.base_ms, pol.backoff.factor, pol.backoff.cap_ms) == (
        "exponential",
        10,
        3.0,
        500,
    )
    blk.set_timeout(1.5)
    assert blk.policy.timeout_ms == 1500
    blk.set_timeout(None)
    assert blk.policy.timeout_ms is None
    with pytest.raises(ValueError, match="retries"):
        blk.set_retry(-1)


def test_unknown_block_type_names_installed_ones() -> None:
    with pytest.raises(ob.UnknownBlockType) as info:
        ob.Block.of("no_such_block")
    assert "custom_transform" in str(info.value)
    assert not hasattr(ob.Block, "also_missing")


def test_bad_block_arguments_fail_at_construction() -> None:
    with pytest.raises(ob.InvalidBlockConfig, match="custom_transform"):
        ob.Block.custom_transform()
    with pytest.raises(ob.InvalidBlockConfig, match="callable"):
        ob.Block.custom_transform(42)
    with pytest.raises(ob.InvalidBlockConfig, match="mode"):
        ob.Block.combine(mode="zip")


def test_run_inside_event_loop_points_to_run_async() -> None:
    import asyncio

    w = ob.new_workflow("loop")
    w.add(ob.Block.custom_transform(lambda p: p))

    async def inner() -> None:
        with pytest.raises(RuntimeError, match="run_async"):
            w.run()
        result = await w.run_async("x")
        assert result.ok

    asyncio.run(inner())
