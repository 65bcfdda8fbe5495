"""The local JSON-lines sink: on by default, safe for concurrent runs and processes.

Files live in ``$ORCHESTRATOR_BLOCKS_HOME/logs/`` and are named by UTC day
(``events-2026-11-23.jsonl``); past ``max_bytes`` a day continues in numbered segments
(``events-2026-11-23.001.jsonl``). Files are never renamed, so two processes appending at
once can never lose or tear a line: each line is one ``write(2)`` on an ``O_APPEND``
descriptor, which the kernel applies atomically at the end of the file.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from orchestrator_blocks.sdk import to_jsonable

__all__ = ["DEFAULT_MAX_BYTES", "JsonLinesSink", "encode_event", "iter_log_files", "read_events"]

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
_NAME = re.compile(r"^events-(\d{4}-\d{2}-\d{2})(?:\.(\d{3,}))?\.jsonl$")


def _default(obj: Any) -> Any:
    return to_jsonable(obj) if isinstance(obj, bytes) else str(obj)


def encode_event(event: dict[str, Any]) -> bytes:
    return (
        json.dumps(event, default=_default, ensure_ascii=False, separators=(",", ":")) + "\n"
    ).encode("utf-8")


def _segment_key(path: Path) -> tuple[str, int]:
    m = _NAME.match(path.name)
    return (m.group(1), int(m.group(2) or 0)) if m else ("", 0)


def iter_log_files(logs_dir: Path) -> list[Path]:
    """Every events file in ``logs_dir``, oldest first."""
    if not logs_dir.is_dir():
        return []
    files = [p for p in logs_dir.iterdir() if _NAME.match(p.name)]
    return sorted(files, key=_segment_key)


def read_events(logs_dir: Path) -> Iterator[dict[str, Any]]:
    """Every event in ``logs_dir`` in file order; a torn or foreign line is skipped."""
    for path in iter_log_files(logs_dir):
        with path.open("rb") as fh:
            for raw in fh:
                try:
                    event = json.loads(raw)
                except ValueError:
                    continue
                if isinstance(event, dict):
                    yield event


class JsonLinesSink:
    """Append events to the day's file; callable as an event sink."""

    def __init__(self, logs_dir: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.logs_dir = logs_dir
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._day = ""
        self._segment = 0
        self._written = 0

    def _path(self, day: str, segment: int) -> Path:
        suffix = f".{segment:03d}" if segment else ""
        return self.logs_dir / f"events-{day}{suffix}.jsonl"

    def _open(self, day: str) -> None:
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        segments = [
            _segment_key(p)[1]
            for p in iter_log_files(self.logs_dir)
            if p.name.startswith(f"events-{day}")
        ]
        segment = max(segments, default=0)
        path = self._path(day, segment)
        if path.exists() and path.stat().st_size >= self.max_bytes:
            segment += 1
            path = self._path(day, segment)
        self._close_fd()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._day, self._segment = day, segment
        self._written = os.fstat(self._fd).st_size

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __call__(self, event: dict[str, Any]) -> None:
        data = encode_event(event)
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        with self._lock:
            if self._fd is not None and day == self._day:
                # Other processes append too: the size on disk decides when to roll over.
                self._written = os.fstat(self._fd).st_size
            if self._fd is None or day != self._day or self._written >= self.max_bytes:
                self._open(day)
            assert self._fd is not None
            os.write(self._fd, data)

    def close(self) -> None:
        with self._lock:
            self._close_fd()
