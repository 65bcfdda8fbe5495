"""`explain`'s "What changes when this workflow runs" for batch_notify has every row of the
card's table (section 10): the runner's writes, the gate's and the review's proposals, the
fan-out and the per-recipient send nested in it; and the alert its retry policy asks for
(section 9, `alert_on_final_failure`), which the card's table leaves out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_notify.yaml"

# card row (system, resource, action, source) -> the explain row that says it
CARD_TABLE = [
    (
        ("D1", "workflow_run_log", "INSERT (run summary)", "runner automatic"),
        ("store", "workflow_run_log", "INSERT run summary", "runner, every run"),
    ),
    (
        ("D1", "reflexion_log", "INSERT (tags=batch_notify)", "runner automatic"),
        ("store", "reflexion_log", "INSERT narrative (tags=batch_notify)", "runner"),
    ),
    (
        ("Event", "workflow.completed (or workflow.failed)", "fire", "runner automatic"),
        ("event ledger", "workflow.completed|partial|failed", "record once per run", "runner"),
    ),
    (
        ("D1", "workflow_verify_results", "INSERT pending × 1", "runner verify staging"),
        ("store", "workflow_verify_results", "INSERT pending x 1", "runner verify staging"),
    ),
    (
        ("D1", "proposed_actions", "INSERT (HITL gate envelope)", "runner HITL gate"),
        ("Store", "proposed_actions", "INSERT (HITL gate envelope)", "step hitl_gate"),
    ),
    (
        ("Loop", "recipients", "iterate inner steps", "fan-out #1 (per_recipient_personalize)"),
        ("Loop", "items", "iterate", "step per_recipient"),
    ),
    (
        ("D1", "proposed_actions", "INSERT (hitl_review)", "fan-out #2 (hitl_per_recipient)"),
        ("Store", "proposed_actions", "INSERT (hitl_review)", "step per_recipient.review"),
    ),
    (
        ("Email Routing", "recipient", "send", "fan-out #3 (send)"),
        ("Email", "recipients", "send", "step per_recipient.send"),
    ),
]


@pytest.fixture
def changes(cli) -> list[tuple[str, str, str, str]]:
    res = cli("explain", str(EXAMPLE), "-f", "json")
    assert res.code == 0, res
    return [
        (c["system"], c["resource"], c["action"], c["source"])
        for c in json.loads(res.out)["changes"]
    ]


@pytest.mark.parametrize(
    ("card_row", "explained"), CARD_TABLE, ids=[f"{e[3]}: {e[1]}" for _, e in CARD_TABLE]
)
def test_each_row_of_the_cards_table_is_explained(changes, card_row, explained) -> None:
    assert changes.count(explained) == 1, (card_row, changes)


ALERT = (
    "Email",
    "alert_email (else the approver's address)",
    "send 1 alert when items fail for good; ledger alert.sent",
    "runner alert_on_final_failure",
)


def test_explain_lists_the_cards_rows_and_the_alert_and_nothing_else(changes) -> None:
    assert sorted(changes) == sorted([*(explained for _, explained in CARD_TABLE), ALERT])


def test_the_text_card_shows_the_nested_send_and_the_gate(cli) -> None:
    res = cli("explain", str(EXAMPLE))
    assert res.code == 0, res
    for fragment in (
        "INSERT (HITL gate envelope)",
        "INSERT (hitl_review)",
        "step per_recipient.review",
        "step per_recipient.send",
    ):
        assert fragment in res.out, fragment
