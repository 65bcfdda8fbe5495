"""Every kernel sink scrubs registered secret values: the run's events, the JSON-lines log,
error envelopes (a BlockError's message and details, a panic's text) and the CLI's lines."""

from __future__ import annotations

import types
from pathlib import Path

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.redaction import REDACTED, register_secret

SECRET = "sink-secret-Qm4v77"


def _leaky_plugin() -> None:
    @sdk.block_type("leaky", domain="custom:leaky", codes=["leaky.refused"])
    def leaky(ctx: sdk.RunContext, value: sdk.Value, how: str) -> sdk.Value:
        """Logs its secret under harmless names, then fails in the way asked."""
        ctx.log.info(f"calling with {SECRET}", auth_header=f"Bearer {SECRET}", note=[SECRET])
        ctx.log.warning("odd", error=ValueError(f"bad {SECRET}"))
        if how == "block_error":
            raise sdk.BlockError(
                "leaky.refused", f"refused {SECRET}", details={"echo": {"body": SECRET}}
            )
        raise RuntimeError(f"panic with {SECRET}")

    plugin = types.ModuleType("leaky_plugin")
    plugin.register_block_types = sdk.hookimpl(lambda registry: registry.add(leaky))
    ob.register_plugin(plugin)


def _run(how: str) -> ob.RunResult:
    register_secret(SECRET)
    _leaky_plugin()
    w = ob.new_workflow(f"leaky_{how}")
    w.add(ob.Block.leaky(how))
    return w.run()


def test_a_block_error_and_its_log_lines_carry_no_secret(isolated_home: Path) -> None:
    result = _run("block_error")
    assert result.error is not None and result.error.code == "leaky.refused"
    assert result.error.message == f"refused {REDACTED}"
    assert result.error.details["echo"] == {"body": REDACTED}
    assert SECRET not in repr(result.events)
    logs = "".join(p.read_text() for p in (isolated_home / "logs").glob("*.jsonl"))
    assert SECRET not in logs and f"calling with {REDACTED}" in logs


def test_a_panic_message_carries_no_secret(isolated_home: Path) -> None:
    result = _run("panic")
    assert result.error is not None and result.error.code == "runtime.panic"
    assert SECRET not in repr(result.error.to_dict())
    assert f"panic with {REDACTED}" in result.error.message
    logs = "".join(p.read_text() for p in (isolated_home / "logs").glob("*.jsonl"))
    assert SECRET not in logs


def test_an_envelope_built_anywhere_is_scrubbed() -> None:
    register_secret(SECRET)
    env = sdk.ErrorEnvelope(
        origin="runtime",
        domain=None,
        code="runtime.panic",
        message=f"GET https://u:pw@h/?token=t {SECRET}",
        retry_disposition="never",
        severity="error",
        workflow_id="w",
        run_id="r",
        block_id=None,
        attempt=0,
        ts="2026-01-01T00:00:00.000Z",
        details={"api_key": "k", "said": SECRET, "n": 1},
    )
    assert env.message == f"GET https://{REDACTED}@h/?token={REDACTED} {REDACTED}"
    assert env.to_dict()["details"] == {"api_key": REDACTED, "said": REDACTED, "n": 1}
