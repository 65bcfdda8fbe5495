"""The contract family: the blocks a declarative workflow contract compiles into.

``contract_inputs`` validates the run's inputs against the contract's declarations;
``contract_context`` gathers the inputs and the context queries' rows into one mapping;
``precondition`` evaluates the contract's safety rules over it (``block`` stops the run
before any write with ``precondition.blocked``; ``warn`` records ``precondition.warned``
and continues).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .blocks import FAMILY

__all__ = ["FAMILY", "register_block_types"]
# The block module is imported when the block types are registered, not with the plugin.
__getattr__, __dir__ = lazy_attributes(__name__, {"FAMILY": ".blocks"})


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .blocks import FAMILY

    registry.add(FAMILY)
