"""Fresh virtual environments for the packaging tests: create, install, run, clean env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["REPO", "build_wheel", "clean_env", "make_venv", "run"]

REPO = Path(__file__).resolve().parents[2]


def make_venv(path: Path) -> Path:
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path / "bin"


def run(cmd: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, f"{cmd} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def clean_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["ORCHESTRATOR_BLOCKS_HOME"] = str(home)
    return env


def build_wheel(out: Path) -> Path:
    """A wheel of this checkout (no dependencies) in ``out``."""
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(out), str(REPO)], cwd=out)
    (whl,) = out.glob("orchestrator_blocks-*.whl")
    return whl
