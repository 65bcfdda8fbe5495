"""What every CLI command shares: the consoles and the user-error type."""

from __future__ import annotations

import sys

from rich.console import Console

__all__ = ["UserError", "console", "err_console"]

# Piped output keeps long lines whole (rich would wrap at 80 columns otherwise).
console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
