"""A small, safe expression language for preconditions and verify expectations.

Rules look like Python expressions (``len(recipients) <= coalesce(inputs.max_recipients,
50)``, ``not kill_switch("high_risk_ops")``) but are never handed to ``eval``: the text is
parsed with :mod:`ast` and only an allow-list of node types is interpreted. Names resolve
in the run's context only; ``a.b`` reads a key of a mapping (never an object attribute);
only the functions in the table can be called; no imports, lambdas, assignments or
exponentiation. Unknown names are an error that names them, found when the rule is loaded.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from .errors import OrchestratorError

__all__ = ["BUILTIN_FUNCTIONS", "Rule", "RuleError"]

MAX_LENGTH = 2_000
MAX_NODES = 400


class RuleError(OrchestratorError):
    code = "rule.invalid"


def _coalesce(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _parse_time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip().replace("Z", "+00:00")
    if " " in text and "T" not in text:
        text = text.replace(" ", "T", 1)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _hours_since(value: Any) -> float | None:
    if value in (None, ""):
        return None
    return (datetime.now(UTC) - _parse_time(value)).total_seconds() / 3600


def _pluck(items: Iterable[Any], key: str) -> list[Any]:
    return [item.get(key) if isinstance(item, Mapping) else None for item in items]


BUILTIN_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "coalesce": _coalesce,
    "min": min,
    "max": max,
    "sum": sum,
    "any": any,
    "all": all,
    "abs": abs,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
    "hours_since": _hours_since,
    "days_since": lambda v: None if (h := _hours_since(v)) is None else h / 24,
    "pluck": _pluck,
    "distinct": lambda items: list(dict.fromkeys(items)),
    "now": lambda: datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
    "isfinite": math.isfinite,
}

_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_ALLOWED = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Compare,
    ast.Call,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Attribute,
    ast.Subscript,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.IfExp,
    ast.ListComp,
    ast.GeneratorExp,
    ast.comprehension,
    ast.keyword,
    *_BINOPS,
    *_CMPOPS,
)


class Rule:
    """A parsed rule. ``Rule(text, names=...)`` checks it; ``rule.evaluate(ns)`` runs it."""

    def __init__(
        self,
        text: str,
        *,
        names: Iterable[str] = (),
        functions: Iterable[str] = (),
        label: str = "rule",
    ) -> None:
        self.text = text
        self.label = label
        if not isinstance(text, str) or not text.strip():
            raise RuleError(f"{label}: empty rule")
        if len(text) > MAX_LENGTH:
            raise RuleError(f"{label}: rule longer than {MAX_LENGTH} characters")
        try:
            self.tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise RuleError(f"{label}: cannot parse {text!r}: {exc.msg}") from None
        nodes = list(ast.walk(self.tree))
        if len(nodes) > MAX_NODES:
            raise RuleError(f"{label}: rule is too complex ({len(nodes)} nodes)")
        for node in nodes:
            if not isinstance(node, _ALLOWED):
                raise RuleError(
                    f"{label}: {type(node).__name__} is not allowed in rules ({text!r})"
                )
            if isinstance(node, ast.Call) and not isinstance(node.func, ast.Name):
                raise RuleError(f"{label}: only plain function calls are allowed ({text!r})")
            if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
                raise RuleError(f"{label}: {node.attr!r} cannot be read")
        self.functions = set(BUILTIN_FUNCTIONS) | set(functions)
        called = {
            n.func.id for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        if unknown_fns := sorted(called - self.functions):
            raise RuleError(
                f"{label}: unknown function {', '.join(map(repr, unknown_fns))} in {text!r}; "
                f"available: {', '.join(sorted(self.functions))}"
            )
        self.free_names = self._free_names()
        known = set(names)
        unknown = sorted(n for n in self.free_names if n not in known and n not in self.functions)
        if names and unknown:
            raise RuleError(
                f"{label}: unknown name{'s' if len(unknown) > 1 else ''} "
                f"{', '.join(map(repr, unknown))} in {text!r}; known: "
                f"{', '.join(sorted(known)) or '(none)'}"
            )

    def _free_names(self) -> set[str]:
        free: set[str] = set()

        def visit(node: ast.AST, bound: frozenset[str]) -> None:
            if isinstance(node, ast.ListComp | ast.GeneratorExp):
                gen = node.generators[0]
                visit(gen.iter, bound)
                inner = bound | {n.id for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
                for cond in gen.ifs:
                    visit(cond, inner)
                visit(node.elt, inner)
                return
            if isinstance(node, ast.Name) and node.id not in bound:
                free.add(node.id)
            if isinstance(node, ast.Call):
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    visit(arg, bound)
                return
            for child in ast.iter_child_nodes(node):
                visit(child, bound)

        visit(self.tree, frozenset())
        return free

    def evaluate(
        self,
        namespace: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]] | None = None,
    ) -> Any:
        table = {**BUILTIN_FUNCTIONS, **(functions or {})}
        try:
            return _Evaluator(namespace, table, self).visit(self.tree.body)
        except RuleError:
            raise
        except Exception as exc:
            raise RuleError(
                f"{self.label}: evaluating {self.text!r} failed: {type(exc).__name__}: {exc}"
            ) from None


class _Evaluator:
    def __init__(self, ns: Mapping[str, Any], fns: Mapping[str, Callable[..., Any]], rule: Rule):
        self.scopes: list[Mapping[str, Any]] = [ns]
        self.fns = fns
        self.rule = rule

    def lookup(self, name: str) -> Any:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        raise RuleError(f"{self.rule.label}: unknown name {name!r} in {self.rule.text!r}")

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            return self.lookup(node.id)
        if isinstance(node, ast.BoolOp):
            if isinstance(node.op, ast.And):
                result: Any = True
                for v in node.values:
                    result = self.visit(v)
                    if not result:
                        return result
                return result
            result = False
            for v in node.values:
                result = self.visit(v)
                if result:
                    return result
            return result
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            return -operand if isinstance(node.op, ast.USub) else +operand
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.Compare):
            left = self.visit(node.left)
            for op, comp in zip(node.ops, node.comparators, strict=True):
                right = self.visit(comp)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)
        if isinstance(node, ast.Attribute):
            return self._item(self.visit(node.value), node.attr, dotted=True)
        if isinstance(node, ast.Subscript):
            return self._item(self.visit(node.value), self.visit(node.slice), dotted=False)
        if isinstance(node, ast.List | ast.Tuple):
            return [self.visit(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return {
                self.visit(k): self.visit(v)
                for k, v in zip(node.keys, node.values, strict=True)
                if k is not None
            }
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            fn = self.fns.get(node.func.id)
            if fn is None:
                raise RuleError(
                    f"{self.rule.label}: unknown function {node.func.id!r}; available: "
                    f"{', '.join(sorted(self.fns))}"
                )
            args = [self.visit(a) for a in node.args]
            kwargs = {k.arg: self.visit(k.value) for k in node.keywords if k.arg}
            return fn(*args, **kwargs)
        if isinstance(node, ast.ListComp | ast.GeneratorExp):
            return self._comprehension(node)
        raise RuleError(f"{self.rule.label}: {type(node).__name__} is not allowed")

    def _item(self, obj: Any, key: Any, *, dotted: bool) -> Any:
        if isinstance(obj, Mapping):
            if key not in obj:
                raise RuleError(
                    f"{self.rule.label}: no key {key!r} (has {', '.join(map(str, obj)) or 'none'})"
                )
            return obj[key]
        if dotted:
            raise RuleError(f"{self.rule.label}: .{key} reads a key of a mapping only")
        if isinstance(obj, list | tuple | str) and isinstance(key, int):
            return obj[key]
        raise RuleError(f"{self.rule.label}: cannot index {type(obj).__name__} with {key!r}")

    def _comprehension(self, node: ast.ListComp | ast.GeneratorExp) -> list[Any]:
        if len(node.generators) != 1 or node.generators[0].is_async:
            raise RuleError(f"{self.rule.label}: one `for` per comprehension")
        gen = node.generators[0]
        if not isinstance(gen.target, ast.Name):
            raise RuleError(f"{self.rule.label}: comprehension targets must be a single name")
        out = []
        for item in self.visit(gen.iter):
            self.scopes.append({gen.target.id: item})
            try:
                if all(self.visit(cond) for cond in gen.ifs):
                    out.append(self.visit(node.elt))
            finally:
                self.scopes.pop()
        return out
