"""What the command lines share: the text of a block type's card (``BlockType.card()``),
shown by ``plugins list`` (the kernel's) and ``plugins show`` (the app's)."""

from __future__ import annotations

from typing import Any

__all__ = ["codes_text", "effects_text", "policy_text"]


def policy_text(card: dict[str, Any]) -> str:
    timeout = "none" if card["timeout_ms"] is None else f"{card['timeout_ms'] / 1000:g}s"
    lines = [f"timeout {timeout}", f"retries {card['retries']}"]
    return "\n".join([*lines, card["backoff"]] if card["backoff"] else lines)


def effects_text(card: dict[str, Any]) -> str:
    lines = [f"{e['system']} {e['resource']}: {e['action']}" for e in card["side_effects"]]
    return "\n".join([*lines, f"writes: {card['writes']}"])


def codes_text(card: dict[str, Any]) -> str:
    return "\n".join(f"{c['code']} ({c['retry'] or 'undeclared'})" for c in card["code_table"])
