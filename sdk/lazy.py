"""Names of a package resolved on first use (PEP 562), so importing it stays cheap.

A package whose public names live in heavier submodules declares where each name lives and
keeps its ``__all__``; the submodule is imported the first time a name is read::

    if TYPE_CHECKING:  # type checkers and IDEs see the real names
        from .blocks import send_email

    __all__ = ["send_email"]
    __getattr__, __dir__ = lazy_attributes(__name__, {"send_email": ".blocks"})

``from package import send_email``, ``package.send_email`` and ``import *`` behave as with
an eager import, also when a name is its submodule's name (``sdk.family``, the function, is
not the module ``sdk/family.py``). A plugin package uses it to import its block modules
only when ``register_block_types`` runs (a command line that only lists its commands does
not).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from importlib import import_module
from types import ModuleType
from typing import Any

__all__ = ["lazy_attributes"]


class _LazyPackage(ModuleType):
    """Importing submodule ``x`` binds it as the package's ``x``; where ``x`` is also a lazy
    name defined in that submodule, the name wins, as after ``from .x import x``."""

    def __setattr__(self, name: str, value: Any) -> None:
        submodule = isinstance(value, ModuleType) and value.__name__ == f"{self.__name__}.{name}"
        if submodule and vars(self)["__lazy__"].get(name) == f".{name}":
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_attributes(
    package: str, where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps each name to the
    module that defines it (relative to ``package`` when it starts with a dot)."""
    module = sys.modules[package]
    namespace = vars(module)
    namespace["__lazy__"] = dict(where)
    module.__class__ = _LazyPackage

    def __getattr__(name: str) -> Any:
        source = where.get(name)
        if source is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(source, package), name)
        namespace[name] = value  # resolved once; later reads are plain attribute reads
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
