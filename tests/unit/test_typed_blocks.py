"""``ob.Block`` is typed for static checkers: the generated stub lists every built-in type
with its signature, stays in step with the registry, and makes a misspelt type (or
argument) a mypy error instead of a run-time surprise."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import orchestrator_blocks
from orchestrator_blocks.app import stubgen

REPO = Path(__file__).resolve().parents[2]


def test_the_typed_block_stub_is_up_to_date() -> None:
    fresh = stubgen.render(stubgen.builtin_types())
    current = stubgen.target().read_text(encoding="utf-8")
    assert current == fresh, "run: python -m orchestrator_blocks.app.stubgen"


def test_the_stub_has_one_constructor_per_builtin_type() -> None:
    from orchestrator_blocks.kernel.plugin_host import PluginHost

    host = PluginHost()
    builtins = {
        bt.type_id
        for bt in host.registry
        if host.registry.source_of(bt.type_id).startswith("orchestrator-blocks ")
    }
    text = stubgen.target().read_text(encoding="utf-8")
    declared = {line.split("(")[0].split()[-1] for line in text.splitlines() if " def " in line}
    assert declared == builtins


def test_render_falls_back_to_any_for_types_private_to_a_plugin() -> None:
    from orchestrator_blocks import sdk

    class Private:
        pass

    def private(ctx: sdk.RunContext, value: sdk.Value, thing: Private, n: int = 1) -> None:
        """Use a private type."""

    private.__annotations__["thing"] = "Private"
    private.__globals__["Private"] = Private
    bt = sdk.block_type("private", codes=[sdk.Code("private.x", "never", "x")])(private)
    text = stubgen.render([bt])
    assert "def private(cls, thing: Any, n: int = 1) -> _Block:" in text
    assert "from typing import Any" in text


@pytest.fixture(scope="module")
def mypy_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package laid out as installed (mypy cannot follow the editable package-dir map)."""
    pytest.importorskip("mypy")
    root = tmp_path_factory.mktemp("typed") / "orchestrator_blocks"
    root.mkdir()
    facade = Path(orchestrator_blocks.__file__).parent
    for name in ("__init__.py", "py.typed"):
        (root / name).symlink_to(facade / name)
    for sub in ("kernel", "app", "sdk", "plugins", "examples"):
        (root / sub).symlink_to(REPO / sub)
    return root.parent


def _mypy(path: Path, code: str) -> subprocess.CompletedProcess[str]:
    snippet = path / "snippet.py"
    snippet.write_text(textwrap.dedent(code))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--follow-imports=silent",
            "--no-incremental",
            "--config-file=",
            str(snippet),
        ],
        cwd=path,
        env={**os.environ, "MYPYPATH": str(path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.slow
def test_mypy_reports_a_misspelt_builtin_type_and_accepts_the_right_one(mypy_path: Path) -> None:
    proc = _mypy(
        mypy_path,
        """
        import orchestrator_blocks as ob

        w = ob.new_workflow("typed")
        fetch = ob.Block.http_request("https://example.com", method="GET").set_retry(2)
        typo = ob.Block.http_reqest("https://example.com")
        wrong = ob.Block.http_request("https://example.com", methd="GET")
        bad = ob.Block.split_lines(keep_empty="yes")
        other = ob.Block.of("github_create_issue", repo="acme/app")
        w.link(fetch, other)
        """,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 3, proc.stdout + proc.stderr
    assert 'has no attribute "http_reqest"' in errors[0]
    assert 'Unexpected keyword argument "methd"' in errors[1]
    assert "keep_empty" in errors[2] and '"str"' in errors[2]
