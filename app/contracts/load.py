"""Declarative workflow contracts in YAML (the batch_notify card's shape).

``load_contract(path)`` parses and validates a contract (errors name the offending key's
path: ``preconditions.1.severity: ...``) and compiles it into a :class:`Workflow` that runs
on the same runtime as the Python API.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .compile import ContractError, compile_contract, describe_inputs, input_specs
from .model import Contract, parse_duration, section_model

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


def parse_contract(data: Any, *, source: str = "contract") -> Contract:
    if not isinstance(data, dict):
        raise ContractError(f"{source}: expected a mapping at the top level")
    try:
        return Contract.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top level)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = first["msg"]
        if first["type"] == "extra_forbidden":
            message = _unknown_key(first["loc"])
        raise ContractError(f"{source}: {where}: {message}{more}") from None


def _unknown_key(loc: tuple[Any, ...]) -> str:
    """What to say about an unknown key: the keys its section takes (see docs/contracts.md)."""
    section = section_model(loc[:-1])
    if section is None:
        return "unknown key"
    allowed = [f.alias or name for name, f in section.model_fields.items()]
    near = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean `{near[0]}`? " if near else ""
    where = ".".join(str(p) for p in loc[:-1] if not isinstance(p, int)) or "a contract"
    return f"unknown key; {hint}{where} takes: {', '.join(allowed)} (see docs/contracts.md)"


def load_contract(path: Path) -> Any:
    """The compiled workflow of the contract at ``path``."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ContractError(f"{path}: no such file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    contract = parse_contract(data, source=path.name)
    try:
        return compile_contract(contract)
    except ContractError as exc:
        raise ContractError(f"{path.name}: {exc}") from None
