"""``Block``: a configured instance of a block type, and the policy setters it owns.

``Block.<type_id>(...)`` looks the type up in the plugin registry, so an installed plugin's
type is callable the same way as a built-in; ``Block.of("type_id", ...)`` is the explicit
form. Reliability policy lives on the instance (spec §5.4): the chainable setters change
this block only, and a block reused across links keeps one policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from orchestrator_blocks.sdk import Backoff, BlockType, Policy
from orchestrator_blocks.sdk.policy import timeout_to_ms

from .plugin_host import default_host

__all__ = ["Block", "BlockId"]

_UNSET: Any = object()
EDITS = [0]
"""Counts edits to any block's name or policy (a workflow's cached plan checks it)."""


class BlockId(str):
    """The id of a block inside one workflow (returned by ``Workflow.add``).

    It is a ``str`` (``"fetch"``, ``"http_request_1"``) that also remembers which workflow
    issued it, so an id from another workflow is reported as dangling.
    """

    __slots__ = ("workflow_key",)
    workflow_key: int

    def __new__(cls, value: str, workflow_key: int = 0) -> BlockId:
        obj = super().__new__(cls, value)
        obj.workflow_key = workflow_key
        return obj


class _BlockMeta(type):
    # Hidden from type checkers: ``ob.Block`` is typed by a generated stub of the built-in
    # types, so a misspelt type is an error there; ``Block.of`` is the typed dynamic form.
    if not TYPE_CHECKING:

        def __getattr__(cls, type_id: str) -> Callable[..., Block]:
            if type_id.startswith("_"):
                raise AttributeError(type_id)
            block_type = default_host().get(type_id)

            def construct(*args: Any, **config: Any) -> Block:
                return Block(block_type, *args, **config)

            construct.__name__ = type_id
            construct.__qualname__ = f"Block.{type_id}"
            construct.__doc__ = block_type.description
            construct.__signature__ = block_type.signature
            return construct

    def __dir__(cls) -> list[str]:
        return sorted(set(super().__dir__()) | set(default_host().registry.type_ids()))


class Block(metaclass=_BlockMeta):
    """One configured block. Build with ``Block.<type_id>(...)`` or ``Block.of(...)``."""

    __slots__ = ("_backoff", "_config", "_name", "_retries", "_timeout_ms", "block_type")

    def __init__(self, block_type: BlockType, /, *args: Any, **config: Any) -> None:
        self.block_type = block_type
        self._config = MappingProxyType(block_type.configure(*args, **config))
        self._retries: int = _UNSET
        self._timeout_ms: int | None = _UNSET
        self._backoff: Backoff = _UNSET
        self._name: str | None = None

    @classmethod
    def of(cls, type_id: str, /, *args: Any, **config: Any) -> Block:
        """``Block.of("http_request", url)`` is ``Block.http_request(url)``."""
        return cls(default_host().get(type_id), *args, **config)

    @property
    def type_id(self) -> str:
        return self.block_type.type_id

    @property
    def config(self) -> Mapping[str, Any]:
        return self._config

    @property
    def name(self) -> str | None:
        return self._name

    def named(self, name: str) -> Block:
        """Give the block a readable id (``"fetch"``) used in logs, spans and results."""
        if not name or not all(ch.isalnum() or ch in "_-." for ch in name):
            raise ValueError(f"block name must be letters, digits, '_', '-' or '.', got {name!r}")
        self._name = name
        EDITS[0] += 1
        return self

    def set_retry(self, retries: int, backoff: Backoff | None = None) -> Block:
        """Allow ``retries`` attempts after the first (retried only for ``backoff`` and
        ``immediate`` dispositions); ``backoff`` defaults to the type's."""
        if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
            raise ValueError(f"retries must be an int >= 0, got {retries!r}")
        self._retries = retries
        if backoff is not None:
            self._backoff = backoff
        EDITS[0] += 1
        return self

    def set_retry_exponential(
        self,
        retries: int,
        base_ms: int,
        factor: float,
        *,
        jitter: float = 0.2,
        cap_ms: int = 30_000,
    ) -> Block:
        """``retries`` attempts after the first, waiting ``base_ms * factor**(n-1)`` ±jitter."""
        return self.set_retry(
            retries, Backoff.exponential(base_ms, factor, jitter=jitter, cap_ms=cap_ms)
        )

    def set_timeout_ms(self, ms: int | None) -> Block:
        """Bound each attempt to ``ms`` milliseconds (``None``: no timeout)."""
        if ms is not None and (not isinstance(ms, int) or ms <= 0):
            raise ValueError(f"timeout must be a positive number of milliseconds, got {ms!r}")
        self._timeout_ms = ms
        EDITS[0] += 1
        return self

    def set_timeout(self, timeout: float | timedelta | None) -> Block:
        """Bound each attempt (seconds or a timedelta; ``None``: no timeout)."""
        self._timeout_ms = timeout_to_ms(timeout)
        EDITS[0] += 1
        return self

    @property
    def policy(self) -> Policy:
        """The effective policy: this block's setters over its type's defaults."""
        default = self.block_type.default_policy
        return Policy(
            retries=default.retries if self._retries is _UNSET else self._retries,
            timeout_ms=default.timeout_ms if self._timeout_ms is _UNSET else self._timeout_ms,
            backoff=default.backoff if self._backoff is _UNSET else self._backoff,
        )

    def __repr__(self) -> str:
        label = f" {self._name!r}" if self._name else ""
        return f"<Block {self.type_id}{label} {self.policy.describe()}>"
