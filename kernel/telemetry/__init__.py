"""Logging and tracing owned by the kernel (spec §8, DESIGN §5).

* :mod:`.events`: the structlog pipeline; every event carries the correlation fields and
  goes to the sinks its run installed.
* :mod:`.jsonl`: the local JSON-lines log, on by default, safe across runs and processes.
* :mod:`.tracing`: OpenTelemetry spans and optional OTLP export.
* :mod:`.console`: a human renderer for terminals.

One :class:`Telemetry` exists per logs directory and ``OTEL_*`` configuration, built on the
first run that needs it (never at import time).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from orchestrator_blocks.sdk import Settings
from orchestrator_blocks.sdk.redaction import redact_text, scrub
from orchestrator_blocks.sdk.services import Tracing, utc_now_iso

from .events import (
    CORRELATION_FIELDS,
    EventSink,
    emit,
    get_logger,
    installed_sinks,
    redact,
    sinks_installed,
)
from .jsonl import DEFAULT_MAX_BYTES, JsonLinesSink, encode_event, flush_sinks, read_events
from .tracing import build_tracing, otel_config, stderr_warning

__all__ = [
    "CORRELATION_FIELDS",
    "EventSink",
    "JsonLinesSink",
    "Telemetry",
    "emit",
    "encode_event",
    "flush_all",
    "flush_sinks",
    "get_logger",
    "installed_sinks",
    "read_events",
    "redact",
    "sinks_installed",
    "telemetry_for",
]

_OFF = {"0", "off", "false", "no"}


class Telemetry:
    """The sinks and the tracer that runs under one ``$ORCHESTRATOR_BLOCKS_HOME`` use."""

    def __init__(self, settings: Settings) -> None:
        self.logs_dir = settings.logs_dir
        enabled = (settings.get("LOGS") or "on").lower() not in _OFF
        max_bytes = int(settings.get("LOG_MAX_BYTES") or DEFAULT_MAX_BYTES)
        self.jsonl: JsonLinesSink | None = (
            JsonLinesSink(self.logs_dir, max_bytes=max_bytes) if enabled else None
        )
        self.tracing: Tracing = build_tracing(self.warn)

    def warn(self, message: str) -> None:
        """One operational warning: on stderr and in the JSON log (called from any thread)."""
        message = scrub(redact_text(message))
        stderr_warning(message)
        if self.jsonl is not None:
            event: dict[str, Any] = {"event": "telemetry.warning", "level": "warning"}
            event.update(dict.fromkeys(CORRELATION_FIELDS))
            event.update(ts=utc_now_iso(), message=message)
            self.jsonl(event)

    def run_sinks(self) -> tuple[EventSink, ...]:
        """Sinks a root run installs besides its own in-memory event list."""
        return (self.jsonl,) if self.jsonl is not None else ()

    def flush(self, timeout_ms: int = 5_000) -> None:
        flush = getattr(self.tracing, "force_flush", None)
        if flush is not None:
            flush(timeout_ms)


_cache: dict[tuple[Path, str, str, tuple[tuple[str, str], ...]], Telemetry] = {}
_lock = threading.Lock()


def telemetry_for(settings: Settings) -> Telemetry:
    """One telemetry per logs directory, log switches and ``OTEL_*`` settings."""
    key = (
        settings.logs_dir,
        settings.get("LOGS") or "on",
        settings.get("LOG_MAX_BYTES") or "",
        otel_config(os.environ),
    )
    with _lock:
        tel = _cache.get(key)
        if tel is None:
            tel = _cache[key] = Telemetry(settings)
        return tel


def flush_all(timeout_ms: int = 5_000) -> None:
    """Export every finished span now (tests and short-lived commands)."""
    with _lock:
        telemetries = list(_cache.values())
    for tel in telemetries:
        tel.flush(timeout_ms)
