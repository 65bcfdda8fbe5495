"""Declarative workflow contracts in YAML (the batch_notify card's shape).

``load_contract(path)`` parses and validates a contract (errors name the offending key's
path: ``preconditions.1.severity: ...``) and compiles it into a :class:`Workflow` that runs
on the same runtime as the Python API.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .load import (
        Contract,
        ContractError,
        compile_contract,
        describe_inputs,
        input_specs,
        load_contract,
        parse_contract,
        parse_duration,
    )

__all__ = [
    "Contract",
    "ContractError",
    "compile_contract",
    "describe_inputs",
    "input_specs",
    "load_contract",
    "parse_contract",
    "parse_duration",
]


def __getattr__(name: str) -> Any:
    """Resolve lazily (PEP 562): the loader plugin is imported at every CLI start."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(".load", __name__), name)
