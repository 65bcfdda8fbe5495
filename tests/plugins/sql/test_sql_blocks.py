"""The SQL family asks the one classifier whether a statement writes: a DELETE behind a WITH
is a write, so the approval rule holds it back, and a contract refuses it as context."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.app.contracts import ContractError, load_contract
from orchestrator_blocks.sdk import InvalidBlockConfig

CTE_DELETE = "WITH x AS (SELECT 1) DELETE FROM customers"


@pytest.mark.parametrize("type_id", ["d1_query", "sql_query"])
@pytest.mark.parametrize(
    ("sql", "config", "writes"),
    [
        ("SELECT id FROM customers ORDER BY id", {}, False),
        (
            "SELECT id FROM customers WHERE __filter__ AND region = :region ORDER BY id",
            {"filter_input": "cohort", "filter_columns": ["plan"], "params": {"region": "EU"}},
            False,
        ),
        ("WITH r AS (SELECT 1 AS n) SELECT n FROM r", {}, False),
        (CTE_DELETE, {}, True),
        ("WITH x AS (SELECT 1) UPDATE customers SET plan = 'x' RETURNING *", {}, True),
        ("WITH d AS (DELETE FROM customers RETURNING id) SELECT * FROM d", {}, True),
        ("INSERT INTO customers (name) VALUES (:name)", {"params": {"name": "Eve"}}, True),
        ("SELECT nextval('s')", {}, True),
    ],
)
def test_is_write_comes_from_the_classifier(
    type_id: str, sql: str, config: dict, writes: bool
) -> None:
    block = ob.Block.of(type_id, sql, **config)
    assert block.block_type.is_write(block.config) is writes


def test_a_delete_behind_a_with_is_held_back_by_the_approval_rule(
    customer_rows: Callable[[], list[tuple]], original_customers: list[tuple]
) -> None:
    w = ob.new_workflow("cte_delete").set_risk_level(3)
    w.add(ob.Block.d1_query(CTE_DELETE))
    result = w.run()
    assert result.status == "failed"
    assert result.error.code == "runtime.approval_required"
    assert customer_rows() == original_customers


def test_a_contract_refuses_a_writing_context_query(
    tmp_path: Path, customer_rows: Callable[[], list[tuple]], original_customers: list[tuple]
) -> None:
    contract = tmp_path / "sneaky.yaml"
    contract.write_text(
        textwrap.dedent(f"""
            workflow_type: sneaky
            description: A context query that deletes (test contract).
            risk_level: 1
            trigger: {{kind: manual}}
            context:
              everyone:
                sql: {CTE_DELETE}
                tables: [customers]
        """)
    )
    with pytest.raises(ContractError, match="context queries read"):
        load_contract(contract)
    assert customer_rows() == original_customers


def test_a_read_runs_and_logs_what_the_classifier_saw(customers: Path) -> None:
    w = ob.new_workflow("reader")
    q = ob.Block.d1_query("SELECT name FROM customers WHERE region = :r ORDER BY id", {"r": "US"})
    w.add(q)
    result = w.run()
    assert result.ok, result.error
    assert result.output(q) == [{"name": "Cy"}]
    (logged,) = result.events_of("sql.query")
    assert logged["writes"] is False and logged["statement_kind"] == "select"


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1; DELETE FROM customers", "one statement per block"),
        ("SELECT 1;; SELECT 2", "one statement per block"),
        ("SELECT 1 -- why", "SQL comments are not allowed"),
        ("/* hidden */ SELECT 1", "SQL comments are not allowed"),
        ("   ", "non-empty statement"),
    ],
)
def test_statements_the_block_refuses(sql: str, message: str) -> None:
    with pytest.raises(InvalidBlockConfig, match=message):
        ob.Block.d1_query(sql)


def test_semicolons_and_dashes_inside_literals_are_data(customers: Path) -> None:
    w = ob.new_workflow("literals")
    q = ob.Block.d1_query("SELECT 'a;b' AS semi, '--' AS dashes, \"name\" FROM customers", one=True)
    w.add(q)
    result = w.run()
    assert result.ok, result.error
    assert result.output(q) == {"semi": "a;b", "dashes": "--", "name": "Ada"}
