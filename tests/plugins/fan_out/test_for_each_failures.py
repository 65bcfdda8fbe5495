"""for_each when deliveries fail: per-item retry, the circuit breaker, partial runs and
kill switches (real aiosmtpd peer scripted per transaction, real SQLite store)."""

from __future__ import annotations

from typing import Any

import pytest
from fanout_parts import context, fan_out, log_events, per_item, recipients
from support.smtp_server import Mode

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.app.store import open_store

COUNT_KEYS = {"total", "sent", "failed", "skipped", "unknown", "rejected", "not_started"}


def test_the_breaker_stops_after_5_consecutive_failures(smtp_peer):
    smtp_peer.set_mode("permanent", code=550)
    w, _ = fan_out(per_item(), over="recipients", concurrency=1)

    r = w.run(context(recipients(20)))

    assert smtp_peer.transactions == 5  # 550 is never retried: one transaction per item
    assert r.status == ob.RunStatus.FAILED
    assert r.error.code == "fan_out.circuit_open"
    assert r.error.retry_disposition == "never"
    assert r.error.details == {
        "total": 20, "sent": 0, "failed": 5, "skipped": 0, "unknown": 0,
        "rejected": 0, "not_started": 15,
    }  # fmt: skip
    assert len(r.events_of("fan_out.circuit_open")) == 1


def test_with_concurrency_items_in_flight_when_the_breaker_trips_still_finish(smtp_peer):
    smtp_peer.set_mode("permanent", code=550)
    w, _ = fan_out(per_item(), over="recipients", concurrency=4, circuit_breaker=5)

    r = w.run(context(recipients(40)))

    details = r.error.details
    assert r.error.code == "fan_out.circuit_open"
    assert 5 <= details["failed"] == smtp_peer.transactions <= 5 + 3
    assert details["failed"] + details["not_started"] == 40


def test_successes_then_consecutive_failures_end_the_run_partial(smtp_peer):
    smtp_peer.script(*[Mode("accept")] * 3, Mode("permanent", code=550))
    w, block = fan_out(per_item(), over="recipients", concurrency=1, circuit_breaker=5)

    r = w.run(context(recipients(12)))

    counts = {
        "total": 12,
        "sent": 3,
        "failed": 5,
        "skipped": 0,
        "unknown": 0,
        "rejected": 0,
        "not_started": 4,
    }
    assert r.status == ob.RunStatus.PARTIAL, r.error
    assert r.error is None
    assert r.output(block) == counts
    assert [dict(p) for p in r.partial] == [{"block_id": "for_each_1", **counts}]
    assert len(smtp_peer.messages) == 3


def test_a_success_resets_the_breaker(smtp_peer):
    fail = Mode("permanent", code=550)
    smtp_peer.script(fail, fail, Mode("accept"), fail, fail, Mode("accept"))
    w, block = fan_out(per_item(), over="recipients", concurrency=1, circuit_breaker=3)

    r = w.run(context(recipients(6)))

    assert r.status == ob.RunStatus.PARTIAL
    assert r.output(block)["failed"] == 4 and r.output(block)["sent"] == 2
    assert r.output(block)["not_started"] == 0


def test_circuit_breaker_none_never_trips(smtp_peer):
    smtp_peer.set_mode("permanent", code=550)
    w, _ = fan_out(per_item(), over="recipients", concurrency=2, circuit_breaker=None)

    r = w.run(context(recipients(9)))

    assert r.error.code == "fan_out.failed"
    assert r.error.details["failed"] == 9 and smtp_peer.transactions == 9


def test_an_item_is_retried_after_a_451_and_then_delivered(smtp_peer):
    smtp_peer.script(Mode("transient", code=451), Mode("accept"))
    w, block = fan_out(
        per_item(), over="recipients", concurrency=1, base_ms=1, max_ms=50, jitter=0.0
    )

    r = w.run(context(recipients(3)))

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert r.output(block)["sent"] == 3
    assert smtp_peer.transactions == 4 and len(smtp_peer.messages) == 3
    [retry] = log_events(sdk.Settings.from_env().home, "fan_out.item_retry_scheduled")
    assert retry["fan_out_item"] == "1" and retry["code"] == "email.smtp.transient"
    assert retry["delay_ms"] == 1


@pytest.mark.parametrize(
    ("mode", "max_attempts", "transactions", "delays"),
    [
        (Mode("transient", code=451), 3, 3, [3, 6]),  # backoff: retried, min(max, base*2^n)
        (Mode("transient", code=451), 4, 4, [3, 6, 10]),  # capped at max_ms
        (Mode("permanent", code=550), 3, 1, []),  # never: not retried
    ],
)
def test_per_item_retry_follows_the_disposition(
    smtp_peer, mode, max_attempts, transactions, delays
):
    smtp_peer.set_mode(mode)
    w, _ = fan_out(
        per_item(), over="recipients", max_attempts=max_attempts, base_ms=3, max_ms=10, jitter=0.0
    )

    r = w.run(context(recipients(1)))

    assert r.error.code == "fan_out.failed"
    assert r.error.details["failed"] == 1
    assert smtp_peer.transactions == transactions
    scheduled = log_events(sdk.Settings.from_env().home, "fan_out.item_retry_scheduled")
    assert [e["delay_ms"] for e in scheduled] == delays


@pytest.mark.parametrize(
    ("policy", "shape"),
    [
        ({"factor": 3.0}, [20, 60, 180]),  # the factor, not a hard-coded 2
        ({"backoff": "fixed"}, [20, 20, 20]),
        ({"backoff": "none"}, [0, 0, 0]),
    ],
)
def test_item_retries_wait_like_block_retries_with_jitter_per_run_item_and_attempt(
    smtp_peer, policy, shape
):
    smtp_peer.set_mode(Mode("transient", code=451))
    jitter = 0.5
    options = {"base_ms": 20, "max_ms": 1000, "jitter": jitter, **policy}
    w, _ = fan_out(per_item(), over="recipients", concurrency=1, max_attempts=4, **options)

    r = w.run(context(recipients(2)))

    scheduled = log_events(sdk.Settings.from_env().home, "fan_out.item_retry_scheduled")
    by_item: dict[str, list[int]] = {}
    for event in scheduled:
        by_item.setdefault(event["fan_out_item"], []).append(event["delay_ms"])
    assert sorted(by_item) == ["1", "2"]
    backoff = sdk.Backoff(
        policy.get("backoff", "exponential"), 20, policy.get("factor", 2.0), jitter, 1000
    )
    for item, delays in by_item.items():
        # the SDK's backoff, seeded by run, item and attempt, exactly as block retries are
        expected = [backoff.delay_ms(n, seed=f"{r.run_id}:{item}:{n}") for n in (1, 2, 3)]
        assert delays == expected
        assert all(
            s * (1 - jitter) <= d <= s * (1 + jitter) for d, s in zip(delays, shape, strict=True)
        )
    if policy.get("backoff") != "none":
        assert by_item["1"] != by_item["2"]  # jittered apart, not in lockstep


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ({"backoff": "linear"}, "backoff must be exponential, fixed or none"),
        ({"factor": 0.5}, "factor must be >= 1.0"),
        ({"jitter": 2}, "jitter must be between 0 and 1"),
    ],
)
def test_a_bad_item_backoff_is_refused_when_the_block_is_built(option, message):
    with pytest.raises(ob.OrchestratorError, match=message):
        fan_out(per_item(), over="recipients", **option)


def test_a_manual_failure_is_not_retried():
    def stop(payload: Any) -> Any:
        raise ob.BlockError("transform.invalid_input", "needs a human", retry_disposition="manual")

    w_item = ob.new_workflow("manual")
    w_item.add(ob.Block.custom_transform(stop))
    w, _ = fan_out(w_item, max_attempts=3)

    r = w.run([{"id": 1}])

    assert r.error.code == "fan_out.failed"
    assert log_events(sdk.Settings.from_env().home, "fan_out.item_retry_scheduled") == []
    [failed] = log_events(sdk.Settings.from_env().home, "fan_out.item_failed")
    assert failed["code"] == "transform.invalid_input" and failed["attempts"] == 1


def test_a_kill_switch_engaged_mid_run_stops_new_items(smtp_peer):
    def engage_at_3(payload: dict[str, Any]) -> dict[str, Any]:
        if payload["item_key"] == "3":
            open_store(sdk.Settings.from_env()).kill_switches.set("kill:high_risk_ops", True)
        return payload

    w, block = fan_out(
        per_item(engage_at_3), over="recipients", concurrency=1,
        kill_switches=["kill:high_risk_ops"],
    )  # fmt: skip

    r = w.run(context(recipients(10)))

    assert r.status == ob.RunStatus.PARTIAL, r.error
    assert r.output(block) == {
        "total": 10, "sent": 3, "failed": 0, "skipped": 0, "unknown": 0,
        "rejected": 0, "not_started": 7,
    }  # fmt: skip
    assert len(smtp_peer.messages) == 3
    [halted] = r.events_of("fan_out.halted")
    assert halted["kill_switch"] == "kill:high_risk_ops"


def test_a_kill_switch_on_before_the_start_halts_the_fan_out(smtp_peer, store):
    store.kill_switches.set("kill:high_risk_ops", True)
    w, _ = fan_out(per_item(), over="recipients", kill_switches="kill:high_risk_ops")

    r = w.run(context(recipients(4)))

    assert r.status == ob.RunStatus.FAILED
    assert r.error.code == "fan_out.halted"
    assert r.error.details["not_started"] == 4
    assert smtp_peer.transactions == 0


def test_counts_always_have_the_same_keys(smtp_peer):
    w, block = fan_out(per_item(), over="recipients")
    r = w.run(context([]))
    assert r.status == ob.RunStatus.SUCCEEDED
    assert set(r.output(block)) == COUNT_KEYS
    assert r.output(block)["total"] == 0
