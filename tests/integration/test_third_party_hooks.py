"""A third-party plugin adds a guard, a run_finished hook and a CLI verb, touching nothing of
ours: it is a module plus an entry point in its own distribution, found like any plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk

PLUGIN = '''
"""acme_audit: refuses blocks named like a forbidden word, records every run, says hello."""
import json
import os
from pathlib import Path

from orchestrator_blocks import sdk


@sdk.hookimpl
def block_guard(ctx, block):
    if ctx.block_id and ctx.block_id.startswith("forbidden"):
        return sdk.Refusal("runtime.acme_refused", f"acme refuses {ctx.block_id}", {"by": "acme"})
    return None


@sdk.hookimpl
def run_finished(run, result):
    root = run.parent_run_id is None
    line = {"run_id": result.run_id, "status": str(result.status), "root": root}
    with Path(os.environ["ACME_AUDIT_FILE"]).open("a") as f:
        f.write(json.dumps(line) + "\\n")
    return {"acme_audited": True}


@sdk.hookimpl
def register_commands(cli):
    @cli.command("acme-hello")
    def acme_hello(name: str = "world") -> None:
        """Say hello from the acme plugin."""
        print(f"hello {name}, from acme")
'''

WORKFLOW = """
import orchestrator_blocks as ob

workflow = ob.new_workflow("audited")
ok = ob.Block.custom_transform(lambda v: "fine").named("allowed")
bad = ob.Block.custom_transform(lambda v: "never runs").named("forbidden_step")
workflow.link(ok, bad)
"""


@pytest.fixture
def acme_site(tmp_path: Path) -> Path:
    """A directory on ``sys.path`` holding the plugin and its distribution metadata, as
    ``pip install acme-audit`` would leave them."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_audit.py").write_text(textwrap.dedent(PLUGIN))
    dist = site / "acme_audit-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-audit\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[orchestrator_blocks.plugins]\nacme = acme_audit\n")
    return site


def _cli(site: Path, audit: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
        ACME_AUDIT_FILE=str(audit),
        ORCHESTRATOR_BLOCKS_HOME=str(home),
    )
    return subprocess.run(
        [sys.executable, "-m", "orchestrator_blocks", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_a_pip_installed_plugin_guards_records_and_adds_a_verb(
    acme_site: Path, tmp_path: Path, isolated_home: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    flow = tmp_path / "audited.py"
    flow.write_text(textwrap.dedent(WORKFLOW))

    hello = _cli(acme_site, audit, isolated_home, "acme-hello", "--name", "ops")
    assert hello.returncode == 0, hello
    assert hello.stdout.strip() == "hello ops, from acme"
    assert "acme-hello" in _cli(acme_site, audit, isolated_home, "--help").stdout

    ran = _cli(acme_site, audit, isolated_home, "run", str(flow), "--json")
    assert ran.returncode == 1, ran  # the guard refused the second block
    summary = json.loads(ran.stdout)
    assert summary["status"] == "failed"
    assert summary["error"]["code"] == "runtime.acme_refused"
    assert summary["error"]["block_id"] == "forbidden_step"
    assert summary["blocks"] == {"succeeded": 1, "failed": 1}

    lines = [json.loads(line) for line in audit.read_text().splitlines()]
    assert lines == [{"run_id": summary["run_id"], "status": "failed", "root": True}]


def test_without_the_plugin_the_same_workflow_succeeds(tmp_path: Path, isolated_home: Path) -> None:
    """The control: the refusal above came from the plugin, not from the engine."""
    flow = tmp_path / "audited.py"
    flow.write_text(textwrap.dedent(WORKFLOW))
    ran = _cli(tmp_path / "empty", tmp_path / "audit.jsonl", isolated_home, "run", str(flow))
    assert ran.returncode == 0, ran
    assert "acme-hello" not in _cli(tmp_path, tmp_path / "a", isolated_home, "--help").stdout


def test_a_plugin_registered_at_run_time_takes_part_in_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    path = tmp_path / "acme_runtime.py"
    path.write_text(textwrap.dedent(PLUGIN))
    spec = importlib.util.spec_from_file_location("acme_runtime", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setenv("ACME_AUDIT_FILE", str(tmp_path / "audit.jsonl"))
    ob.register_plugin(module)

    w = ob.new_workflow("audited_in_process")
    w.add(ob.Block.custom_transform(lambda v: "fine").named("allowed"))
    result = w.run()
    assert result.status is sdk.RunStatus.SUCCEEDED
    assert result.reports["acme_audited"] is True
    assert result.reports["log_run"] is True  # the built-in post actions still ran

    refused = ob.new_workflow("refused_in_process")
    refused.add(ob.Block.custom_transform(lambda v: "no").named("forbidden_one"))
    outcome = refused.run()
    assert outcome.status is sdk.RunStatus.FAILED
    assert outcome.error is not None and outcome.error.details["by"] == "acme"
    assert outcome.error.retry_disposition is sdk.RetryDisposition.MANUAL
