"""One error hierarchy for the whole project (contract §7).

Two kinds of things live here:

* **Run-time failure data.** :class:`BlockError` is what a block raises to report a
  domain failure (``http.auth.401``); the executor turns every terminal failure into one
  frozen :class:`ErrorEnvelope` (contract §7.6), the value ``on_error`` handlers receive.
* **API misuse exceptions**, raised to the caller before anything runs::

    OrchestratorError
    ├── GraphInvalid          a cycle, a dangling id, an on_error to self  (graph.invalid)
    ├── UnknownBlockType      Block.<type_id> for a type no installed plugin provides
    ├── PluginConflict        two plugins claim one type id
    ├── InvalidBlockConfig    bad arguments to a block constructor
    ├── StateStoreError       the engine's store could not record something
    ├── SecretNotFound        ``ctx.secret(name)`` found no value (also a ``LookupError``)
    └── InsecureSecretsFile   the secrets file can be read by other users

``SqlError`` classifies database failures (syntax, constraint, locked, connection) for the
SQL family, which maps them onto its codes.

Codes are plain dotted strings, namespaced by their domain (``http.timeout``). The
engine-owned runtime codes of contract §7.2 are constants here; each block family declares
its own codes next to its blocks.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = [
    "GRAPH_INVALID",
    "GRAPH_ITERATION_BUDGET_EXCEEDED",
    "RUNTIME_CANCELED",
    "RUNTIME_CODES",
    "RUNTIME_PANIC",
    "RUNTIME_TIMEOUT",
    "STATE_STORE_WRITE_FAILED",
    "BlockError",
    "ErrorEnvelope",
    "GraphInvalid",
    "InsecureSecretsFile",
    "InvalidBlockConfig",
    "OrchestratorError",
    "Origin",
    "PluginConflict",
    "RetryDisposition",
    "RunPaused",
    "SecretNotFound",
    "Severity",
    "SqlError",
    "StateStoreError",
    "UnknownBlockType",
    "is_runtime_code",
]

RUNTIME_TIMEOUT = "runtime.timeout"
RUNTIME_CANCELED = "runtime.canceled"
RUNTIME_PANIC = "runtime.panic"
GRAPH_INVALID = "graph.invalid"
GRAPH_ITERATION_BUDGET_EXCEEDED = "graph.iteration_budget_exceeded"
STATE_STORE_WRITE_FAILED = "state_store.write_failed"

RUNTIME_CODES = frozenset(
    {
        RUNTIME_TIMEOUT,
        RUNTIME_CANCELED,
        RUNTIME_PANIC,
        GRAPH_INVALID,
        GRAPH_ITERATION_BUDGET_EXCEEDED,
        STATE_STORE_WRITE_FAILED,
    }
)
_RUNTIME_PREFIXES = ("runtime.", "graph.", "state_store.")


def is_runtime_code(code: str) -> bool:
    """True for codes the engine owns (contract §7.2); blocks never own these prefixes."""
    return code.startswith(_RUNTIME_PREFIXES)


class Origin(StrEnum):
    """Who owns a failure (contract §7.1)."""

    RUNTIME = "runtime"
    BLOCK = "block"


class RetryDisposition(StrEnum):
    """Whether the executor may retry a failure (contract §7.4).

    Only ``backoff`` and ``immediate`` are retried, and only within the block's policy.
    ``manual`` means a human has to act (e.g. fix credentials) before a retry makes sense.
    """

    NEVER = "never"
    IMMEDIATE = "immediate"
    BACKOFF = "backoff"
    MANUAL = "manual"

    @property
    def retryable(self) -> bool:
        return self in (RetryDisposition.BACKOFF, RetryDisposition.IMMEDIATE)


class Severity(StrEnum):
    INFO = "info"
    WARN = "warn"
    ERROR = "error"
    CRITICAL = "critical"


class OrchestratorError(Exception):
    """Base of the exceptions raised to API callers (not block failures)."""

    code: str = "orchestrator.error"


class GraphInvalid(OrchestratorError, ValueError):
    """The workflow graph cannot run: a cycle, a dangling id, an on_error to self."""

    code = GRAPH_INVALID


class UnknownBlockType(OrchestratorError, AttributeError):
    """``Block.<type_id>`` or ``Block.of(type_id)`` named a type no installed plugin provides.

    It is an ``AttributeError`` too, so ``hasattr(ob.Block, "x")`` behaves.
    """

    code = "plugin.unknown_block_type"

    def __init__(self, type_id: str, installed: list[str], hint: str | None = None) -> None:
        self.type_id = type_id
        self.installed = sorted(installed)
        import difflib

        self.suggestions = difflib.get_close_matches(type_id, self.installed, n=3, cutoff=0.75)
        msg = f"unknown block type {type_id!r}"
        if self.suggestions:
            msg += f" (did you mean {' or '.join(map(repr, self.suggestions))}?)"
        msg += f"; installed types: {', '.join(self.installed) or '(none)'}"
        if hint:
            msg += f". {hint}"
        super().__init__(msg)


class PluginConflict(OrchestratorError):
    """Two plugins claim the same block type id, or the same plugin name.

    ``type_id`` is ``None`` for a name conflict (``register_plugin`` of a different object
    under a name already taken); ``sources`` names both sides.
    """

    code = "plugin.conflict"

    def __init__(
        self, type_id: str | None, first: str, second: str, *, message: str | None = None
    ) -> None:
        self.type_id = type_id
        self.sources = (first, second)
        super().__init__(
            message
            or f"block type {type_id!r} is provided by both {first} and {second}; "
            "uninstall one of them or rename the type in your plugin"
        )

    @classmethod
    def for_name(cls, name: str, first: str, second: str) -> PluginConflict:
        """A different plugin object under a name another plugin is registered as."""
        return cls(
            None,
            first,
            second,
            message=f"a plugin named {name!r} is already registered ({first}); {second} is a "
            "different object: pass register_plugin(..., name=...) to keep both",
        )


class StateStoreError(OrchestratorError):
    """The engine's own store could not record something (``state_store.write_failed``).

    Raised instead of losing the write silently; the caller decides whether to retry.
    """

    code = STATE_STORE_WRITE_FAILED


class SecretNotFound(OrchestratorError, LookupError):
    """``ctx.secret(name)`` found the secret neither in the environment nor in the secrets
    file; the message names both places."""

    code = "secret.not_found"


class InsecureSecretsFile(OrchestratorError, PermissionError):
    """The secrets file can be read by the group or by others: it is not read at all."""

    code = "secret.insecure_file"


class SqlError(Exception):
    """A database failure, classified once at the kernel's boundary.

    ``kind`` is one of ``syntax``, ``constraint``, ``locked``, ``connection``, ``timeout``
    or ``other``; the SQL family maps kinds onto its domain codes (``sql.locked`` is
    retried).
    """

    KINDS = ("syntax", "constraint", "locked", "connection", "timeout", "other")

    def __init__(self, kind: str, message: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"SqlError kind must be one of {self.KINDS}, got {kind!r}")
        super().__init__(message)
        self.kind = kind
        self.message = message


class InvalidBlockConfig(OrchestratorError, TypeError):
    """A block constructor got arguments its type does not accept, or invalid values.

    A family may name its own domain code for the mistake (``cron.invalid_expression``,
    ``template.invalid``) so the construction error carries the same code a run would.
    """

    code = "block.invalid_config"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


def _freeze(value: Any) -> Any:
    """Deep-freeze JSON-like data so an envelope shared by parallel handlers stays immutable."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(k): _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, set | frozenset):
        return tuple(sorted((_freeze(v) for v in value), key=repr))
    return value


def _thaw(value: Any) -> Any:
    """Inverse of :func:`_freeze`: plain dicts and lists, safe to hand out and to JSON-encode."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


class BlockError(Exception):
    """A domain failure raised by a block (contract §7.3).

    The domain is the raising block type's domain; ``code`` should be one the type declared
    (``http.auth.401``). ``retry_disposition`` decides whether the executor retries it:
    only ``backoff`` and ``immediate`` are retried, within the block's policy. Left out,
    it is the disposition the type declared for ``code`` (``never`` for an undeclared one);
    ``disposition_given`` says whether the raise chose one.
    ``retry_after_ms`` (e.g. from an HTTP ``Retry-After``) raises the next backoff delay,
    never above the policy's cap. ``cause`` carries a nested envelope (child workflows).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retry_disposition: RetryDisposition | str | None = None,
        severity: Severity | str = Severity.ERROR,
        provider_status: int | str | None = None,
        details: Mapping[str, Any] | None = None,
        retry_after_ms: int | None = None,
        cause: ErrorEnvelope | None = None,
    ) -> None:
        if not code or "." not in code:
            raise ValueError(f"BlockError code must be a dotted domain code, got {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.disposition_given = retry_disposition is not None
        self.retry_disposition = RetryDisposition(retry_disposition or RetryDisposition.NEVER)
        self.severity = Severity(severity)
        self.provider_status = provider_status
        self.details: dict[str, Any] = dict(details or {})
        self.retry_after_ms = retry_after_ms
        self.cause = cause


@dataclass(frozen=True, slots=True)
class ErrorEnvelope:
    """The frozen description of one terminal failure (contract §7.6).

    Every ``on_error`` handler of the failing block receives this same object (as
    ``ctx.error``) and its :meth:`to_dict` form as input. ``cause`` nests the envelope of
    a failure that happened inside a child workflow.

    An envelope travels (logs, spans, the store, handlers, other processes), so it is made
    safe once, here: its ``message`` and ``details`` pass through the SDK's redactor (URL
    credentials, values under secret-looking keys, every registered secret value), whoever
    built it and whatever the raising code put in them.
    """

    origin: Origin
    domain: str | None
    code: str
    message: str
    retry_disposition: RetryDisposition
    severity: Severity
    workflow_id: str
    run_id: str
    block_id: str | None
    attempt: int
    ts: str
    provider_status: int | str | None = None
    details: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    cause: ErrorEnvelope | None = None

    def __post_init__(self) -> None:
        from .redaction import redact_value  # (json, regexes: not when a plugin is imported)

        object.__setattr__(self, "origin", Origin(self.origin))
        object.__setattr__(self, "retry_disposition", RetryDisposition(self.retry_disposition))
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "message", redact_value(self.message))
        details = redact_value(copy.deepcopy(dict(self.details)))
        object.__setattr__(self, "details", _freeze(details))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (fresh on every call: mutating it never affects the envelope)."""
        return {
            "origin": str(self.origin),
            "domain": self.domain,
            "code": self.code,
            "message": self.message,
            "retry_disposition": str(self.retry_disposition),
            "severity": str(self.severity),
            "workflow_id": self.workflow_id,
            "run_id": self.run_id,
            "block_id": self.block_id,
            "attempt": self.attempt,
            "provider_status": self.provider_status,
            "ts": self.ts,
            "details": _thaw(self.details),
            "cause": self.cause.to_dict() if self.cause is not None else None,
        }

    @classmethod
    def of_runtime(
        cls,
        code: str,
        message: str,
        workflow_id: str,
        run_id: str,
        block_id: str | None,
        ts: str,
        details: Mapping[str, Any],
    ) -> ErrorEnvelope:
        """A failure the runtime owns: of a run (never retried, an error), or of a block a
        guard refused (``block_id`` given: a person may retry it, a warning)."""
        return cls(
            origin=Origin.RUNTIME,
            domain=None,
            code=code,
            message=message,
            retry_disposition=RetryDisposition.MANUAL if block_id else RetryDisposition.NEVER,
            severity=Severity.WARN if block_id else Severity.ERROR,
            workflow_id=workflow_id,
            run_id=run_id,
            block_id=block_id,
            attempt=0,
            ts=ts,
            details=details,
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorEnvelope:
        cause = data.get("cause")
        return cls(
            origin=Origin(data["origin"]),
            domain=data.get("domain"),
            code=data["code"],
            message=data["message"],
            retry_disposition=RetryDisposition(data["retry_disposition"]),
            severity=Severity(data["severity"]),
            workflow_id=data["workflow_id"],
            run_id=data["run_id"],
            block_id=data.get("block_id"),
            attempt=int(data.get("attempt", 0)),
            ts=data["ts"],
            provider_status=data.get("provider_status"),
            details=data.get("details") or {},
            cause=cls.from_dict(cause) if cause else None,
        )

    @property
    def root_cause(self) -> ErrorEnvelope:
        """The innermost envelope (the failure inside the deepest child workflow)."""
        env = self
        while env.cause is not None:
            env = env.cause
        return env


class RunPaused(Exception):
    """Raised by a block to pause its run until something outside the run decides.

    The run's current pass ends in ``status`` (for example ``awaiting_approval``) with
    ``waiting_on`` (for example ``{"proposal_id": 7}``) in its result and its ``run.paused``
    event. Not a failure: no retry, no ``on_error`` handler, no envelope. Whoever decides
    continues the run later under the same run id.
    """

    def __init__(
        self, status: str, message: str, *, waiting_on: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.waiting_on: dict[str, Any] = dict(waiting_on or {})
