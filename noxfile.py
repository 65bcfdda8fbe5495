"""The single entry point for lint, tests, e2e, benchmarks and the demo."""

from __future__ import annotations

from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["lint", "tests"]
TYPED_PACKAGES = ("sdk", "kernel", "app", "plugins")
nox.options.error_on_external_run = True


@nox.session
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, integration against local peers, install tests)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def screenshots(session: nox.Session) -> None:
    """Refresh the tracked docs/screenshots/*.png from the browser tests, on purpose (the
    test suite writes its screenshots to a temporary directory)."""
    session.install("-e", ".[test]")
    target = str(ROOT / "docs" / "screenshots")
    env = {"ORCHESTRATOR_BLOCKS_SCREENSHOTS": target, "ORCHESTRATOR_BLOCKS_REQUIRE_PEERS": "1"}
    session.run("pytest", "tests/console/test_browser.py", *session.posargs, env=env)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, mypy (sdk, kernel, app, plugins; strict on the sdk) and the layer contracts."""
    # A regular install: mypy and import-linter cannot follow an editable package-dir mapping.
    session.install(".[lint]")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    config = str(ROOT / "pyproject.toml")
    with session.chdir(session.create_tmp()):
        packages = [a for p in TYPED_PACKAGES for a in ("-p", f"orchestrator_blocks.{p}")]
        session.run("mypy", "--config-file", config, *packages)
        session.run("lint-imports", config)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks; results are written to bench/RESULTS.md by each script."""
    session.install("-e", ".[bench]")
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        session.run("python", str(script), *session.posargs)
