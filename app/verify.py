"""Verify checks: run the staged ``pending`` checks whose due time has come.

For each due check the runner executes its ``sql_check`` (bound ``:run_id`` and the
declared params) on its database with the check's timeout, then evaluates the expectation
rule over ``value`` (first column of the first row), ``row``, ``rows`` and the run's
``facts`` frozen at staging. The check flips exactly once to ``pass``, ``fail`` (with the
observed value, or the error) or ``timeout`` (the query could not finish in time). Used by
``orchestrator-blocks verify run-due`` and by the verify scheduler inside ``serve``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from orchestrator_blocks.kernel.telemetry import get_logger, sinks_installed, telemetry_for
from orchestrator_blocks.sdk import Settings, SqlError, to_jsonable
from orchestrator_blocks.sdk.rules import Rule, RuleError
from orchestrator_blocks.sdk.services import utc_now_iso

from .card import VERIFY_NAMES
from .store import Databases, Store, VerifyCheck

__all__ = ["VerifyOutcome", "next_verify_time", "run_due_checks"]


@dataclass(frozen=True)
class VerifyOutcome:
    check: VerifyCheck
    status: str
    observed: Any
    message: str


async def _run_one(check: VerifyCheck, databases: Databases) -> tuple[str, Any, str]:
    rule_text = str(check.expectation.get("rule", "value > 0"))
    facts = check.expectation.get("facts") or {}
    timeout_s = check.timeout_ms / 1000
    try:
        db = databases.get(check.database)
        rows = await asyncio.wait_for(
            db.query(
                check.sql_check, {**check.params, "run_id": check.run_id}, timeout_s=timeout_s
            ),
            timeout=timeout_s + 5,
        )
    except (TimeoutError, SqlError) as exc:
        if isinstance(exc, TimeoutError) or exc.kind == "timeout":
            return "timeout", None, f"the check did not finish within {check.timeout_ms} ms"
        return "fail", {"error": exc.kind}, f"the check query failed: {exc.kind}: {exc.message}"
    except LookupError as exc:
        return "fail", {"error": "database"}, str(exc)
    row = rows[0] if rows else None
    value = next(iter(row.values())) if row else None
    observed = {"value": to_jsonable(value), "rows": len(rows)}
    try:
        ok = Rule(rule_text, names=VERIFY_NAMES, label=f"verify {check.check_name}").evaluate(
            {"value": value, "row": row, "rows": rows, "facts": facts}
        )
    except RuleError as exc:
        return "fail", observed, str(exc)
    verdict = "pass" if ok else "fail"
    return verdict, observed, f"expected {rule_text}; observed value {value!r}"


async def run_due_checks(
    store: Store, settings: Settings, *, now: datetime | None = None
) -> list[VerifyOutcome]:
    """Run every pending check that is due; returns what each became."""
    due = await asyncio.to_thread(store.verify.due, utc_now_iso(now))
    databases = Databases(store, settings)
    log = get_logger()
    outcomes = []
    with sinks_installed(*telemetry_for(settings).run_sinks()):
        for check in due:
            status, observed, message = await _run_one(check, databases)
            flipped = await asyncio.to_thread(
                store.verify.finish, check.id, status, observed, message
            )
            if not flipped:
                continue  # another runner got there first
            log.info(
                "verify.checked",
                workflow_id=check.workflow_type,
                run_id=check.run_id,
                check=check.check_name,
                status=status,
                observed=observed,
                message=message,
            )
            outcomes.append(VerifyOutcome(check, status, observed, message))
    return outcomes


def next_verify_time(after: datetime, minutes: list[int]) -> datetime:
    """The next time at one of ``minutes`` past the hour, strictly after ``after``."""
    base = after.replace(second=0, microsecond=0)
    for hour_offset in range(0, 26):
        hour = base.replace(minute=0) + _hours(hour_offset)
        for minute in sorted(minutes):
            candidate = hour.replace(minute=minute)
            if candidate > after:
                return candidate
    raise ValueError("no verify minute configured")


def _hours(n: int) -> timedelta:
    return timedelta(hours=n)
