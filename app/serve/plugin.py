"""``serve``'s triggers and executors, registered like any plugin's."""

from __future__ import annotations

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.hookspecs import Executors, Triggers


@sdk.hookimpl
def register_triggers(triggers: Triggers) -> None:
    from .triggers import (
        ApprovalTrigger,
        CronTrigger,
        EventTrigger,
        RecoveryTrigger,
        VerifyTrigger,
    )

    for trigger in (
        CronTrigger(),
        EventTrigger(),
        ApprovalTrigger(),
        RecoveryTrigger(),
        VerifyTrigger(),
    ):
        triggers.add(trigger)


@sdk.hookimpl
def register_executors(executors: Executors) -> None:
    from .executors import InProcessExecutor

    executors.add("in_process", InProcessExecutor)
