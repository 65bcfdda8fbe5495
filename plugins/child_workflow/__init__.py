"""The child_workflow family: a whole workflow used as one block (contract §6.6).

Timeout infinite and no retries by default; a policy set on the child-workflow block governs
the child run as a whole, and each retry reruns the child from its entry blocks. A failure
inside the child reaches the parent as ``child_workflow.failed`` with the child's envelope
as ``cause``. Used as an ``on_error`` handler, the child receives the envelope as its input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .block import BLOCK_TYPES, child_workflow

__all__ = ["BLOCK_TYPES", "child_workflow", "register_block_types"]
# The block type (and its family and codes, in .block) is made when block types are
# registered, not with the plugin (`--help` loads every plugin).
__getattr__, __dir__ = lazy_attributes(
    __name__, dict.fromkeys(("BLOCK_TYPES", "child_workflow"), ".block")
)


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .block import BLOCK_TYPES

    for block_type in BLOCK_TYPES:
        registry.add(block_type)
