"""The kernel stays a kernel (DESIGN §1): small, feature-free, and the SDK stays light."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import orchestrator_blocks.kernel

KERNEL = Path(orchestrator_blocks.kernel.__file__).parent
FEATURE_WORDS = ("hitl", "risk", "kill_switch", "killswitch", "ledger", "proposal", "contract")
MAX_KERNEL_LINES = 3_000
MAX_MODULE_LINES = 500


def _kernel_modules() -> list[Path]:
    modules = sorted(KERNEL.rglob("*.py"))
    assert len(modules) > 10, f"expected the kernel's modules under {KERNEL}"
    return modules


def test_the_kernel_is_at_most_3000_lines_and_no_module_over_500() -> None:
    sizes = {p.relative_to(KERNEL): len(p.read_text().splitlines()) for p in _kernel_modules()}
    assert sum(sizes.values()) <= MAX_KERNEL_LINES, sizes
    assert {p: n for p, n in sizes.items() if n > MAX_MODULE_LINES} == {}


@pytest.mark.parametrize("word", FEATURE_WORDS)
def test_the_kernel_names_no_feature(word: str) -> None:
    pattern = re.compile(word.replace("_", "[_ -]?"), re.IGNORECASE)
    hits = [
        f"{path.relative_to(KERNEL)}:{n}: {line.strip()}"
        for path in _kernel_modules()
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    imported = set(out.stdout.split())
    # -X importtime lists every module the interpreter imported, on stderr.
    timed = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    return imported | timed


def test_importing_the_sdk_imports_no_kernel_app_or_plugin_module() -> None:
    loaded = _modules_after("import orchestrator_blocks.sdk")
    assert "orchestrator_blocks.sdk" in loaded
    ours = {m for m in loaded if m.startswith("orchestrator_blocks.")}
    assert {m for m in ours if not m.startswith("orchestrator_blocks.sdk")} == set()
    heavy = {"httpx", "sqlalchemy", "sqlglot", "aiosmtplib", "opentelemetry", "fastapi"}
    assert {m for m in loaded if m.split(".")[0] in heavy} == set()


@pytest.mark.parametrize("module", ["testing", "scaffold"])
def test_the_test_kit_and_the_scaffold_import_no_kernel(module: str) -> None:
    """The kit reaches the kernel by name only when a test runs a whole workflow."""
    loaded = _modules_after(f"import orchestrator_blocks.sdk.{module}")
    ours = {m for m in loaded if m.startswith("orchestrator_blocks.")}
    assert {m for m in ours if not m.startswith("orchestrator_blocks.sdk")} == set()


def test_the_facade_resolves_names_on_first_use() -> None:
    loaded = _modules_after("import orchestrator_blocks")
    assert not any(m.startswith("orchestrator_blocks.kernel") for m in loaded)
    loaded = _modules_after("import orchestrator_blocks as ob; ob.Block")
    assert "orchestrator_blocks.kernel.block" in loaded
    assert not any(m.startswith("orchestrator_blocks.app") for m in loaded)
