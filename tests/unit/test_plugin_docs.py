"""``docs/plugins.md`` stays the reference: every parameter of ``sdk.block_type`` and
``sdk.family``, every field of ``sdk.Code`` and ``RunContext``, every hook (with its
arguments) and every fixture of the test kit is described there, and nothing stale is."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import hookspecs, testing

DOC = Path(__file__).resolve().parents[2] / "docs" / "plugins.md"


def _section(title: str) -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _first_cells(section: str) -> set[str]:
    """Names in the first column of the section's tables (`` `a`, `b` `` counts twice)."""
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            cell = line.split("|")[1]
            found = re.findall(r"`([A-Za-z_][A-Za-z0-9_.]*)", cell)
            names |= {name.rsplit(".", 1)[-1] for name in found}
    return names


def _parameters(fn: object) -> set[str]:
    return set(inspect.signature(fn).parameters)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("title", "fn"),
    [("Families: `sdk.family`", sdk.family), ("Block types: `sdk.block_type`", sdk.block_type)],
)
def test_every_declaration_parameter_is_documented(title: str, fn: object) -> None:
    assert _first_cells(_section(title)) == _parameters(fn)


def test_every_code_field_is_documented() -> None:
    assert (
        _first_cells(_section("Codes: `sdk.Code`"))
        == _parameters(sdk.Code)
        == {f.name for f in dataclasses.fields(sdk.Code)}
    )


def test_every_run_context_field_is_documented() -> None:
    fields = {f.name for f in dataclasses.fields(sdk.RunContext)}
    documented = _first_cells(_section("The block function, its context and its values"))
    public = {"settings", "clock", "service"}
    assert (fields | public) <= documented
    assert documented - fields - public <= {"Empty", "Text", "Json", "Bytes"}


def _hookspecs() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def test_every_hook_is_documented_with_its_arguments() -> None:
    headings = re.findall(r"^### `(\w+)\(([^)]*)\)`$", _section("Hooks"), re.MULTILINE)
    documented = {
        name: [a.strip() for a in args.split(",") if a.strip()] for name, args in headings
    }
    assert documented == _hookspecs()


def test_every_kit_fixture_is_documented() -> None:
    fixtures = {
        name
        for name, obj in vars(testing).items()
        if hasattr(obj, "_fixture_function_marker") or hasattr(obj, "_pytestfixturefunction")
    }
    assert fixtures >= {"block_harness", "fake_clock", "run_workflow"}
    assert _first_cells(_section("Testing: `orchestrator_blocks.sdk.testing`")) == fixtures


def _call(name: str, fn: object, skip: int) -> str:
    """``name(a, b=None, /, *, c=None)`` as the doc writes a signature (annotations left out)."""
    params = list(inspect.signature(fn).parameters.values())[skip:]  # type: ignore[arg-type]
    parts: list[str] = []
    for p in params:
        if p.kind is p.KEYWORD_ONLY and "*" not in parts:
            parts.append("*")
        default = f'"{p.default}"' if isinstance(p.default, str) else repr(p.default)
        parts.append(p.name if p.default is p.empty else f"{p.name}={default}")
        if p.kind is p.POSITIONAL_ONLY and (
            params.index(p) + 1 == len(params)
            or (params[params.index(p) + 1].kind is not p.POSITIONAL_ONLY)
        ):
            parts.append("/")
    return f"{name}({', '.join(parts)})"


@pytest.mark.parametrize(
    ("name", "fn", "skip"),
    [
        ("run", testing.BlockHarness.run, 1),
        ("run_workflow", testing.WorkflowRunner.__call__, 1),
        ("sdk.Code", sdk.Code, 0),
    ],
)
def test_documented_call_signatures_match_the_code(name: str, fn: object, skip: int) -> None:
    text = DOC.read_text(encoding="utf-8")
    assert _call(name, fn, skip) in text
