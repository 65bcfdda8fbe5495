"""Start-up stays cheap: what importing the SDK and building ``--help`` do not import.

No timings (a shared machine makes them flaky): the modules a fresh interpreter holds after
the operation are the regression signal. ``bench/bench_cli.py`` measures the time.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Each is tens of milliseconds to import; none is needed to import the SDK or list commands.
HEAVY = ("httpx", "aiosmtplib", "structlog", "pydantic", "sqlalchemy", "fastapi", "asyncio")


def _modules_after(code: str) -> tuple[set[str], str]:
    """Run ``code`` in a fresh interpreter; the modules it left in ``sys.modules`` and its
    output before them."""
    script = f"{code}\nimport sys\nprint('\\nMODULES ' + ' '.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    before, _, modules = out.rpartition("\nMODULES ")
    return set(modules.split()), before


def _heavy(modules: set[str]) -> set[str]:
    return {m for m in modules if m.split(".")[0] in HEAVY}


def test_importing_the_sdk_imports_no_heavy_library_and_no_kernel() -> None:
    modules, _ = _modules_after("import orchestrator_blocks.sdk")
    assert _heavy(modules) == set()
    assert not any(m.startswith("orchestrator_blocks.kernel") for m in modules)
    # Names resolve on first use: only the SDK's package itself is imported up front.
    assert {m for m in modules if m.startswith("orchestrator_blocks.sdk.")} <= {
        "orchestrator_blocks.sdk.lazy"
    }


def test_sdk_names_resolve_on_first_use_and_win_over_same_named_submodules() -> None:
    code = """
from orchestrator_blocks import sdk
import orchestrator_blocks.sdk.family  # binds the submodule on the package: the name wins
assert callable(sdk.family) and not isinstance(sdk.family, type(sdk)), sdk.family
from orchestrator_blocks.sdk import *
assert RunContext.__name__ == "RunContext" and Value is not None
assert set(sdk.__all__) <= set(dir(sdk))
import orchestrator_blocks.plugins.ai.ai_generate
from orchestrator_blocks.plugins.ai import ai_generate
assert type(ai_generate).__name__ == "BlockType", ai_generate
from orchestrator_blocks.plugins.email import BLOCK_TYPES, send_email
assert send_email in BLOCK_TYPES
"""
    _modules_after(code)


def test_help_lists_every_verb_without_importing_block_modules_or_heavy_libraries() -> None:
    code = """
from orchestrator_blocks.kernel.cli import main
try:
    main(["--help"])
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
"""
    modules, help_text = _modules_after(code)
    for verb in ("run", "plugins", "logs", "serve", "runs", "approvals", "explain", "verify"):
        assert f" {verb} " in help_text, verb
    assert _heavy(modules) == set()
    # Plain click help: neither rich (the consoles are made on first print) nor typer's rich
    # help formatter; the blocks and run results of the kernel are not needed either.
    assert {m for m in modules if m.split(".")[0] == "rich" or m == "typer.rich_utils"} == set()
    assert {
        "orchestrator_blocks.kernel.block",
        "orchestrator_blocks.kernel.result",
    } & modules == set()
    # Every family's plugin module is loaded (for its commands), none of its block modules:
    # those are imported when the block types are registered, on first use of the registry.
    families = {m for m in modules if m.startswith("orchestrator_blocks.plugins.")}
    assert {"orchestrator_blocks.plugins.email", "orchestrator_blocks.plugins.http"} <= families
    for block_module in (
        "orchestrator_blocks.plugins.email.blocks",
        "orchestrator_blocks.plugins.http.http_request",
        "orchestrator_blocks.plugins.ai.ai_generate",
        "orchestrator_blocks.plugins.fan_out.block",
        "orchestrator_blocks.plugins.fan_out.codes",
        "orchestrator_blocks.plugins.transform.blocks",
        "orchestrator_blocks.plugins.sql.blocks",
        "orchestrator_blocks.plugins.child_workflow.block",
        "orchestrator_blocks.plugins.cron.block",
        "orchestrator_blocks.plugins.template.block",
        "orchestrator_blocks.plugins.hitl.blocks",
        "orchestrator_blocks.kernel.workflow",
        "orchestrator_blocks.kernel.runtime",
        "orchestrator_blocks.app.card",
    ):
        assert block_module not in modules
    # Nor the SDK's data types (each dataclass is a millisecond to make): no block type,
    # family, policy, value or run record is made to list the commands.
    for sdk_module in ("registry", "family", "policy", "values", "run", "context"):
        assert f"orchestrator_blocks.sdk.{sdk_module}" not in modules, sdk_module


@pytest.mark.parametrize("attribute", ["registry", "plugins", "failures"])
def test_block_types_are_registered_when_first_needed(attribute: str) -> None:
    code = f"""
import sys
from orchestrator_blocks.kernel.plugin_host import PluginHost
host = PluginHost()
assert "orchestrator_blocks.plugins.email.blocks" not in sys.modules
getattr(host, {attribute!r})
assert "send_email" in host.registry and "http_request" in host.registry
assert "httpx" in sys.modules
"""
    _modules_after(code)


ROOT_VERBS = {"run", "plugins", "logs", "runs", "approvals", "serve", "explain", "verify", "demo"}


@pytest.mark.parametrize(
    ("argv", "converted"),
    [
        (["--help"], set()),
        (["runs", "--help"], {"runs"}),
        (["plugins", "list", "--help"], {"plugins"}),
        (["run", "--help"], {"run"}),
    ],
)
def test_only_the_verb_that_runs_is_made_a_click_command(
    argv: list[str], converted: set[str]
) -> None:
    """Typer reads every signature of a verb it converts to click; ``--help`` converts none."""
    code = f"""
import typer.main
from orchestrator_blocks.sdk import _cli
made = []
for name in ("get_command_from_info", "get_group_from_info"):
    def spy(*args, _real=getattr(typer.main, name), **kwargs):
        command = _real(*args, **kwargs)
        made.append(command.name)
        return command
    setattr(typer.main, name, spy)
    setattr(_cli, name, spy)
from orchestrator_blocks.kernel.cli import main
try:
    main({argv!r})
except SystemExit as exc:
    assert exc.code in (0, None), exc.code
print("CONVERTED", " ".join(made))
"""
    _, out = _modules_after(code)
    made = set(out.rsplit("CONVERTED", 1)[1].split())
    assert made & ROOT_VERBS == converted
