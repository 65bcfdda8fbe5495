"""One answer to "does this SQL statement write?", from a real parser (sqlglot).

The approval gate, the contract compiler and the store's write lock all ask this question.
Keyword lists that look at the first word get it dangerously wrong: ``WITH x AS (SELECT 1)
DELETE FROM t`` starts with ``WITH``, and ``WITH d AS (DELETE FROM t RETURNING id) SELECT *
FROM d`` ends in ``SELECT``; both delete rows before any human approved them. So the rule
here fails closed: a statement is a *read* only when it is provably one:

- a single ``SELECT``, ``WITH ... SELECT``, set operation of selects (``UNION`` ...) or
  ``VALUES``, with no data-modifying statement anywhere inside (a CTE, a sub-query), no
  ``SELECT ... INTO``, no locking clause (``FOR UPDATE``), and no call of a function listed
  in :data:`SIDE_EFFECT_FUNCTIONS` / :data:`SIDE_EFFECT_FUNCTION_PREFIXES`;
- ``EXPLAIN`` of such a read (``EXPLAIN ANALYZE`` runs the statement in PostgreSQL, so an
  explained write is a write).

Everything else is a *write*: DML, DDL, ``PRAGMA``, ``ATTACH``, transaction control,
several statements in one string, empty text, and text the parser cannot read.

A function with side effects that is not listed (a user-defined one, say) cannot be seen
from the text; callers that can should also run reads in a read-only transaction.

sqlglot is imported inside the functions: ``import orchestrator_blocks.sdk`` stays fast.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlglot import Token, exp

__all__ = [
    "SIDE_EFFECT_FUNCTIONS",
    "SIDE_EFFECT_FUNCTION_PREFIXES",
    "StatementClass",
    "classify_statement",
    "has_comment",
    "single_statement",
    "statement_writes",
]

SIDE_EFFECT_FUNCTIONS: frozenset[str] = frozenset(
    {
        # PostgreSQL: sequences, session state, other sessions, other databases
        "nextval",
        "setval",
        "set_config",
        "txid_current",  # assigns a transaction id: refused on a read-only standby
        "pg_current_xact_id",
        "pg_notify",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_logical_emit_message",
        "pg_promote",
        "dblink",  # runs any statement, writes included, on another connection
        "dblink_exec",
        "dblink_send_query",
        # PostgreSQL: the server's file system (not data a read should reach unapproved)
        "pg_read_file",
        "pg_read_binary_file",
        "pg_file_write",
        # SQLite: extensions and the file system (fileio, the sqlite3 shell)
        "load_extension",
        "writefile",
        "readfile",
        "edit",
        "fts3_tokenizer",
        # MySQL: named locks and the server's file system
        "get_lock",
        "release_lock",
        "release_all_locks",
        "load_file",
    }
)
"""Functions whose call makes a statement a write, matched case-insensitively by name
(with or without a schema, quoted or not)."""

SIDE_EFFECT_FUNCTION_PREFIXES: tuple[str, ...] = (
    "pg_advisory_",  # pg_advisory_lock, pg_advisory_xact_lock, pg_advisory_unlock_all ...
    "pg_try_advisory_",
    "lo_",  # large objects: lo_import, lo_export, lo_create, lo_unlink, lo_put ...
    "pg_stat_reset",
    "pg_create_",  # replication slots
    "pg_drop_",
    "pg_ls_",  # directory listings of the server
)
"""Name prefixes of function families that change state; matched like the names above."""

# SQLAlchemy's dialect names where sqlglot spells them differently.
_DIALECT_ALIASES = {"postgresql": "postgres", "mssql": "tsql", "mariadb": "mysql"}
# One EXPLAIN option before the explained statement: PostgreSQL's ``(ANALYZE, FORMAT JSON)``
# (no nested parentheses) or ``ANALYZE``/``VERBOSE``, SQLite's ``QUERY PLAN``, MySQL's
# ``FORMAT=JSON``.
_EXPLAIN_OPTION = re.compile(
    r"\s*(\([^()]*\)|ANALY[SZ]E\b|VERBOSE\b|QUERY\s+PLAN\b|FORMAT\s*=\s*\w+)", re.IGNORECASE
)
_WRITE_REASONS = {
    "insert": "an INSERT adds rows",
    "update": "an UPDATE changes rows",
    "delete": "a DELETE removes rows",
    "merge": "a MERGE changes rows",
    "copy": "a COPY moves data into or out of a table",
    "create": "a CREATE changes the schema",
    "drop": "a DROP changes the schema",
    "alter": "an ALTER changes the schema",
    "truncatetable": "a TRUNCATE removes every row",
    "pragma": "a PRAGMA can change how the database behaves",
    "attach": "an ATTACH opens another database",
    "detach": "a DETACH closes a database",
    "transaction": "transaction control (BEGIN) is not a read",
    "commit": "transaction control (COMMIT) is not a read",
    "rollback": "transaction control (ROLLBACK) is not a read",
    "set": "a SET changes session settings",
    "grant": "a GRANT changes permissions",
    "revoke": "a REVOKE changes permissions",
    "analyze": "an ANALYZE writes table statistics",
}
# sqlglot expression classes that are statements (or a sequence step) in their own right:
# one of them anywhere inside a query makes it a write. By name, as older sqlglot versions
# lack some of them.
_STATEMENT_TYPES = (
    "DML",  # Insert, Update, Delete, Merge, Copy
    "DDL",  # Create (and Insert)
    "Drop",
    "Alter",
    "TruncateTable",
    "Command",
    "Pragma",
    "Attach",
    "Detach",
    "Transaction",
    "Commit",
    "Rollback",
    "Set",
    "NextValueFor",  # NEXT VALUE FOR a sequence
)
_READ_REASONS = {
    "select": "a SELECT only reads",
    "union": "a UNION of reads",
    "intersect": "an INTERSECT of reads",
    "except": "an EXCEPT of reads",
    "values": "VALUES only builds rows",
}

# Set while this module parses, so the sqlglot logger drops *our* "falling back to parsing
# as a Command" warnings (such statements are writes here; the warning is noise on stderr)
# and nobody else's.
_PARSING: contextvars.ContextVar[bool] = contextvars.ContextVar("sdk_sql_parsing", default=False)


class _DuringClassification(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not _PARSING.get()


_QUIET = _DuringClassification()


@dataclass(frozen=True)
class StatementClass:
    """The verdict on one SQL text: does it write, what it is, and why, in one line.

    ``kind`` is short and stable (``"select"``, ``"with-select"``, ``"insert"``,
    ``"with-delete"``, ``"cte-delete"``, ``"select-into"``, ``"explain-select"``,
    ``"side-effect-function"``, ``"multiple"``, ``"empty"``, ``"unparsable"`` ...);
    ``reason`` is meant for error messages ("a WITH ... DELETE modifies data").
    """

    writes: bool
    kind: str
    reason: str


def statement_writes(sql: str, *, dialect: str | None = None) -> bool:
    """True unless ``sql`` is provably one read (see the module docstring); fails closed."""
    return classify_statement(sql, dialect=dialect).writes


def classify_statement(sql: str, *, dialect: str | None = None) -> StatementClass:
    """Classify ``sql`` (``:name`` bound parameters welcome) for ``dialect``.

    ``dialect`` is a sqlglot dialect name, or SQLAlchemy's (``"postgresql"``, ``"sqlite"``);
    ``None`` reads portable SQL. An unknown dialect name raises ``ValueError``: that is the
    caller's mistake, not the statement's.
    """
    return _classify(sql, _dialect(dialect))


def single_statement(sql: str, *, dialect: str | None = None) -> bool:
    """True when ``sql`` holds exactly one statement (a trailing ``;`` is fine).

    Semicolons inside literals, quoted names and comments do not count. Text the tokenizer
    cannot read (an unterminated quote) is judged by its raw ``;`` characters instead.
    """
    tokens = _tokens(sql, _dialect(dialect))
    if tokens is None:
        return bool(sql.strip().rstrip(";").strip()) and ";" not in sql.strip().rstrip(";")
    return len(_statements(tokens)) == 1


def has_comment(sql: str, *, dialect: str | None = None) -> bool:
    """True when ``sql`` holds a comment or an optimizer hint (``--``, ``/* */``, ``/*+ */``).

    Markers inside string literals and quoted names are not comments. Text the tokenizer
    cannot read is judged by the raw markers instead (fails closed).
    """
    tokens = _tokens(sql, _dialect(dialect))
    if tokens is None:
        return "--" in sql or "/*" in sql
    if not tokens:
        return bool(sql.strip())
    from sqlglot import TokenType

    return any(t.comments or t.token_type == TokenType.HINT for t in tokens)


def _dialect(name: str | None) -> str:
    from sqlglot import Dialect

    resolved = _DIALECT_ALIASES.get(name or "", name or "")
    Dialect.get_or_raise(resolved or None)  # raises ValueError naming an unknown dialect
    return resolved


def _tokens(sql: str, dialect: str) -> list[Token] | None:
    from sqlglot import Dialect
    from sqlglot.errors import TokenError

    try:
        return Dialect.get_or_raise(dialect or None).tokenize(sql)
    except TokenError:
        return None


def _statements(tokens: Sequence[Token]) -> list[list[Token]]:
    from sqlglot import TokenType

    out: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            out.append([])
        else:
            out[-1].append(token)
    return [statement for statement in out if statement]


def _write(kind: str, reason: str) -> StatementClass:
    return StatementClass(writes=True, kind=kind, reason=reason)


@functools.lru_cache(maxsize=1024)
def _classify(sql: str, dialect: str) -> StatementClass:
    if not sql.strip():
        return _write("empty", "an empty statement is not provably a read")
    tokens = _tokens(sql, dialect)
    if tokens is None:
        return _write("unparsable", "the SQL cannot be tokenized (an unterminated quote?)")
    statements = _statements(tokens)
    if not statements:
        return _write("empty", "a statement of only comments is not provably a read")
    if len(statements) > 1:
        return _write(
            "multiple",
            f"{len(statements)} statements in one string; only a single read is provably a read",
        )
    (statement,) = statements
    if any(comment.startswith("!") for token in statement for comment in token.comments):
        return _write("executable-comment", "MySQL runs the SQL inside a /*! ... */ comment")
    explain = statement[0]
    if explain.text.upper() == "EXPLAIN":
        after = explain.start + len("EXPLAIN")
        if sql[explain.start : after].upper() != "EXPLAIN":  # positions we cannot trust
            return _write("unparsable", "the SQL cannot be tokenized reliably")
        return _classify_explain(sql[after:], dialect)
    verdict = _classify_tree(sql, dialect)
    if verdict.writes:
        return verdict
    called = _side_effect_call(statement)
    if called is not None:
        return _write(
            "side-effect-function", f"it calls {called}(), which changes state or reaches outside"
        )
    return verdict


def _classify_explain(rest: str, dialect: str) -> StatementClass:
    """``EXPLAIN`` + ``rest``: options, then the explained statement, which decides.

    The options are skipped on the raw text: tokenizers treat ``EXPLAIN`` (and, in some
    sqlglot versions, ``ANALYZE``) as a command and swallow what follows, positions
    included. Whatever the pattern does not recognise stays in front of the statement, and
    the statement then fails to be a provable read: the skipping can only fail closed.
    """
    options: list[str] = []
    pos = 0
    while (m := _EXPLAIN_OPTION.match(rest, pos)) is not None:
        options.append(m.group(1).upper())
        pos = m.end()
    if not rest[pos:].strip().rstrip(";").strip():
        return _write("explain", "EXPLAIN without a statement to explain")
    inner = _classify(rest[pos:], dialect)
    kind = f"explain-{inner.kind}"
    if not inner.writes:
        return StatementClass(writes=False, kind=kind, reason=f"EXPLAIN of a read: {inner.reason}")
    if any(re.search(r"\bANALY[SZ]E\b", option) for option in options):
        return _write(kind, f"EXPLAIN ANALYZE executes what it explains, and {inner.reason}")
    return _write(kind, f"EXPLAIN of a statement that writes: {inner.reason}")


def _classify_tree(sql: str, dialect: str) -> StatementClass:
    from sqlglot import Dialect

    logger = logging.getLogger("sqlglot")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    marker = _PARSING.set(True)
    try:
        trees = [t for t in Dialect.get_or_raise(dialect or None).parse(sql) if t is not None]
    except Exception as exc:  # any parser failure, even an unexpected one, fails closed
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return _write("unparsable", f"the SQL cannot be parsed: {first_line}")
    finally:
        _PARSING.reset(marker)
    if len(trees) != 1:
        return _write("multiple", "not exactly one statement; only a single read is a read")
    return _classify_root(trees[0])


def _classify_root(root: exp.Expr) -> StatementClass:
    from sqlglot import exp

    while isinstance(root, exp.Subquery):
        root = root.this
    with_ = "with-" if root.args.get("with_") or root.args.get("with") else ""
    set_operation = getattr(exp, "SetOperation", exp.Union)
    if not isinstance(root, exp.Select | exp.Values | set_operation):
        if isinstance(root, exp.Command):
            word = str(root.this).upper()
            return _write(word.lower(), f"{word} is not a statement known to only read")
        key = root.key
        reason = _WRITE_REASONS.get(key, f"{key.upper()} is not a statement known to only read")
        if with_:
            return _write(f"with-{key}", f"a WITH ... {key.upper()} modifies data ({reason})")
        return _write(key, reason)
    for node in root.walk():
        found = _modifying(node)
        if found is not None:
            return found
    kind = f"{with_}{root.key}"
    if with_ and root.key == "select":
        return StatementClass(False, kind, "a WITH ... SELECT whose parts only read")
    return StatementClass(False, kind, _READ_REASONS.get(root.key, "a query that only reads"))


@functools.cache
def _statement_types() -> tuple[type[exp.Expr], ...]:
    from sqlglot import exp

    return tuple(t for name in _STATEMENT_TYPES if (t := getattr(exp, name, None)) is not None)


def _modifying(node: exp.Expr) -> StatementClass | None:
    """A verdict when ``node``, somewhere inside a query, makes the whole statement write."""
    from sqlglot import exp

    if isinstance(node, exp.Into):
        return _write("select-into", "a SELECT ... INTO creates a table or sets variables")
    if isinstance(node, exp.Lock):
        return _write(
            "locking-select",
            "a SELECT ... FOR UPDATE/SHARE locks rows (refused in a read-only transaction)",
        )
    if not isinstance(node, _statement_types()):
        return None
    word = node.key.upper()
    if node.find_ancestor(exp.CTE) is not None:
        return _write(
            f"cte-{node.key}",
            f"a {word} inside WITH (a data-modifying CTE) changes data though the query reads",
        )
    return _write(f"nested-{node.key}", f"a {word} nested inside the query changes data")


def _side_effect_call(statement: Sequence[Token]) -> str | None:
    """The first listed function called in ``statement``: a name followed by ``(``.

    Read from tokens, not the tree, so that no normalisation by the parser (a schema
    prefix, quoting, a dialect's own function class) can hide the name.
    """
    from sqlglot import TokenType

    for token, following in itertools.pairwise(statement):
        if following.token_type != TokenType.L_PAREN:
            continue
        name = token.text.lower()
        if name in SIDE_EFFECT_FUNCTIONS or name.startswith(SIDE_EFFECT_FUNCTION_PREFIXES):
            return name
    return None
