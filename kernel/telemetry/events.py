"""The kernel's structlog pipeline: every event of a run, enriched and fanned out to sinks.

One logger serves the whole process; it is built lazily and never touches structlog's
global configuration (a host application's own structlog setup is left alone). Context
comes from structlog contextvars bound by the runtime and the executor; where an event goes
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


def _enrich(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """Add ``ts`` and ``level``; pass every other value through the SDK's redactor.

    Every string (the event name, messages, exception texts included) is scrubbed of
    registered secret values and URL credentials; values under secret-looking keys are
    masked whole; containers and other objects are walked. Numbers pass untouched.
    """
    if "ts" not in event_dict:
        event_dict["ts"] = utc_now_iso()
    event_dict["level"] = "warning" if method == "warn" else method
    return redact_event(event_dict)


def _dispatch(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> Any:
    # A stable key order makes the JSON lines readable: what, when, who, then the rest.
    event = {"event": event_dict.get("event"), "level": event_dict.get("level")}
    get = event_dict.get
    for name in CORRELATION_FIELDS:
        event[name] = get(name)
    event.update(event_dict)
    for sink in _sinks.get():
        sink(event)
    return event_dict


_logger: Any = None


def get_logger() -> Any:
    """The kernel's structlog logger (built on first use)."""
    global _logger
    if _logger is None:
        _logger = structlog.wrap_logger(
            structlog.ReturnLogger(),
            processors=[structlog.contextvars.merge_contextvars, _enrich, _dispatch],
            wrapper_class=structlog.make_filtering_bound_logger(0),
            cache_logger_on_first_use=True,
        )
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
