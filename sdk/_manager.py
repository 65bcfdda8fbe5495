"""The pluggy manager of the kernel's plugin host: pluggy's, faster to register a module.

Pluggy asks of every attribute of a plugin whether it is a hook, with a static lookup
(``inspect.getattr_static``) that was most of the time registering a plugin module took: a
module has many attributes (its imports included) and a few hooks. An attribute of a module
that does not carry the project's hook marker is no hook, and is skipped without that
lookup; every other attribute, and every plugin that is not a module, gets pluggy's own
answer.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pluggy

from .hookspecs import PROJECT

__all__ = ["PluginManager"]

_MARKER = f"{PROJECT}_impl"  # the attribute ``@sdk.hookimpl`` sets on a hook function


class PluginManager(pluggy.PluginManager):
    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        if isinstance(plugin, ModuleType) and not hasattr(vars(plugin).get(name), _MARKER):
            return None
        return super().parse_hookimpl_opts(plugin, name)
