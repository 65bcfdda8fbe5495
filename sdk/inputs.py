"""Declared workflow inputs and their validation (card §2 "Inputs required").

Used twice with the same rules: by the CLI before anything runs (a bad ``--input`` is one
clear line, nothing started) and by the workflow's own first block (so runs started by the
scheduler or by an event are validated too).

A ``files`` input is a list of paths under the files root (``ORCHESTRATOR_BLOCKS_FILES_ROOT``):
each must stay inside it (no ``..`` escape, nothing outside an absolute path, no symlink
leading out), exist as a regular file, and weigh at most 10 MiB, 20 MiB for all of them
(:func:`orchestrator_blocks.sdk.files.check_files`): an email's attachments are refused
before the workflow asks anyone to approve them. The command line's ``--input NAME=VALUE``
and ``--input-file`` are read by :func:`parse_inputs`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cohort import CohortFilterError, compile_filter
from .errors import OrchestratorError
from .files import PathRefused, check_files

__all__ = ["INPUT_TYPES", "InputError", "InputSpec", "parse_inputs", "validate_inputs"]

INPUT_TYPES = (
    "string",
    "text",
    "integer",
    "number",
    "boolean",
    "list",
    "object",
    "email",
    "cohort_filter",
    "files",
)


class InputError(OrchestratorError):
    code = "inputs.invalid"


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str = "string"
    required: bool = False
    default: Any = None
    description: str = ""
    columns: tuple[str, ...] = ()
    max_length: int | None = None

    def __post_init__(self) -> None:
        if self.type not in INPUT_TYPES:
            raise ValueError(
                f"input {self.name!r}: type must be one of {', '.join(INPUT_TYPES)}, "
                f"got {self.type!r}"
            )
        if self.type == "cohort_filter" and not self.columns:
            raise ValueError(f"input {self.name!r}: a cohort_filter needs its allowed columns")

    def coerce(self, value: Any, *, files_root: Path | None = None) -> Any:
        """The value converted to the declared type; raises ``InputError`` naming the input.

        ``files_root`` is where a ``files`` input's paths must be (default: the files root
        of the environment, as a run started from here would see it)."""
        t = self.type
        try:
            if t in ("string", "text", "email"):
                if not isinstance(value, str):
                    value = str(value)
                if t == "email" and ("@" not in value or value.strip() != value):
                    raise ValueError("not an email address")
                if self.max_length is not None and len(value) > self.max_length:
                    raise ValueError(f"longer than {self.max_length} characters")
                return value
            if t == "integer":
                return _whole_number(value)
            if t == "number":
                return _number(value)
            if t == "boolean":
                if isinstance(value, bool):
                    return value
                if str(value).lower() in ("true", "yes", "1", "on"):
                    return True
                if str(value).lower() in ("false", "no", "0", "off"):
                    return False
                raise ValueError("not true or false")
            if t in ("list", "files"):
                if isinstance(value, str):
                    value = [v.strip() for v in value.split(",") if v.strip()]
                if not isinstance(value, list | tuple):
                    raise ValueError("not a list")
                if t == "files":
                    return _files(list(value), files_root)
                return list(value)
            if t == "object":
                if not isinstance(value, Mapping):
                    raise ValueError("not an object")
                return dict(value)
            if t == "cohort_filter":
                if not isinstance(value, str | Mapping):
                    raise ValueError("a cohort filter is text or an object")
                compile_filter(value, self.columns)
                return value
        except (CohortFilterError, PathRefused) as exc:
            raise InputError(f"input {self.name!r}: {exc}") from None
        except OSError as exc:
            raise InputError(f"input {self.name!r}: {exc.strerror or exc}") from None
        except (TypeError, ValueError) as exc:
            raise InputError(f"input {self.name!r} ({t}): {exc}: {value!r:.80}") from None
        raise InputError(f"input {self.name!r}: unsupported type {t!r}")


def _whole_number(value: Any) -> int:
    """``3``, ``3.0`` or ``"3"``; anything else says what it expected, not how Python
    failed to parse it (``invalid literal for int()``)."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError("expected a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError("expected a whole number") from None


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("expected a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError("expected a number") from None


def _files(paths: list[Any], files_root: Path | None) -> list[str]:
    if not all(isinstance(p, str) and p for p in paths):
        raise ValueError("a files input is a list of paths (strings)")
    if files_root is None:
        from .settings import Settings

        files_root = Settings.from_env().files_root
    check_files(files_root, paths)
    return list(paths)


def validate_inputs(
    specs: Mapping[str, InputSpec] | list[InputSpec],
    given: Mapping[str, Any] | None,
    *,
    strict: bool = True,
    files_root: Path | None = None,
) -> dict[str, Any]:
    """Every declared input, coerced, defaults applied (``None`` for optional ones not
    given). ``strict`` rejects names that are not declared. Names starting with ``_`` are
    the engine's own (``_proposal_id`` of a run an approved proposal started) and pass
    through unchanged. ``files_root`` is where ``files`` inputs must be (default: the
    environment's files root)."""
    by_name = {s.name: s for s in specs} if isinstance(specs, list) else dict(specs)
    given = dict(given or {})
    system = {k: v for k, v in given.items() if isinstance(k, str) and k.startswith("_")}
    if strict:
        unknown = sorted(set(given) - set(by_name) - set(system))
        if unknown:
            raise InputError(
                f"unknown input{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                f"this workflow takes: {', '.join(sorted(by_name)) or '(none)'}"
            )
    out: dict[str, Any] = {}
    missing = []
    for name, spec in by_name.items():
        if name in given and given[name] is not None:
            out[name] = spec.coerce(given[name], files_root=files_root)
        elif spec.required:
            missing.append(name)
        else:
            out[name] = spec.default
    if missing:
        raise InputError(
            f"missing required input{'s' if len(missing) > 1 else ''} "
            f"{', '.join(map(repr, missing))} (pass --input NAME=VALUE)"
        )
    out.update(system)
    return out


def _parse_scalar(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_inputs(pairs: list[str] | None, input_file: Path | None) -> dict[str, Any] | None:
    """``--input k=v`` pairs (values parsed as JSON when they are JSON) over ``--input-file``."""
    data: dict[str, Any] = {}
    if input_file is not None:
        try:
            loaded = json.loads(input_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"--input-file {input_file}: no such file") from None
        except ValueError as exc:
            raise InputError(f"--input-file {input_file}: not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise InputError(f"--input-file {input_file}: expected a JSON object of inputs")
        data.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--input {pair!r}: expected NAME=VALUE")
        data[key.strip()] = _parse_scalar(value)
    return data if (pairs or input_file is not None) else None
