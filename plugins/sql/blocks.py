"""``d1_query`` / ``sql_query``: one parameterised statement, rows out as ``Json``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import re
from collections.abc import Mapping
from typing import Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.cohort import CohortFilterError, compile_filter
from orchestrator_blocks.sdk.sql import (
    classify_statement,
    has_comment,
    single_statement,
    statement_writes,
)

DOMAIN = "sql"
SYNTAX = "sql.syntax"
CONSTRAINT = "sql.constraint"
LOCKED = "sql.locked"
CONNECTION = "sql.connection"
FAILED = "sql.failed"
INVALID_REQUEST = "sql.invalid_request"
CODES = (SYNTAX, CONSTRAINT, LOCKED, CONNECTION, FAILED, INVALID_REQUEST)

FAMILY = sdk.family(
    "sql",
    domain=DOMAIN,
    codes=[
        sdk.Code(SYNTAX, "never", "the database could not parse the statement"),
        sdk.Code(CONSTRAINT, "never", "a constraint refused the write (unique, foreign key...)"),
        sdk.Code(LOCKED, "backoff", "the database was locked or busy, or the statement timed out"),
        sdk.Code(CONNECTION, "backoff", "the database could not be reached"),
        sdk.Code(FAILED, "never", "any other database failure"),
        sdk.Code(INVALID_REQUEST, "never", "an unknown database, a missing input, a bad filter"),
    ],
    timeout=30,
    retries=2,
    side_effects=[sdk.SideEffect("SQL", "database", "INSERT/UPDATE/DELETE")],
    description="parameterised SQL on a named database",
)
FILTER_PLACEHOLDER = "__filter__"
_KIND_TO_CODE = {
    "syntax": (SYNTAX, sdk.RetryDisposition.NEVER),
    "constraint": (CONSTRAINT, sdk.RetryDisposition.NEVER),
    "locked": (LOCKED, sdk.RetryDisposition.BACKOFF),
    "connection": (CONNECTION, sdk.RetryDisposition.BACKOFF),
    "timeout": (LOCKED, sdk.RetryDisposition.BACKOFF),
    "other": (FAILED, sdk.RetryDisposition.NEVER),
}
_PARAM_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _strip_literals(sql: str) -> str:
    return re.sub(r"'(?:[^']|'')*'", "''", sql)


def _validate(config: dict[str, Any]) -> None:
    sql = config["sql"]
    if not isinstance(sql, str) or not sql.strip():
        raise ValueError("sql must be a non-empty statement")
    # The tokenizer knows literals, quoted names and comments: a ';' or '--' inside a
    # string is data, not a second statement or a comment.
    if not single_statement(sql):
        raise ValueError("one statement per block: remove the ';' between statements")
    if has_comment(sql):
        raise ValueError("SQL comments are not allowed in block statements")
    has_filter = FILTER_PLACEHOLDER in _strip_literals(sql)
    if has_filter != bool(config["filter_input"]):
        raise ValueError(f"{FILTER_PLACEHOLDER} in the statement and filter_input go together")
    if has_filter and not config["filter_columns"]:
        raise ValueError("filter_columns must list the columns a cohort filter may use")
    for name in config["params"] or {}:
        if not _PARAM_NAME.match(str(name)):
            raise ValueError(f"parameter names are identifiers, got {name!r}")
    for name in config["params_from_input"] or {}:
        if not _PARAM_NAME.match(str(name)):
            raise ValueError(f"parameter names are identifiers, got {name!r}")
    if not isinstance(config["database"], str) or not config["database"]:
        raise ValueError("database must be a configured database name (default 'local')")
    if config["filter_columns"]:
        compile_filter(None, config["filter_columns"])


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


def _inputs(value: sdk.Value) -> Mapping[str, Any]:
    data = value.payload if isinstance(value, sdk.Json) else None
    if isinstance(data, Mapping):
        inner = data.get("inputs")
        return inner if isinstance(inner, Mapping) else data
    return {}


@FAMILY.block_type(
    "d1_query",
    writes_when=lambda cfg: statement_writes(cfg["sql"]),
    validate=_validate,
)
async def d1_query(
    ctx: sdk.RunContext,
    value: sdk.Value,
    sql: str,
    params: Mapping[str, Any] | None = None,
    *,
    database: str = "local",
    filter_input: str | None = None,
    filter_columns: list[str] | None = None,
    params_from_input: Mapping[str, str] | None = None,
    one: bool = False,
) -> sdk.Value:
    """Run one parameterised SQL statement on a named database; rows out as JSON.

    ``params`` binds literal values (``:name`` in the statement); ``params_from_input``
    binds values of the run's inputs; ``filter_input`` names the input holding a cohort
    filter, compiled over ``filter_columns`` into ``__filter__``. ``one=True`` outputs the
    first row (or null) instead of the list.
    """
    inputs = _inputs(value)
    bound: dict[str, Any] = dict(params or {})
    for param, input_name in (params_from_input or {}).items():
        if input_name not in inputs:
            raise sdk.BlockError(
                INVALID_REQUEST, f"input {input_name!r} (for :{param}) was not given"
            )
        bound[param] = inputs[input_name]
    statement = sql
    if filter_input:
        try:
            fragment, filter_params = compile_filter(
                inputs.get(filter_input), filter_columns or [], prefix="cohort_"
            )
        except CohortFilterError as exc:
            raise sdk.BlockError(INVALID_REQUEST, str(exc)) from None
        statement = sql.replace(FILTER_PLACEHOLDER, f"({fragment})")
        bound.update(filter_params)
    try:
        db = ctx.service(sdk.SqlDatabases).get(database)
        rows = await db.query(statement, bound)
    except sdk.SqlError as exc:
        code, disposition = _KIND_TO_CODE[exc.kind]
        raise sdk.BlockError(
            code,
            f"{database}: {exc.message}",
            retry_disposition=disposition,
            details={"database": database, "kind": exc.kind},
        ) from None
    except LookupError as exc:
        raise sdk.BlockError(INVALID_REQUEST, str(exc)) from None
    out = [{k: _jsonable(v) for k, v in row.items()} for row in rows]
    verdict = classify_statement(sql)
    ctx.log.info(
        "sql.query",
        database=database,
        rows=len(out),
        writes=verdict.writes,
        statement_kind=verdict.kind,
    )
    if one:
        return sdk.Json(out[0] if out else None)
    return sdk.Json(out)


sql_query = dataclasses.replace(d1_query, type_id="sql_query")

BLOCK_TYPES = (d1_query, sql_query)
