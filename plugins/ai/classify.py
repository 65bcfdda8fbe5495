"""What the ai family adds to the SDK's HTTP boundary: its wording and the provider's voice.

Codes, retry dispositions, ``Retry-After`` and redaction are the SDK's (``sdk.http``,
``sdk.redaction``); retryable conditions follow contract §6.3 (upstream timeout, rate
limit, provider 5xx) plus a connection the provider refused or dropped (``ai.unreachable``:
a local model server that is still starting). What stays here is family-specific: the
phrases that read well after "the AI provider at <url>", and where an OpenAI-compatible
server puts its own explanation of a failure.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from orchestrator_blocks.sdk.http import Cause

__all__ = ["PHRASES", "provider_message"]

PHRASES: Mapping[Cause, str] = {
    "local_protocol_error": "request could not be sent",
    "too_many_redirects": "redirected too many times",
    "decoding_error": "sent a body that could not be decoded",
    "transport_error": "is unreachable",
}


def provider_message(body: bytes) -> str:
    """The provider's own explanation (OpenAI ``{"error": {"message": ...}}``), or the body.

    Not cut and not scrubbed: the caller scrubs it first and then cuts it
    (``Redactor.snippet``), so a secret is never shown in part.
    """
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
        if isinstance(error, str):
            return error
    return body.decode("utf-8", errors="replace")
