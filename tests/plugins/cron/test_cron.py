"""cron: expressions (5, 6 and 7 fields), ``next_fire`` in UTC, construction errors, and the
firing time the block outputs (one-shot, from ``serve``'s scheduler, from a lent service)."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.app.serve import Server
from orchestrator_blocks.app.serve.triggers import CronTrigger
from orchestrator_blocks.kernel.config import load_settings
from orchestrator_blocks.kernel.plugin_host import default_host
from orchestrator_blocks.sdk._executor import Outcome, execute_block
from orchestrator_blocks.sdk.services import Services
from orchestrator_blocks.sdk.testing import check_block_type, make_context

CRON_CODES = {"cron.invalid_expression", "cron.runtime_error"}
T = datetime(2026, 2, 8, 9, 7, 30, tzinfo=UTC)  # a Sunday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def next_fire(expr: str, after: datetime) -> datetime | None:
    bt = default_host().get("cron")
    assert bt.next_fire is not None
    return bt.next_fire(ob.Block.cron(expr).config, after)


def run_cron(expr: str, payload: Any = None) -> tuple[ob.RunResult, ob.Block]:
    w = ob.new_workflow("cron-test")
    block = ob.Block.cron(expr).named("trigger")
    w.add(block)
    return w.run(payload), block


# -- registration and defaults (contract §6.3, §7.5) ------------------------------------------


def test_cron_passes_the_sdk_contract_with_its_codes_and_defaults(cli) -> None:
    bt = default_host().get("cron")
    check_block_type(bt)
    assert (bt.domain, bt.codes) == ("cron", CRON_CODES)
    assert bt.next_fire is not None  # what makes it a trigger for `serve`
    policy = ob.Block.cron("* * * * *").policy
    assert (policy.retries, policy.timeout_ms) == (0, None)  # §6.3: none, 0, n/a
    listed = cli("plugins", "list", "--json")
    assert listed.code == 0, listed.err
    row = next(t for t in json.loads(listed.out)["block_types"] if t["type_id"] == "cron")
    assert (row["domain"], set(row["codes"]), row["timeout_ms"], row["retries"]) == (
        "cron",
        CRON_CODES,
        None,
        0,
    )


# -- next_fire --------------------------------------------------------------------------------

NEXT_FIRE = [
    # (expression, after, next firing)          what it shows
    ("*/15 * * * *", T, utc(2026, 2, 8, 9, 15)),  # 5 fields: minute first
    ("0 */15 * * * *", T, utc(2026, 2, 8, 9, 15)),  # 6 fields: second first
    ("0 */15 * * * * *", T, utc(2026, 2, 8, 9, 15)),  # 7 fields (the contract's example)
    ("30 */15 * * * *", T, utc(2026, 2, 8, 9, 15, 30)),  # seconds first, not last
    ("5 * * * * *", utc(2026, 1, 1), utc(2026, 1, 1, 0, 0, 5)),
    ("0 */15 * * * * *", utc(2026, 2, 8, 9, 15), utc(2026, 2, 8, 9, 30)),  # strictly after
    ("0 */15 * * * * *", utc(2026, 2, 8, 9, 14, 59, 500_000), utc(2026, 2, 8, 9, 15)),
    ("*/15 * * * *", utc(2026, 2, 8, 9, 15, 0, 1), utc(2026, 2, 8, 9, 30)),
    ("0 0 12 * * * 2028", T, utc(2028, 1, 1, 12)),  # the year field restricts firings
    ("0 0 0 * * * 2027-2028", utc(2028, 12, 30), utc(2028, 12, 31)),
    ("0 0 0 1 1 * 2030/2", utc(2030, 1, 1), utc(2032, 1, 1)),
    ("0 0 0 29 2 * *", T, utc(2028, 2, 29)),  # next leap day
    ("0 9 * * 1", T, utc(2026, 2, 9, 9)),  # day of week: Monday (T is a Sunday)
    ("0 0 9 * * MON", T, utc(2026, 2, 9, 9)),
    ("0 0 12 ? * MON-FRI", utc(2026, 2, 7), utc(2026, 2, 9, 12)),  # Saturday -> Monday
    ("0 0 0 * * MON#2", T, utc(2026, 2, 9)),  # second Monday of February
    ("0 0 1 * 1", T, utc(2026, 2, 9)),  # both day fields: either matches (classic cron)
    ("0 0 0 L * *", T, utc(2026, 2, 28)),  # last day of the month
    ("0 0 0 1 * *", utc(2026, 1, 31, 23, 59, 59), utc(2026, 2, 1)),
    ("@hourly", T, utc(2026, 2, 8, 10)),
    ("@daily", T, utc(2026, 2, 9)),
]


@pytest.mark.parametrize(("expr", "after", "expected"), NEXT_FIRE)
def test_next_fire(expr: str, after: datetime, expected: datetime) -> None:
    fire = next_fire(expr, after)
    assert fire == expected
    assert fire is not None and fire.utcoffset() == timedelta(0) and fire.microsecond == 0


@pytest.mark.parametrize(
    ("expr", "after"),
    [
        ("0 0 0 1 1 * 2020", T),  # its only year is over
        ("0 0 0 * * * 2027-2028", utc(2028, 12, 31)),  # after the last firing of the range
        ("0 0 12 * * * 2099", utc(2099, 12, 31, 12)),  # 2099 is the last year cron knows
    ],
)
def test_next_fire_is_none_when_the_expression_never_fires_again(
    expr: str, after: datetime
) -> None:
    assert next_fire(expr, after) is None


DST = [
    # UTC arithmetic: a US/EU daylight-saving switch changes nothing. `after` may be in any
    # zone; the answer is always UTC.
    ("0 30 2 * * *", utc(2026, 3, 8, 1), utc(2026, 3, 8, 2, 30)),  # US spring-forward night
    ("0 30 2 * * *", datetime(2026, 3, 8, 1, tzinfo=timezone(timedelta(hours=-5))),
     utc(2026, 3, 9, 2, 30)),  # 06:00 UTC: today's 02:30 UTC has passed
    ("0 0 * * * *", utc(2026, 3, 29, 0, 30), utc(2026, 3, 29, 1)),  # EU spring-forward hour
    ("0 30 1 * * *", utc(2026, 10, 25, 1, 0), utc(2026, 10, 25, 1, 30)),  # EU fall-back
    ("0 9 * * *", datetime(2026, 3, 8, 3, tzinfo=timezone(timedelta(hours=-5))),
     utc(2026, 3, 8, 9)),
    ("0 0 * * * *", datetime(2026, 3, 29, 2, 30, tzinfo=timezone(timedelta(hours=2))),
     utc(2026, 3, 29, 1)),
]  # fmt: skip


@pytest.mark.parametrize(("expr", "after", "expected"), DST)
def test_next_fire_is_utc_arithmetic(expr: str, after: datetime, expected: datetime) -> None:
    fire = next_fire(expr, after)
    assert fire == expected
    assert fire is not None and fire.tzinfo is not None and fire.utcoffset() == timedelta(0)


def test_consecutive_firings_are_evenly_spaced_across_a_dst_switch() -> None:
    fires, at = [], utc(2026, 3, 29, 0, 0)
    for _ in range(8):
        at = next_fire("0 */15 * * * * *", at)
        assert at is not None
        fires.append(at)
    assert {b - a for a, b in itertools.pairwise(fires)} == {timedelta(minutes=15)}


def test_next_fire_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire("* * * * *", datetime(2026, 1, 1))


# -- invalid expressions fail at construction -------------------------------------------------

INVALID = [
    ("* * * *", "4 fields"),
    ("* * * * * * * *", "8 fields"),
    ("", "0 fields"),
    ("nope", "1 fields"),
    ("61 * * * *", "out of range"),  # minute 61
    ("0 60 * * * *", "out of range"),  # 6 fields: second 0, minute 60
    ("0 0 25 * * *", "out of range"),  # hour 25
    ("0 0 0 1 13 *", "out of range"),  # month 13
    ("0 0 0 1 1 * 1960", "out of range"),  # year before 1970
    ("0 0 0 1 1 * 2100", "out of range"),  # year after 2099
    ("0 0 30 2 *", "can never occur"),  # 30 February
    ("*/0 * * * *", "step"),
    ("H * * * *", "hashed/random"),  # Jenkins-style, would depend on a hash
    ("R * * * *", "hashed/random"),
    ("@reboot", "not a valid cron expression"),
    ("0 0 9 * * FUNDAY", "not a valid cron expression"),
]


@pytest.mark.parametrize(("expr", "reason"), INVALID)
def test_an_invalid_expression_fails_at_construction(expr: str, reason: str) -> None:
    with pytest.raises(ob.InvalidBlockConfig, match=reason) as raised:
        ob.Block.cron(expr)
    assert raised.value.code == "cron.invalid_expression"


@pytest.mark.parametrize("expr", [5, None, ["*"] * 5])
def test_an_expression_that_is_not_a_string_fails_at_construction(expr: object) -> None:
    with pytest.raises(ob.InvalidBlockConfig) as raised:
        ob.Block.cron(expr)
    assert raised.value.code == "cron.invalid_expression"


# -- what a run outputs -----------------------------------------------------------------------


def test_a_one_shot_run_outputs_the_current_time_as_iso_text() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result, block = run_cron("0 */15 * * * * *")
    after = datetime.now(UTC)
    assert result.ok, result.error
    stamp = result.output(block)
    assert isinstance(stamp, str) and stamp.endswith("Z") and len(stamp) == 20
    assert before <= datetime.fromisoformat(stamp) <= after
    assert len(result.events_of("block.started")) == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("2026-02-08T09:15:00Z", "2026-02-08T09:15:00Z"),  # what `serve` passes
        ("2026-02-08T10:15:00+01:00", "2026-02-08T09:15:00Z"),  # any offset -> UTC
        ("2026-02-08T09:15:00.250000+00:00", "2026-02-08T09:15:00Z"),  # whole seconds
        ("2026-02-08T09:15:00", "2026-02-08T09:15:00Z"),  # naive means UTC
        (b"2026-02-08T09:15:00Z", "2026-02-08T09:15:00Z"),
    ],
)
def test_a_firing_time_given_as_the_run_input_is_the_output(payload: Any, expected: str) -> None:
    result, block = run_cron("0 */15 * * * * *", payload)
    assert result.ok, result.error
    assert result.output(block) == expected


@pytest.mark.parametrize("payload", ["not a time", {"at": "2026-02-08T09:15:00Z"}, [1, 2]])
def test_other_input_is_ignored_and_the_current_time_output(payload: Any) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result, block = run_cron("* * * * *", payload)
    assert result.ok, result.error
    assert before <= datetime.fromisoformat(result.output(block)) <= datetime.now(UTC)


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.t = start

    def __call__(self) -> datetime:
        return self.t


async def test_serve_runs_the_workflow_with_the_scheduled_firing_time_as_output() -> None:
    """Driven like tests/integration/test_serve.py: the scheduler's own clock says the
    firing came due 700 ms ago; the block must output the *scheduled* time."""
    clock = FakeClock(utc(2026, 2, 8, 9, 7, 30))
    w = ob.new_workflow("every-quarter")
    trigger = ob.Block.cron("0 */15 * * * * *").named("trigger")
    seen = ob.Block.custom_transform(lambda stamp: f"got {stamp}").named("downstream")
    w.link(trigger, seen)
    cron = CronTrigger()
    server = Server([(None, w)], load_settings(), None, triggers=[cron], now=clock, say=print)
    schedules = cron.schedules
    assert schedules[0].next_at == utc(2026, 2, 8, 9, 15)

    clock.t = utc(2026, 2, 8, 9, 15, 0) + timedelta(milliseconds=700)
    await cron.tick(clock.t)
    results = await asyncio.gather(*server._tasks)
    assert [r.status for r in results] == ["succeeded"]
    assert results[0].output("trigger") == "2026-02-08T09:15:00Z"
    assert results[0].output("downstream") == "got 2026-02-08T09:15:00Z"
    assert schedules[0].next_at == utc(2026, 2, 8, 9, 30)  # advanced by next_fire


async def _run_with_service(fire_time: Any, payload: sdk.Value) -> Outcome:
    bt = default_host().get("cron")
    base, _ = make_context(home=load_settings().home)
    services = Services(settings=base.services.settings, lent={"trigger.fire_time": fire_time})
    ctx = sdk.RunContext(
        workflow_id="w", run_id="r", services=services, log=base.log, block_id="trigger"
    )
    return await execute_block(
        bt, bt.configure("0 */15 * * * * *"), bt.default_policy, ctx, payload
    )


@pytest.mark.parametrize(
    "fire_time",
    [
        utc(2026, 2, 8, 9, 15),
        datetime(2026, 2, 8, 10, 15, 0, 999_000, tzinfo=timezone(timedelta(hours=1))),
        "2026-02-08T09:15:00Z",
    ],
)
async def test_a_fire_time_lent_as_a_service_is_the_output(fire_time: Any) -> None:
    # the service wins over the input (a host that lends one knows best)
    outcome = await _run_with_service(fire_time, sdk.Text("2030-01-01T00:00:00Z"))
    assert outcome.error is None, outcome.error
    assert outcome.value == sdk.Text("2026-02-08T09:15:00Z")


@pytest.mark.parametrize("fire_time", [datetime(2026, 2, 8, 9, 15), "yesterday", 1_770_000_000])
async def test_a_lent_fire_time_that_is_not_an_aware_time_is_a_runtime_error(
    fire_time: Any,
) -> None:
    outcome = await _run_with_service(fire_time, sdk.Empty())
    assert outcome.error is not None
    assert outcome.error.code == "cron.runtime_error"
    assert outcome.error.retry_disposition == "never"
    assert outcome.attempts == 1
