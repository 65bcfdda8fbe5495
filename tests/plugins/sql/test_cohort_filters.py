"""Cohort filters compile through SQLAlchemy Core into a ``WHERE`` fragment of allow-listed
columns and bound parameters: the same text for both input forms, values only ever bound,
and against a real SQLite table an injection attempt is refused or matches nobody."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks.sdk.cohort import CohortFilterError, compile_filter

COLUMNS = ["plan", "region", "score"]
COHORT_QUERY = "SELECT id FROM customers WHERE __filter__ ORDER BY id"


@pytest.mark.parametrize(
    ("spec", "fragment", "params"),
    [
        (
            "plan in ('pro', 'team') and region = 'EU'",
            "plan IN (:f0, :f1) AND region = :f2",
            {"f0": "pro", "f1": "team", "f2": "EU"},
        ),
        (
            {"plan": ["pro", "team"], "region": "EU"},
            "plan IN (:f0, :f1) AND region = :f2",
            {"f0": "pro", "f1": "team", "f2": "EU"},
        ),
        ("plan not in ('free')", "(plan NOT IN (:f0))", {"f0": "free"}),
        ({"plan": {"not in": ["free"]}}, "(plan NOT IN (:f0))", {"f0": "free"}),
        ("region like 'E%'", "region LIKE :f0", {"f0": "E%"}),
        ("score >= 3 and score < 9.5", "score >= :f0 AND score < :f1", {"f0": 3, "f1": 9.5}),
        ({"score": {">=": 3, "<": 9.5}}, "score >= :f0 AND score < :f1", {"f0": 3, "f1": 9.5}),
        ("score <> 2 and plan == true", "score != :f0 AND plan = :f1", {"f0": 2, "f1": True}),
        ("plan is null and region is not null", "plan IS NULL AND region IS NOT NULL", {}),
        ({"plan": None}, "plan IS NULL", {}),
        ("region = 'it''s'", "region = :f0", {"f0": "it's"}),
        (None, "1=1", {}),
        ("   ", "1=1", {}),
        ({}, "1=1", {}),
    ],
)
def test_both_forms_compile_to_bound_parameters(
    spec: Any, fragment: str, params: dict[str, Any]
) -> None:
    assert compile_filter(spec, COLUMNS) == (fragment, params)


def test_the_prefix_names_the_parameters() -> None:
    assert compile_filter({"plan": "pro"}, COLUMNS, prefix="cohort_") == (
        "plan = :cohort_0",
        {"cohort_0": "pro"},
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("email = 'a@b.c'", "unknown column 'email'; allowed: plan, region, score"),
        ({"plan; DROP TABLE customers": "x"}, "unknown column"),
        ("plan = 'pro' or region = 'EU'", "clauses are joined with 'and', got 'or'"),
        ("plan = 'pro'; DROP TABLE customers", "may not contain ';'"),
        ("region = 'EU'' OR 1=1 --'", "may not contain ';', '--'"),
        ("plan = (SELECT 1)", "expected a quoted value or a number, got '('"),
        ("plan = region", "expected a quoted value or a number, got 'region'"),
        ("plan in ()", "expected a quoted value or a number, got ')'"),
        ("plan in ('a'", "expected ',' or ')' in a list"),
        ("plan = 'pro' and", "dangling 'and'"),
        ("plan between 1 and 2", "unsupported comparison 'between'"),
        ("plan like 1", "like needs a quoted pattern"),
        ("plan is 'x'", "must be 'is [not] null'"),
        ("plan = 'unterminated", "unexpected"),
        ({"plan": {"$raw": "1=1 --"}}, "unknown operator '$raw'"),
        ({"plan": []}, "plan in needs a non-empty list"),
        ({"plan": {"=": ["pro"]}}, "plan = takes text, a number, true/false or null, got list"),
        ({"plan": [{"$ne": 1}]}, "got dict"),
        (42, "must be text or a JSON object, got int"),
    ],
)
def test_anything_else_is_refused_with_a_clear_error(spec: Any, message: str) -> None:
    with pytest.raises(CohortFilterError, match=re.escape(message)):
        compile_filter(spec, COLUMNS)


def test_allow_listed_columns_must_be_plain_identifiers() -> None:
    with pytest.raises(CohortFilterError, match="plain identifiers"):
        compile_filter("plan = 'x'", ["plan", "plan = plan OR 1"])


def test_a_quote_in_a_value_is_bound_never_spliced() -> None:
    value = "EU' OR 1=1 --"
    fragment, params = compile_filter({"region": value}, COLUMNS)
    assert fragment == "region = :f0"
    assert params == {"f0": value}


def _cohort(filter_value: Any) -> ob.RunResult:
    w = ob.new_workflow("cohort")
    w.add(
        ob.Block.d1_query(COHORT_QUERY, filter_input="cohort", filter_columns=COLUMNS[:2]).named(
            "cohort"
        )
    )
    return w.run({"cohort": filter_value})


@pytest.mark.parametrize(
    ("cohort", "ids"),
    [
        ("plan in ('pro', 'team') and region = 'EU'", [1, 2]),
        ({"plan": ["pro", "team"], "region": "EU"}, [1, 2]),
        ({"plan": {"!=": "team"}}, [1, 4]),
        ("region like 'U%'", [3]),
        ({}, [1, 2, 3, 4]),
    ],
)
def test_the_compiled_fragment_selects_on_a_real_table(
    customers: Path, cohort: Any, ids: list[int]
) -> None:
    result = _cohort(cohort)
    assert result.ok, result.error
    assert [row["id"] for row in result.output("cohort")] == ids


@pytest.mark.parametrize(
    ("cohort", "outcome"),
    [
        ({"region": "EU' OR 1=1 --"}, "inert"),  # a value: bound, it matches nobody
        ("region = 'EU'' OR ''1''=''1'", "inert"),  # escaped quotes: one odd value
        ("region = 'EU'' OR 1=1 --'", "refused"),
        ("plan = 'pro'; DROP TABLE customers", "refused"),
        ({"plan = plan OR 1": "1"}, "refused"),
        (json.dumps({"region": "EU"}), "refused"),  # a JSON *string* is text: no valid filter
    ],
)
def test_injection_is_refused_or_inert_and_the_table_is_intact(
    customer_rows: Callable[[], list[tuple]],
    original_customers: list[tuple],
    cohort: Any,
    outcome: str,
) -> None:
    result = _cohort(cohort)
    if outcome == "inert":
        assert result.ok, result.error
        assert result.output("cohort") == []
    else:
        assert result.error is not None and result.error.code == "sql.invalid_request"
        assert "cohort filter" in result.error.message
    assert customer_rows() == original_customers
