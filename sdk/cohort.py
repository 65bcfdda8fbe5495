"""Cohort filters that can never become SQL injection (card §2–§3, issue: "cohort filters").

A user-supplied filter such as ``plan in ('pro', 'team') and region = 'EU'`` (or its JSON
form ``{"plan": ["pro", "team"], "region": "EU"}``) is read into a list of conditions, each
naming a column from the contract's allow-list, and compiled into a ``WHERE`` fragment by
SQLAlchemy Core: every value becomes a bound parameter, so no user text ever reaches the
SQL. Anything else (an unknown column, ``or``, a sub-query, a comment, ``;``, a stray
quote, a nested value) is rejected with a clear error before any query runs.

The text form is our own mini-language, so its tokenizer stays here; SQLAlchemy only ever
sees column names that passed the allow-list and values it binds. SQLAlchemy is imported
inside :func:`compile_filter`: ``import orchestrator_blocks.sdk`` stays fast.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import OrchestratorError

if TYPE_CHECKING:
    from sqlalchemy.engine.default import DefaultDialect
    from sqlalchemy.sql.elements import BindParameter, ColumnClause, ColumnElement

__all__ = ["CohortFilterError", "compile_filter"]

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><=|>=|<>|!=|==|=|<|>)
      | (?P<punct>[(),])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OPS = {"=": "=", "==": "=", "!=": "!=", "<>": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_JSON_OPS = {"=", "!=", "<", "<=", ">", ">=", "in", "not in", "like"}
# What a bound value may be: a JSON scalar. A list or an object in a comparison is a
# mistake (or a probe), and the database driver would refuse it later and less clearly.
_SCALARS = (str, int, float, bool, type(None))


class CohortFilterError(OrchestratorError):
    code = "cohort.invalid_filter"


@dataclass(frozen=True)
class _Condition:
    """One ``column <op> value`` of a filter; ``op`` is one of ``_Conditions.OPS``."""

    column: str
    op: str
    value: Any


class _Conditions:
    """The conditions of one filter, checked as they are added (allow-list, value shapes)."""

    OPS = frozenset({*_COMPARE, "in", "not in", "like", "is null", "is not null"})

    def __init__(self, allowed: set[str]) -> None:
        self.allowed = allowed
        self.items: list[_Condition] = []

    def add(self, column: str, op: str, value: Any) -> None:
        if column not in self.allowed:
            allowed = ", ".join(sorted(self.allowed))
            raise CohortFilterError(f"cohort filter: unknown column {column!r}; allowed: {allowed}")
        op = _OPS.get(op, op)
        if op in ("in", "not in"):
            if not isinstance(value, list | tuple) or not value:
                raise CohortFilterError(f"cohort filter: {column} {op} needs a non-empty list")
            for item in value:
                self._scalar(column, op, item)
            value = tuple(value)
        elif op not in ("is null", "is not null"):
            self._scalar(column, op, value)
        self.items.append(_Condition(column, op, value))

    @staticmethod
    def _scalar(column: str, op: str, value: Any) -> None:
        if not isinstance(value, _SCALARS):
            raise CohortFilterError(
                f"cohort filter: {column} {op} takes text, a number, true/false or null, "
                f"got {type(value).__name__}"
            )


def _tokens(text: str) -> list[tuple[str, str]]:
    if any(bad in text for bad in (";", "--", "/*", "*/", "\\")):
        raise CohortFilterError(
            "cohort filter may not contain ';', '--', '/*', '*/' or backslashes"
        )
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise CohortFilterError(f"cohort filter: unexpected {text[pos : pos + 12]!r}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
    return out


def _literal(token: tuple[str, str]) -> Any:
    kind, raw = token
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind == "word" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise CohortFilterError(f"cohort filter: expected a quoted value or a number, got {raw!r}")


def _parse_text(text: str, out: _Conditions) -> None:
    toks = _tokens(text)
    i = 0

    def peek(offset: int = 0) -> tuple[str, str] | None:
        return toks[i + offset] if i + offset < len(toks) else None

    while i < len(toks):
        kind, col = toks[i]
        if kind != "word":
            raise CohortFilterError(f"cohort filter: expected a column name, got {col!r}")
        i += 1
        nxt = peek()
        if nxt is None:
            raise CohortFilterError(f"cohort filter: {col!r} needs a comparison")
        word = nxt[1].lower()
        if nxt[0] == "op":
            i += 1
            value_tok = peek()
            if value_tok is None:
                raise CohortFilterError(f"cohort filter: {col} {nxt[1]} needs a value")
            out.add(col, nxt[1], _literal(value_tok))
            i += 1
        elif word in ("in", "not"):
            op = "in"
            if word == "not":
                if (peek(1) or ("", ""))[1].lower() != "in":
                    raise CohortFilterError("cohort filter: expected 'not in'")
                op, i = "not in", i + 1
            i += 1
            if (peek() or ("", ""))[1] != "(":
                raise CohortFilterError(f"cohort filter: {col} {op} needs a (list)")
            i += 1
            values = []
            while True:
                tok = peek()
                if tok is None:
                    raise CohortFilterError("cohort filter: unclosed '('")
                values.append(_literal(tok))
                i += 1
                sep = peek()
                if sep is not None and sep[1] == ",":
                    i += 1
                    continue
                if sep is not None and sep[1] == ")":
                    i += 1
                    break
                raise CohortFilterError("cohort filter: expected ',' or ')' in a list")
            out.add(col, op, values)
        elif word == "like":
            i += 1
            tok = peek()
            if tok is None or tok[0] != "string":
                raise CohortFilterError(f"cohort filter: {col} like needs a quoted pattern")
            out.add(col, "like", _literal(tok))
            i += 1
        elif word == "is":
            negate = (peek(1) or ("", ""))[1].lower() == "not"
            null_tok = peek(2 if negate else 1)
            if null_tok is None or null_tok[1].lower() != "null":
                raise CohortFilterError(f"cohort filter: {col} is ... must be 'is [not] null'")
            out.add(col, "is not null" if negate else "is null", None)
            i += 3 if negate else 2
        else:
            raise CohortFilterError(f"cohort filter: unsupported comparison {nxt[1]!r}")
        if i < len(toks):
            if toks[i][1].lower() != "and":
                raise CohortFilterError(
                    f"cohort filter: clauses are joined with 'and', got {toks[i][1]!r}"
                )
            i += 1
            if i == len(toks):
                raise CohortFilterError("cohort filter: dangling 'and'")


def _parse_mapping(data: Mapping[str, Any], out: _Conditions) -> None:
    for column, spec in data.items():
        if isinstance(spec, list):
            out.add(str(column), "in", spec)
        elif isinstance(spec, Mapping):
            for op, value in spec.items():
                op_l = str(op).lower()
                if op_l not in _JSON_OPS:
                    raise CohortFilterError(
                        f"cohort filter: unknown operator {op!r}; use one of {sorted(_JSON_OPS)}"
                    )
                out.add(str(column), op_l, value)
        elif spec is None:
            out.add(str(column), "is null", None)
        else:
            out.add(str(column), "=", spec)


@functools.cache
def _named_dialect() -> DefaultDialect:
    """SQLAlchemy's generic compiler with ``:name`` parameters, the style ``text()`` and the
    SQL family's statements use, whatever database runs them."""
    from sqlalchemy.engine.default import DefaultDialect

    return DefaultDialect(paramstyle="named")


def _expression(conditions: list[_Condition], prefix: str) -> ColumnElement[bool]:
    """The conditions as one SQLAlchemy expression, values as named bound parameters.

    Column names are rendered as written (``literal_column``): they are allow-listed plain
    identifiers, and quoting them would make the fragment dialect-specific (``"x"`` is a
    name in PostgreSQL but a string in MySQL) and case-sensitive where the statement's own
    unquoted names are not.
    """
    from sqlalchemy import and_, bindparam, literal_column

    count = 0

    def bind(value: Any) -> BindParameter[Any]:
        nonlocal count
        param: BindParameter[Any] = bindparam(f"{prefix}{count}", value)
        count += 1
        return param

    parts: list[ColumnElement[bool]] = []
    for c in conditions:
        col: ColumnClause[Any] = literal_column(c.column)
        if c.op == "in":
            parts.append(col.in_([bind(v) for v in c.value]))
        elif c.op == "not in":
            parts.append(col.not_in([bind(v) for v in c.value]))
        elif c.op == "is null":
            parts.append(col.is_(None))
        elif c.op == "is not null":
            parts.append(col.is_not(None))
        elif c.op == "like":
            parts.append(col.like(bind(c.value)))
        else:
            parts.append(_COMPARE[c.op](col, bind(c.value)))
    return and_(*parts)


def compile_filter(
    spec: str | Mapping[str, Any] | None, allowed_columns: Iterable[str], *, prefix: str = "f"
) -> tuple[str, dict[str, Any]]:
    """``(sql_fragment, params)`` for a cohort filter; ``("1=1", {})`` when empty.

    The fragment uses ``:{prefix}0``, ``:{prefix}1`` ... bound parameters, whose values are
    in ``params``; it goes where a statement says ``__filter__``.
    """
    if not _IDENT.match(prefix):
        raise ValueError(f"the parameter prefix must be an identifier, got {prefix!r}")
    allowed = set(allowed_columns)
    bad = sorted(c for c in allowed if not _IDENT.match(c))
    if bad:
        raise CohortFilterError(f"allow-listed columns must be plain identifiers: {bad}")
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return "1=1", {}
    conditions = _Conditions(allowed)
    if isinstance(spec, Mapping):
        _parse_mapping(spec, conditions)
    elif isinstance(spec, str):
        _parse_text(spec, conditions)
    else:
        raise CohortFilterError(
            f"cohort filter must be text or a JSON object, got {type(spec).__name__}"
        )
    if not conditions.items:  # an empty JSON object
        return "1=1", {}
    compiled = _expression(conditions.items, prefix).compile(dialect=_named_dialect())
    return str(compiled), dict(compiled.params)
