"""The benchmarks that lean on the engine's private names still run (tiny sizes, nothing
written): a rename in the kernel must not leave ``nox -s bench`` broken until someone runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.mark.parametrize(
    ("script", "args"),
    [
        ("bench_floor.py", ["--events", "200", "--blocks", "20", "--items", "40", "--repeat", "1"]),
        ("bench_kernel.py", ["--blocks", "20", "--repeat", "1", "--memory-blocks", "50"]),
    ],
)
def test_benchmark_runs_and_prints_its_tables(script: str, args: list[str], tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ORCHESTRATOR_"))}
    env["ORCHESTRATOR_BLOCKS_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args, "--no-write"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "| --- |" in done.stdout
    assert "Traceback" not in done.stderr and "never awaited" not in done.stderr
