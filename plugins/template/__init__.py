"""The template family: ``template_handlebars``, Handlebars templates rendered by pybars3.

Codes and their dispositions are in :mod:`.codes`; pybars is wrapped, and its failures
classified, in :mod:`.engine`; what a template sees of the input is :mod:`.data`.
Defaults follow contract §6.3/§6.5: no timeout, no retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .block import BLOCK_TYPES, render_email, template_handlebars

__all__ = ["BLOCK_TYPES", "register_block_types", "render_email", "template_handlebars"]
# The block types (and pybars) are made when block types are registered, not with the
# plugin (`--help` loads every plugin).
__getattr__, __dir__ = lazy_attributes(
    __name__, dict.fromkeys(("BLOCK_TYPES", "render_email", "template_handlebars"), ".block")
)


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .block import BLOCK_TYPES

    for block_type in BLOCK_TYPES:
        registry.add(block_type)
