"""The SQL family: parameterised queries against a named database (card §3 "context").

``Block.d1_query(sql, params=None, *, database="local", ...)`` (also ``sql_query``) runs
one statement through the kernel's ``sql`` service and outputs the rows as ``Json``.
User input never becomes SQL text: values are bound parameters, and a cohort filter is
compiled over an allow-list of columns into the ``__filter__`` placeholder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .blocks import BLOCK_TYPES

__all__ = ["BLOCK_TYPES", "register_block_types"]
# The block module is imported when the block types are registered, not with the plugin.
__getattr__, __dir__ = lazy_attributes(__name__, {"BLOCK_TYPES": ".blocks"})


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .blocks import BLOCK_TYPES

    for block_type in BLOCK_TYPES:
        registry.add(block_type)
