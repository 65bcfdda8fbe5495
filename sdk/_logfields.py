"""The correlation fields of what is running, for every log line: one context variable.

The kernel binds ``workflow_id``, ``run_id``, ``parent_run_id``, ``trace_id`` and ``span_id``
around a run, and the executor ``block_id``, ``attempt`` and the block's span around every
attempt. They live in one ``ContextVar`` holding a small dict, so entering a block costs one
``set`` (binding the same fields as separate structlog context variables cost more than the
block's own events). Values are redacted once, when bound. Fields a plugin binds itself with
``structlog.contextvars`` (the fan-out's ``fan_out_item``) are merged too; an event's own
keys win over both. A run keeps its events compressed (:class:`EventRecorder`).
"""

from __future__ import annotations

import contextvars
import json
import zlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import orjson
import structlog

from .redaction import redact_event, redact_value
from .services import utc_now_iso
from .values import to_jsonable

__all__ = [
    "CORRELATION_FIELDS",
    "EventRecorder",
    "bind",
    "bound",
    "current",
    "decoded",
    "encode_event",
    "log_fields",
    "make_logger",
    "merge_into",
    "reset",
    "shape",
]

CORRELATION_FIELDS = (
    "workflow_id",
    "run_id",
    "block_id",
    "attempt",
    "origin",
    "domain",
    "code",
    "trace_id",
    "span_id",
    "ts",
)
"""Contract §8's fields: on every event, in this order after ``event`` and ``level``."""

_CORRELATION = frozenset(CORRELATION_FIELDS)
_Bound = tuple[Mapping[str, Any], dict[str, Any], dict[str, Any]]
"""What is bound here: the fields; the correlation fields in their order (``None`` where not
bound, ``ts`` a placeholder); the other fields. Computed once per ``bind``, read by every
event."""

_NOTHING: _Bound = ({}, dict.fromkeys(CORRELATION_FIELDS), {})
_fields: contextvars.ContextVar[_Bound] = contextvars.ContextVar(
    "orchestrator_blocks_log_fields", default=_NOTHING
)
_STRUCTLOG: dict[str, contextvars.ContextVar[Any]] | None = getattr(
    structlog.contextvars, "_CONTEXT_VARS", None
)
_PREFIX = len("structlog_")


def bind(**fields: Any) -> contextvars.Token[_Bound]:
    """Add ``fields`` (redacted now) for this context and the tasks it starts."""
    merged, correlation, others = _fields.get()
    merged, correlation, copied = dict(merged), dict(correlation), False
    for key, value in fields.items():
        if value is not None and value.__class__ is not int:
            value = redact_value(value, key)
        merged[key] = value
        if key in _CORRELATION:
            correlation[key] = value
        else:
            if not copied:
                others, copied = dict(others), True
            others[key] = value
    return _fields.set((merged, correlation, others))


def reset(token: contextvars.Token[_Bound]) -> None:
    _fields.reset(token)


class bound:
    """``bind`` for the duration of a ``with`` block."""

    __slots__ = ("_token", "_values")

    def __init__(self, **fields: Any) -> None:
        self._values = fields

    def __enter__(self) -> None:
        self._token = bind(**self._values)

    def __exit__(self, *_exc: object) -> None:
        _fields.reset(self._token)


log_fields = bound
"""``with sdk.log_fields(fan_out_item=key):`` every event logged inside (runs started
there included) carries these fields, redacted once here (cheaper than binding them with
``structlog.contextvars``, which every event would have to look up and redact again)."""


def current() -> Mapping[str, Any]:
    """The fields bound here (already redacted)."""
    return _fields.get()[0]


def structlog_fields() -> dict[str, Any]:
    """What plugins bound with ``structlog.contextvars`` here (not redacted)."""
    if _STRUCTLOG is None:  # a structlog without its registry: the slow, public way
        return dict(structlog.contextvars.get_contextvars())
    found = {}
    for name, var in tuple(_STRUCTLOG.items()):
        value = var.get(Ellipsis)
        if value is not Ellipsis:
            found[name[_PREFIX:]] = value
    return found


def merge_into(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the bound fields, then structlog's, under the event's own."""
    for key, value in _fields.get()[0].items():
        event_dict.setdefault(key, value)
    for key, value in structlog_fields().items():
        event_dict.setdefault(key, value)
    return event_dict


def shape(method: str, event_dict: MutableMapping[str, Any]) -> dict[str, Any]:
    """An event as sinks get it: ``event``, ``level``, the correlation fields (null where
    not applicable), then the event's own fields, then the bound ones.

    The event's own values pass through the redactor (secret-looking keys masked whole, URL
    credentials and registered secret values scrubbed from every string); fields bound
    here were redacted when bound, those bound with structlog are redacted now.
    """
    own = redact_event(event_dict)
    fields, correlation, others = _fields.get()
    event = {"event": own.get("event"), "level": "warning" if method == "warn" else method}
    event.update(correlation)  # an own value below replaces one in place: the order stays
    plugin_bound = structlog_fields()
    if plugin_bound:
        for name in CORRELATION_FIELDS:
            if name not in own and name not in fields:
                event[name] = redact_value(plugin_bound.get(name), name)
    if "ts" not in own:
        event["ts"] = utc_now_iso()
    event.update(own)
    for key, value in others.items():
        if key not in event:
            event[key] = value
    for key, value in plugin_bound.items():
        if key not in event:
            event[key] = redact_value(value, key)
    return event


def make_logger(emit: Any) -> Any:
    """A structlog bound logger whose one processor is ``emit`` (``emit(logger, method,
    event_dict)``), with ``debug`` to ``error`` calling it straight: the same event dict
    structlog would build (bound context, then the call's keys, then ``event``) without
    its generic dispatch. Formatting arguments, ``exception`` and the rest go through
    structlog itself."""
    base: Any = structlog.make_filtering_bound_logger(0)

    def direct(name: str) -> Any:
        slow = getattr(base, name)

        def meth(self: Any, event: str, *args: Any, **kw: Any) -> Any:
            if args:
                return slow(self, event, *args, **kw)
            context = self._context
            kw["event"] = event
            return emit(None, name, {**context, **kw} if context else kw)

        meth.__name__ = name
        return meth

    methods = {name: direct(name) for name in ("debug", "info", "warning", "error")}
    methods.update(warn=methods["warning"], msg=methods["info"])
    fast = type("BoundLogger", (base,), methods)
    return structlog.wrap_logger(structlog.ReturnLogger(), processors=[emit], wrapper_class=fast)


_OPTIONS = (
    orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def _default(obj: Any) -> Any:
    return to_jsonable(obj) if isinstance(obj, bytes) else str(obj)


def encode_event(event: dict[str, Any]) -> bytes:
    """One JSON line; the same event asked twice in a row (the run's own list, then the
    file) is encoded once."""
    global _last_line
    last = _last_line
    if last[0] is event:
        return last[1]
    try:
        line = orjson.dumps(event, default=_default, option=_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):  # e.g. an int beyond 64 bits: json copes
        text = json.dumps(event, default=_default, ensure_ascii=False, separators=(",", ":"))
        line = (text + "\n").encode("utf-8")
    _last_line = (event, line)
    return line


_last_line: tuple[Any, bytes] = (None, b"")


class EventRecorder:
    """A run's events kept as JSON lines, compressed by the 500 (zlib, fastest level): a
    10,000-block run holds about 2 MB of them instead of 20 MB of dicts."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self._lines: list[bytes] = []

    def add(self, line: bytes) -> None:
        self._lines.append(line)
        if len(self._lines) >= 500:
            self.chunks.append(zlib.compress(b"".join(self._lines), 1))
            self._lines = []

    def recorded(self) -> tuple[bytes, ...]:
        if self._lines:
            self.chunks.append(zlib.compress(b"".join(self._lines), 1))
            self._lines = []
        return tuple(self.chunks)


def decoded(chunks: tuple[bytes, ...], *names: str) -> Iterator[dict[str, Any]]:
    """The events of :meth:`EventRecorder.recorded`, in order (only those named ``names``
    when given: the others are not even parsed)."""
    heads = tuple(b'{"event":' + orjson.dumps(name) for name in names)
    for chunk in chunks:
        for line in zlib.decompress(chunk).splitlines():
            if not heads or line.startswith(heads):
                yield orjson.loads(line)
