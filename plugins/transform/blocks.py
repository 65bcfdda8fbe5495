"""Deterministic local transforms (contract §6.5: no retries, no timeout by default).

Input shapes: a ``Json`` value is used as is; a ``Text`` value is parsed as JSON where a
block needs structured data (``transform.parse_failed`` when it is not JSON).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from orchestrator_blocks import sdk

from .codes import EXECUTION_FAILED, FAMILY, INVALID_INPUT, PARSE_FAILED


def _structured(value: sdk.Value, block: str) -> Any:
    if isinstance(value, sdk.Json):
        return value.value
    if isinstance(value, sdk.Text | sdk.Bytes):
        try:
            return value.json()
        except ValueError as exc:
            raise sdk.BlockError(
                PARSE_FAILED, f"{block} expects JSON input; could not parse it: {exc}"
            ) from None
    raise sdk.BlockError(INVALID_INPUT, f"{block} expects JSON input, got nothing")


def _as_text(item: Any) -> str:
    return sdk.as_value(item).text()


def _validate_combine(config: Mapping[str, Any]) -> None:
    if config["mode"] not in ("concat", "list", "merge"):
        raise ValueError(f"mode must be 'concat', 'list' or 'merge', got {config['mode']!r}")


@FAMILY.block_type("combine", validate=_validate_combine)
def combine(
    ctx: sdk.RunContext, value: sdk.Value, mode: str = "concat", separator: str = "\n"
) -> sdk.Value:
    """Combine the outputs of several predecessors into one value.

    A block with several predecessors receives a ``Json`` list of their payloads (in link
    order). ``concat`` joins their text with ``separator``; ``list`` keeps the list;
    ``merge`` merges JSON objects left to right.
    """
    items = (
        value.value
        if isinstance(value, sdk.Json) and isinstance(value.value, list)
        else [value.payload]
    )
    if mode == "list":
        return sdk.Json(list(items))
    if mode == "merge":
        merged: dict[str, Any] = {}
        for i, item in enumerate(items):
            obj = _structured(sdk.as_value(item), "combine(merge)")
            if not isinstance(obj, dict):
                raise sdk.BlockError(
                    INVALID_INPUT, f"combine(merge) item {i} is {type(obj).__name__}, not an object"
                )
            merged.update(obj)
        return sdk.Json(merged)
    return sdk.Text(separator.join(_as_text(i) for i in items if i is not None))


def _validate_fn(config: Mapping[str, Any]) -> None:
    if not callable(config["fn"]):
        raise TypeError(f"custom_transform needs a callable, got {type(config['fn']).__name__}")


def _failed(fn: Callable[[Any], Any], exc: Exception) -> sdk.BlockError:
    name = getattr(fn, "__qualname__", type(fn).__name__)
    return sdk.BlockError(
        EXECUTION_FAILED,
        f"custom transform {name} raised {type(exc).__name__}: {exc}",
        details={"exception_type": type(exc).__name__, "function": name},
    )


async def _finish(awaitable: Awaitable[Any], fn: Callable[[Any], Any]) -> sdk.Value:
    try:
        result = await awaitable
    except sdk.BlockError:
        raise
    except Exception as exc:
        raise _failed(fn, exc) from exc
    return sdk.as_value(result)


@FAMILY.block_type("custom_transform", validate=_validate_fn)
def custom_transform(
    ctx: sdk.RunContext, value: sdk.Value, fn: Callable[[Any], Any]
) -> sdk.Value | Awaitable[sdk.Value]:
    """Apply your function to the input payload and pass on what it returns.

    ``fn`` may be sync or async; it takes ``None``, ``str``, JSON-like or ``bytes`` and
    returns one. A ``BlockError`` it raises keeps its code; any other exception becomes
    ``transform.execution_failed``. With a timeout (or a run timeout), ``fn`` is called in a
    worker thread so the timeout can end the attempt (an async ``fn`` only builds its
    coroutine there; it is awaited on the event loop).
    """
    try:
        result = fn(value.payload)
    except sdk.BlockError:
        raise
    except Exception as exc:
        raise _failed(fn, exc) from exc
    if inspect.isawaitable(result):
        return _finish(result, fn)
    return sdk.as_value(result)


@FAMILY.block_type("split_lines")
def split_lines(
    ctx: sdk.RunContext, value: sdk.Value, keep_empty: bool = False, strip: bool = True
) -> sdk.Value:
    """Split text into a ``Json`` list of lines (blank lines dropped unless ``keep_empty``)."""
    try:
        text = value.text()
    except UnicodeDecodeError as exc:
        raise sdk.BlockError(INVALID_INPUT, f"split_lines expects text: {exc}") from None
    lines = [ln.strip() if strip else ln for ln in text.splitlines()]
    return sdk.Json([ln for ln in lines if keep_empty or ln.strip()])


def _validate_keys(config: Mapping[str, Any]) -> None:
    keys = config["keys"]
    if isinstance(keys, str):
        config["keys"] = [keys]  # type: ignore[index]
    elif not (isinstance(keys, Sequence) and keys and all(isinstance(k, str) for k in keys)):
        raise ValueError("keys must be a key name or a non-empty list of key names")


@FAMILY.block_type("split_by_keys", validate=_validate_keys)
def split_by_keys(ctx: sdk.RunContext, value: sdk.Value, keys: Sequence[str]) -> sdk.Value:
    """Keep only ``keys`` of a JSON object (or of every object in a JSON list).

    A missing key is ``transform.invalid_input`` naming it, so schema drift upstream fails
    here, at the boundary, rather than three blocks later.
    """
    data = _structured(value, "split_by_keys")

    def pick(obj: Any, where: str) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise sdk.BlockError(
                INVALID_INPUT, f"split_by_keys expects objects; {where} is {type(obj).__name__}"
            )
        missing = [k for k in keys if k not in obj]
        if missing:
            raise sdk.BlockError(
                INVALID_INPUT,
                f"split_by_keys: {where} has no key {', '.join(map(repr, missing))}",
                details={"missing": missing, "present": sorted(obj)[:20]},
            )
        return {k: obj[k] for k in keys}

    if isinstance(data, list):
        return sdk.Json([pick(item, f"item {i}") for i, item in enumerate(data)])
    return sdk.Json(pick(data, "the input"))


@FAMILY.block_type("select_first")
def select_first(
    ctx: sdk.RunContext, value: sdk.Value, where: Mapping[str, Any] | None = None
) -> sdk.Value:
    """The first item of a JSON list (optionally the first whose fields equal ``where``);
    for text, the first non-blank line. Nothing to select is ``transform.invalid_input``."""
    if isinstance(value, sdk.Text) and where is None:
        try:
            data: Any = value.json()
        except ValueError:
            for line in value.value.splitlines():
                if line.strip():
                    return sdk.Text(line)
            raise sdk.BlockError(INVALID_INPUT, "select_first: the text has no line") from None
    else:
        data = _structured(value, "select_first")
    if not isinstance(data, list):
        raise sdk.BlockError(
            INVALID_INPUT, f"select_first expects a list, got {type(data).__name__}"
        )
    for item in data:
        if where is None or (
            isinstance(item, dict) and all(item.get(k) == v for k, v in where.items())
        ):
            return sdk.as_value(item)
    what = f"no item matches {dict(where)}" if where else "the list is empty"
    raise sdk.BlockError(INVALID_INPUT, f"select_first: {what}")


BLOCK_TYPES = (combine, custom_transform, split_lines, split_by_keys, select_first)
