"""The kernel's structlog pipeline: every event of a run, enriched and fanned out to sinks.

One logger serves the whole process; it is built lazily and never touches structlog's
global configuration (a host application's own structlog setup is left alone). Context
comes from the fields the runtime and the executor bind (``sdk._logfields``) and from
structlog contextvars a plugin binds; where an event goes
comes from a contextvar too: each run installs its sinks (its in-memory event list, the
JSON-lines file) for the duration of its task, so concurrent runs never mix their events
and a child run's events also reach its parent's collectors.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

from orchestrator_blocks.sdk._logfields import current, structlog_fields
from orchestrator_blocks.sdk.redaction import redact_event, redact_value
from orchestrator_blocks.sdk.services import utc_now_iso

__all__ = [
    "CORRELATION_FIELDS",
    "EventSink",
    "get_logger",
    "installed_sinks",
    "redact",
    "sinks_installed",
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

EventSink = Callable[[dict[str, Any]], None]

_sinks: contextvars.ContextVar[tuple[EventSink, ...]] = contextvars.ContextVar(
    "orchestrator_blocks_sinks", default=()
)

redact = redact_value


def _emit(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The whole pipeline in one step: merge the bound correlation fields, add ``ts`` and
    ``level``, redact, order the keys, and hand the event to every installed sink.

    The event's own values pass through the SDK's redactor (secret-looking keys masked
    whole, URL credentials and registered secret values scrubbed from every string); the
    bound fields were redacted when bound. A stable key order keeps the JSON lines
    readable: what, when, who, then the rest.
    """
    own = redact_event(event_dict)
    bound = current()
    plugin_bound = structlog_fields()
    event = {"event": own.get("event"), "level": "warning" if method == "warn" else method}
    for name in CORRELATION_FIELDS:
        if name in own:
            event[name] = own[name]
        elif name in bound:
            event[name] = bound[name]
        else:
            event[name] = redact_value(plugin_bound.get(name), name)
    if "ts" not in own:
        event["ts"] = utc_now_iso()
    event.update(own)
    for key, value in bound.items():
        if key not in event:
            event[key] = value
    for key, value in plugin_bound.items():
        if key not in event:
            event[key] = redact_value(value, key)
    for sink in _sinks.get():
        sink(event)
    return event["event"]  # what structlog hands its ``ReturnLogger``: the cheapest value


_logger: Any = None


def get_logger() -> Any:
    """The kernel's structlog logger (built on first use)."""
    global _logger
    if _logger is None:
        _logger = structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[_emit],
            wrapper_class=structlog.make_filtering_bound_logger(0),
        ).bind()  # the bound logger itself, not a lazy proxy resolving it on every call
    return _logger


@contextmanager
def sinks_installed(*sinks: EventSink) -> Iterator[None]:
    """Send every event emitted in this context (and tasks it starts) to ``sinks`` too."""
    token = _sinks.set(_sinks.get() + sinks)
    try:
        yield
    finally:
        _sinks.reset(token)


def installed_sinks() -> tuple[EventSink, ...]:
    return _sinks.get()
