"""for_each delivering per item to a real SMTP peer: one email per item, the per-item input,
the concurrency bound, construction and input checks, and the approval gate."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from fanout_parts import context, envelope, fan_out, per_item, recipients, recipients_of

import orchestrator_blocks as ob
from orchestrator_blocks.plugins.fan_out import for_each
from orchestrator_blocks.sdk.testing import check_block_type


def test_for_each_passes_the_block_type_contract():
    check_block_type(for_each)


@pytest.mark.parametrize(
    ("field", "expected"),
    [("timeout_ms", None), ("retries", 0)],
)
def test_defaults_no_timeout_no_retries(field, expected):
    assert getattr(for_each.default_policy, field) == expected


def test_every_item_gets_exactly_one_email(smtp_peer):
    items = recipients(12)
    w, block = fan_out(per_item(), over="recipients")

    r = w.run(context(items, note="prices change"))

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert r.output(block) == {
        "total": 12, "sent": 12, "failed": 0, "skipped": 0, "unknown": 0,
        "rejected": 0, "not_started": 0,
    }  # fmt: skip
    assert recipients_of(smtp_peer) == sorted(i["email"] for i in items)
    assert smtp_peer.transactions == 12
    bodies = {m["To"]: m.get_content() for m in smtp_peer.messages}
    assert bodies["c3@example.org"].startswith("Dear Customer 3, prices change.")
    assert len({m["Message-ID"] for m in smtp_peer.messages}) == 12


def test_the_item_input_carries_the_item_inputs_and_an_idempotency_key():
    seen: list[dict[str, Any]] = []
    w_item = ob.new_workflow("record")
    w_item.add(ob.Block.custom_transform(lambda p: seen.append(p) or p))
    w, _ = fan_out(w_item, workflow_id="notify", over="recipients", concurrency=1)

    r = w.run(context([{"id": 7, "email": "a@x.org"}], _proposal_id=31, note="n"))

    assert r.ok, r.error
    [payload] = seen
    item = {"id": 7, "email": "a@x.org"}
    assert payload == {
        **item,
        "item": item,
        "inputs": {"_proposal_id": 31, "note": "n"},
        "item_key": "7",
        "idempotency_key": "notify:31:7",
        "related_workflow": "notify",
    }


def test_without_a_proposal_the_run_id_scopes_the_key_and_a_plain_list_is_accepted():
    keys: list[str] = []
    w_item = ob.new_workflow("record")
    w_item.add(ob.Block.custom_transform(lambda p: keys.append(p["idempotency_key"])))
    w, _ = fan_out(w_item, workflow_id="notify", item_key="cid")

    r = w.run([{"cid": "a"}, {"cid": "b"}])

    assert r.ok, r.error
    assert sorted(keys) == [f"notify:{r.run_id}:a", f"notify:{r.run_id}:b"]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_no_more_than_concurrency_items_run_at_once(smtp_peer, concurrency):
    in_flight = 0
    peak = 0

    async def hold(payload: Any) -> Any:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return payload

    w, block = fan_out(per_item(hold), over="recipients", concurrency=concurrency)
    r = w.run(context(recipients(10)))

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert peak == concurrency
    assert r.output(block)["sent"] == 10 and len(smtp_peer.messages) == 10


def test_a_template_and_an_envelope_step_build_the_message(smtp_peer):
    """The documented pattern: render the body with template_handlebars next to the item,
    then build the send_email envelope from both (the block sees them as a list)."""
    w_item = ob.new_workflow("per_recipient")
    body = ob.Block.template_handlebars("Hi {{name}}, {{inputs.note}}")
    keep = ob.Block.custom_transform(lambda item: item)
    build = ob.Block.custom_transform(
        lambda parts: {
            "to": parts[1]["email"],
            "subject": parts[1]["inputs"]["subject"],
            "text": parts[0],
            "idempotency_key": parts[1]["idempotency_key"],
        }
    )
    send = ob.Block.send_email()
    w_item.link(body, build)
    w_item.link(keep, build)
    w_item.link(build, send)
    w, _ = fan_out(w_item, over="recipients")

    r = w.run(context(recipients(3), subject="News", note="see you"))

    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    by_to = {m["To"]: m for m in smtp_peer.messages}
    assert by_to["c2@example.org"]["Subject"] == "News"
    assert by_to["c2@example.org"].get_content().strip() == "Hi Customer 2, see you"


@pytest.mark.parametrize(
    ("input", "options", "fragment"),
    [
        ({"recipients": "nobody"}, {"over": "recipients"}, "is str"),
        ({"people": []}, {"over": "recipients"}, "no key 'recipients'"),
        ({"recipients": []}, {}, "over="),
        ([{"id": 1}, "x"], {}, "item 1 is str"),
        ([{"id": 1}, {"name": "no id"}], {}, "item 1 has no 'id'"),
        ([{"id": 1}, {"id": None}], {}, "item 1 has no 'id'"),
        ([{"id": 1}, {"id": "1"}], {}, "two items have id '1'"),
        ("not json", {}, "JSON list"),
        ({"inputs": [1], "recipients": []}, {"over": "recipients"}, "must be an object"),
    ],
)
def test_bad_input_fails_before_any_item_runs(smtp_peer, input, options, fragment):
    w, _ = fan_out(per_item(), **options)

    r = w.run(input)

    assert r.status == ob.RunStatus.FAILED
    assert r.error.code == "fan_out.invalid_input"
    assert r.error.retry_disposition == "never"
    assert fragment in r.error.message
    assert smtp_peer.transactions == 0


def test_an_invalid_per_item_workflow_is_invalid_input():
    w, _ = fan_out(ob.new_workflow("empty"))

    r = w.run([{"id": 1}])

    assert r.error.code == "fan_out.invalid_input"
    assert "'empty' is invalid" in r.error.message


@pytest.mark.parametrize(
    ("args", "options"),
    [
        (("not a workflow",), {}),
        ((), {"concurrency": 0}),
        ((), {"concurrency": True}),
        ((), {"circuit_breaker": 0}),
        ((), {"max_attempts": 0}),
        ((), {"base_ms": -1}),
        ((), {"item_key": ""}),
        ((), {"over": ""}),
        ((), {"kill_switches": [1]}),
        ((), {"progress": "yes"}),
    ],
)
def test_bad_configuration_fails_at_construction(args, options):
    w_item = ob.new_workflow("x")
    w_item.add(ob.Block.custom_transform(lambda p: p))
    with pytest.raises(ob.InvalidBlockConfig):
        ob.Block.for_each(*(args or (w_item,)), **options)


def test_a_single_kill_switch_name_is_accepted():
    w_item = ob.new_workflow("x")
    w_item.add(ob.Block.custom_transform(lambda p: p))
    block = ob.Block.for_each(w_item, kill_switches="kill:high_risk_ops")
    assert block.config["kill_switches"] == ("kill:high_risk_ops",)


@pytest.mark.parametrize(("sends", "writes"), [(True, True), (False, False)])
def test_for_each_is_a_write_step_when_its_per_item_workflow_writes(sends, writes):
    if sends:
        w_item = per_item()
    else:
        w_item = ob.new_workflow("read_only")
        w_item.add(ob.Block.custom_transform(envelope))
    block = ob.Block.for_each(w_item)
    assert block.block_type.is_write(block.config) is writes


def test_a_risk_3_workflow_refuses_a_sending_fan_out_without_an_approval_gate(smtp_peer):
    w, _ = fan_out(per_item(), over="recipients")
    w.set_risk_level(3)

    r = w.run(context(recipients(2)))

    assert r.status == ob.RunStatus.FAILED
    assert r.error.code == "runtime.approval_required"
    assert smtp_peer.transactions == 0


def test_progress_true_draws_a_bar_on_stderr(capsys):
    w_item = ob.new_workflow("noop")
    w_item.add(ob.Block.custom_transform(lambda p: None))
    w, _ = fan_out(w_item, progress=True)

    r = w.run([{"id": i} for i in range(5)])

    assert r.ok, r.error
    err = capsys.readouterr().err
    assert "5/5" in err and "sent 5" in err
