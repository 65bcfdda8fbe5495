"""The data a template sees: JSON objects and arrays that only answer lookups.

pybars resolves a name with ``context[name]`` and, when that fails, with
``getattr(context, name)``; on a plain ``dict`` a missing ``{{values}}`` would call
``dict.values`` and a missing ``{{count}}`` on a list would render ``0``. These views hide
every method (only ``get`` and an empty ``keys``, which pybars itself needs, stay), so a
missing name renders as nothing, or raises :class:`MissingData` in strict mode. They are
fresh copies: a template can never change the upstream block's output. ``str()`` of an
object or array is its JSON, so ``{{{this}}}`` on a ``Json`` input prints JSON, not a
Python repr.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["MissingData", "to_json", "view"]


class MissingData(Exception):
    """A strict template looked up ``name`` and the data has no such key or index."""

    def __init__(self, name: object) -> None:
        super().__init__(name)
        self.name = str(name)


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in dict.items(obj)}
    if isinstance(obj, list):
        return [_plain(v) for v in list.__iter__(obj)]
    return obj


# The line breaks of ``str.splitlines`` (and JavaScript) that json.dumps leaves raw.
_SAFE = str.maketrans({c: f"\\u{ord(c):04x}" for c in "\x85\u2028\u2029"})


def to_json(obj: Any) -> str:
    """``obj`` (a view or a plain value) as JSON text on one line.

    Safe to write as a JSON Lines record and to embed in an HTML ``<script>``: U+0085,
    U+2028 and U+2029 (line breaks to ``str.splitlines`` and to JavaScript) are escaped, and ``</``
    is written ``<\\/`` so a value cannot close the script element. Both are plain JSON
    escapes: ``json.loads`` gives back the exact value.
    """
    text = json.dumps(_plain(obj), ensure_ascii=False, default=str)
    return text.translate(_SAFE).replace("</", "<\\/")


class _Object(dict):  # type: ignore[type-arg]
    """A JSON object (lenient: a missing key is ``KeyError``, rendered as nothing)."""

    _VISIBLE = frozenset({"keys", "get"})

    @property
    def keys(self) -> str:  # type: ignore[override]
        """pybars only asks *whether* there is ``keys`` (to iterate an object with ``@key``);
        as a value it is empty, so a missing ``{{keys}}`` renders as nothing."""
        return ""

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__") or name in _Object._VISIBLE:
            return super().__getattribute__(name)
        raise AttributeError(name)

    def __missing__(self, key: object) -> Any:
        raise KeyError(key)

    def __str__(self) -> str:
        return to_json(self)

    __repr__ = __str__


class _StrictObject(_Object):
    def __missing__(self, key: object) -> Any:
        raise MissingData(key)

    def get(self, key: object, default: Any = None) -> Any:
        return self[key]


class _Array(list):  # type: ignore[type-arg]
    """A JSON array: ``{{items.0}}``, ``{{items.length}}``, ``{{#each items}}``."""

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__"):
            return super().__getattribute__(name)
        raise AttributeError(name)

    def _absent(self, key: object) -> Any:
        raise KeyError(key)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            if key == "length":
                return len(self)
            if not key.isdigit():
                return type(self)._absent(self, key)
            key = int(key)
        if isinstance(key, int) and not 0 <= key < len(self):
            return type(self)._absent(self, key)
        return list.__getitem__(self, key)

    def __str__(self) -> str:
        return to_json(self)

    __repr__ = __str__


class _StrictArray(_Array):
    def _absent(self, key: object) -> Any:
        raise MissingData(key)


def view(obj: Any, *, strict: bool) -> Any:
    """A lookup-only copy of JSON-like ``obj`` (scalars are returned as they are)."""
    if isinstance(obj, Mapping):
        cls: type[_Object] = _StrictObject if strict else _Object
        return cls({str(k): view(v, strict=strict) for k, v in obj.items()})
    if isinstance(obj, list | tuple):
        arr: type[_Array] = _StrictArray if strict else _Array
        return arr(view(v, strict=strict) for v in obj)
    return obj


def has_key(context: Any, name: str) -> bool:
    """Whether ``context`` (a view) holds ``name``, even with a ``null`` value."""
    return isinstance(context, dict) and dict.__contains__(context, name)
