"""The public surfaces change only on purpose (httpx's tests/test_exported_members.py)."""

from __future__ import annotations

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk

FACADE = [
    "Backoff",
    "Block",
    "BlockError",
    "BlockId",
    "Bytes",
    "DEFAULT_ITERATION_BUDGET",
    "Empty",
    "ErrorEnvelope",
    "GraphInvalid",
    "InvalidBlockConfig",
    "Json",
    "OrchestratorError",
    "Origin",
    "PluginConflict",
    "Policy",
    "RetryDisposition",
    "RunContext",
    "RunResult",
    "RunStatus",
    "Severity",
    "Text",
    "UnknownBlockType",
    "Value",
    "Workflow",
    "__version__",
    "new_workflow",
    "register_plugin",
]

SDK = [
    "ApprovalDesk",
    "Backoff",
    "BlockError",
    "BlockType",
    "Bytes",
    "Code",
    "Empty",
    "ErrorEnvelope",
    "FanOutItems",
    "Family",
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


def test_the_facade_exports_exactly_its_public_names() -> None:
    assert sorted(ob.__all__) == sorted(FACADE)
    for name in FACADE:
        assert getattr(ob, name) is not None, name


def test_the_sdk_exports_what_a_block_author_needs_and_no_kernel_machinery() -> None:
    assert sorted(sdk.__all__) == sorted(SDK)
    for name in SDK:
        assert getattr(sdk, name) is not None, name
    for private in ("execute_block", "Outcome", "Budget", "NoopTracing", "SystemClock"):
        assert private not in sdk.__all__


def test_the_facade_and_the_sdk_agree_on_shared_names() -> None:
    for name in set(FACADE) & set(SDK):
        assert getattr(ob, name) is getattr(sdk, name), name


def test_an_unknown_facade_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_thing"):
        ob.no_such_thing  # noqa: B018
