"""Without Chromium or PostgreSQL their tests skip with one line saying what to install;
with ORCHESTRATOR_BLOCKS_REQUIRE_PEERS=1 (CI) the same tests fail, so CI cannot pass
without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
CASES = {
    "chromium": (
        "console/test_browser.py",
        {"ORCHESTRATOR_BLOCKS_CHROMIUM": "/nonexistent/chromium"},
        "apt-get install chromium",
    ),
    "postgresql": (
        "integration/test_store.py::test_postgres_backs_runs_end_to_end",
        {"ORCHESTRATOR_BLOCKS_POSTGRES_BIN": "/nonexistent/postgresql/bin"},
        "apt-get install postgresql",
    ),
}


def _pytest(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k != "ORCHESTRATOR_BLOCKS_REQUIRE_PEERS"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(TESTS / target)],
        cwd=TESTS.parent,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("peer", sorted(CASES))
def test_a_missing_peer_skips_with_one_line_naming_the_package(peer: str) -> None:
    target, env, install = CASES[peer]
    res = _pytest(target, env)
    assert res.returncode == 0, res.stdout
    assert "skipped" in res.stdout.splitlines()[-1], res.stdout
    said = [ln for ln in res.stdout.splitlines() if ln.startswith("missing peer")]
    assert len(said) == 1 and install in said[0], res.stdout


@pytest.mark.parametrize("peer", sorted(CASES))
def test_a_missing_peer_fails_when_peers_are_required(peer: str) -> None:
    target, env, install = CASES[peer]
    res = _pytest(target, {**env, "ORCHESTRATOR_BLOCKS_REQUIRE_PEERS": "1"})
    assert res.returncode == 1, res.stdout
    assert "skipped" not in res.stdout.splitlines()[-1], res.stdout
    assert install in res.stdout and "ORCHESTRATOR_BLOCKS_REQUIRE_PEERS is set" in res.stdout


def test_ci_requires_the_peers_it_installs() -> None:
    script = (TESTS.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert "apt-get install -y postgresql chromium" in script
    assert "export ORCHESTRATOR_BLOCKS_REQUIRE_PEERS=1" in script
