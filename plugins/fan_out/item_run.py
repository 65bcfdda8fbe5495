"""One item of a fan-out run to its outcome, wherever it runs (this process or a worker)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator_blocks import sdk

from .codes import UNKNOWN_OUTCOME_SUFFIX as UNKNOWN_SUFFIX

__all__ = ["Done", "Retry", "engaged", "run_item"]


@dataclass(frozen=True, slots=True)
class Retry:
    """How an item is retried: attempts in all, and the SDK's backoff between them."""

    max_attempts: int
    backoff: sdk.Backoff


def _is_unknown(env: sdk.ErrorEnvelope) -> bool:
    level: sdk.ErrorEnvelope | None = env
    while level is not None:
        child_code = level.details.get("child_code")
        if level.code.endswith(UNKNOWN_SUFFIX) or (
            isinstance(child_code, str) and child_code.endswith(UNKNOWN_SUFFIX)
        ):
            return True
        level = level.cause
    return False


def _skipped(value: sdk.Value) -> Any:
    if isinstance(value, sdk.Json) and isinstance(value.value, Mapping):
        return value.value.get("skipped") or None
    return None


@dataclass(frozen=True, slots=True)
class Done:
    outcome: str  # sent | skipped | failed | unknown | rejected | awaiting_review
    attempts: int
    code: str | None = None


async def run_item(
    ctx: sdk.RunContext, workflow: Any, key: str, data: Mapping[str, Any], retry: Retry
) -> Done:
    """One item (its key and its run's input) to its outcome (``sent``/``skipped``/
    ``failed``/``unknown``; ``awaiting_review`` while a per-item review waits, ``rejected``
    once its reviewer dropped it), retried. The item's run is a child of ``ctx``'s run."""
    payload = sdk.Json(dict(data))
    log = ctx.log
    with sdk.log_fields(fan_out_item=key):
        attempt = 0
        while True:
            attempt += 1
            outcome = await ctx.services.run_child(workflow, payload, ctx)
            env = outcome.error
            where = {"attempts": attempt, "child_run_id": outcome.run_id}
            if env is None and outcome.status == "succeeded":
                reason = _skipped(outcome.output)
                if reason:
                    log.info("fan_out.item_skipped", reason=str(reason), **where)
                    return Done("skipped", attempt)
                log.info("fan_out.item_succeeded", **where)
                return Done("sent", attempt)
            if outcome.status == "awaiting_approval":  # a per-item review waits for a person
                log.info("fan_out.item_awaiting_review", **where)
                return Done("awaiting_review", attempt)
            if outcome.status == "rejected":  # its reviewer dropped it: not a failure
                code = env.code if env is not None else None
                log.info("fan_out.item_dropped", code=code, **where)
                return Done("rejected", attempt, code)
            if env is None:
                log.warning("fan_out.item_failed", outcome="failed", status=outcome.status, **where)
                return Done("failed", attempt)
            fields = {"code": env.code, "message": env.message, "status": outcome.status}
            if _is_unknown(env):
                log.warning("fan_out.item_failed", outcome="unknown", **fields, **where)
                return Done("unknown", attempt, env.code)
            if env.retry_disposition.retryable and attempt < retry.max_attempts:
                delay = retry.backoff.delay_ms(attempt, seed=f"{ctx.run_id}:{key}:{attempt}")
                log.warning("fan_out.item_retry_scheduled", delay_ms=delay, **fields, **where)
                if delay:
                    await ctx.clock.sleep(delay / 1000)
                continue
            log.warning("fan_out.item_failed", outcome="failed", **fields, **where)
            return Done("failed", attempt, env.code)


async def engaged(ctx: sdk.RunContext, names: Sequence[str]) -> str | None:
    """The first engaged kill switch; a store that cannot answer counts as engaged."""
    for name in names:
        try:
            if await ctx.service(sdk.KillSwitches).engaged(name):
                return name
        except (sdk.StateStoreError, LookupError) as exc:
            ctx.log.error("fan_out.kill_switch_unreadable", kill_switch=name, message=str(exc))
            return name
    return None
