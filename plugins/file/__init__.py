"""The file family: ``file_read``, ``file_write``, ``list_directory`` under the files root.

Every path is confined to ``ORCHESTRATOR_BLOCKS_FILES_ROOT`` (default: the working
directory); leaving it (``..``, an absolute path elsewhere, a symlink pointing out) is
``file.invalid_path``. Codes and their retry dispositions are in :mod:`.codes`; the one
translation of ``OSError`` into them is in :mod:`.paths`. Defaults follow contract §6.3:
no timeout, no retries.
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
