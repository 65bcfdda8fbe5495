"""docs/contracts.md is the contract's models written out: every key, its type, default and
description. It is compared with what the models say, so neither can change alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator_blocks.app.contracts import compile_contract, parse_contract
from orchestrator_blocks.app.contracts.reference import EXAMPLES, SECTIONS, render_reference

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "contracts.md"
REFRESH = "python -m orchestrator_blocks.app.contracts.reference > docs/contracts.md"


def test_the_reference_is_what_the_models_say() -> None:
    assert DOC.read_text(encoding="utf-8") == render_reference(), f"refresh it: {REFRESH}"


@pytest.mark.parametrize(("heading", "anchor", "model"), SECTIONS, ids=[s[1] for s in SECTIONS])
def test_every_key_is_described_and_listed(heading: str, anchor: str, model) -> None:
    doc = DOC.read_text(encoding="utf-8")
    section = doc.split(f'<a id="{anchor}"></a>', 1)[1].split("<a id=", 1)[0]
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"
        assert f"| `{field.alias or name}` |" in section, (heading, name)


@pytest.mark.parametrize("anchor", sorted(EXAMPLES))
def test_every_example_is_a_valid_contract(anchor: str) -> None:
    compile_contract(parse_contract(yaml.safe_load(EXAMPLES[anchor]), source=anchor))


def test_the_readme_links_the_reference() -> None:
    assert "(docs/contracts.md)" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "trigger: {kind: cron, cron: '0 2 * * *'}",
            "trigger.cron: unknown key; trigger takes: kind, schedule, event, filter, "
            "action_type, invoker, description (see docs/contracts.md)",
        ),
        (
            "step: []",
            "step: unknown key; did you mean `steps`? a contract takes: workflow_type, version,",
        ),
        (
            "steps:\n  - {id: a, block: select_first, width: {}}",
            "steps.0.width: unknown key; did you mean `with`? steps takes: id, block, with, "
            "retry, timeout, description",
        ),
        (
            "fan_out: {over: r, steps: [{id: a, block: b, retry: {attempts: 3}}]}",
            "fan_out.steps.0.retry.attempts: unknown key; did you mean `max_attempts`? "
            "fan_out.steps.retry takes: max_attempts, backoff,",
        ),
    ],
    ids=["trigger", "top", "step", "nested"],
)
def test_an_unknown_key_lists_the_keys_its_section_takes(
    cli, tmp_path: Path, body: str, expected: str
) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(f"workflow_type: typo\n{body}\n")
    res = cli("run", str(path))
    assert res.code == 2, res
    assert res.err.count("\n") == 1 and f"typo.yaml: {expected}" in res.err, res


def _readme_contract_example() -> tuple[str, list[str]]:
    """The README's contract example: its YAML and the command lines that follow it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    after = text.split("```yaml\nworkflow_type: note_customers\n", 1)[1]
    body, rest = after.split("```\n", 1)
    commands = rest.split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line.split("#", 1)[0].strip() for line in commands.splitlines()]
    return "workflow_type: note_customers\n" + body, [line for line in lines if line]


def test_the_readmes_contract_example_runs_on_a_fresh_home(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shlex

    contract, commands = _readme_contract_example()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "note_customers.yaml").write_text(contract)
    for line in commands:
        args = shlex.split(line)
        assert args[0] == "orchestrator-blocks", line
        res = cli(*args[1:])
        assert res.code == 0, (line, res)
