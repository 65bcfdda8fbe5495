"""The demo's upstream: a tiny HTTP endpoint on loopback serving non-activated trials.

``orchestrator-blocks demo`` starts it in-process so the example runs with no network and
no configuration. ``mode`` lets tests and curious users see the failure paths:
``"ok"`` (sample trials), ``"malformed"`` (a body that is not JSON), ``"down"`` (HTTP 503).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PATH = "/trials/not-activated"


def sample_trials(today: datetime | None = None) -> dict[str, object]:
    today = today or datetime.now(UTC)
    people = [
        ("Northwind Bakery", "ana@northwind.example", 9),
        ("Blue Harbor Dental", "sam@blueharbor.example", 6),
        ("Kite & Key Studio", "lee@kitekey.example", 3),
    ]
    trials = [
        {
            "company": company,
            "email": email,
            "signed_up": (today - timedelta(days=14 - left)).date().isoformat(),
            "days_left": left,
        }
        for company, email, left in people
    ]
    return {"count": len(trials), "trials": trials}


@dataclass
class Upstream:
    url: str
    mode: str = "ok"
    requests: list[str] = field(default_factory=list)


_shared: Upstream | None = None
_shared_lock = threading.Lock()


def sample_trials_url() -> str:
    """The URL of a sample upstream kept for the rest of the process, started on first use.

    The example's fallback when ``ORCHESTRATOR_BLOCKS_TRIALS_URL`` is not set: the port is
    the one the operating system hands out, so it can collide with nothing (a fixed port,
    such as the console's 8765, could be anybody's).
    """
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = _start(Upstream(url="", mode="ok"))[0]
        return _shared.url


@contextmanager
def serve_trials(mode: str = "ok") -> Iterator[Upstream]:
    """Serve the endpoint on 127.0.0.1 (a free port) for the duration of the block."""
    state, server = _start(Upstream(url="", mode=mode))
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def _start(state: Upstream) -> tuple[Upstream, ThreadingHTTPServer]:
    """Serve ``state``'s mode on 127.0.0.1, a free port, from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append(self.path)
            if self.path != PATH:
                self._reply(404, b'{"error": "not found"}')
            elif state.mode == "down":
                self._reply(503, b'{"error": "maintenance"}')
            elif state.mode == "malformed":
                self._reply(200, b"<html>upstream proxy error</html>")
            else:
                self._reply(200, json.dumps(sample_trials()).encode())

        def _reply(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # quiet: the demo prints its own summary

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}{PATH}"
    thread = threading.Thread(target=server.serve_forever, name="demo-upstream", daemon=True)
    thread.start()
    return state, server
