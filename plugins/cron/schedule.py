"""Cron expressions, on croniter: validation and the next firing time.

Accepted forms (fields separated by spaces):

====== ============================================ ==========================
fields order                                        example
====== ============================================ ==========================
5      minute hour day-of-month month day-of-week   ``*/15 * * * *``
6      **second** minute hour dom month dow         ``0 */15 * * * *``
7      second minute hour dom month dow **year**    ``0 */15 * * * * *``
====== ============================================ ==========================

Six and seven fields put the seconds first, as Quartz and the contract's
``"0 */15 * * * * *"`` do (croniter's own default for six fields is seconds *last*; we pass
``second_at_beginning=True``). Years run 1970-2099. Also accepted: ``@hourly``, ``@daily``,
``@weekly``, ``@monthly``, ``@yearly``; ``?`` for "any" day; ``L`` (last day), ``15W``
(nearest weekday), ``MON#2`` (second Monday); month and day names. When both day fields
are restricted, either may match (classic cron). Jenkins-style ``H`` and ``R`` are refused:
they would make the schedule depend on a hash or on chance. Times are UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["next_fire", "problem"]

_FIELD = re.compile(r"\S+", re.ASCII)  # croniter splits on ASCII whitespace only
_MAX_YEARS = 130  # 1970-2099: far enough that a valid expression always finds its next year


def problem(expr: object) -> str | None:
    """Why ``expr`` is not a usable cron expression, or ``None`` when it is."""
    if not isinstance(expr, str):
        return f"a cron expression must be a string, not {type(expr).__name__}"
    fields = _FIELD.findall(expr)
    if not expr.strip().startswith("@"):
        if len(fields) not in (5, 6, 7):
            return (
                f"{expr!r} has {len(fields)} fields; expected 5 (minute hour day month "
                "weekday), 6 (second first) or 7 (second first, year last)"
            )
        for element in (e for f in fields for e in f.split(",")):
            if element[:1].lower() in ("h", "r"):
                return f"{expr!r}: hashed/random values ({element!r}) are not supported"
    from croniter import croniter  # imported on first use: plugin discovery stays fast

    try:
        croniter.expand(expr, second_at_beginning=True, strict=True)
    except (ValueError, TypeError) as exc:  # croniter's errors derive from these
        return f"{expr!r} is not a valid cron expression: {exc}"
    return None


def next_fire(config: Mapping[str, Any], after: datetime) -> datetime | None:
    """The first firing of ``config["expr"]`` strictly after ``after``, in UTC.

    ``after`` must be timezone-aware (any zone; naive raises ``ValueError``). The result
    is timezone-aware UTC with whole seconds, or ``None`` when the expression never fires
    again (its year range is over).
    """
    if after.tzinfo is None or after.utcoffset() is None:
        raise ValueError(f"after must be a timezone-aware datetime, got naive {after!r}")
    from croniter import CroniterBadDateError, croniter

    start = after.astimezone(UTC)
    schedule = croniter(
        config["expr"], start, second_at_beginning=True, max_years_between_matches=_MAX_YEARS
    )
    try:
        fire: datetime = schedule.get_next(datetime)
    except CroniterBadDateError:
        return None
    return fire.astimezone(UTC)
