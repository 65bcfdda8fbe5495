"""The contract family: the blocks a declarative workflow contract compiles into.

``contract_inputs`` validates the run's inputs against the contract's declarations;
``contract_context`` gathers the inputs and the context queries' rows into one mapping;
``precondition`` evaluates the contract's safety rules over it (``block`` stops the run
before any write with ``precondition.blocked``; ``warn`` records ``precondition.warned``
and continues).
"""

from __future__ import annotations

from orchestrator_blocks import sdk

from .blocks import FAMILY


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    registry.add(FAMILY)
