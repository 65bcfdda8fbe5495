"""The SDK's ``Tracing`` service over an OpenTelemetry tracer (the kernel builds the tracer
and its exporter: ``kernel.telemetry.tracing``).

Every attribute, event attribute and error status passes through the redactor before it
reaches the span: an OTLP collector sees no more than the JSON log does. OpenTelemetry
itself is only imported when an error is recorded (the tracer comes from the kernel).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from .errors import ErrorEnvelope
from .redaction import redact_text, redact_value, scrub
from .services import Span

__all__ = ["OtelTracing"]


def _to_attr(value: Any, key: str = "") -> Any:
    if value is None:
        return ""
    value = redact_value(value, key)
    if isinstance(value, str | bool | int | float):
        return value
    return scrub(redact_text(str(value)))


def _attrs(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: _to_attr(v, k) for k, v in (attributes or {}).items()}


class _OtelSpan:
    __slots__ = ("_span", "span_id", "trace_id")

    def __init__(self, span: Any) -> None:
        self._span = span
        ctx = span.get_span_context()
        if ctx.is_valid:
            self.trace_id: str | None = format(ctx.trace_id, "032x")
            self.span_id: str | None = format(ctx.span_id, "016x")
        else:
            self.trace_id = self.span_id = None

    def set_attribute(self, key: str, value: Any) -> None:
        self._span.set_attribute(key, _to_attr(value, key))

    def add_event(self, name: str, attributes: Mapping[str, Any] | None = None) -> None:
        self._span.add_event(_to_attr(name), _attrs(attributes))

    def record_error(self, envelope: ErrorEnvelope) -> None:
        from opentelemetry.trace import Status, StatusCode

        status = _to_attr(f"{envelope.code}: {envelope.message}")
        self._span.set_status(Status(StatusCode.ERROR, status))
        self._span.set_attribute("error.code", envelope.code)
        self._span.set_attribute("error.origin", str(envelope.origin))
        self._span.set_attribute("error.domain", envelope.domain or "")
        self._span.set_attribute("error.retry_disposition", str(envelope.retry_disposition))
        self._span.set_attribute("error.attempt", envelope.attempt)


class OtelTracing:
    """The SDK's ``Tracing`` service backed by an OpenTelemetry tracer."""

    def __init__(self, tracer: Any, provider: Any = None) -> None:
        self._tracer = tracer
        self.provider = provider

    @contextmanager
    def span(self, name: str, attributes: Mapping[str, Any] | None = None) -> Iterator[Span]:
        with self._tracer.start_as_current_span(
            _to_attr(name),
            attributes=_attrs(attributes),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            yield _OtelSpan(span)

    def force_flush(self, timeout_ms: int = 5_000) -> bool:
        if self.provider is None:
            return True
        return bool(self.provider.force_flush(timeout_ms))
