"""The email family: ``send_email`` over SMTP (aiosmtplib), or into the local outbox.

Codes (contract §7.5 plus ``email.invalid_request``) are in :mod:`.codes`; aiosmtplib's
failures are mapped onto them once, in :mod:`.transport`. How the message is built from the
block's configuration and its input is in :mod:`.message`. Defaults follow contract §6.3:
timeout 30 s, 3 retries, ``exp(1s)``.
"""

from __future__ import annotations

from orchestrator_blocks import sdk

from .blocks import BLOCK_TYPES, send_email

__all__ = ["BLOCK_TYPES", "register_block_types", "send_email"]


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    for block_type in BLOCK_TYPES:
        registry.add(block_type)
