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
from collections.abc import Callable, MutableMapping
from typing import Any

from orchestrator_blocks.sdk._logfields import CORRELATION_FIELDS, make_logger, shape
from orchestrator_blocks.sdk.redaction import redact_value

__all__ = [
    "CORRELATION_FIELDS",
    "EventSink",
    "emit",
    "get_logger",
    "installed_sinks",
    "redact",
    "sinks_installed",
]

EventSink = Callable[[dict[str, Any]], None]

_sinks: contextvars.ContextVar[tuple[EventSink, ...]] = contextvars.ContextVar(
    "orchestrator_blocks_sinks", default=()
)

redact = redact_value


def _emit(_logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
    """The whole pipeline in one step: shape the event (``sdk._logfields.shape``: bound
    fields, ``ts``, ``level``, redaction, key order), then hand it to every sink."""
    event = shape(method, event_dict)
    for sink in _sinks.get():
        sink(event)
    return event["event"]  # what structlog hands its ``ReturnLogger``: the cheapest value


_logger: Any = None


def get_logger() -> Any:
    """The kernel's structlog logger (built on first use)."""
    global _logger
    if _logger is None:
        _logger = make_logger(_emit).bind()  # the bound logger, not a lazy proxy
    return _logger


class sinks_installed:
    """Send every event emitted in this context (and tasks it starts) to ``sinks`` too."""

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks = sinks

    def __enter__(self) -> None:
        self._token = _sinks.set(_sinks.get() + self._sinks)

    def __exit__(self, *_exc: object) -> None:
        _sinks.reset(self._token)


def emit(level: str, event: str, **fields: Any) -> None:
    """Log ``event`` straight into the pipeline (the runtime's own events: no structlog
    wrapper on the way, the same event out)."""
    _emit(None, level, {"event": event, **fields})


def installed_sinks() -> tuple[EventSink, ...]:
    return _sinks.get()
