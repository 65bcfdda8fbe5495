"""The transform family: deterministic local compute steps (contract §6.5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .blocks import BLOCK_TYPES
    from .markdown_to_html import markdown_to_html
    from .rss_parse import rss_parse

__all__ = ["BLOCK_TYPES", "markdown_to_html", "register_block_types", "rss_parse"]
# The block modules are imported when the block types are registered, not with the plugin.
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "BLOCK_TYPES": ".blocks",
        "markdown_to_html": ".markdown_to_html",
        "rss_parse": ".rss_parse",
    },
)


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .blocks import BLOCK_TYPES
    from .markdown_to_html import markdown_to_html
    from .rss_parse import rss_parse

    for block_type in (*BLOCK_TYPES, markdown_to_html, rss_parse):
        registry.add(block_type)
