"""Block types and the registry plugins fill (DESIGN §3).

A block type is an async (or sync) function ``fn(ctx, value, *config)`` decorated with
:func:`block_type` (or a family's ``@fam.block_type``, see :mod:`.family`), which records
its domain, its domain codes with their retry dispositions and its default policy. The
parameters after ``ctx`` and ``value`` are the block's configuration: they are bound when
a user writes ``Block.<type_id>(...)``, so a wrong argument fails at construction, not in
the middle of a run.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from difflib import get_close_matches
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from .errors import InvalidBlockConfig, PluginConflict, RetryDisposition, UnknownBlockType
from .family import (
    INHERIT,
    Code,
    DispositionName,
    Family,
    Inherit,
    check_codes,
    code_namespace,
    codes_table,
)
from .policy import DEFAULT_BACKOFF, Backoff, Policy, timeout_to_ms

if TYPE_CHECKING:
    from .context import RunContext
    from .values import Value

__all__ = ["BlockFn", "BlockType", "Registry", "SideEffect", "block_type", "code_namespace"]

BlockFn = Callable[..., "Awaitable[Any] | Any"]
Validator = Callable[[dict[str, Any]], None]
NextFire = Callable[[Mapping[str, Any], datetime], "datetime | None"]
WritesPredicate = Callable[[Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class SideEffect:
    """Something a block type changes outside the run: "what changes when this runs".

    ``system`` (``Email``, ``SQL``, ``File``), ``resource`` (``recipients``,
    ``outbound_email_log``), ``action`` (``send``, ``INSERT``). Declaring one also tells the
    approval gate that the block writes (a block without side effects is read-only).

    ``counts_as_write=False`` declares a change that is part of asking for approval (the
    gate's proposal row): ``explain`` lists it whenever the block runs, but it never makes
    the block a write, so neither the approval gate nor a kill switch refuses it.
    """

    system: str
    resource: str
    action: str
    counts_as_write: bool = True


@dataclass(frozen=True, slots=True)
class BlockType:
    """A registered kind of block: its function, domain, codes and default policy.

    Made by :func:`block_type`. ``codes`` are the code names; ``code_table`` maps each to
    its :class:`~.family.Code` (retry disposition and meaning). ``timeout_retry`` is the
    disposition of a timed-out attempt. ``family`` names the family it was declared in.
    """

    type_id: str
    fn: BlockFn
    domain: str
    codes: frozenset[str]
    default_policy: Policy
    timeout_code: str | None = None
    side_effects: tuple[SideEffect, ...] = ()
    description: str = ""
    validate: Validator | None = None
    next_fire: NextFire | None = None
    writes_when: WritesPredicate | None = None
    ends_run_as: Mapping[str, str] = field(default_factory=dict)
    family: str | None = None
    code_table: Mapping[str, Code] = field(default_factory=dict)
    timeout_retry: RetryDisposition = RetryDisposition.BACKOFF
    signature: inspect.Signature = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.type_id.isidentifier():
            raise ValueError(f"block type id must be a Python identifier, got {self.type_id!r}")
        table = codes_table([*self.codes, *self.code_table.values()])
        object.__setattr__(self, "codes", frozenset(table))
        object.__setattr__(self, "code_table", MappingProxyType(table))
        object.__setattr__(self, "timeout_retry", RetryDisposition(self.timeout_retry))
        check_codes(f"block type {self.type_id!r}", self.domain, self.codes)
        unknown = sorted(set(self.ends_run_as) - self.codes)
        if unknown:
            raise ValueError(
                f"block type {self.type_id!r}: ends_run_as names codes it does not declare: "
                f"{unknown}"
            )
        if self.timeout_code is not None and self.timeout_code not in self.codes:
            raise ValueError(
                f"block type {self.type_id!r}: timeout_code {self.timeout_code!r} is not one "
                "of its declared codes"
            )
        params = list(inspect.signature(self.fn).parameters.values())
        if len(params) < 2 or any(p.kind is p.VAR_POSITIONAL for p in params[:2]):
            raise ValueError(
                f"block type {self.type_id!r}: its function must take (ctx, value, ...config)"
            )
        config = [p for p in params[2:] if p.kind is not p.POSITIONAL_ONLY]
        object.__setattr__(self, "signature", inspect.Signature(config))

    @property
    def writes(self) -> bool:
        """True when the type declares a side effect that counts as a write (it may change
        something outside)."""
        return any(e.counts_as_write for e in self.side_effects)

    def is_write(self, config: Mapping[str, Any]) -> bool:
        """Whether a block of this type *configured so* changes something outside the run.

        Types whose effect depends on configuration (an HTTP ``GET`` reads, a ``POST``
        writes) declare ``writes_when``; otherwise any declared side effect that counts as
        a write means a write. The approval gate relies on this to find the first
        side-effecting step.
        """
        if not self.writes:
            return False
        return True if self.writes_when is None else bool(self.writes_when(config))

    def changes(self, config: Mapping[str, Any]) -> tuple[SideEffect, ...]:
        """What a block of this type *configured so* changes when it runs: its writing
        side effects when :meth:`is_write` says so, and always those that do not count as
        writes (``explain``'s "what changes")."""
        writing = self.is_write(config)
        return tuple(e for e in self.side_effects if writing or not e.counts_as_write)

    def disposition_of(self, code: str) -> RetryDisposition | None:
        """The retry disposition declared for ``code`` (``None``: undeclared)."""
        entry = self.code_table.get(code)
        return entry.retry if entry is not None else None

    def configure(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Bind constructor arguments to the type's configuration, with defaults applied.

        Credentials in the configuration (URL userinfo, secret query values, sensitive
        header values, values under secret-looking keys) are registered with the redactor
        here, once, for every block of every family."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            hint = ""
            unexpected = str(exc).rsplit("'", 2)
            if "unexpected keyword" in str(exc) and len(unexpected) == 3:
                close = get_close_matches(unexpected[1], list(self.signature.parameters), 1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InvalidBlockConfig(f"Block.{self.type_id}{self.signature}: {exc}{hint}") from None
        bound.apply_defaults()
        config = dict(bound.arguments)
        from .redaction import register_config_credentials  # (not when a plugin is imported)

        register_config_credentials(config)
        if self.validate is not None:
            try:
                self.validate(config)
            except InvalidBlockConfig:
                raise
            except (ValueError, TypeError) as exc:
                raise InvalidBlockConfig(f"Block.{self.type_id}: {exc}") from None
        return config

    def call(self, ctx: RunContext, value: Value, config: Mapping[str, Any]) -> Any:
        """Invoke the block function (the executor awaits the result when it is awaitable)."""
        return self.fn(ctx, value, **config)

    def card(self) -> dict[str, Any]:
        """Everything declared about the type, as plain data (``plugins show --json``)."""
        pol = self.default_policy
        writes = "never"
        if self.writes:
            writes = "always" if self.writes_when is None else "depends on the configuration"
        return {
            "type_id": self.type_id,
            "family": self.family,
            "domain": self.domain,
            "description": self.description,
            "signature": f"Block.{self.type_id}({signature_text(self.signature)})",
            "timeout_ms": pol.timeout_ms,
            "retries": pol.retries,
            "backoff": pol.backoff.describe() if pol.retries else None,
            "timeout_code": self.timeout_code or "runtime.timeout",
            "timeout_retry": str(self.timeout_retry),
            "codes": sorted(self.codes),
            "code_table": [
                {"code": c.code, "retry": str(c.retry) if c.retry else None, "meaning": c.meaning}
                for c in sorted(self.code_table.values(), key=lambda c: c.code)
            ],
            "side_effects": [
                {
                    "system": e.system,
                    "resource": e.resource,
                    "action": e.action,
                    "counts_as_write": e.counts_as_write,
                }
                for e in self.side_effects
            ],
            "writes": writes,
            "ends_run_as": dict(self.ends_run_as),
            "schedulable": self.next_fire is not None,
        }


def signature_text(signature: inspect.Signature) -> str:
    """Parameters as source (``url: str | None = None, *, method: str = 'GET'``), with
    string annotations unquoted."""
    parts: list[str] = []
    for p in signature.parameters.values():
        if p.kind is p.KEYWORD_ONLY and not any(x.startswith("*") for x in parts):
            parts.append("*")
        text = "*" if p.kind is p.VAR_POSITIONAL else "**" if p.kind is p.VAR_KEYWORD else ""
        text += p.name
        if p.annotation is not p.empty:
            ann = p.annotation
            text += f": {ann if isinstance(ann, str) else inspect.formatannotation(ann)}"
        if p.default is not p.empty:
            text += f" = {p.default!r}"
        parts.append(text)
    return ", ".join(parts)


def block_type(
    type_id: str,
    *,
    family: Family | None = None,
    domain: str | None = None,
    codes: Iterable[str | Code] = (),
    timeout: float | timedelta | Inherit | None = INHERIT,
    timeout_ms: int | None = None,
    retries: int | None = None,
    backoff: Backoff | None = None,
    timeout_code: str | None = None,
    timeout_retry: RetryDisposition | DispositionName | None = None,
    side_effects: Iterable[SideEffect] | None = None,
    description: str | None = None,
    validate: Validator | None = None,
    next_fire: NextFire | None = None,
    writes_when: WritesPredicate | None = None,
    ends_run_as: Mapping[str, str] | None = None,
) -> Callable[[BlockFn], BlockType]:
    """Declare a block type; register the result with ``registry.add`` in a hookimpl.

    Every setting left out comes from ``family`` (see :func:`~.family.family`; a family's
    ``@fam.block_type`` passes it), else from the engine's defaults: ``domain``
    ``custom:<type_id>``, no codes, no timeout, no retries, exponential backoff from 1 s.
    ``codes`` (:class:`~.family.Code` declarations or plain strings) add to the family's
    when the type keeps the family's domain; a type in another domain brings its own.
    ``timeout``/``timeout_ms`` (``timeout=None``: no timeout), ``retries`` and ``backoff``
    are the type's default policy; a block instance overrides them with its setters.
    ``timeout_code`` is the domain code reported when the executor's timeout fires
    (default: the engine's ``runtime.timeout``) and ``timeout_retry`` whether that attempt
    is retried (``"never"`` for calls that must not be repeated, such as a non-idempotent
    POST; default: the timeout code's declared disposition, else ``backoff``).
    ``side_effects`` declares what the type changes outside the run ("what changes when
    this runs"; ``[]`` for none when the family declares some); ``writes_when(config)``
    narrows that per instance (see :meth:`BlockType.is_write`). ``description`` defaults to
    the first paragraph of the function's docstring. ``validate(config)`` runs at
    construction, may normalise values in place and raises ``ValueError`` or ``TypeError``
    for bad ones (reported as ``InvalidBlockConfig``). ``next_fire(config, after)`` makes
    the type a schedulable trigger (the next firing time strictly after ``after``, or
    ``None``). ``ends_run_as`` maps some of the type's codes to the run status a terminal
    failure with that code gives the run (``{"hitl.rejected": "rejected"}``); any other
    failure ends it ``failed``. Mistakes raise ``ValueError`` where the type is declared.
    """
    if timeout is not INHERIT and timeout_ms is not None:
        raise ValueError("give timeout (seconds) or timeout_ms, not both")
    fam_policy = family.policy if family is not None else Policy()
    dom = domain or (family.domain if family is not None else f"custom:{type_id}")
    inherited = family if family is not None and dom == family.domain else None
    table = codes_table([*(inherited.codes.values() if inherited is not None else ()), *codes])
    if timeout_ms is not None:
        timeout_value: int | None = timeout_ms
    elif timeout is INHERIT:
        timeout_value = fam_policy.timeout_ms
    else:
        timeout_value = timeout_to_ms(timeout)
    policy = Policy(
        retries=retries if retries is not None else fam_policy.retries,
        timeout_ms=timeout_value,
        backoff=backoff or (fam_policy.backoff if family is not None else DEFAULT_BACKOFF),
    )
    if timeout_code is None and inherited is not None:
        timeout_code = inherited.timeout_code
    if timeout_retry is None and inherited is not None:
        timeout_retry = inherited.timeout_retry
    if timeout_retry is None:
        declared = table.get(timeout_code) if timeout_code else None
        timeout_retry = (declared.retry if declared else None) or RetryDisposition.BACKOFF
    if side_effects is None:
        side_effects = family.side_effects if family is not None else ()

    def decorate(fn: BlockFn) -> BlockType:
        doc = inspect.getdoc(fn) or ""
        made = BlockType(
            type_id=type_id,
            fn=fn,
            domain=dom,
            codes=frozenset(table),
            default_policy=policy,
            timeout_code=timeout_code,
            side_effects=tuple(side_effects),
            description=description if description is not None else doc.split("\n\n")[0],
            validate=validate,
            next_fire=next_fire,
            writes_when=writes_when,
            ends_run_as=dict(ends_run_as or {}),
            family=family.name if family is not None else None,
            code_table=table,
            timeout_retry=RetryDisposition(timeout_retry),
        )
        if family is not None:
            family.types.append(made)
        return made

    return decorate


@dataclass(frozen=True, slots=True)
class _Entry:
    block_type: BlockType
    source: str


class Registry:
    """The block types plugins provide, with the distribution each came from.

    Plugins only call :meth:`add`. Two sources claiming one type id are recorded as a
    conflict; using that type then raises :class:`PluginConflict` naming both.
    """

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._conflicts: dict[str, list[str]] = {}
        self._source = "(runtime)"

    def add(self, block_type: BlockType | Family) -> None:
        """Add a block type, or every type declared through a family."""
        if isinstance(block_type, Family):
            for declared in block_type:
                self.add(declared)
            return
        if not isinstance(block_type, BlockType):
            raise TypeError(
                "registry.add expects a BlockType made with @sdk.block_type (or a family), "
                f"got {block_type!r}"
            )
        tid = block_type.type_id
        existing = self._entries.get(tid)
        if existing is None:
            self._entries[tid] = _Entry(block_type, self._source)
        elif existing.block_type is not block_type or existing.source != self._source:
            sources = self._conflicts.setdefault(tid, [existing.source])
            if self._source not in sources:
                sources.append(self._source)

    @contextmanager
    def registering_as(self, source: str) -> Iterator[Registry]:
        """Attribute every :meth:`add` inside the block to ``source`` (used by the host)."""
        previous, self._source = self._source, source
        try:
            yield self
        finally:
            self._source = previous

    def get(self, type_id: str) -> BlockType:
        if type_id in self._conflicts:
            first, second = self._conflicts[type_id][:2]
            raise PluginConflict(type_id, first, second)
        entry = self._entries.get(type_id)
        if entry is None:
            raise UnknownBlockType(type_id, list(self._entries))
        return entry.block_type

    def source_of(self, type_id: str) -> str:
        return self._entries[type_id].source

    @property
    def conflicts(self) -> Mapping[str, tuple[str, ...]]:
        return {tid: tuple(srcs) for tid, srcs in self._conflicts.items()}

    def __contains__(self, type_id: object) -> bool:
        return type_id in self._entries

    def __iter__(self) -> Iterator[BlockType]:
        return (e.block_type for e in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def type_ids(self) -> list[str]:
        return sorted(self._entries)
