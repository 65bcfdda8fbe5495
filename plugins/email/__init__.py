"""The email family: ``send_email`` over SMTP (aiosmtplib), or into the local outbox.

Codes (contract §7.5 plus ``email.invalid_request``) are in :mod:`.codes`; aiosmtplib's
failures are mapped onto them once, in :mod:`.transport`. How the message is built from the
block's configuration and its input is in :mod:`.message`. Defaults follow contract §6.3:
timeout 30 s, 3 retries, ``exp(1s)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .blocks import BLOCK_TYPES, send_email

__all__ = ["BLOCK_TYPES", "register_block_types", "send_email"]
# The block module (aiosmtplib, the email package) is imported when the block types are
# registered, not with the plugin.
__getattr__, __dir__ = lazy_attributes(
    __name__, dict.fromkeys(("BLOCK_TYPES", "send_email"), ".blocks")
)


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .blocks import BLOCK_TYPES

    for block_type in BLOCK_TYPES:
        registry.add(block_type)
