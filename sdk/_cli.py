"""What the command lines share: a start without needless work, and the text of a block
type's card (``BlockType.card()``, shown by ``plugins list`` and ``plugins show``).

Typer turns a whole app into click commands (every signature read, every option built)
before it parses the first argument, and rich is tens of milliseconds to import: a command
line with many verbs would pay both on every start, ``--help`` included. :func:`lazy_group`
lists each verb by its name and the first paragraph of its help, and converts only the verb
that runs (or whose help is asked for); :class:`LazyConsole` imports rich on first print.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import (
    get_command_from_info,
    get_command_name,
    get_group,
    get_group_from_info,
    solve_typer_info_defaults,
)

__all__ = [
    "LazyConsole",
    "codes_text",
    "effects_text",
    "lazy_group",
    "policy_text",
    "summary",
]


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


def summary(help: str | None) -> str | None:
    """The first paragraph of ``help`` on one line (click's listing would stop at the first
    sentence, or cut the line short)."""
    return " ".join((help or "").split("\n\n")[0].split()) or None


def _summarised(command: Any) -> Any:
    """``command``, its own verbs listed by their :func:`summary`."""
    for sub in getattr(command, "commands", {}).values():
        _summarised(sub)
    command.short_help = command.short_help or summary(command.help)
    return command


class _Verb(TyperCommand):
    """A verb shown by its name and help; typer makes its click command when it is used."""

    def __init__(self, make: Callable[[], Any], **shown: Any) -> None:
        super().__init__(**shown, rich_markup_mode=None)
        self._make = make

    def make_context(self, *args: Any, **kwargs: Any) -> Any:
        return _summarised(self._make()).make_context(*args, **kwargs)


def lazy_group(app: typer.Typer) -> TyperGroup:
    """``app`` as click's root group, as typer would make it, with no verb converted yet."""
    mode: dict[str, Any] = {"pretty_exceptions_short": app.pretty_exceptions_short}
    mode["rich_markup_mode"] = app.rich_markup_mode
    verbs: dict[str, Any] = {}
    for c in app.registered_commands:
        assert c.callback is not None, "a command has a function"
        name = c.name or get_command_name(c.callback.__name__)
        text = inspect.getdoc(c.callback) if c.help is None else inspect.cleandoc(c.help)
        verbs[name] = _Verb(
            partial(get_command_from_info, c, **mode),
            name=name,
            help=text,
            short_help=c.short_help or summary(text),
            hidden=c.hidden,
            deprecated=c.deprecated,
        )
    for g in app.registered_groups:
        make = partial(get_group_from_info, g, suggest_commands=app.suggest_commands, **mode)
        s = solve_typer_info_defaults(g)
        if not s.name:  # a group added without a name: its verbs are the root's
            verbs.update(_summarised(make()).commands)
            continue
        short = s.short_help or summary(s.help)
        verbs[s.name] = _Verb(
            make,
            name=s.name,
            help=s.help,
            short_help=short,
            hidden=s.hidden,
            deprecated=s.deprecated,
        )
    shell = copy.copy(app)  # the root's own settings and options, none of its verbs
    shell.registered_commands, shell.registered_groups = [], []
    root = get_group(shell)
    root.commands = verbs
    return root


def policy_text(card: dict[str, Any]) -> str:
    timeout = "none" if card["timeout_ms"] is None else f"{card['timeout_ms'] / 1000:g}s"
    lines = [f"timeout {timeout}", f"retries {card['retries']}"]
    return "\n".join([*lines, card["backoff"]] if card["backoff"] else lines)


def effects_text(card: dict[str, Any]) -> str:
    lines = [f"{e['system']} {e['resource']}: {e['action']}" for e in card["side_effects"]]
    return "\n".join([*lines, f"writes: {card['writes']}"])


def codes_text(card: dict[str, Any]) -> str:
    return "\n".join(f"{c['code']} ({c['retry'] or 'undeclared'})" for c in card["code_table"])
