"""YAML contracts as a plugin: ``run``, ``serve`` and resume load ``.yaml``/``.yml`` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.hookspecs import WorkflowLoaders

SUFFIXES = (".yaml", ".yml")


def _load(path: Path) -> Any:
    from .load import load_contract

    return load_contract(path)


@sdk.hookimpl
def register_workflow_loaders(loaders: WorkflowLoaders) -> None:
    loaders.add(SUFFIXES, _load, "a YAML workflow contract")
