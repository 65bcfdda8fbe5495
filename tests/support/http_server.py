"""A scriptable HTTP server on loopback: the "upstream" of http-speaking blocks in tests.

Each path answers from a queue of scripted responses (the last one repeats), so a test can
say "503, 503, then 200" or "sleep 2 s then answer" and observe the block's retries against
a real socket. Every request is recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Recorded", "Reply", "ScriptedHTTPServer"]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    close: bool = False  # drop the connection without answering

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple[str, int] | None = None  # the peer's (host, port): same port, same connection

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedHTTPServer:
    def __init__(self) -> None:
        self._scripts: dict[str, list[Reply]] = {}
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle's algorithm and the
            # client's delayed ACK stall every answer on a kept-alive connection by ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with outer._lock:
                    outer.requests.append(
                        Recorded(
                            self.command,
                            self.path,
                            dict(self.headers.items()),
                            body,
                            tuple(self.client_address[:2]),  # type: ignore[arg-type]
                        )
                    )
                    queue = outer._scripts.get(path) or [Reply(404, b"not scripted")]
                    reply = queue.pop(0) if len(queue) > 1 else queue[0]
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.close:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                data = reply.payload()
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if not any(k.lower() == "content-type" for k in reply.headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> ScriptedHTTPServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> str:
        with self._lock:
            self._scripts[path] = list(replies)
        return self.url(path)

    def requests_to(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == path]
