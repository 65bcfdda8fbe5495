"""Every usage error of every command is one plain line on stderr and exit code 2
(DESIGN §8): no boxed panel, no usage block, no Python parse message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from orchestrator_blocks.kernel.cli import build_cli


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    for name, sub in sorted(getattr(cmd, "commands", {}).items()):
        yield from _commands(sub, (*path, name))
    yield path, cmd


COMMANDS = list(_commands(typer.main.get_command(build_cli())))
NEEDS_SOMETHING = [path for path, cmd in COMMANDS if any(p.required for p in cmd.params)]
BAD_VALUES = [  # every number, range and choice a command takes
    ("run", "wf.py", "--timeout-ms", "soon"),
    ("run", "wf.py", "--timeout-ms", "0"),
    ("serve", "--poll", "fast"),
    ("serve", "--console-port", "http"),
    ("serve", "--lease-s", "long"),
    ("console", "--port", "99999"),
    ("explain", "wf.py", "--format", "pdf"),
    ("runs", "--limit", "x"),
    ("approvals", "list", "--limit", "0"),
    ("approvals", "show", "abc"),
    ("approvals", "approve", "abc", "--as", "mike"),
    ("approvals", "reject", "1.5", "--as", "mike"),
    ("approvals", "propose", "bulk_email", "--window-minutes", "soon"),
    ("events", "--limit", "many"),
    ("reflexion", "search", "--limit", "-1"),
]


def _one_line(res: Any) -> str:
    assert res.code == 2, res
    assert res.out == "", res
    lines = res.err.strip().splitlines()
    assert len(lines) == 1, res
    assert lines[0].startswith("error: "), res
    assert not any(c in res.err for c in "╭│╰"), res
    assert "Traceback" not in res.err and "invalid literal" not in res.err, res
    return lines[0]


def test_the_tree_of_commands_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"run", "runs resume", "approvals show", "verify list", "demo batch-notify"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=lambda p: " ".join(p) or "root")
def test_an_unknown_option(cli, path: tuple[str, ...]) -> None:
    line = _one_line(cli(*path, "--no-such-option"))
    assert "No such option: --no-such-option" in line
    assert f"(see `{' '.join(('orchestrator-blocks', *path))} --help`)" in line


@pytest.mark.parametrize("path", NEEDS_SOMETHING, ids=" ".join)
def test_a_missing_argument_or_option(cli, path: tuple[str, ...]) -> None:
    assert "Missing" in _one_line(cli(*path))


@pytest.mark.parametrize("args", BAD_VALUES, ids=" ".join)
def test_a_bad_option_value(cli, args: tuple[str, ...]) -> None:
    line = _one_line(cli(*args))
    assert "Invalid value" in line or "is not" in line, line


def test_an_unknown_command(cli) -> None:
    assert "No such command 'frobnicate'" in _one_line(cli("frobnicate"))


CONTRACT = """
workflow_type: counted
inputs:
  max_recipients: {type: integer, required: true}
  ratio: {type: number}
steps:
  - {id: first, block: select_first}
"""


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("max_recipients=abc", "input 'max_recipients' (integer): expected a whole number"),
        ("max_recipients=2.5", "input 'max_recipients' (integer): expected a whole number"),
        ("ratio=half", "input 'ratio' (number): expected a number"),
        ("max_recipients", "--input 'max_recipients': expected NAME=VALUE"),
    ],
)
def test_an_input_that_does_not_parse_says_what_was_expected(
    cli, tmp_path: Path, given: str, expected: str
) -> None:
    path = tmp_path / "counted.yaml"
    path.write_text(CONTRACT)
    res = cli("run", str(path), "--input", "max_recipients=3", "--input", given)
    assert expected in _one_line(res)
