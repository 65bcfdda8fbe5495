"""``orchestrator-blocks plugins list|show|new``: what a type declares, and a new plugin."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def test_list_shows_family_codes_with_disposition_policy_and_side_effects(cli) -> None:
    res = cli("plugins", "list")
    assert res.code == 0, res
    for fragment in (
        "http_request",
        "http.rate_limited.429 (backoff)",
        "http.auth.401 (never)",
        "email.unknown_outcome (manual)",
        "timeout 30s",
        "HTTP host of the URL: POST/PUT/PATCH/DELETE",
        "writes: depends on the configuration",
        "Email recipients: send",
        "writes: always",
        "orchestrator-blocks 0.1.0",
    ):
        assert fragment in res.out, fragment


def test_list_json_carries_each_types_card(cli) -> None:
    listing = json.loads(cli("plugins", "list", "--json").out)
    row = next(t for t in listing["block_types"] if t["type_id"] == "send_email")
    assert (row["family"], row["domain"], row["timeout_ms"], row["retries"]) == (
        "email",
        "email",
        30_000,
        3,
    )
    assert (row["timeout_code"], row["timeout_retry"], row["writes"]) == (
        "email.smtp.timeout",
        "backoff",
        "always",
    )
    retried = {c["code"]: c["retry"] for c in row["code_table"]}
    assert retried["email.smtp.transient"] == "backoff"
    assert retried["email.smtp.permanent"] == "never"
    assert set(row["codes"]) == set(retried)
    assert all(c["meaning"] for c in row["code_table"])


def test_show_prints_one_types_whole_card(cli) -> None:
    res = cli("plugins", "show", "hitl_gate")
    assert res.code == 0, res
    for fragment in (
        "Block.hitl_gate(action_type: str | None = None, *, over: str = 'recipients'",
        "family   hitl (domain hitl), from orchestrator-blocks 0.1.0",
        "policy   timeout none, retries 0",
        "timeout  runtime.timeout (backoff)",
        "a run failing with hitl.rejected ends it rejected",
        "hitl.store_unavailable",
        "manual",
        "the approver rejected the proposal",
    ):
        assert fragment in res.out, fragment
    card = json.loads(cli("plugins", "show", "cron", "--json").out)
    assert card["schedulable"] is True and card["source"].startswith("orchestrator-blocks ")


def test_show_of_a_misspelt_type_is_one_line_with_a_suggestion(cli) -> None:
    res = cli("plugins", "show", "http_reqest")
    assert res.code == 2
    assert res.err.count("\n") == 1
    assert "did you mean 'http_request'?" in res.err


def test_new_writes_a_plugin_that_passes_its_own_tests(cli, tmp_path: Path) -> None:
    target = tmp_path / "acme"
    res = cli("plugins", "new", "acme", "--dir", str(target))
    assert res.code == 0, res
    assert "pip install -e '.[test]'" in res.out
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file()) == [
        ".gitignore",
        "README.md",
        "pyproject.toml",
        "src/orchestrator_blocks_acme/__init__.py",
        "tests/conftest.py",
        "tests/test_acme.py",
    ]
    pyproject = (target / "pyproject.toml").read_text()
    assert 'name = "orchestrator-blocks-acme"' in pyproject
    assert (
        '[project.entry-points."orchestrator_blocks.plugins"]\nacme = "orchestrator_blocks_acme"'
        in (pyproject)
    )
    # Its tests pass against this checkout without installing it (the kit registers the
    # module itself); tests/integration/test_scaffold.py installs it for real.
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=target,
        env={**_env(), "PYTHONPATH": str(target / "src")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "5 passed" in proc.stdout


@pytest.mark.parametrize(
    ("name", "fragment"),
    [("Acme", "lower-case identifier"), ("class", "lower-case identifier"), ("http", "installed")],
)
def test_new_refuses_a_bad_or_taken_name(cli, tmp_path: Path, name: str, fragment: str) -> None:
    res = cli("plugins", "new", name, "--dir", str(tmp_path / "x"))
    assert res.code == 2 and fragment in res.err
    assert not (tmp_path / "x").exists()


def test_new_refuses_a_directory_that_is_not_empty(cli, tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("mine")
    res = cli("plugins", "new", "acme", "--dir", str(tmp_path))
    assert res.code == 2 and "not empty" in res.err
    assert (tmp_path / "README.md").read_text() == "mine"


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
