"""What the command lines share: a rich console made on first print (rich is tens of
milliseconds to import, and ``--help`` prints nothing with it), and the text of a block
type's card (``BlockType.card()``), shown by ``plugins list`` and ``plugins show``."""

from __future__ import annotations

from typing import Any

__all__ = ["LazyConsole", "codes_text", "effects_text", "policy_text"]


class LazyConsole:
    """A ``rich.console.Console(**options)``, made when first used."""

    def __init__(self, **options: Any) -> None:
        self._options: dict[str, Any] = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


def policy_text(card: dict[str, Any]) -> str:
    timeout = "none" if card["timeout_ms"] is None else f"{card['timeout_ms'] / 1000:g}s"
    lines = [f"timeout {timeout}", f"retries {card['retries']}"]
    return "\n".join([*lines, card["backoff"]] if card["backoff"] else lines)


def effects_text(card: dict[str, Any]) -> str:
    lines = [f"{e['system']} {e['resource']}: {e['action']}" for e in card["side_effects"]]
    return "\n".join([*lines, f"writes: {card['writes']}"])


def codes_text(card: dict[str, Any]) -> str:
    return "\n".join(f"{c['code']} ({c['retry'] or 'undeclared'})" for c in card["code_table"])
