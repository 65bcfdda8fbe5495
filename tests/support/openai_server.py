"""An OpenAI-compatible chat-completions server on loopback: the "provider" of AI blocks in tests.

``POST /v1/chat/completions`` validates ``model`` and ``messages`` the way the real API does
(400 ``invalid_request_error`` otherwise), checks ``Authorization: Bearer <key>`` when the
server has a key (401 ``invalid_api_key`` otherwise) and answers a completion derived
deterministically from the last user message: ``"echo: <text>"``, with usage counts (words).
``GET /v1/models`` lists the models.

A test can script the next requests, whatever they carry::

    with OpenAICompatibleServer(key="sk-test") as ai:
        ai.fail_next(2, Fault.rate_limited(retry_after="1"))   # two 429s, then normal answers
        ai.fail_next(1, Fault.slow(2.0))                        # then one slow (but correct) one
        ai.fail_next(1, Fault.completion("Bonjour"))            # then a chosen answer

Every request is recorded (``requests``, ``completions``) with the client's address
(``peers``), so a test can see whether requests shared one connection.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.http_server import Recorded

__all__ = ["Fault", "OpenAICompatibleServer", "Recorded", "completion_body", "echo_of"]

_ROLES = {"system", "developer", "user", "assistant", "tool"}


def echo_of(text: str) -> str:
    """The content the server answers for a last user message ``text``."""
    return f"echo: {text}"


def _error(message: str, kind: str, code: str | None = None, param: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def completion_body(
    content: str | None, *, model: str, number: int = 0, usage: dict | None = None
) -> dict:
    """An OpenAI ``chat.completion`` object answering ``content``."""
    body = {
        "id": f"chatcmpl-{number}",
        "object": "chat.completion",
        "created": 1_700_000_000 + number,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


@dataclass
class Fault:
    """One scripted answer that replaces the normal one.

    ``status=None`` answers normally (after ``delay``); ``body`` may be bytes/str (sent as is)
    or JSON-like; ``None`` means the OpenAI-shaped error body for ``status``. ``close`` drops
    the connection without answering.
    """

    status: int | None = None
    body: bytes | str | Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    close: bool = False

    @classmethod
    def completion(cls, content: str | None, *, model: str = "scripted") -> Fault:
        """A 200 chat completion whose ``choices[0].message.content`` is ``content``."""
        return cls(200, completion_body(content, model=model))

    @classmethod
    def unauthorized(cls, message: str = "Incorrect API key provided.") -> Fault:
        return cls(401, _error(message, "invalid_request_error", "invalid_api_key"))

    @classmethod
    def forbidden(cls) -> Fault:
        return cls(403, _error("You are not allowed to use this model.", "permission_error"))

    @classmethod
    def bad_request(cls, message: str = "Invalid value for 'temperature'.") -> Fault:
        return cls(400, _error(message, "invalid_request_error"))

    @classmethod
    def rate_limited(cls, retry_after: str | None = None) -> Fault:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        return cls(429, _error("Rate limit reached.", "requests", "rate_limit_exceeded"), headers)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls(status, _error("The server had an error.", "server_error"))

    @classmethod
    def malformed(cls) -> Fault:
        """A 200 whose body is truncated JSON."""
        return cls(200, b'{"id": "chatcmpl-broken", "choices": [', {"Content-Type": "text/plain"})

    @classmethod
    def missing_choices(cls) -> Fault:
        """A 200 JSON object without ``choices`` (e.g. an error wrapped in a 200)."""
        return cls(200, {"id": "chatcmpl-empty", "object": "chat.completion", "model": "m"})

    @classmethod
    def empty_choices(cls) -> Fault:
        return cls(200, {"id": "chatcmpl-empty", "object": "chat.completion", "choices": []})

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        """A correct answer, after ``seconds``."""
        return cls(None, delay=seconds)

    @classmethod
    def drop(cls) -> Fault:
        """Close the connection without answering."""
        return cls(None, close=True)


class OpenAICompatibleServer:
    """The provider on ``127.0.0.1:<free port>``; use as a context manager.

    ``key``: the bearer key it demands (``None``: no auth). ``models``: the models it knows
    (empty: any model name is accepted, like llama.cpp's server).
    """

    def __init__(self, *, key: str | None = None, models: tuple[str, ...] = ()) -> None:
        self.key = key
        self.models = models
        self.requests: list[Recorded] = []
        self.peers: list[tuple[str, int]] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                return None

            def _send(self, status: int, body: Any, headers: dict[str, str]) -> None:
                data = body if isinstance(body, bytes) else None
                if data is None:
                    data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                if not any(k.lower() == "content-type" for k in headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.requests.append(
                        Recorded(self.command, self.path, dict(self.headers.items()), body)
                    )
                    outer.peers.append(self.client_address)
                    fault = outer._faults.pop(0) if outer._faults else None
                if fault is not None and fault.delay:
                    time.sleep(fault.delay)
                if fault is not None and fault.close:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if fault is not None and fault.status is not None:
                    default = _error(f"scripted {fault.status}", "scripted")
                    payload = fault.body if fault.body is not None else default
                    self._send(fault.status, payload, fault.headers)
                    return
                status, payload = outer._answer(self.command, self.path, self.headers, body)
                self._send(status, payload, {})

            do_GET = do_POST = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    # -- scripting -------------------------------------------------------------------------

    def fail_next(self, n: int, fault: Fault) -> None:
        """Answer the next ``n`` requests (after those already scripted) with ``fault``."""
        with self._lock:
            self._faults.extend([fault] * n)

    @property
    def base_url(self) -> str:
        """What ``ORCHESTRATOR_BLOCKS_AI_URL`` should hold."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def completions(self) -> list[Recorded]:
        return [r for r in self.requests if r.path.split("?", 1)[0] == "/v1/chat/completions"]

    # -- the API ---------------------------------------------------------------------------

    def _answer(self, method: str, path: str, headers: Any, body: bytes) -> tuple[int, Any]:
        path = path.split("?", 1)[0]
        if self.key is not None and headers.get("Authorization") != f"Bearer {self.key}":
            return 401, _error(
                "Incorrect API key provided.", "invalid_request_error", "invalid_api_key"
            )
        if method == "GET" and path == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "test"} for m in self.models]
            return 200, {"object": "list", "data": data}
        if method != "POST" or path != "/v1/chat/completions":
            return 404, _error(f"Unknown request URL: {method} {path}", "invalid_request_error")
        try:
            request = json.loads(body)
        except ValueError:
            return 400, _error("We could not parse the JSON body.", "invalid_request_error")
        problem = self._invalid(request)
        if problem is not None:
            return problem
        messages = request["messages"]
        last_user = next(m["content"] for m in reversed(messages) if m["role"] == "user")
        content = echo_of(last_user)
        prompt_tokens = sum(len(m["content"].split()) for m in messages)
        completion_tokens = len(content.split())
        with self._lock:
            self._count += 1
            number = self._count
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        return 200, completion_body(content, model=request["model"], number=number, usage=usage)

    def _invalid(self, request: Any) -> tuple[int, Any] | None:
        def bad(message: str, param: str) -> tuple[int, Any]:
            return 400, _error(message, "invalid_request_error", None, param)

        if not isinstance(request, dict):
            return bad("The body must be a JSON object.", "body")
        model = request.get("model")
        if not isinstance(model, str) or not model:
            return bad("you must provide a model parameter", "model")
        if self.models and model not in self.models:
            return 404, _error(
                f"The model `{model}` does not exist.", "invalid_request_error", "model_not_found"
            )
        messages = request.get("messages")
        if not isinstance(messages, list) or not messages:
            return bad("'messages' must be a non-empty array", "messages")
        for i, m in enumerate(messages):
            if not (isinstance(m, dict) and m.get("role") in _ROLES):
                return bad(f"messages[{i}] has no valid role", f"messages[{i}].role")
            if not isinstance(m.get("content"), str):
                return bad(f"messages[{i}].content must be a string", f"messages[{i}].content")
        if not any(m["role"] == "user" for m in messages):
            return bad("messages must contain a user message", "messages")
        temperature = request.get("temperature")
        if temperature is not None and not (
            isinstance(temperature, int | float) and 0 <= temperature <= 2
        ):
            return bad("temperature must be between 0 and 2", "temperature")
        max_tokens = request.get("max_tokens")
        if max_tokens is not None and not (isinstance(max_tokens, int) and max_tokens > 0):
            return bad("max_tokens must be a positive integer", "max_tokens")
        return None

    # -- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> OpenAICompatibleServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
