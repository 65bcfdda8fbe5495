"""``orchestrator-blocks run PATH.py`` and the CLI's error contract."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

GOOD = """
import orchestrator_blocks as ob

workflow = ob.new_workflow("cli_demo")
greet = ob.Block.custom_transform(lambda p: f"hello {(p or {}).get('name', 'world')}")
workflow.add(greet)
"""

FAILING = """
import orchestrator_blocks as ob

workflow = ob.new_workflow("cli_fail")
workflow.add(ob.Block.select_first().named("pick"))
"""


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


def test_run_prints_summary_and_exits_zero(tmp_path: Path, cli) -> None:
    path = write(tmp_path, "wf.py", GOOD)
    res = cli("run", str(path), "--input", "name=ada")
    assert res.code == 0, res
    assert "cli_demo" in res.out and "succeeded" in res.out
    assert "orchestrator-blocks logs" in res.out


def test_run_json_summary(tmp_path: Path, cli) -> None:
    res = cli("run", str(write(tmp_path, "wf.py", GOOD)), "--json")
    summary = json.loads(res.out)
    assert summary["status"] == "succeeded"
    assert summary["blocks"] == {"succeeded": 1}


OUTPUTS = """
import orchestrator_blocks as ob

workflow = ob.new_workflow("cli_outputs")
load = ob.Block.custom_transform(lambda p: {"rows": [1, 2], "name": p}).named("load")
blob = ob.Block.custom_transform(lambda p: b"\\x89PNG" + bytes(96)).named("blob")
nothing = ob.Block.custom_transform(lambda p: None).named("nothing")
count = ob.Block.custom_transform(lambda p: len(p["rows"])).named("count")
workflow.link(load, blob)
workflow.link(blob, nothing)
workflow.link(load, count)
"""


def test_run_json_has_every_block_output_and_the_final_output(tmp_path: Path, cli) -> None:
    res = cli("run", str(write(tmp_path, "wf.py", OUTPUTS)), "--text", "ada", "--json")
    assert res.code == 0, res
    summary = json.loads(res.out)
    assert summary["outputs"] == {
        "load": {"rows": [1, 2], "name": "ada"},
        "blob": "<100 bytes>",
        "nothing": None,
        "count": 2,
    }
    assert summary["output"] == [None, 2]  # two sinks: their outputs in order


def test_failed_run_exits_one_with_error_line(tmp_path: Path, cli) -> None:
    res = cli("run", str(write(tmp_path, "wf.py", FAILING)), "--input", "x=1")
    assert res.code == 1
    assert "transform.invalid_input" in res.err
    assert "Traceback" not in res.out + res.err


def test_user_mistakes_are_one_line(tmp_path: Path, cli) -> None:
    cases = [
        (["run", str(tmp_path / "missing.py")], "no such file"),
        (["run", str(write(tmp_path, "empty.py", "x = 1\n"))], "defines no workflow"),
        (
            ["run", str(write(tmp_path, "boom.py", "raise ValueError('bad config')\n"))],
            "bad config",
        ),
        (["run", str(write(tmp_path, "ok.py", GOOD)), "--input", "novalue"], "NAME=VALUE"),
        (
            [
                "run",
                str(write(tmp_path, "ok2.py", GOOD)),
                "--input-file",
                str(tmp_path / "nope.json"),
            ],
            "no such file",
        ),
    ]
    for args, fragment in cases:
        res = cli(*args)
        assert res.code == 2, (args, res)
        assert fragment in res.err, (args, res)
        assert len(res.err.strip().splitlines()) == 1, res.err
        assert "Traceback" not in res.err


def test_events_flag_prints_live_events(tmp_path: Path, cli) -> None:
    res = cli("run", str(write(tmp_path, "wf.py", GOOD)), "--events")
    assert res.code == 0
    lines = res.err.splitlines()
    assert any("run.started" in ln for ln in lines)
    assert any("block.succeeded" in ln and "custom_transform_1#1" in ln for ln in lines)
    quiet = cli("run", str(write(tmp_path, "wf2.py", GOOD)), "--quiet")
    assert "block.started" not in quiet.err
