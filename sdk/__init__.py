"""The block SDK: the only package a plugin imports.

Write a block type with :func:`block_type`, register it from a :func:`hookimpl` of
``register_block_types``, raise :class:`BlockError` with one of your declared codes, and log
through ``ctx.log``. Retries, timeouts, spans and log enrichment are the executor's job.
"""

from __future__ import annotations

from .cohort import CohortFilterError, compile_filter
from .context import Logger, RunContext
from .errors import (
    GRAPH_INVALID,
    GRAPH_ITERATION_BUDGET_EXCEEDED,
    RUNTIME_APPROVAL_REQUIRED,
    RUNTIME_CANCELED,
    RUNTIME_CODES,
    RUNTIME_KILL_SWITCH,
    RUNTIME_PANIC,
    RUNTIME_TIMEOUT,
    STATE_STORE_WRITE_FAILED,
    AwaitingApproval,
    BlockError,
    ErrorEnvelope,
    GraphInvalid,
    InvalidBlockConfig,
    OrchestratorError,
    Origin,
    PluginConflict,
    RetryDisposition,
    Severity,
    SqlError,
    StateStoreError,
    UnknownBlockType,
    is_runtime_code,
)
from .executor import Outcome, envelope_from_exception, execute_block
from .hookspecs import PROJECT, hookimpl, hookspec
from .inputs import INPUT_TYPES, InputError, InputSpec, validate_inputs
from .policy import DEFAULT_BACKOFF, Backoff, Policy, timeout_to_ms
from .registry import BlockType, Registry, SideEffect, block_type, code_namespace
from .rules import BUILTIN_FUNCTIONS, Rule, RuleError
from .run_status import RunStatus
from .services import (
    Budget,
    ChildOutcome,
    Clock,
    IterationBudgetExceeded,
    NoopTracing,
    Services,
    Settings,
    Span,
    SqlDatabase,
    StoreService,
    SystemClock,
    Tracing,
    utc_now_iso,
)
from .values import Bytes, Empty, Json, Payload, Text, Value, as_value, to_jsonable

__all__ = [
    "BUILTIN_FUNCTIONS",
    "DEFAULT_BACKOFF",
    "GRAPH_INVALID",
    "GRAPH_ITERATION_BUDGET_EXCEEDED",
    "INPUT_TYPES",
    "PROJECT",
    "RUNTIME_APPROVAL_REQUIRED",
    "RUNTIME_CANCELED",
    "RUNTIME_CODES",
    "RUNTIME_KILL_SWITCH",
    "RUNTIME_PANIC",
    "RUNTIME_TIMEOUT",
    "STATE_STORE_WRITE_FAILED",
    "AwaitingApproval",
    "Backoff",
    "BlockError",
    "BlockType",
    "Budget",
    "Bytes",
    "ChildOutcome",
    "Clock",
    "CohortFilterError",
    "Empty",
    "ErrorEnvelope",
    "GraphInvalid",
    "InputError",
    "InputSpec",
    "InvalidBlockConfig",
    "IterationBudgetExceeded",
    "Json",
    "Logger",
    "NoopTracing",
    "OrchestratorError",
    "Origin",
    "Outcome",
    "Payload",
    "PluginConflict",
    "Policy",
    "Registry",
    "RetryDisposition",
    "Rule",
    "RuleError",
    "RunContext",
    "RunStatus",
    "Services",
    "Settings",
    "Severity",
    "SideEffect",
    "Span",
    "SqlDatabase",
    "SqlError",
    "StateStoreError",
    "StoreService",
    "SystemClock",
    "Text",
    "Tracing",
    "UnknownBlockType",
    "Value",
    "as_value",
    "block_type",
    "code_namespace",
    "compile_filter",
    "envelope_from_exception",
    "execute_block",
    "hookimpl",
    "hookspec",
    "is_runtime_code",
    "timeout_to_ms",
    "to_jsonable",
    "utc_now_iso",
    "validate_inputs",
]
