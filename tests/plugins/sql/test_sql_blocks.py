"""The SQL family asks the one classifier whether a statement writes: a write spelled as a
CTE (``WITH ... DELETE``, ``WITH ... UPDATE ... RETURNING``), several statements in one
string and a statement the parser cannot read are never reads, so at risk >= 3 they are
refused before any approval, a contract refuses them as context queries naming them, and
the table is intact afterwards."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.app.contracts import ContractError, load_contract
from orchestrator_blocks.sdk import InvalidBlockConfig

CTE_DELETE = "WITH x AS (SELECT 1) DELETE FROM customers"
CTE_UPDATE = "WITH x AS (SELECT 1) UPDATE customers SET plan = 'x' RETURNING *"
MULTIPLE = "SELECT id FROM customers; DELETE FROM customers"
UNPARSABLE = "UPDATE OR IGNORE customers SET plan = 'x'"  # SQLite runs it; the parser cannot
DISGUISED = [
    pytest.param(CTE_DELETE, id="with-delete"),
    pytest.param(CTE_UPDATE, id="with-update-returning"),
    pytest.param(UNPARSABLE, id="unparsable"),
]


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


@pytest.mark.parametrize("sql", DISGUISED)
def test_a_disguised_write_is_refused_before_any_approval(
    sql: str, customer_rows: Callable[[], list[tuple]], original_customers: list[tuple]
) -> None:
    w = ob.new_workflow("disguised_write").set_risk_level(4)
    w.add(ob.Block.d1_query(sql))
    result = w.run()
    assert result.status == "failed"
    assert result.error.code == "runtime.approval_required"
    assert result.events_of("block.started") == []  # refused before its first attempt
    assert customer_rows() == original_customers


def test_a_multi_statement_string_never_reaches_the_database(
    customer_rows: Callable[[], list[tuple]], original_customers: list[tuple]
) -> None:
    w = ob.new_workflow("two_statements").set_risk_level(4)
    with pytest.raises(InvalidBlockConfig, match="one statement per block"):
        w.add(ob.Block.d1_query(MULTIPLE))
    assert customer_rows() == original_customers


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        pytest.param(CTE_DELETE, "WITH ... DELETE modifies data", id="with-delete"),
        pytest.param(CTE_UPDATE, "WITH ... UPDATE modifies data", id="with-update-returning"),
        pytest.param(MULTIPLE, "one statement per block", id="multiple"),
        pytest.param(UNPARSABLE, "cannot be parsed", id="unparsable"),
    ],
)
def test_a_contract_refuses_a_context_query_that_is_not_a_read(
    tmp_path: Path,
    customer_rows: Callable[[], list[tuple]],
    original_customers: list[tuple],
    sql: str,
    why: str,
) -> None:
    contract = tmp_path / "sneaky.yaml"
    contract.write_text(
        textwrap.dedent(f"""
            workflow_type: sneaky
            description: A context query that writes (test contract).
            risk_level: 3
            trigger: {{kind: manual}}
            context:
              everyone:
                sql: {json.dumps(sql)}
                tables: [customers]
        """)
    )
    with pytest.raises(ContractError) as refused:
        load_contract(contract)
    message = str(refused.value)
    assert message.startswith("sneaky.yaml: context.everyone: ") and why in message
    assert repr(sql) in message  # the offending statement, named
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
