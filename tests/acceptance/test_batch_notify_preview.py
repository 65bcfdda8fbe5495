"""Acceptance: "a contract that translates card sections 1-4 and 7-10 runs end to end from
the CLI on demo data" (examples/batch_notify_preview.yaml), checked through the files and the
SQLite store a user would look at."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from orchestrator_blocks.app.store import forget_stores

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_notify_preview.yaml"
PREVIEW = Path("previews") / "batch_notify.html"
ALL_CUSTOMERS = 8  # kernel/cli/demo_cmd.py DEMO_CUSTOMERS
# Active trial customers with an email; C-1006 is inactive, C-1008 has no email.
TRIAL_RECIPIENTS = [
    ("Northwind Bakery", "ana@northwind.example"),
    ("Blue Harbor Dental", "sam@blueharbor.example"),
    ("Kite &amp; Key Studio", "lee@kitekey.example"),
    ("Granite &lt;b&gt;Gym&lt;/b&gt;", "pat@granite.example"),
]
NOT_RECIPIENTS = ["Juniper Books", "Orchard Lane Vets", "Tidewater Tools", "Copper Kettle Cafe"]


@pytest.fixture(autouse=True)
def seeded(cli) -> Iterator[None]:
    res = cli("demo", "seed-customers")
    assert res.code == 0, res
    assert f"customers: {ALL_CUSTOMERS} added" in res.out
    yield
    forget_stores()


@pytest.fixture
def preview() -> Path:
    return Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"]) / PREVIEW


def db_rows(sql: str, *params: object) -> list[tuple[object, ...]]:
    home = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"])
    with sqlite3.connect(home / "state.db") as conn:
        return conn.execute(sql, params).fetchall()


def run_preview(cli, cohort: str, *extra: str):
    return cli(
        "run",
        str(EXAMPLE),
        "--input",
        f"customer_cohort_filter={cohort}",
        "--input",
        "subject=Your trial ends soon",
        "--input",
        "body_template=Hello {{companyname}}",
        *extra,
        "--json",
    )


def customers_intact() -> None:
    assert db_rows("SELECT COUNT(*) FROM customers") == [(ALL_CUSTOMERS,)]


def test_preview_runs_end_to_end_and_verify_passes(cli, preview: Path) -> None:
    res = run_preview(cli, '{"plan": "trial"}')
    assert res.code == 0, res
    summary = json.loads(res.out)
    run_id = summary["run_id"]
    assert summary["status"] == "succeeded"

    html = preview.read_text(encoding="utf-8")
    assert "<h1>Your trial ends soon</h1>" in html
    assert "<p>4 recipients; template:</p>" in html
    assert "<pre>Hello {{companyname}}</pre>" in html
    items = "".join(f"<li>{name} &lt;{email}&gt;</li>" for name, email in TRIAL_RECIPIENTS)
    assert f"<ul>{items}</ul>" in html
    assert "<b>" not in html
    for name in NOT_RECIPIENTS:
        assert name not in html

    # 7 - post actions: run log, reflexion, ledger event, a staged verify check
    assert db_rows(
        "SELECT workflow_type, status FROM workflow_run_log WHERE run_id = ?", run_id
    ) == [("batch_notify_preview", "succeeded")]
    reflexion = db_rows("SELECT workflow_type, tags FROM reflexion_log WHERE run_id = ?", run_id)
    assert len(reflexion) == 1 and reflexion[0][0] == "batch_notify_preview"
    assert "batch_notify" in str(reflexion[0][1])
    events = db_rows("SELECT event_type, workflow_id FROM events WHERE run_id = ?", run_id)
    assert events == [("workflow.completed", "batch_notify_preview")]
    verify = db_rows(
        "SELECT check_name, status, due_at FROM workflow_verify_results WHERE run_id = ?", run_id
    )
    assert [(name, status) for name, status, _ in verify] == [("run_logged", "pending")]

    # 8 - verify: not due yet now; two minutes after the run it runs and passes
    finished = datetime.fromisoformat(summary["finished_at"].replace("Z", "+00:00"))
    res = cli("verify", "run-due", "--at", (finished + timedelta(seconds=5)).isoformat())
    assert res.code == 0, res
    assert db_rows("SELECT status FROM workflow_verify_results WHERE run_id = ?", run_id) == [
        ("pending",)
    ]
    res = cli("verify", "run-due", "--at", (finished + timedelta(minutes=2)).isoformat())
    assert res.code == 0, res
    assert "pass" in res.out
    assert db_rows("SELECT status FROM workflow_verify_results WHERE run_id = ?", run_id) == [
        ("pass",)
    ]
    customers_intact()


def test_a_sql_cohort_filter_selects_the_same_way(cli, preview: Path) -> None:
    res = run_preview(cli, json.dumps("plan = 'trial' and country = 'UK'"))
    assert res.code == 0, res
    html = preview.read_text(encoding="utf-8")
    assert "<p>2 recipients; template:</p>" in html
    assert "Northwind Bakery" in html and "Kite &amp; Key Studio" in html
    assert "Blue Harbor Dental" not in html and "Granite" not in html


@pytest.mark.parametrize(
    ("cohort", "code"),
    [
        # a JSON value is bound as a parameter: inert, it matches nobody
        pytest.param(json.dumps({"plan": "trial' OR 1=1 --"}), 0, id="json_value_quote"),
        # everything else that is not a plain `column = 'value' and ...` filter: refused
        pytest.param(json.dumps({"plan = plan OR 1": "1"}), 2, id="json_column_name"),
        pytest.param("plan = 'trial'; DROP TABLE customers", 2, id="raw_string_drop"),
        pytest.param(json.dumps("plan = 'trial'; DROP TABLE customers"), 2, id="json_drop"),
        pytest.param(json.dumps("plan = 'trial' OR 1=1 --"), 2, id="sql_comment"),
        pytest.param(json.dumps("plan = 'trial' OR 1=1"), 2, id="tautology"),
        pytest.param(json.dumps("email IS NOT NULL"), 2, id="column_not_allowed"),
    ],
)
def test_cohort_filter_injection_is_refused_or_inert(
    cli, preview: Path, cohort: str, code: int
) -> None:
    res = run_preview(cli, cohort)
    assert res.code == code, res
    customers_intact()
    if code == 0:
        html = preview.read_text(encoding="utf-8")
        assert "<p>0 recipients; template:</p>" in html, html
        assert "<li>" not in html
    else:
        assert "customer_cohort_filter" in res.err, res
        assert not preview.exists()
        assert db_rows("SELECT COUNT(*) FROM workflow_run_log") == [(0,)]


def test_the_kill_switch_blocks_the_run_before_any_write(cli, preview: Path) -> None:
    res = cli("kill", "on", "high_risk_ops", "--reason", "acceptance test")
    assert res.code == 0, res
    res = run_preview(cli, '{"plan": "trial"}')
    assert res.code == 1, res
    summary = json.loads(res.out)
    assert summary["status"] == "failed"
    assert summary["error"]["code"] == "precondition.blocked"
    assert "kill_switch" in summary["error"]["message"]
    assert not preview.exists()
    assert db_rows("SELECT status FROM workflow_run_log WHERE run_id = ?", summary["run_id"]) == [
        ("failed",)
    ]

    res = cli("kill", "off", "high_risk_ops")
    assert res.code == 0, res
    res = run_preview(cli, '{"plan": "trial"}')
    assert res.code == 0, res
    assert preview.is_file()


@pytest.mark.parametrize(("cap", "code"), [(1, 1), (4, 0)])
def test_max_recipients_caps_the_cohort(cli, preview: Path, cap: int, code: int) -> None:
    res = run_preview(cli, '{"plan": "trial"}', "--input", f"max_recipients={cap}")
    assert res.code == code, res
    summary = json.loads(res.out)
    if code:
        assert summary["error"]["code"] == "precondition.blocked"
        assert "recipients_cap" in summary["error"]["message"]
        assert not preview.exists()
    else:
        assert "<p>4 recipients; template:</p>" in preview.read_text(encoding="utf-8")
