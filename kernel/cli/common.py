"""What every CLI command shares: consoles, the user-error type, input parsing."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

__all__ = ["UserError", "console", "err_console", "parse_inputs"]

# Piped output keeps long lines whole (rich would wrap at 80 columns otherwise).
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


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
            raise UserError(f"--input-file {input_file}: no such file") from None
        except ValueError as exc:
            raise UserError(f"--input-file {input_file}: not valid JSON ({exc})") from None
        if not isinstance(loaded, dict):
            raise UserError(f"--input-file {input_file}: expected a JSON object of inputs")
        data.update(loaded)
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--input {pair!r}: expected NAME=VALUE")
        data[key.strip()] = _parse_scalar(value)
    return data if (pairs or input_file is not None) else None
