"""``plugins new acme``, end to end as a plugin author lives it: scaffold with the installed
engine, ``pip install`` the result (a regular, non-editable install) into a fresh virtual
environment, run its own generated tests there (green), find it in ``plugins list`` and
``plugins show``, and run a workflow that uses it.

Creates a virtual environment and installs from the package index: tens of seconds."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from support.venvs import clean_env, make_venv, run

pytestmark = pytest.mark.slow

WORKFLOW = textwrap.dedent(
    """
    import json
    import orchestrator_blocks as ob

    w = ob.new_workflow("hello")
    greet = ob.Block.acme_greet(greeting="Hi")
    shout = ob.Block.custom_transform(str.upper)
    w.link(greet, shout)
    r = w.run("Ada")
    print(json.dumps({"status": str(r.status), "greet": r.output(greet), "out": r.output(shout)}))
    """
)


def test_a_scaffolded_plugin_installs_passes_its_tests_lists_and_runs(
    wheel: Path, tmp_path: Path
) -> None:
    venv = make_venv(tmp_path / "venv")
    run([str(venv / "pip"), "install", "-q", str(wheel)], cwd=tmp_path)
    env = clean_env(tmp_path / "home")
    cli = str(venv / "orchestrator-blocks")

    work = tmp_path / "work"
    work.mkdir()
    out = run([cli, "plugins", "new", "acme"], cwd=work, env=env)
    project = work / "orchestrator-blocks-acme"
    assert "pip install -e '.[test]'" in out and (project / "pyproject.toml").is_file()

    install = [str(venv / "pip"), "install", "-q", "--find-links", str(wheel.parent)]
    run([*install, f"{project}[test]"], cwd=work, env=env)
    tested = run(
        [str(venv / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
    )
    assert "5 passed" in tested, tested
    imported = run(
        [str(venv / "python"), "-c", "import orchestrator_blocks_acme as m; print(m.__file__)"],
        cwd=tmp_path,
        env=env,
    )
    assert "site-packages" in imported  # the installed copy, not the project's src/

    listing = json.loads(run([cli, "plugins", "list", "--json"], cwd=tmp_path, env=env))
    row = next(t for t in listing["block_types"] if t["type_id"] == "acme_greet")
    assert (row["source"], row["family"], row["domain"]) == (
        "orchestrator-blocks-acme 0.1.0",
        "acme",
        "custom:acme",
    )
    assert row["code_table"] == [
        {"code": "acme.invalid_input", "retry": "never", "meaning": "the input is not text"}
    ]
    assert listing["failures"] == []
    shown = run([cli, "plugins", "show", "acme_greet"], cwd=tmp_path, env=env)
    assert "Block.acme_greet(greeting: str = 'Hello')" in shown

    script = tmp_path / "hello.py"
    script.write_text(WORKFLOW)
    result = json.loads(run([str(venv / "python"), str(script)], cwd=tmp_path, env=env))
    assert result == {"status": "succeeded", "greet": "Hi, Ada!", "out": "HI, ADA!"}
