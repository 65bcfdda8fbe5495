"""The block SDK: the only package a plugin imports.

Declare a :func:`family` (domain, :class:`Code` declarations with their retry dispositions,
default policy) and its block types with ``@fam.block_type`` (or a lone :func:`block_type`),
register them from a :func:`hookimpl` of ``register_block_types``, raise
:class:`BlockError` with one of your declared codes, log through ``ctx.log`` and read
credentials with ``ctx.secret(name)``. Retries, timeouts, spans and log enrichment are the
executor's job. ``docs/plugins.md`` is the reference.
Services beyond the core (SQL databases, the send log, kill switches, approvals) are asked
for by protocol: ``ctx.service(sdk.SendLog)``.

Submodules for more specialised needs: :mod:`.hookspecs` (every hook), :mod:`.testing` (the
pytest plugin for block authors), :mod:`.scaffold` (what ``plugins new`` writes),
:mod:`.rules` (safe rule expressions), :mod:`.inputs` (declared run inputs), :mod:`.errors`
(the whole error hierarchy), :mod:`.redaction` (the one redactor), :mod:`.credentials`
(where ``ctx.secret`` looks), :mod:`.files` (confinement to the files root).
"""

from __future__ import annotations

from .context import RunContext
from .errors import (
    BlockError,
    ErrorEnvelope,
    GraphInvalid,
    InsecureSecretsFile,
    InvalidBlockConfig,
    OrchestratorError,
    Origin,
    RetryDisposition,
    RunPaused,
    SecretNotFound,
    Severity,
    SqlError,
    StateStoreError,
)
from .family import Code, Family, family
from .hookspecs import hookimpl
from .policy import Backoff, Policy
from .registry import BlockType, Registry, SideEffect, block_type
from .run import PlannedBlock, Refusal, RunView
from .run_status import RunStatus
from .services import (
    ApprovalDesk,
    FanOutItems,
    ItemDispatcher,
    KillSwitches,
    SendLog,
    SqlDatabases,
)
from .settings import Settings
from .values import Bytes, Empty, Json, Text, Value, as_value, to_jsonable

__all__ = [
    "ApprovalDesk",
    "Backoff",
    "BlockError",
    "BlockType",
    "Bytes",
    "Code",
    "Empty",
    "ErrorEnvelope",
    "Family",
    "FanOutItems",
    "GraphInvalid",
    "InsecureSecretsFile",
    "InvalidBlockConfig",
    "ItemDispatcher",
    "Json",
    "KillSwitches",
    "OrchestratorError",
    "Origin",
    "PlannedBlock",
    "Policy",
    "Refusal",
    "Registry",
    "RetryDisposition",
    "RunContext",
    "RunPaused",
    "RunStatus",
    "RunView",
    "SecretNotFound",
    "SendLog",
    "Settings",
    "Severity",
    "SideEffect",
    "SqlDatabases",
    "SqlError",
    "StateStoreError",
    "Text",
    "Value",
    "as_value",
    "block_type",
    "family",
    "hookimpl",
    "to_jsonable",
]
