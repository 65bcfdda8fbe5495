"""Block types and the registry plugins fill (DESIGN §3).

A block type is an async (or sync) function ``fn(ctx, value, *config)`` decorated with
:func:`block_type`, which records its domain, its domain codes and its default policy.
The parameters after ``ctx`` and ``value`` are the block's configuration: they are bound
when a user writes ``Block.<type_id>(...)``, so a wrong argument fails at construction,
not in the middle of a run.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .errors import InvalidBlockConfig, PluginConflict, UnknownBlockType, is_runtime_code
from .policy import DEFAULT_BACKOFF, Backoff, Policy, timeout_to_ms
from .redaction import register_config_credentials

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
    """

    system: str
    resource: str
    action: str


def code_namespace(domain: str) -> str:
    """The prefix every code of ``domain`` starts with (``custom:lead_score`` -> ``lead_score``)."""
    return domain.split(":", 1)[1] if domain.startswith("custom:") else domain


@dataclass(frozen=True, slots=True)
class BlockType:
    """A registered kind of block: its function, domain, codes and default policy."""

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
    signature: inspect.Signature = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.type_id.isidentifier():
            raise ValueError(f"block type id must be a Python identifier, got {self.type_id!r}")
        prefix = code_namespace(self.domain) + "."
        bad = sorted(c for c in self.codes if not c.startswith(prefix) or is_runtime_code(c))
        if bad:
            raise ValueError(
                f"block type {self.type_id!r}: codes {bad} are not namespaced under "
                f"domain {self.domain!r} (expected the prefix {prefix!r})"
            )
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
        """True when the type declares a side effect (it may change something outside)."""
        return bool(self.side_effects)

    def is_write(self, config: Mapping[str, Any]) -> bool:
        """Whether a block of this type *configured so* changes something outside the run.

        Types whose effect depends on configuration (an HTTP ``GET`` reads, a ``POST``
        writes) declare ``writes_when``; otherwise any declared side effect means a write.
        The approval gate relies on this to find the first side-effecting step.
        """
        if not self.side_effects:
            return False
        return True if self.writes_when is None else bool(self.writes_when(config))

    def configure(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Bind constructor arguments to the type's configuration, with defaults applied.

        Credentials in the configuration (URL userinfo, secret query values, sensitive
        header values, values under secret-looking keys) are registered with the redactor
        here, once, for every block of every family."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidBlockConfig(f"Block.{self.type_id}{self.signature}: {exc}") from None
        bound.apply_defaults()
        config = dict(bound.arguments)
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


def block_type(
    type_id: str,
    *,
    domain: str | None = None,
    codes: Iterable[str] = (),
    timeout: float | timedelta | None = None,
    timeout_ms: int | None = None,
    retries: int = 0,
    backoff: Backoff = DEFAULT_BACKOFF,
    timeout_code: str | None = None,
    side_effects: Iterable[SideEffect] = (),
    description: str | None = None,
    validate: Validator | None = None,
    next_fire: NextFire | None = None,
    writes_when: WritesPredicate | None = None,
    ends_run_as: Mapping[str, str] | None = None,
) -> Callable[[BlockFn], BlockType]:
    """Declare a block type; register the result with ``registry.add`` in a hookimpl.

    ``domain`` defaults to ``custom:<type_id>``. ``timeout``/``timeout_ms`` and ``retries``
    are the type's default policy (contract §6.4: custom types default to no timeout and no
    retries). ``timeout_code`` is the domain code reported when the executor's timeout fires
    (default: the engine's ``runtime.timeout``). ``validate(config)`` runs at construction;
    ``next_fire(config, after)`` makes the type a schedulable trigger (it returns the next
    firing time strictly after ``after``, or ``None`` when it never fires again).
    ``side_effects`` declares what the type changes outside the run ("what changes when
    this runs"); ``writes_when(config)`` narrows that per instance (see :meth:`is_write`).
    ``validate(config)`` may normalise values in place and raises ``ValueError`` or
    ``TypeError`` for bad ones (reported as ``InvalidBlockConfig``). ``ends_run_as`` maps
    some of the type's codes to the run status a terminal failure with that code gives the
    run (``{"hitl.rejected": "rejected"}``); any other failure ends it ``failed``.
    """
    if timeout is not None and timeout_ms is not None:
        raise ValueError("give timeout (seconds) or timeout_ms, not both")
    policy = Policy(
        retries=retries,
        timeout_ms=timeout_ms if timeout_ms is not None else timeout_to_ms(timeout),
        backoff=backoff,
    )

    def decorate(fn: BlockFn) -> BlockType:
        doc = inspect.getdoc(fn) or ""
        return BlockType(
            type_id=type_id,
            fn=fn,
            domain=domain or f"custom:{type_id}",
            codes=frozenset(codes),
            default_policy=policy,
            timeout_code=timeout_code,
            side_effects=tuple(side_effects),
            description=description if description is not None else doc.split("\n\n")[0],
            validate=validate,
            next_fire=next_fire,
            writes_when=writes_when,
            ends_run_as=dict(ends_run_as or {}),
        )

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

    def add(self, block_type: BlockType) -> None:
        if not isinstance(block_type, BlockType):
            raise TypeError(
                f"registry.add expects a BlockType made with @sdk.block_type, got {block_type!r}"
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
