"""Cohort filters that can never become SQL injection (card §2–§3, issue: "cohort filters").

A user-supplied filter such as ``plan in ('pro', 'team') and region = 'EU'`` (or its JSON
form ``{"plan": ["pro", "team"], "region": "EU"}``) is tokenised and compiled into a
``WHERE`` fragment whose column names come from the contract's allow-list and whose values
are bound parameters. Anything else (an unknown column, ``or``, a sub-query, a comment,
``;``, a stray quote) is rejected with a clear error before any query runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from .errors import OrchestratorError

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
_JSON_OPS = {"=", "!=", "<", "<=", ">", ">=", "in", "not in", "like"}


class CohortFilterError(OrchestratorError):
    code = "cohort.invalid_filter"


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


class _Compiler:
    def __init__(self, allowed: set[str], prefix: str) -> None:
        self.allowed = allowed
        self.prefix = prefix
        self.params: dict[str, Any] = {}
        self.clauses: list[str] = []

    def bind(self, value: Any) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def column(self, name: str) -> str:
        if name not in self.allowed:
            allowed = ", ".join(sorted(self.allowed))
            raise CohortFilterError(f"cohort filter: unknown column {name!r}; allowed: {allowed}")
        return name

    def add(self, column: str, op: str, value: Any) -> None:
        col = self.column(column)
        if op in ("in", "not in"):
            if not isinstance(value, list | tuple) or not value:
                raise CohortFilterError(f"cohort filter: {column} {op} needs a non-empty list")
            binds = ", ".join(self.bind(v) for v in value)
            self.clauses.append(f"{col} {op.upper()} ({binds})")
        elif op in ("is null", "is not null"):
            self.clauses.append(f"{col} {op.upper()}")
        elif op == "like":
            self.clauses.append(f"{col} LIKE {self.bind(value)}")
        else:
            self.clauses.append(f"{col} {_OPS[op]} {self.bind(value)}")


def _literal(token: tuple[str, str]) -> Any:
    kind, raw = token
    if kind == "string":
        return raw[1:-1].replace("''", "'")
    if kind == "number":
        return float(raw) if "." in raw else int(raw)
    if kind == "word" and raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    raise CohortFilterError(f"cohort filter: expected a quoted value or a number, got {raw!r}")


def _parse_text(text: str, comp: _Compiler) -> None:
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
            comp.add(col, nxt[1], _literal(value_tok))
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
            comp.add(col, op, values)
        elif word == "like":
            i += 1
            tok = peek()
            if tok is None or tok[0] != "string":
                raise CohortFilterError(f"cohort filter: {col} like needs a quoted pattern")
            comp.add(col, "like", _literal(tok))
            i += 1
        elif word == "is":
            negate = (peek(1) or ("", ""))[1].lower() == "not"
            null_tok = peek(2 if negate else 1)
            if null_tok is None or null_tok[1].lower() != "null":
                raise CohortFilterError(f"cohort filter: {col} is ... must be 'is [not] null'")
            comp.add(col, "is not null" if negate else "is null", None)
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


def _parse_mapping(data: Mapping[str, Any], comp: _Compiler) -> None:
    for column, spec in data.items():
        if isinstance(spec, list):
            comp.add(str(column), "in", spec)
        elif isinstance(spec, Mapping):
            for op, value in spec.items():
                op_l = str(op).lower()
                if op_l not in _JSON_OPS:
                    raise CohortFilterError(
                        f"cohort filter: unknown operator {op!r}; use one of {sorted(_JSON_OPS)}"
                    )
                comp.add(str(column), op_l, value)
        elif spec is None:
            comp.add(str(column), "is null", None)
        else:
            comp.add(str(column), "=", spec)


def compile_filter(
    spec: str | Mapping[str, Any] | None, allowed_columns: Iterable[str], *, prefix: str = "f"
) -> tuple[str, dict[str, Any]]:
    """``(sql_fragment, params)`` for a cohort filter; ``("1=1", {})`` when empty."""
    allowed = set(allowed_columns)
    bad = sorted(c for c in allowed if not _IDENT.match(c))
    if bad:
        raise CohortFilterError(f"allow-listed columns must be plain identifiers: {bad}")
    comp = _Compiler(allowed, prefix)
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return "1=1", {}
    if isinstance(spec, Mapping):
        _parse_mapping(spec, comp)
    elif isinstance(spec, str):
        _parse_text(spec, comp)
    else:
        raise CohortFilterError(
            f"cohort filter must be text or a JSON object, got {type(spec).__name__}"
        )
    return " AND ".join(comp.clauses) or "1=1", comp.params
