"""Real files for the file family: the files root the top-level conftest set up, a
directory outside it that must never change, and an OS-enforced read-only directory."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import orchestrator_blocks as ob


@pytest.fixture
def root() -> Path:
    """The files root (``ORCHESTRATOR_BLOCKS_FILES_ROOT``, a fresh temp dir per test)."""
    return Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"])


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory next to the root, with a secret file; tests assert it never changes."""
    out = tmp_path / "outside"
    out.mkdir()
    (out / "secret.txt").write_text("top secret\n")
    return out


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes()
        for p in sorted(directory.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture
def snapshot() -> Callable[[Path], dict[str, bytes]]:
    """Every file under a directory with its content (to prove nothing was touched)."""
    return _snapshot


def _run_one(block: ob.Block, payload: object = None) -> ob.RunResult:
    w = ob.new_workflow("file-test")
    w.add(block)
    return w.run(payload)


@pytest.fixture
def run_one() -> Callable[..., ob.RunResult]:
    """Run one block as a one-block workflow, the way users do."""
    return _run_one


def _chattr(flag: str, *paths: Path) -> bool:
    try:
        done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)
    except FileNotFoundError:
        return False
    return done.returncode == 0


@pytest.fixture
def locked_dir(root: Path) -> Iterator[Path]:
    """``root/locked`` holding ``f.txt``, both made unwritable in a way the OS enforces
    even for root (``chattr +i``; ``chmod`` for other users). Skips where neither works."""
    locked = root / "locked"
    locked.mkdir()
    target = locked / "f.txt"
    target.write_text("old\n")
    undo: Callable[[], None]
    if os.geteuid() == 0:
        if not _chattr("+i", target, locked):
            pytest.skip("running as root and chattr +i is unavailable: cannot deny writes")

        def undo() -> None:
            _chattr("-i", target, locked)
    else:
        target.chmod(0o444)
        locked.chmod(0o555)

        def undo() -> None:
            locked.chmod(0o755)
            target.chmod(0o644)

    try:
        with open(target, "ab"):
            pass
    except PermissionError:
        pass
    else:
        undo()
        pytest.skip("the OS does not enforce the lock here")
    yield locked
    undo()
