"""The hooks a plugin may implement (pluggy specifications).

This module is the contract between the kernel and every block family, built-in or
third-party. A plugin is any module or object with functions marked ``@sdk.hookimpl`` whose
names match the specifications below; it may accept a subset of the arguments. Plugins
are found through the ``orchestrator_blocks.plugins`` entry-point group, or registered at
run time with ``orchestrator_blocks.register_plugin(obj)``.
"""

from __future__ import annotations

import pluggy

from .registry import Registry

__all__ = ["PROJECT", "hookimpl", "hookspec", "register_block_types"]

PROJECT = "orchestrator_blocks"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_block_types(registry: Registry) -> None:
    """Add this plugin's block types to ``registry`` with ``registry.add(block_type)``.

    Called once per plugin, when the plugin is loaded (at the first use of the block
    registry in a process, or right away for ``register_plugin``). Each type carries its
    domain, its domain codes and its default policy (see :func:`block_type`). A type id
    another plugin already registered is recorded as a conflict naming both distributions;
    the return value is ignored.
    """
