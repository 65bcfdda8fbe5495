"""The fan-out family: ``for_each`` runs a workflow once per item (the card's fan-out).

Per item: a child run of the per-item workflow whose input carries an idempotency key
(``<workflow_id>:<approved proposal or run>:<item key>``), so a retried item, a resumed
run or a re-run of the same approved action never sends twice (``send_email`` claims the
key in the store). Items run in a bounded pool, are retried one by one, and a circuit
breaker and kill switches stop new items. Only counts are kept; per-item events go to the
log files, not to the run's event list. Outcomes and the run's status are described on
:func:`for_each`; codes in :mod:`.codes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .block import BLOCK_TYPES, for_each
    from .codes import CODES, DOMAIN

__all__ = ["BLOCK_TYPES", "CODES", "DOMAIN", "for_each", "register_block_types"]
# The block module (asyncio, the item runner) is imported when the block type is
# registered, not with the plugin.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {"BLOCK_TYPES": ".block", "for_each": ".block", "CODES": ".codes", "DOMAIN": ".codes"},
)


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .block import BLOCK_TYPES

    for block_type in BLOCK_TYPES:
        registry.add(block_type)
