"""A careless plugin for the secret-canary tests: one block type that leaks a credential in
each of the ways plugin authors were seen to leak one.

Workflow files call :func:`ensure_registered` (the test plugin host is reset between tests,
while this module stays imported).
"""

from __future__ import annotations

import os
import sys

import orchestrator_blocks as ob
from orchestrator_blocks import sdk

__all__ = ["ensure_registered"]

HOW = ("log_field", "secret_logged", "block_error", "panic", "log_input")


@sdk.block_type("canary_leak", domain="custom:canary", codes=["canary.refused"])
def canary_leak(ctx: sdk.RunContext, value: sdk.Value, how: str) -> sdk.Value:
    """Leaks a credential the way a careless block would (``how`` says which way)."""
    if how == "log_field":  # read behind the SDK's back, logged under a telling name
        token = os.environ["CANARY_LOG_FIELD"]
        ctx.log.info("calling the crm", auth_header=f"Bearer {token}")
        return value
    if how == "log_input":  # what the previous block received, echoed by a server
        ctx.log.info("the crm answered", body=value.text())
        return value
    token = ctx.secret("canary_token").get_secret_value()
    if how == "secret_logged":
        ctx.log.info("calling the crm", header=f"Bearer {token}", note=token)
        return sdk.Text(f"called with {token}")
    if how == "block_error":
        raise sdk.BlockError(
            "canary.refused",
            f"the crm refused {token}",
            details={"sent": token, "echo": {"body": f"bad credential {token}"}},
        )
    raise RuntimeError(f"the crm client blew up holding {token}")


def register_block_types(registry: sdk.Registry) -> None:
    registry.add(canary_leak)


register_block_types = sdk.hookimpl(register_block_types)


def ensure_registered() -> None:
    if not hasattr(ob.Block, "canary_leak"):
        ob.register_plugin(sys.modules[__name__], name="canary_blocks")
