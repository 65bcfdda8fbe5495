"""A throwaway PostgreSQL server for tests, started from Debian's packages on loopback.

``start_postgres()`` runs ``initdb`` and ``pg_ctl start`` in a temporary directory (as the
``postgres`` user when the tests run as root, since PostgreSQL refuses to run as root) and
returns a psycopg URL. When the binaries are not installed it returns a reason instead, so
the caller can skip with a printed explanation.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["PostgresServer", "start_postgres"]


def _bindir() -> Path | None:
    explicit = os.environ.get("ORCHESTRATOR_BLOCKS_POSTGRES_BIN")  # a directory with initdb
    if explicit:
        return Path(explicit) if (Path(explicit) / "initdb").exists() else None
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c)
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    url: str
    datadir: Path
    bindir: Path
    user: str | None

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    def restart(self) -> None:
        """Stop the server (dropping every connection) and start it again on the same port."""
        port = self.url.rsplit(":", 1)[1].split("/", 1)[0]
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.datadir.parent / "server.log"),
            "-o",
            f"-p {port} -c listen_addresses=127.0.0.1 -k {self.datadir.parent} -c fsync=off",
            "-w",
            "start",
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "stop")
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def start_postgres() -> PostgresServer | str:
    """A running server, or the reason one cannot be started here."""
    bindir = _bindir()
    if bindir is None:
        return "not installed; install it with `apt-get install postgresql`"
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server"
        if shutil.which("runuser") is None:
            return "running as root and runuser is not available"
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="ob-pg-", dir="/tmp"))
    datadir = base / "data"
    if user:
        pw = pwd.getpwnam(user)
        os.chown(base, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    server = PostgresServer(
        url=f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
        datadir=datadir,
        bindir=bindir,
        user=user,
    )
    init = server._run("initdb", "-D", str(datadir), "-A", "trust", "-U", "postgres")
    if init.returncode != 0:
        shutil.rmtree(base, ignore_errors=True)
        return f"initdb failed: {init.stderr.strip()[:300]}"
    start = server._run(
        "pg_ctl",
        "-D",
        str(datadir),
        "-l",
        str(base / "server.log"),
        "-o",
        f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off",
        "-w",
        "start",
    )
    if start.returncode != 0:
        log = (base / "server.log").read_text() if (base / "server.log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        return f"pg_ctl start failed: {start.stderr.strip()[:200]} {log[-300:]}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return server
        time.sleep(0.1)
    server.stop()
    return "the PostgreSQL server did not accept connections in time"
