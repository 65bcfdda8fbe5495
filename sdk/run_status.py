"""Run states (contract §6 merged with the batch_notify card).

The contract's five states plus the card's: a run can wait for a human
(``awaiting_approval``), finish with some items failed (``partial``), or be refused by its
approver (``rejected``). A run stopped on request (``runs cancel``, Ctrl-C) ends
``canceled``. Every transition is logged as a ``run.<state>`` event.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL_STATES", "RunStatus"]


class RunStatus(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {
        RunStatus.SUCCEEDED,
        RunStatus.PARTIAL,
        RunStatus.FAILED,
        RunStatus.TIMED_OUT,
        RunStatus.REJECTED,
        RunStatus.CANCELED,
    }
)
