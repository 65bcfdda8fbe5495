"""The cron family: ``cron``, the trigger block of scheduled workflows.

The block type carries ``next_fire(config, after)`` (see :mod:`.schedule`), which a
scheduler calls to know when to start the next run. In a run, the block outputs the firing
time as ``Text`` (ISO 8601, UTC, whole seconds, e.g. ``2026-02-08T09:15:00Z``). Where it
comes from, first match wins:

1. the service ``trigger.fire_time``, when a host application lends one;
2. the run's input, when it is an ISO 8601 timestamp: ``serve`` starts each scheduled run
   with its firing time as the input (kernel/scheduler.py), so the output is the scheduled
   time, not the moment the run happened to start;
3. otherwise (a manual run, with no input or some other input) the current time.

Codes are in :mod:`.codes`. Defaults follow contract §6.3: no timeout, no retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .block import BLOCK_TYPES, FIRE_TIME_SERVICE, cron

__all__ = ["BLOCK_TYPES", "FIRE_TIME_SERVICE", "cron", "register_block_types"]
# The block type is made when block types are registered, not with the plugin (`--help`
# loads every plugin).
__getattr__, __dir__ = lazy_attributes(
    __name__, dict.fromkeys(("BLOCK_TYPES", "FIRE_TIME_SERVICE", "cron"), ".block")
)


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .block import BLOCK_TYPES

    for block_type in BLOCK_TYPES:
        registry.add(block_type)
