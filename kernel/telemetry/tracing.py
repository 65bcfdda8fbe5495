"""OpenTelemetry tracing owned by the kernel (spec §8, DESIGN §5).

* One span per run (``run <workflow_id>``), a child span per block execution
  (``block <block_id>``) and one per attempt (``attempt N``); a child workflow's run span
  nests under the attempt that started it, so a run with its children is one trace.
* A host application that configured its own global ``TracerProvider`` keeps it: spans go
  there. Otherwise the kernel builds a private provider (the global one is left alone, so
  a host can still configure it later) exporting over OTLP when the standard ``OTEL_*``
  variables ask for it (``OTEL_EXPORTER_OTLP[_TRACES]_ENDPOINT``, ``..._PROTOCOL`` as
  ``http/protobuf`` (default) or ``grpc``, ``OTEL_SERVICE_NAME``, ``OTEL_SDK_DISABLED``,
  ``OTEL_TRACES_EXPORTER=none``). With no exporter nothing would ever read a span, so none
  is built: the SDK's ``IdTracing`` only gives log lines real ``trace_id`` / ``span_id``.
* Export runs in the batch processor's thread, never on the run's path. A collector that is
  down, slow or refusing costs a run nothing: the first failure prints one warning (stderr
  and the JSON log), later batches are dropped for a while instead of retried, and the
  exit-time flush is bounded.
* Every attribute, event attribute and error status passes through the SDK's redactor
  before it reaches the span: an OTLP collector sees no more than the JSON log does.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orchestrator_blocks.sdk.otel_tracing import OtelTracing
from orchestrator_blocks.sdk.services import IdTracing, NoopTracing, Tracing

__all__ = ["OtelTracing", "build_tracing", "otel_config", "shutdown_all"]

_TRUE = {"1", "true", "yes", "on"}
_QUIET_LOGGERS = (
    "opentelemetry.exporter.otlp.common",
    "opentelemetry.exporter.otlp.common.http",
    "opentelemetry.exporter.otlp.proto.http",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
    "opentelemetry.exporter.otlp.proto.grpc",
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.sdk.trace.export",
    "opentelemetry.sdk._shared_internal",
)
_DOWN_FOR_SECONDS = 30.0
_EXIT_FLUSH_MS = 2_000


def otel_config(env: Mapping[str, str] | None = None) -> tuple[tuple[str, str], ...]:
    """The ``OTEL_*`` settings that shape tracing (part of the telemetry cache key)."""
    env = os.environ if env is None else env
    return tuple(sorted((k, v) for k, v in env.items() if k.startswith("OTEL_")))


class _GuardedExporter:
    """Wraps an OTLP exporter so an unreachable collector warns once and costs nothing.

    After a failed export, batches are dropped (not retried) for ``_DOWN_FOR_SECONDS``; then
    one export is tried again. Retried-later spans would only pile up behind a dead
    collector; the local JSON log is the record that must never be lost.
    """

    def __init__(self, inner: Any, endpoint: str, warn: Callable[[str], None]) -> None:
        self._inner = inner
        self._endpoint = endpoint
        self._warn = warn  # Telemetry.warn scrubs what it is given
        self._down_until = 0.0
        self._warned = False
        self._lock = threading.Lock()

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        if time.monotonic() < self._down_until:
            return SpanExportResult.FAILURE
        try:
            result = self._inner.export(spans)
        except Exception as exc:  # an exporter bug must not kill the export thread
            result = SpanExportResult.FAILURE
            reason = f"{type(exc).__name__}: {exc}"
        else:
            reason = "the collector did not accept the batch"
        if result is not SpanExportResult.SUCCESS:
            with self._lock:
                self._down_until = time.monotonic() + _DOWN_FOR_SECONDS
                first, self._warned = not self._warned, True
            if first:
                self._warn(
                    f"OTLP export to {self._endpoint} failed ({reason}); spans are dropped "
                    f"for {_DOWN_FOR_SECONDS:g} s at a time, runs and local logs are unaffected"
                )
        return result

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return bool(self._inner.force_flush(timeout_millis))


def _exporter(env: Mapping[str, str]) -> tuple[Any, str] | None:
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() in ("none", ""):
        return None
    endpoint = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    if not endpoint:
        return None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(), endpoint
    if protocol in ("http/protobuf", "http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        return HttpExporter(), endpoint
    raise ValueError(
        f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} is not supported; use 'http/protobuf' or 'grpc'"
    )


_providers: list[tuple[Any, Any]] = []
_providers_lock = threading.Lock()
_atexit_registered = False


def shutdown_all(timeout_ms: int = _EXIT_FLUSH_MS) -> None:
    """Flush and stop every provider the kernel built, within ``timeout_ms`` (at exit).

    The SDK's flush blocks for as long as the exporter waits, so it runs in a daemon thread;
    past the deadline the exporters are shut down and the process exits without waiting for
    a collector that is down or hangs (the SDK's own exit handler would wait: it is off).
    """
    with _providers_lock:
        pairs = list(_providers)
        _providers.clear()
    if not pairs:
        return

    def flush_and_stop() -> None:
        for provider, _ in pairs:
            try:
                provider.force_flush()
                provider.shutdown()
            except Exception:  # noqa: S112 - exit-time best effort, never raise at exit
                continue

    worker = threading.Thread(target=flush_and_stop, name="otel-exit-flush", daemon=True)
    worker.start()
    worker.join(timeout_ms / 1000)
    if worker.is_alive():
        for _, exporter in pairs:
            if exporter is not None:
                with contextlib.suppress(Exception):
                    exporter.shutdown()


def build_tracing(warn: Callable[[str], None], env: Mapping[str, str] | None = None) -> Tracing:
    """Tracing for the kernel's runs, from the ``OTEL_*`` environment (see module doc)."""
    global _atexit_registered
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() in _TRUE:
        return NoopTracing()
    if "opentelemetry.trace" in sys.modules:  # else no host has configured a provider
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider

        configured = trace.get_tracer_provider()
        if isinstance(configured, TracerProvider):
            return OtelTracing(configured.get_tracer("orchestrator_blocks"))
    try:
        found = _exporter(env)
    except ValueError as exc:
        warn(str(exc))
        found = None
    if found is None:
        return IdTracing()
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    attributes = {} if env.get("OTEL_SERVICE_NAME") else {"service.name": "orchestrator-blocks"}
    provider = TracerProvider(resource=Resource.create(attributes), shutdown_on_exit=False)
    exporter, endpoint = found
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    guarded = _GuardedExporter(exporter, endpoint, warn)
    provider.add_span_processor(BatchSpanProcessor(guarded))  # type: ignore[arg-type]
    with _providers_lock:
        _providers.append((provider, guarded))
        if not _atexit_registered:
            atexit.register(shutdown_all)
            _atexit_registered = True
    return OtelTracing(provider.get_tracer("orchestrator_blocks"), provider)


def stderr_warning(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
