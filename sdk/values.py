"""Values that flow between blocks (contract §10): ``Empty``, ``Text``, ``Json``, ``Bytes``.

A block receives one :data:`Value` and returns one. Returning a plain payload is fine:
:func:`as_value` wraps ``None`` as ``Empty``, ``str`` as ``Text``, ``bytes`` as ``Bytes`` and
anything else JSON-like as ``Json``. ``payload`` unwraps again; that is what
``RunResult.output(block)`` and ``custom_transform`` functions see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = ["Bytes", "Empty", "Json", "Payload", "Text", "Value", "as_value", "to_jsonable"]

Payload: TypeAlias = str | bytes | bool | int | float | list[Any] | dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Empty:
    """No data (what a trigger or an entry block gets when the run has no input)."""

    kind = "empty"

    @property
    def payload(self) -> None:
        return None

    def text(self) -> str:
        return ""

    def json(self) -> Any:
        return None


@dataclass(frozen=True, slots=True)
class Text:
    value: str
    kind = "text"

    @property
    def payload(self) -> str:
        return self.value

    def text(self) -> str:
        return self.value

    def json(self) -> Any:
        """Parse the text as JSON; raises ``ValueError`` when it is not JSON."""
        return json.loads(self.value)


@dataclass(frozen=True, slots=True)
class Json:
    value: Any
    kind = "json"

    @property
    def payload(self) -> Any:
        return self.value

    def text(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return json.dumps(to_jsonable(self.value), ensure_ascii=False)

    def json(self) -> Any:
        return self.value


@dataclass(frozen=True, slots=True)
class Bytes:
    value: bytes
    kind = "bytes"

    @property
    def payload(self) -> bytes:
        return self.value

    def text(self) -> str:
        """Decode as UTF-8; raises ``UnicodeDecodeError`` on binary data."""
        return self.value.decode("utf-8")

    def json(self) -> Any:
        return json.loads(self.value)


Value: TypeAlias = Empty | Text | Json | Bytes
_VALUE_TYPES = (Empty, Text, Json, Bytes)


def as_value(obj: Any) -> Value:
    """Wrap a plain payload as a :data:`Value` (values pass through unchanged)."""
    if isinstance(obj, _VALUE_TYPES):
        return obj
    if obj is None:
        return Empty()
    if isinstance(obj, str):
        return Text(obj)
    if isinstance(obj, bytes | bytearray | memoryview):
        return Bytes(bytes(obj))
    return Json(obj)


_NATIVE_SCALARS = frozenset({str, int, float, bool, type(None)})


def is_json_native(obj: Any) -> bool:
    """Whether ``obj`` is already plain JSON data: str-keyed dicts, lists and scalars."""
    cls = obj.__class__
    if cls in _NATIVE_SCALARS:
        return True
    if cls is dict:
        return all(k.__class__ is str and is_json_native(v) for k, v in obj.items())
    if cls is list:
        return all(is_json_native(v) for v in obj)
    return False


def json_native(obj: Any) -> Any:
    """``obj`` itself when it is plain JSON data already, else :func:`to_jsonable`'s copy
    (a large run input is not copied just to be stored)."""
    return obj if is_json_native(obj) else to_jsonable(obj)


def to_jsonable(obj: Any) -> Any:
    """A JSON-encodable copy of ``obj``: bytes become UTF-8 text (or ``<N bytes>``)."""
    if obj.__class__ in _NATIVE_SCALARS:
        return obj
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        try:
            return obj.decode("utf-8")
        except UnicodeDecodeError:
            return f"<{len(obj)} bytes>"
    if isinstance(obj, _VALUE_TYPES):
        return to_jsonable(obj.payload)
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    return str(obj)
