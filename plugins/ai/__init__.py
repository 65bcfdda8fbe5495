"""The ai family: ``ai_generate``, text from an OpenAI-compatible chat-completions endpoint.

Works with any server speaking that API (OpenAI, llama.cpp's server, Ollama, vLLM...):
``ORCHESTRATOR_BLOCKS_AI_URL`` is the base URL with its version prefix (``.../v1``). Codes
(contract §7.5 plus ``ai.invalid_request``, ``ai.unreachable``, ``ai.not_configured``) are
in :mod:`.codes`; httpx exceptions and provider statuses are translated into them once, in
:mod:`.classify`. Defaults follow contract §6.3: timeout 120 s, 2 retries, ``exp(2s)``. The
block only reads and generates, so it declares no side effects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk.lazy import lazy_attributes

if TYPE_CHECKING:
    from .ai_generate import ai_generate

__all__ = ["ai_generate", "register_block_types"]
# The block module (httpx) is imported when the block type is registered, not with the plugin.
__getattr__, __dir__ = lazy_attributes(__name__, {"ai_generate": ".ai_generate"})


@sdk.hookimpl
def register_block_types(registry: sdk.Registry) -> None:
    from .ai_generate import ai_generate

    registry.add(ai_generate)
