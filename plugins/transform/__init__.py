"""The transform family: deterministic local compute steps (contract §6.5)."""

from __future__ import annotations

from orchestrator_blocks import sdk

from .blocks import BLOCK_TYPES
from .markdown_to_html import markdown_to_html
from .rss_parse import rss_parse


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    for block_type in (*BLOCK_TYPES, markdown_to_html, rss_parse):
        registry.add(block_type)
