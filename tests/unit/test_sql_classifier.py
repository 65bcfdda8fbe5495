"""The one SQL classifier: a statement is a read only when the parser proves it; everything
else, including what it cannot read, is a write (the approval gate depends on it)."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestrator_blocks.sdk.sql import (
    SIDE_EFFECT_FUNCTIONS,
    StatementClass,
    classify_statement,
    has_comment,
    single_statement,
    statement_writes,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

READS = [
    ("SELECT 1", "select"),
    ("select id, name from customers order by id;", "select"),
    ("SELECT id FROM customers WHERE __filter__ ORDER BY id", "select"),
    (
        "SELECT id, email FROM customers WHERE __filter__ AND plan = :plan AND id IN (:a, :b)"
        " LIMIT :n",
        "select",
    ),
    ("WITH x AS (SELECT 1 AS one) SELECT one FROM x", "with-select"),
    (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c",
        "with-select",
    ),
    ("SELECT 1 UNION SELECT 2", "union"),
    ("SELECT a FROM t INTERSECT SELECT a FROM u", "intersect"),
    ("(SELECT 1) EXCEPT (SELECT 2)", "except"),
    ("VALUES (1, 'a'), (2, 'b')", "values"),
    ("EXPLAIN SELECT * FROM customers", "explain-select"),
    ("EXPLAIN QUERY PLAN SELECT * FROM customers WHERE id = :id", "explain-select"),
    ("EXPLAIN ANALYZE SELECT 1", "explain-select"),
    ("EXPLAIN (FORMAT JSON, ANALYZE) SELECT 1", "explain-select"),
    ("SELECT * FROM t WHERE note = 'nextval(''s'')' AND body = 'DELETE FROM t; --'", "select"),
    ("SELECT json_extract(data, '$.a'), lower(name), coalesce(x, 0) FROM t", "select"),
    ("SELECT * FROM t WHERE id IN (SELECT id FROM u) AND EXISTS (SELECT 1 FROM v)", "select"),
]

WRITES = [
    ("INSERT INTO notes (body) VALUES (:body)", "insert"),
    ("UPDATE customers SET plan = 'pro' WHERE id = :id", "update"),
    ("DELETE FROM customers", "delete"),
    ("WITH x AS (SELECT 1) DELETE FROM customers", "with-delete"),
    ("WITH x AS (SELECT id FROM t) UPDATE t SET a = 1 RETURNING *", "with-update"),
    ("WITH d AS (DELETE FROM t RETURNING id) SELECT * FROM d", "cte-delete"),
    ("WITH i AS (INSERT INTO t VALUES (1) RETURNING *) SELECT 1 UNION SELECT 2", "cte-insert"),
    ("SELECT * FROM t WHERE id IN (WITH z AS (DELETE FROM u RETURNING id) SELECT 1)", "cte-delete"),
    ("SELECT * INTO new_customers FROM customers", "select-into"),
    ("SELECT * FROM customers FOR UPDATE", "locking-select"),
    ("SELECT nextval('s')", "side-effect-function"),
    ("SELECT pg_catalog.NEXTVAL('s')", "side-effect-function"),
    ("SELECT pg_advisory_lock(1)", "side-effect-function"),
    ("SELECT lo_import('/etc/passwd')", "side-effect-function"),
    ("SELECT load_extension('evil')", "side-effect-function"),
    ("SELECT * FROM t WHERE id = setval('s', 1)", "side-effect-function"),
    ("SELECT 1; DELETE FROM t", "multiple"),
    ("SELECT 1; SELECT 2", "multiple"),
    ("EXPLAIN ANALYZE DELETE FROM t", "explain-delete"),
    ("EXPLAIN (ANALYZE, FORMAT JSON) UPDATE t SET a = 1", "explain-update"),
    ("EXPLAIN SELECT nextval('s')", "explain-side-effect-function"),
    ("EXPLAIN", "explain"),
    ("EXPLAIN (SELECT 1)", "explain"),  # a parenthesised statement reads as options
    ("PRAGMA journal_mode = WAL", "pragma"),
    ("ATTACH DATABASE 'other.db' AS other", "unparsable"),  # portable SQL has no ATTACH
    ("BEGIN", "transaction"),
    ("COMMIT", "commit"),
    ("VACUUM", "vacuum"),
    ("CREATE TABLE t (id INTEGER)", "create"),
    ("DROP TABLE customers", "drop"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "merge"),
    ("", "empty"),
    ("   \n ", "empty"),
    ("-- only a comment", "empty"),
    ("garbage text here", "unparsable"),
    ("SELECT 'unterminated", "unparsable"),
    ("SELECT 1 /*! INTO OUTFILE '/tmp/x' */", "executable-comment"),
    ("customers", "column"),
]


@pytest.mark.parametrize(("sql", "kind"), READS)
def test_reads_are_reads(sql: str, kind: str) -> None:
    verdict = classify_statement(sql)
    assert verdict == StatementClass(writes=False, kind=kind, reason=verdict.reason)
    assert verdict.reason
    assert statement_writes(sql) is False


@pytest.mark.parametrize(("sql", "kind"), WRITES)
def test_everything_else_is_a_write(sql: str, kind: str) -> None:
    verdict = classify_statement(sql)
    assert verdict.writes is True, verdict
    assert verdict.kind == kind
    assert verdict.reason and "\n" not in verdict.reason
    assert statement_writes(sql) is True


@pytest.mark.parametrize(
    ("sql", "dialect", "writes"),
    [
        ("ATTACH DATABASE 'other.db' AS other", "sqlite", True),
        ("REPLACE INTO t VALUES (1)", "sqlite", True),
        ("DO $$ BEGIN DELETE FROM t; END $$", "postgresql", True),
        ("SELECT * FROM t WHERE a = :a::int", "postgresql", False),
        ("SELECT $$a;b$$ AS dollar_quoted", "postgresql", False),
        ("WITH x AS (SELECT 1) DELETE FROM t", "postgres", True),
        ("EXPLAIN FORMAT=JSON SELECT 1", "mysql", False),
        ("EXPLAIN ANALYZE DELETE FROM t", "mysql", True),
        ("SELECT `name` FROM customers", "mariadb", False),  # SQLAlchemy's backend name
        ("EXPLAIN /* why */ ANALYZE DELETE FROM t", None, True),  # options stay in front
        # Lexing follows the database: a backslash escapes a quote only where it does.
        ("SELECT 'a\\'; DELETE FROM t; --'", None, True),
        ("SELECT 'a\\'; DELETE FROM t; --'", "sqlite", True),
        ("SELECT 'a\\'; DELETE FROM t; --'", "mysql", False),
        ("SELECT E'a\\'; DELETE FROM t; --'", None, True),  # portable SQL: fail closed
    ],
)
def test_a_dialect_reads_its_own_syntax(sql: str, dialect: str | None, writes: bool) -> None:
    verdict = classify_statement(sql, dialect=dialect)
    assert verdict.writes is writes, verdict


def test_reasons_explain_the_verdict_in_words() -> None:
    assert "WITH ... DELETE" in classify_statement("WITH x AS (SELECT 1) DELETE FROM t").reason
    assert "nextval()" in classify_statement("SELECT nextval('s')").reason
    assert "EXPLAIN ANALYZE executes" in classify_statement("EXPLAIN ANALYZE DELETE FROM t").reason


def test_an_unknown_dialect_is_the_callers_mistake() -> None:
    with pytest.raises(ValueError, match="nonsense"):
        classify_statement("SELECT 1", dialect="nonsense")


def test_the_listed_functions_are_lower_case_names() -> None:
    assert all(name == name.lower() and name.isidentifier() for name in SIDE_EFFECT_FUNCTIONS)


def _example_reads() -> list[Any]:
    out = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for name, query in (doc.get("context") or {}).items():
            out.append(pytest.param(query["sql"], id=f"{path.stem}:context.{name}"))
        for check in doc.get("verify") or []:
            out.append(pytest.param(check["sql_check"], id=f"{path.stem}:verify.{check['name']}"))
    return out


@pytest.mark.parametrize("sql", _example_reads())
def test_every_read_in_the_examples_is_a_read(sql: str) -> None:
    verdict = classify_statement(sql)
    assert verdict.writes is False, verdict


@pytest.mark.parametrize(
    ("sql", "single"),
    [
        ("SELECT 1", True),
        ("SELECT 1;", True),
        ("SELECT ';' AS semicolon", True),
        ('SELECT "a;b" FROM t', True),
        ("SELECT 1; -- done", True),
        ("SELECT 1; SELECT 2", False),
        ("SELECT 1;; DELETE FROM t", False),
        ("SELECT 'unterminated; DELETE FROM t", False),  # unreadable: judged by its ';'
        ("", False),
    ],
)
def test_single_statement(sql: str, single: bool) -> None:
    assert single_statement(sql) is single


@pytest.mark.parametrize(
    ("sql", "comment"),
    [
        ("SELECT 1", False),
        ("SELECT '--' AS dashes, '/* x */' AS stars", False),
        ('SELECT "a--b" FROM t', False),
        ("SELECT 1 -- trailing", True),
        ("/* leading */ SELECT 1", True),
        ("SELECT /*+ INDEX(t) */ 1 FROM t", True),
        ("-- only", True),
    ],
)
def test_has_comment(sql: str, comment: bool) -> None:
    assert has_comment(sql) is comment


def test_only_the_classifiers_own_parser_warnings_are_silenced(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        assert classify_statement("VACUUM FULL customers").writes  # parsed as a bare command
        assert not [r for r in caplog.records if r.name == "sqlglot"]
        logging.getLogger("sqlglot").warning("someone else's warning")
    assert [r.getMessage() for r in caplog.records] == ["someone else's warning"]


def test_importing_the_sdk_does_not_import_the_parsers() -> None:
    code = (
        "import sys, orchestrator_blocks.sdk, orchestrator_blocks.sdk.sql, "
        "orchestrator_blocks.sdk.cohort\n"
        "print(sorted(m for m in ('sqlglot', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
