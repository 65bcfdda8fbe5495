"""The transform family: behaviour and codes of each block (contract §6.5, §7.5)."""

from __future__ import annotations

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.kernel.plugin_host import default_host


def run_one(block: ob.Block, payload: object) -> ob.RunResult:
    w = ob.new_workflow("t")
    w.add(block)
    return w.run(payload)


@pytest.mark.parametrize(
    ("block", "payload", "expected"),
    [
        (lambda: ob.Block.split_lines(), "a\n\n b \nc", ["a", "b", "c"]),
        (lambda: ob.Block.split_lines(keep_empty=True, strip=False), "a\n\nb", ["a", "", "b"]),
        (lambda: ob.Block.select_first(), [3, 4], 3),
        (lambda: ob.Block.select_first(), "\n first\nsecond", " first"),
        (
            lambda: ob.Block.select_first(where={"ok": True}),
            [{"ok": False}, {"ok": True, "n": 2}],
            {"ok": True, "n": 2},
        ),
        (lambda: ob.Block.split_by_keys(["a", "c"]), {"a": 1, "b": 2, "c": 3}, {"a": 1, "c": 3}),
        (lambda: ob.Block.split_by_keys("a"), '[{"a": 1, "b": 2}, {"a": 5}]', [{"a": 1}, {"a": 5}]),
        (lambda: ob.Block.combine(), ["x", {"y": 1}, None], 'x\n{"y": 1}'),
        (lambda: ob.Block.combine(mode="merge"), [{"a": 1}, '{"b": 2}'], {"a": 1, "b": 2}),
        (lambda: ob.Block.combine(mode="list"), "solo", ["solo"]),
        (lambda: ob.Block.custom_transform(lambda p: {"n": len(p)}), "four", {"n": 4}),
    ],
)
def test_transform_outputs(block, payload, expected) -> None:
    result = run_one(block(), payload)
    assert result.ok, result.error
    assert result.final_value.payload == expected


async def _async_double(p: int) -> int:
    return p * 2


def test_custom_transform_accepts_async_functions() -> None:
    assert run_one(ob.Block.custom_transform(_async_double), 21).final_value.payload == 42


@pytest.mark.parametrize(
    ("block", "payload", "code"),
    [
        (lambda: ob.Block.select_first(), [], "transform.invalid_input"),
        (lambda: ob.Block.select_first(), {"not": "a list"}, "transform.invalid_input"),
        (lambda: ob.Block.split_by_keys(["zz"]), {"a": 1}, "transform.invalid_input"),
        (lambda: ob.Block.split_by_keys(["a"]), "not json {", "transform.parse_failed"),
        (lambda: ob.Block.combine(mode="merge"), [[1], {"a": 1}], "transform.invalid_input"),
        (lambda: ob.Block.split_lines(), b"\xff\xfe", "transform.invalid_input"),
        (lambda: ob.Block.custom_transform(lambda p: p["x"]), {}, "transform.execution_failed"),
    ],
)
def test_transform_failures_map_to_domain_codes(block, payload, code) -> None:
    result = run_one(block(), payload)
    assert result.status is ob.RunStatus.FAILED
    assert result.error is not None
    assert (result.error.domain, result.error.code) == ("transform", code)
    assert result.error.attempt == 1


TRANSFORMS = ["combine", "custom_transform", "split_lines", "split_by_keys", "select_first"]


@pytest.mark.parametrize("type_id", TRANSFORMS)
def test_transform_defaults_no_retry_no_timeout(type_id: str) -> None:
    bt = default_host().get(type_id)
    assert bt.domain == "transform"
    assert (bt.default_policy.retries, bt.default_policy.timeout_ms) == (0, None)
    assert bt.codes == {
        "transform.invalid_input",
        "transform.parse_failed",
        "transform.execution_failed",
    }


def test_later_families_are_not_registered_as_stubs() -> None:
    registry = default_host().registry
    for type_id in registry.type_ids():
        bt = registry.get(type_id)
        assert bt.description, f"{type_id} has no description"
