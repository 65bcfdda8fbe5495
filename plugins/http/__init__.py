"""The http family: ``http_request``, HTTP calls on the family's ``httpx.AsyncClient`` per run.

Codes (contract §7.5's baseline plus ``http.connection`` and ``http.invalid_response``) are
in :mod:`.codes`; httpx exceptions and HTTP statuses become those codes in the SDK's HTTP
boundary (``sdk.http``), and what may be logged about a request is decided by the SDK's
redactor (``sdk.redaction``), the same for every family. Defaults follow contract §6.3:
timeout 30 s, 2 retries, ``exp(1s, x2, jitter 20%, cap 30s)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .http_request import http_request

__all__ = ["http_request", "register_block_types"]
# The block module (httpx) is imported when the block type is registered, not with the plugin.
__getattr__, __dir__ = lazy_attributes(__name__, {"http_request": ".http_request"})


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .http_request import http_request

    registry.add(http_request)
