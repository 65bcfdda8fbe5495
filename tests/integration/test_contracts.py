"""YAML contracts end to end: inputs validated first, context before writes, preconditions
(block stops every write, warn continues), kill switches (also mid-run), verify checks that
flip to pass, fail and timeout, and ``explain``."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.app.contracts import ContractError, load_contract
from orchestrator_blocks.app.store import open_store
from orchestrator_blocks.kernel.config import load_settings

CONTRACT = textwrap.dedent("""
    workflow_type: note_customers
    description: Write a note for each customer of a cohort (test contract).
    risk_level: 2
    reflexion_enabled: true
    tags: [notes]
    trigger: {kind: manual}
    inputs:
      cohort:
        type: cohort_filter
        required: true
        columns: [plan, country]
      note: {type: string, required: true}
      max_recipients: {type: integer}
    context:
      recipients:
        sql: SELECT id, name FROM customers WHERE __filter__ ORDER BY id
        filter_input: cohort
        tables: [customers]
    preconditions:
      - name: recipients_cap
        rule: len(recipients) <= coalesce(inputs.max_recipients, 50)
        severity: block
      - name: not_empty
        rule: len(recipients) > 0
        severity: warn
      - name: kill_switch
        rule: not kill_switch("high_risk_ops")
        severity: block
    steps:
      - id: write_notes
        block: d1_query
        with:
          sql: INSERT INTO notes (body) VALUES (:body)
          params_from_input: {body: note}
      - id: count_notes
        block: d1_query
        with:
          sql: SELECT COUNT(*) AS n FROM notes
          one: true
    verify:
      - name: note_written
        sql_check: SELECT COUNT(*) FROM notes
        window: 0s
        expect: value >= 1
    retry: {max_attempts: 2, backoff: exponential, base_ms: 10, max_ms: 20}
""")


@pytest.fixture
def customers(isolated_home: Path) -> Path:
    """Demo customers and an empty notes table in the local store."""
    open_store(load_settings())  # create and migrate state.db
    db = isolated_home / "state.db"
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT, plan TEXT, country TEXT);
        CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
        INSERT INTO customers (name, plan, country) VALUES
          ('Ada', 'trial', 'UK'), ('Bob', 'trial', 'FR'), ('Cy', 'pro', 'UK');
    """)
    conn.commit()
    conn.close()
    return db


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    path = tmp_path / "note_customers.yaml"
    path.write_text(CONTRACT)
    return path


def _rows(db: Path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_contract_runs_from_the_cli_and_records_everything(cli, contract, customers) -> None:
    result = cli(
        "run",
        str(contract),
        "--input",
        'cohort={"plan": "trial"}',
        "--input",
        "note=hello",
        "--json",
    )
    assert result.code == 0, result
    summary = json.loads(result.out)
    run_id = summary["run_id"]
    assert _rows(customers, "SELECT body FROM notes") == [("hello",)]
    log = _rows(
        customers, f"SELECT workflow_type, status FROM workflow_run_log WHERE run_id = '{run_id}'"
    )
    assert log == [("note_customers", "succeeded")]
    narrative = _rows(customers, "SELECT narrative, tags FROM reflexion_log")
    assert len(narrative) == 1 and "notes" in narrative[0][1]
    assert _rows(customers, "SELECT event_type FROM events") == [("workflow.completed",)]
    assert _rows(customers, "SELECT check_name, status FROM workflow_verify_results") == [
        ("note_written", "pending")
    ]
    found = cli("reflexion", "search", "note_customers")
    assert run_id in found.out


def test_inputs_come_from_a_json_file_too(cli, contract, customers, tmp_path) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"cohort": {"country": "UK"}, "note": "from file"}))
    assert cli("run", str(contract), "--input-file", str(inputs)).code == 0
    assert _rows(customers, "SELECT body FROM notes") == [("from file",)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "cohort"),  # required inputs missing
        (
            [
                "--input",
                'cohort={"plan": "trial"}',
                "--input",
                "note=x",
                "--input",
                "max_recipients=many",
            ],
            "max_recipients",
        ),
        (["--input", 'cohort={"plan": "trial"}', "--input", "note=x", "--input", "nope=1"], "nope"),
    ],
)
def test_bad_inputs_stop_before_anything_runs(cli, contract, customers, args, message) -> None:
    result = cli("run", str(contract), *args)
    assert result.code == 2
    assert message in result.err and len(result.err.strip().splitlines()) == 1
    assert _rows(customers, "SELECT COUNT(*) FROM workflow_run_log") == [(0,)]


def test_a_typo_in_a_contract_names_the_offending_key(tmp_path: Path, cli) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONTRACT.replace("severity: warn", "severty: warn"))
    with pytest.raises(ContractError, match=r"preconditions\.1\.severty"):
        load_contract(bad)
    result = cli("run", str(bad))
    assert result.code == 2 and "preconditions.1.severty" in result.err


def test_unknown_names_in_rules_are_refused_at_load(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(CONTRACT.replace("len(recipients) > 0", "len(recipents) > 0"))
    with pytest.raises(ContractError, match="recipents"):
        load_contract(bad)


@pytest.mark.parametrize(
    ("inputs", "switch_on", "blocked_by"),
    [
        ({"cohort": {"plan": "trial"}, "note": "x", "max_recipients": 1}, False, "recipients_cap"),
        ({"cohort": {"plan": "trial"}, "note": "x"}, True, "kill_switch"),
    ],
)
def test_a_block_precondition_prevents_every_write(
    contract, customers, inputs, switch_on, blocked_by
) -> None:
    if switch_on:
        open_store(load_settings()).kill_switches.set("high_risk_ops", True, by="ops")
    result = load_contract(contract).run(inputs)
    assert result.status == ob.RunStatus.FAILED
    assert result.error.code == "precondition.blocked"
    assert result.error.details["precondition"] == blocked_by
    started = {e["block_id"] for e in result.events_of("block.started")}
    assert not started & {"write_notes", "count_notes"}  # no write step even started
    assert _rows(customers, "SELECT COUNT(*) FROM notes") == [(0,)]
    # post actions still record the failed run
    assert _rows(customers, "SELECT status FROM workflow_run_log") == [("failed",)]
    assert _rows(customers, "SELECT event_type FROM events") == [("workflow.failed",)]


def test_a_warn_precondition_records_a_warning_and_continues(contract, customers) -> None:
    result = load_contract(contract).run({"cohort": {"plan": "enterprise"}, "note": "x"})
    assert result.ok, result.error
    warned = result.events_of("precondition.warned")
    assert [e["precondition"] for e in warned] == ["not_empty"]
    assert _rows(customers, "SELECT COUNT(*) FROM notes") == [(1,)]


@pytest.mark.parametrize(
    "cohort",
    [
        {"plan": "trial' OR '1'='1"},  # a value: bound, matches nothing
        {"plan; DROP TABLE customers": "x"},
        {"email": "a@b.c"},
        "plan = 'trial'; DROP TABLE customers",
        {"plan": {"$raw": "1=1 --"}},
    ],
)
def test_cohort_injection_is_rejected_and_customers_are_intact(contract, customers, cohort) -> None:
    result = load_contract(contract).run({"cohort": cohort, "note": "x"})
    if result.ok:  # only a plain value may pass, and it must match no customer
        assert result.output("context_recipients") == []
    else:
        assert result.error.code in {"inputs.invalid", "sql.invalid_request"}
    assert _rows(customers, "SELECT COUNT(*) FROM customers") == [(3,)]


def test_a_kill_switch_turned_on_mid_run_stops_the_next_write(customers, isolated_home) -> None:
    w = ob.new_workflow("guarded").guard_with_kill_switches("high_risk_ops")
    first = ob.Block.d1_query("INSERT INTO notes (body) VALUES ('first')").named("first")
    operator = ob.Block.custom_transform(
        lambda _: (
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "orchestrator_blocks",
                    "kill",
                    "on",
                    "high_risk_ops",
                    "--reason",
                    "incident",
                ],
                check=True,
                capture_output=True,
            ).returncode
        )
    ).named("operator")
    second = ob.Block.d1_query("INSERT INTO notes (body) VALUES ('second')").named("second")
    w.link(first, operator)
    w.link(operator, second)
    result = w.run()
    assert result.status == ob.RunStatus.FAILED
    assert result.error.code == "runtime.kill_switch_engaged"
    assert result.error.block_id == "second"
    assert _rows(customers, "SELECT body FROM notes") == [("first",)]


def test_verify_checks_flip_to_pass_fail_and_timeout(cli, customers) -> None:
    w = ob.new_workflow("verified")
    w.add(ob.Block.d1_query("INSERT INTO notes (body) VALUES ('n')"))
    w.add_verify("passes", "SELECT COUNT(*) FROM notes", expect="value == 1", window_s=0)
    w.add_verify("fails", "SELECT COUNT(*) FROM notes", expect="value > 5", window_s=0)
    w.add_verify(
        "times_out",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
        window_s=0,
        timeout_ms=200,
    )
    w.add_verify("later", "SELECT 1", window_s=3600)
    run = w.run()
    assert run.ok
    result = cli("verify", "run-due")
    assert result.code == 0, result
    rows = dict(_rows(customers, "SELECT check_name, status FROM workflow_verify_results"))
    assert rows == {"passes": "pass", "fails": "fail", "times_out": "timeout", "later": "pending"}
    observed = dict(
        _rows(
            customers,
            "SELECT check_name, observed_json FROM workflow_verify_results WHERE status = 'fail'",
        )
    )
    assert json.loads(observed["fails"])["value"] == 1
    assert cli("verify", "run-due").code == 0  # nothing is run twice
    assert dict(_rows(customers, "SELECT check_name, status FROM workflow_verify_results")) == rows


def test_explain_shows_the_card_and_a_mermaid_graph(cli, contract) -> None:
    text = cli("explain", str(contract))
    assert text.code == 0, text
    for fragment in (
        "Trigger",
        "recipients_cap",
        "write_notes",
        "note_written",
        "not required (risk 2 < 3)",
        "workflow_run_log",
        "reflexion_log",
        "What changes when this workflow runs",
        "max_attempts",
    ):
        assert fragment in text.out, fragment
    card = json.loads(cli("explain", str(contract), "--format", "json").out)
    changes = {(c["system"], c["resource"], c["source"]) for c in card["changes"]}
    assert ("SQL", "database", "step write_notes") in changes
    assert not any(c["source"] == "step count_notes" for c in card["changes"])  # a read
    lanes = {s["id"]: s["lane"] for s in card["steps"]}
    assert lanes["context_recipients"] == "context" and lanes["write_notes"] == "steps"
    mermaid = cli("explain", str(contract), "--format", "mermaid").out
    assert mermaid.startswith("flowchart LR")
    assert 'subgraph lane_context["02 / Context + preconditions"]' in mermaid
    assert "n_preconditions --> n_write_notes" in mermaid
