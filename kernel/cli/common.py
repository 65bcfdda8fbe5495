"""What every CLI command shares: the consoles and the user-error type."""

from __future__ import annotations

import sys

from orchestrator_blocks.sdk._cli import LazyConsole

__all__ = ["UserError", "console", "err_console"]

# Made on first print (not for --help); piped output keeps long lines whole (not 80 columns).
console = LazyConsole(highlight=False, width=None if sys.stdout.isatty() else 200)
err_console = LazyConsole(stderr=True, highlight=False, soft_wrap=True)


class UserError(Exception):
    """A mistake the user can fix; printed as one line, exit code 2 (or ``exit_code``)."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code
