"""Logging and tracing owned by the kernel (contract §8, DESIGN §5)."""

from __future__ import annotations

import threading
from pathlib import Path

from orchestrator_blocks.sdk import NoopTracing, Settings, Tracing

from .events import CORRELATION_FIELDS, EventSink, get_logger, redact, sinks_installed
from .jsonl import JsonLinesSink, read_events

__all__ = [
    "CORRELATION_FIELDS",
    "EventSink",
    "JsonLinesSink",
    "Telemetry",
    "get_logger",
    "read_events",
    "redact",
    "sinks_installed",
    "telemetry_for",
]

_OFF = {"0", "off", "false", "no"}


class Telemetry:
    """The sinks and the tracer runs of one ``$ORCHESTRATOR_BLOCKS_HOME`` use."""

    def __init__(self, settings: Settings) -> None:
        self.logs_dir = settings.logs_dir
        enabled = settings.extra.get("ORCHESTRATOR_BLOCKS_LOGS", "on").lower() not in _OFF
        self.jsonl: JsonLinesSink | None = JsonLinesSink(self.logs_dir) if enabled else None
        self.tracing: Tracing = NoopTracing()

    def run_sinks(self) -> tuple[EventSink, ...]:
        """Sinks a root run installs besides its own in-memory event list."""
        return (self.jsonl,) if self.jsonl is not None else ()


_cache: dict[tuple[Path, str], Telemetry] = {}
_lock = threading.Lock()


def telemetry_for(settings: Settings) -> Telemetry:
    """One telemetry per logs directory and switch, created on first use."""
    key = (settings.logs_dir, settings.extra.get("ORCHESTRATOR_BLOCKS_LOGS", "on"))
    with _lock:
        tel = _cache.get(key)
        if tel is None:
            tel = _cache[key] = Telemetry(settings)
        return tel
