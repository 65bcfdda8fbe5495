"""The ``cron`` block type (imported when block types are registered)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from orchestrator_blocks import sdk

from .codes import FAMILY, INVALID_EXPRESSION, RUNTIME_ERROR
from .schedule import next_fire, problem

__all__ = ["BLOCK_TYPES", "FIRE_TIME_SERVICE", "cron"]

FIRE_TIME_SERVICE = "trigger.fire_time"
"""``ctx.services.lent(...)`` name of the scheduled firing time a scheduler may lend the
run (a timezone-aware ``datetime`` or an ISO 8601 string with an offset)."""


def _validate(config: dict[str, Any]) -> None:
    reason = problem(config["expr"])
    if reason is not None:
        raise sdk.InvalidBlockConfig(f"Block.cron: {reason}", code=INVALID_EXPRESSION)


def _scheduled(ctx: sdk.RunContext) -> datetime | None:
    try:
        raw = ctx.services.lent(FIRE_TIME_SERVICE)
    except LookupError:
        return None
    if raw is None:
        return None
    when = raw
    if isinstance(raw, str):
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            when = None
    if not isinstance(when, datetime) or when.utcoffset() is None:
        raise sdk.BlockError(
            RUNTIME_ERROR,
            f"the run's firing time ({FIRE_TIME_SERVICE}) must be a timezone-aware datetime "
            f"or ISO 8601 string with an offset, got {raw!r}",
            details={"fire_time": repr(raw)},
        )
    return when


def _from_input(value: sdk.Value) -> datetime | None:
    """The firing time a scheduler passed as the run's input (``Text`` or a ``Json``
    string holding an ISO 8601 timestamp; naive means UTC), else ``None``."""
    raw = value.payload
    if isinstance(value, sdk.Bytes):
        try:
            raw = value.text()
        except UnicodeDecodeError:
            return None
    if not isinstance(raw, str):
        return None
    try:
        when = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return when.replace(tzinfo=UTC) if when.utcoffset() is None else when


def _now(ctx: sdk.RunContext) -> datetime:
    now = ctx.clock.now()
    return now.replace(tzinfo=UTC) if now.utcoffset() is None else now


@FAMILY.block_type("cron", validate=_validate, next_fire=next_fire)
def cron(ctx: sdk.RunContext, value: sdk.Value, expr: str) -> sdk.Value:
    """Trigger on a cron schedule; output the firing time as ``Text`` (ISO 8601, UTC).

    ``expr`` has 5 fields (``min hour dom mon dow``), 6 (seconds first) or 7 (seconds
    first, year last, e.g. ``"0 */15 * * * * *"``). An invalid expression fails at
    construction with code ``cron.invalid_expression``. The output is the scheduled firing
    time when a scheduler started the run (``serve`` passes it as the run's input), else
    the current time truncated to the second.
    """
    scheduled = _scheduled(ctx) or _from_input(value)
    fired = (scheduled or _now(ctx)).astimezone(UTC).replace(microsecond=0)
    stamp = fired.isoformat(timespec="seconds").replace("+00:00", "Z")
    ctx.log.info("cron.fired", expr=expr, fire_time=stamp, scheduled=scheduled is not None)
    return sdk.Text(stamp)


BLOCK_TYPES = (cron,)
