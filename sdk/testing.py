"""Testing tools for block authors: an opt-in pytest plugin.

Enable with ``pytest_plugins = ["orchestrator_blocks.sdk.testing"]`` in a ``conftest.py``.
It gives a real :class:`RunContext` whose log lines are captured, a runner that executes a
block type through the real executor (retries and timeouts included), and
:func:`check_block_type`, the contract every registered family must pass.

The context sees only the environment it is given (``env=``): ``ctx.settings`` and
``ctx.secret(name)`` never read the process environment, so a test decides exactly which
settings and secrets a block has. Captured log lines pass through the same redactor as the
kernel's sinks, so a test can assert that a block leaks no secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog

from ._executor import Outcome, execute_block
from .context import RunContext
from .policy import Policy
from .redaction import redact_mapping
from .registry import BlockType, Registry, code_namespace
from .services import Budget, Services
from .settings import Settings
from .values import Empty, Value, as_value

__all__ = [
    "BlockHarness",
    "CapturedLogs",
    "block_harness",
    "check_block_type",
    "check_registry",
    "make_context",
]


@dataclass
class CapturedLogs:
    """Every event logged through a test context, enriched and redacted like the kernel does."""

    events: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, _logger: Any, method: str, event_dict: Any) -> Any:
        event = redact_mapping(dict(event_dict))
        event["level"] = method
        self.events.append(event)
        raise structlog.DropEvent

    def named(self, event: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("event") == event]


def make_context(
    *,
    home: Path,
    workflow_id: str = "test",
    run_id: str = "test-run",
    block_id: str = "block",
    logs: CapturedLogs | None = None,
    env: Mapping[str, str] | None = None,
) -> tuple[RunContext, CapturedLogs]:
    """A real run context rooted at ``home`` with captured logs (no kernel involved).

    Its settings hold ``env`` and the home and files root, nothing from ``os.environ``.
    """
    captured = logs or CapturedLogs()
    logger = structlog.wrap_logger(
        structlog.ReturnLogger(),
        processors=[structlog.contextvars.merge_contextvars, captured],
    )
    environ = {"ORCHESTRATOR_BLOCKS_HOME": str(home), "ORCHESTRATOR_BLOCKS_FILES_ROOT": str(home)}
    environ.update(env or {})
    services = Services(settings=Settings.from_env(environ), budget=Budget(10_000))
    ctx = RunContext(
        workflow_id=workflow_id, run_id=run_id, services=services, log=logger, block_id=block_id
    )
    return ctx, captured


class BlockHarness:
    """Run block types through the real executor, one call at a time."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.logs = CapturedLogs()

    async def run_async(
        self,
        block_type: BlockType,
        value: Any = None,
        *,
        policy: Policy | None = None,
        env: Mapping[str, str] | None = None,
        **config: Any,
    ) -> Outcome:
        ctx, _ = make_context(home=self.home, logs=self.logs, env=env, block_id=block_type.type_id)
        bound = block_type.configure(**config)
        try:
            return await execute_block(
                block_type,
                bound,
                policy or block_type.default_policy,
                ctx.evolve(block_type=block_type.type_id),
                as_value(value) if value is not None else Empty(),
            )
        finally:
            await ctx.services.aclose()

    def run(self, block_type: BlockType, value: Any = None, **kwargs: Any) -> Outcome:
        return asyncio.run(self.run_async(block_type, value, **kwargs))


def check_block_type(block_type: BlockType) -> None:
    """Assert the SDK contract for one block type (raises ``AssertionError``)."""
    prefix = code_namespace(block_type.domain) + "."
    assert block_type.domain, f"{block_type.type_id}: no domain"
    assert block_type.codes, f"{block_type.type_id}: declares no domain codes"
    for code in block_type.codes:
        assert code.startswith(prefix), f"{block_type.type_id}: {code} not under {prefix}"
    policy = block_type.default_policy
    assert policy.retries >= 0
    assert policy.timeout_ms is None or policy.timeout_ms > 0
    if block_type.timeout_code is not None:
        assert block_type.timeout_code in block_type.codes
    assert block_type.description, f"{block_type.type_id}: no description (docstring)"


def check_registry(registry: Registry | Iterable[BlockType]) -> list[str]:
    """Check every type of a registry; returns the type ids checked."""
    checked = []
    for bt in registry:
        check_block_type(bt)
        checked.append(bt.type_id)
    return checked


@pytest.fixture
def block_harness(tmp_path: Path) -> BlockHarness:
    """A :class:`BlockHarness` rooted in a temporary home directory."""
    return BlockHarness(tmp_path)


def value_of(outcome: Outcome) -> Value:
    """The outcome's value, failing the test with the envelope if the block failed."""
    if outcome.error is not None:
        raise AssertionError(f"block failed: {outcome.error.code}: {outcome.error.message}")
    return outcome.value
