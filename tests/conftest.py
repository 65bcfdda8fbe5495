"""Shared fixtures: every test gets its own home directory and a fresh plugin host."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orchestrator_blocks.kernel.plugin_host import reset_default_host
from orchestrator_blocks.sdk.redaction import forget_secrets

pytest_plugins = ["orchestrator_blocks.sdk.testing"]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line per system peer that was missing, naming what to install."""
    from support.peers import missing

    for message in sorted(missing):
        terminalreporter.write_line(f"missing peer, its tests were skipped: {message}")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point ORCHESTRATOR_BLOCKS_HOME and FILES_ROOT at a temp dir; reset plugins and the
    registry of secret values after (one test's secrets must not mask another's output)."""
    home = tmp_path / "home"
    home.mkdir()
    files = tmp_path / "files"
    files.mkdir()
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_HOME", str(home))
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_FILES_ROOT", str(files))
    for var in list(__import__("os").environ):
        if var.startswith("OTEL_"):
            monkeypatch.delenv(var)
    reset_default_host()
    yield home
    reset_default_host()
    forget_secrets()


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout: {self.out}\nstderr: {self.err}>"


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """Run the CLI in-process: ``cli("plugins", "list")`` -> exit code, stdout, stderr."""
    from orchestrator_blocks.kernel.cli import main

    def run(*args: str) -> CliResult:
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server for the session, or a skip that says why there is none and
    what to install (a failure under ORCHESTRATOR_BLOCKS_REQUIRE_PEERS=1, as in CI)."""
    from support.peers import peer_unavailable
    from support.postgres import start_postgres

    server = start_postgres()
    if isinstance(server, str):
        peer_unavailable(f"PostgreSQL: {server}")
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database on the session's PostgreSQL server."""
    import uuid

    import sqlalchemy

    name = f"ob_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(postgres_server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return postgres_server.url.rsplit("/", 1)[0] + f"/{name}"
