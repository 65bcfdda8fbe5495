"""Families: what the block types of one plugin share, declared once.

A family names a domain, the domain codes its blocks may raise (each with its retry
disposition and a one-line meaning), a default policy, a timeout code and the side effects
its blocks usually have. Its block types inherit all of it and override what differs::

    GITHUB = sdk.family(
        "github",
        codes=[
            sdk.Code("github.auth", "never", "the token was refused (401)"),
            sdk.Code("github.rate_limited", "backoff", "429; Retry-After honoured"),
            sdk.Code("github.timeout", "backoff", "the attempt outlived the block's timeout"),
        ],
        timeout=30,
        retries=2,
        timeout_code="github.timeout",
    )

    @GITHUB.block_type("github_create_issue", timeout_retry="never",
                       side_effects=[sdk.SideEffect("GitHub", "issues", "create")])
    async def github_create_issue(ctx, value, repo: str, *, title: str) -> sdk.Value: ...

    @sdk.hookimpl
    def register_block_types(registry):
        registry.add(GITHUB)          # every type declared through the family

A code's declared disposition is what the executor uses when a block raises
``BlockError(code, message)`` without one; ``plugins list`` and ``plugins show`` print it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal

from .errors import RetryDisposition, is_runtime_code
from .policy import DEFAULT_BACKOFF, Backoff, Policy, timeout_to_ms

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .registry import BlockFn, BlockType, SideEffect

__all__ = [
    "INHERIT",
    "Code",
    "DispositionName",
    "Family",
    "Inherit",
    "code_namespace",
    "codes_table",
    "family",
]


class Inherit(enum.Enum):
    """The type of :data:`INHERIT`: "not given here, take the family's (else the engine's)"."""

    INHERIT = "inherit"

    def __repr__(self) -> str:
        return "INHERIT"


INHERIT: Final = Inherit.INHERIT
"""Default of ``block_type(timeout=...)``, where ``None`` already means "no timeout"."""


def code_namespace(domain: str) -> str:
    """The prefix every code of ``domain`` starts with (``custom:lead_score`` -> ``lead_score``)."""
    return domain.split(":", 1)[1] if domain.startswith("custom:") else domain


DispositionName = Literal["never", "immediate", "backoff", "manual"]
"""A retry disposition by name (``RetryDisposition`` members are accepted too)."""


@dataclass(frozen=True, slots=True, init=False)
class Code:
    """One domain code: its name, whether the executor retries it, and what it means.

    ``retry`` is the disposition a ``BlockError(code, ...)`` raised without one gets
    (``never``, ``immediate``, ``backoff`` or ``manual``; ``None`` only for codes declared
    as plain strings, whose raises default to ``never``). ``meaning`` is one line for
    ``plugins show`` and the docs: when the code is raised.
    """

    code: str
    retry: RetryDisposition | None
    meaning: str

    def __init__(
        self,
        code: str,
        retry: RetryDisposition | DispositionName | None = None,
        meaning: str = "",
    ) -> None:
        if not isinstance(code, str) or "." not in code:
            raise ValueError(f"a code is a dotted string like 'github.auth', got {code!r}")
        try:
            disposition = RetryDisposition(retry) if retry is not None else None
        except ValueError:
            raise ValueError(
                f"code {code!r}: retry must be never, immediate, backoff or manual, got {retry!r}"
            ) from None
        object.__setattr__(self, "code", code)
        object.__setattr__(self, "retry", disposition)
        object.__setattr__(self, "meaning", meaning)

    def describe(self) -> str:
        return f"{self.code} ({self.retry or 'undeclared'})"


def codes_table(codes: Iterable[str | Code]) -> dict[str, Code]:
    """``codes`` as an ordered ``{code: Code}``; a plain string is a code with no declared
    disposition. A code given twice must be declared the same way."""
    table: dict[str, Code] = {}
    for item in codes:
        entry = item if isinstance(item, Code) else Code(item)
        known = table.get(entry.code)
        if known is None or known.retry is None:
            table[entry.code] = entry
        elif entry.retry is not None and entry != known:
            raise ValueError(f"code {entry.code!r} is declared twice, differently")
    return table


def check_codes(owner: str, domain: str, codes: Iterable[str]) -> None:
    """Every code must start with the domain's namespace and not be an engine code."""
    prefix = code_namespace(domain) + "."
    bad = sorted(c for c in codes if not c.startswith(prefix) or is_runtime_code(c))
    if bad:
        raise ValueError(
            f"{owner}: codes {bad} are not namespaced under domain {domain!r} "
            f"(expected the prefix {prefix!r})"
        )


@dataclass(frozen=True, eq=False)
class Family:
    """A declared family (see :func:`family`); iterate it for the types declared through it."""

    name: str
    domain: str
    codes: Mapping[str, Code]
    policy: Policy
    timeout_code: str | None = None
    timeout_retry: RetryDisposition | None = None
    side_effects: tuple[SideEffect, ...] = ()
    description: str = ""
    types: list[BlockType] = field(default_factory=list, repr=False)

    def block_type(self, type_id: str, **declaration: Any) -> Callable[[BlockFn], BlockType]:
        """``sdk.block_type(type_id, family=self, **declaration)``: a type of this family."""
        from .registry import block_type

        return block_type(type_id, family=self, **declaration)

    def code(self, code: str) -> Code:
        """The declaration of one of the family's codes (``KeyError`` when undeclared)."""
        return self.codes[code]

    def __iter__(self) -> Iterator[BlockType]:
        return iter(tuple(self.types))

    def __repr__(self) -> str:
        return f"<Family {self.name} domain={self.domain} types={[t.type_id for t in self]}>"


def family(
    name: str,
    *,
    domain: str | None = None,
    codes: Iterable[str | Code] = (),
    timeout: float | timedelta | None = None,
    timeout_ms: int | None = None,
    retries: int = 0,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout_code: str | None = None,
    timeout_retry: RetryDisposition | DispositionName | None = None,
    side_effects: Iterable[SideEffect] = (),
    description: str = "",
) -> Family:
    """Declare a family once; its types (``@fam.block_type(...)``) inherit what is set here.

    ``name`` names the family in ``plugins list``. ``domain`` defaults to ``custom:<name>``
    (built-in families use a bare domain such as ``http``); every code starts with the
    domain's namespace (``github.``). ``codes`` are :class:`Code` declarations (a plain
    string declares a code with no disposition). ``timeout``/``timeout_ms``, ``retries``
    and ``backoff`` are the default policy of the family's types. ``timeout_code`` is the
    code a timed-out attempt reports, and ``timeout_retry`` whether such an attempt is
    retried (default: the timeout code's declared disposition, else ``backoff``).
    ``side_effects`` are the types' default side effects; ``description`` one line for
    ``plugins show``. Mistakes (a code outside the namespace, a ``timeout_code`` that is
    not declared) raise ``ValueError`` here, where the family is declared.
    """
    if not name or not name.isidentifier():
        raise ValueError(f"a family name is an identifier like 'github', got {name!r}")
    if timeout is not None and timeout_ms is not None:
        raise ValueError("give timeout (seconds) or timeout_ms, not both")
    dom = domain or f"custom:{name}"
    table = codes_table(codes)
    check_codes(f"family {name!r}", dom, table)
    if timeout_code is not None and timeout_code not in table:
        raise ValueError(
            f"family {name!r}: timeout_code {timeout_code!r} is not one of its declared codes"
        )
    policy = Policy(
        retries=retries,
        timeout_ms=timeout_ms if timeout_ms is not None else timeout_to_ms(timeout),
        backoff=backoff,
    )
    return Family(
        name=name,
        domain=dom,
        codes=MappingProxyType(table),
        policy=policy,
        timeout_code=timeout_code,
        timeout_retry=RetryDisposition(timeout_retry) if timeout_retry is not None else None,
        side_effects=tuple(side_effects),
        description=description,
    )
