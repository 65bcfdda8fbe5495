"""A unique prefix of a run id works wherever a run id does (DESIGN §8), and an ambiguous
one is refused the same way everywhere: one line naming the runs it matches, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

CONTRACT = """
workflow_type: prefixed
reflexion_enabled: true
post_actions: [log_run, reflexion, event, verify]
steps:
  - {id: greet, block: template_handlebars, with: {template: "hello"}}
verify:
  - name: logged
    sql_check: "SELECT COUNT(*) FROM workflow_run_log WHERE run_id = :run_id"
    window: 60s
"""

# Every command that takes a run id; RUN stands for the id or prefix given.
COMMANDS = [
    ("logs", "RUN"),
    ("runs", "resume", "RUN"),
    ("runs", "retry", "RUN"),
    ("runs", "cancel", "RUN"),
    ("runs", "settle", "RUN", "--key", "k", "--as", "sent", "--by", "mike"),
    ("verify", "list", "RUN"),
    ("events", "--run", "RUN", "--json"),
    ("reflexion", "search", "--run", "RUN", "--json"),
    ("approvals", "list", "--run", "RUN", "--json"),
]


@pytest.fixture
def two_runs(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str, str]:
    """Two finished runs; returns their ids and the longest prefix they share."""
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    path = tmp_path / "prefixed.yaml"
    path.write_text(CONTRACT)
    ids = []
    for _ in range(2):
        res = cli("run", str(path), "--json")
        assert res.code == 0, res
        ids.append(json.loads(res.out)["run_id"])
    shared = _shared_prefix(*ids)
    assert len(shared) >= 4, ids  # ids begin with their creation time
    return ids[0], ids[1], shared


def _args(command: tuple[str, ...], run: str) -> list[str]:
    return [run if a == "RUN" else a for a in command]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_a_unique_prefix_names_the_run(cli, two_runs, command) -> None:
    first, _, shared = two_runs
    res = cli(*_args(command, first[: len(shared) + 1]))
    assert "no run" not in res.err and "matches" not in res.err, res
    # it worked, or was refused for what the run is (it ended), named by its full id
    assert res.code == 0 or first in res.err, res


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_ambiguous_prefix_is_one_line_naming_the_matches(cli, two_runs, command) -> None:
    first, second, shared = two_runs
    res = cli(*_args(command, shared))
    assert res.code == 2, res
    assert res.err.count("\n") == 1, res
    assert f"run id prefix {shared!r} matches 2 runs ({first}, {second})" in res.err


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_an_unknown_run_is_one_line(cli, two_runs, command) -> None:
    res = cli(*_args(command, "ZZZZZZZZ"))
    assert res.code == 2, res
    assert res.err.startswith("error: no run 'ZZZZZZZZ'") and res.err.count("\n") == 1, res


def test_what_a_prefix_finds_is_that_runs(cli, two_runs) -> None:
    first, second, shared = two_runs
    unique = first[: len(shared) + 1]
    assert "logged: pending" in cli("verify", "list", unique).out
    events = json.loads(cli("events", "--run", unique, "--json").out)
    assert [e["run_id"] for e in events] == [first]
    notes = json.loads(cli("reflexion", "search", "--run", unique, "--json").out)
    assert [n["run_id"] for n in notes] == [first]
    assert json.loads(cli("approvals", "list", "--run", unique, "--json").out) == []
    assert f"run {second}" in cli("logs", second[: len(shared) + 1]).out


def _shared_prefix(a: str, b: str) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[:n]
