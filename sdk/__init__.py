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

from typing import TYPE_CHECKING

from .lazy import lazy_attributes

if TYPE_CHECKING:
    from ._logfields import log_fields
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
    "log_fields",
    "to_jsonable",
]

# Each name is imported from its module on first use: a plugin imports the SDK in
# milliseconds and pays only for what it touches.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "ApprovalDesk": ".services",
        "as_value": ".values",
        "Backoff": ".policy",
        "block_type": ".registry",
        "BlockError": ".errors",
        "BlockType": ".registry",
        "Code": ".family",
        "Bytes": ".values",
        "Empty": ".values",
        "ErrorEnvelope": ".errors",
        "Family": ".family",
        "family": ".family",
        "FanOutItems": ".services",
        "GraphInvalid": ".errors",
        "hookimpl": ".hookspecs",
        "InsecureSecretsFile": ".errors",
        "InvalidBlockConfig": ".errors",
        "ItemDispatcher": ".services",
        "Json": ".values",
        "KillSwitches": ".services",
        "log_fields": "._logfields",
        "OrchestratorError": ".errors",
        "Origin": ".errors",
        "PlannedBlock": ".run",
        "Policy": ".policy",
        "Refusal": ".run",
        "Registry": ".registry",
        "RetryDisposition": ".errors",
        "RunContext": ".context",
        "RunPaused": ".errors",
        "RunStatus": ".run_status",
        "RunView": ".run",
        "SecretNotFound": ".errors",
        "SendLog": ".services",
        "Settings": ".settings",
        "Severity": ".errors",
        "SideEffect": ".registry",
        "SqlDatabases": ".services",
        "SqlError": ".errors",
        "StateStoreError": ".errors",
        "Text": ".values",
        "to_jsonable": ".values",
        "Value": ".values",
    },
)
