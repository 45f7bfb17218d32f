"""A recording HTTP server on 127.0.0.1 for fakes of remote APIs.

Every request is recorded (method, path, query, headers, JSON body or
multipart parts) for tests to assert on. Errors are injected per route with
:meth:`RecordingServer.fail`. The serving loop is bounded: it stops by itself
after ``max_requests`` requests or ``lifetime_s`` seconds, whichever comes
first, so a forgotten fake never outlives its test run.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    """One request as the fake received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    json: Any = None
    parts: dict[str, dict[str, Any]] = field(default_factory=dict)  # multipart: name -> {filename, content}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default


@dataclass
class Reply:
    status: int
    body: Any = None


Route = tuple[str, re.Pattern, Callable[..., Reply]]


class RecordingServer:
    """Base class: subclasses call :meth:`route` in ``__init__`` and answer with :class:`Reply`."""

    def __init__(self, max_requests: int = 500, lifetime_s: float = 300.0):
        self.requests: list[Request] = []
        self._routes: list[Route] = []
        self._failures: list[tuple[str, re.Pattern, int, Any, int]] = []
        self._lock = threading.Lock()
        self.max_requests = max_requests
        self.lifetime_s = lifetime_s
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # -- set-up -------------------------------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Callable[..., Reply]) -> None:
        self._routes.append((method, re.compile(f"^{pattern}$"), handler))

    def fail(self, method: str, pattern: str, status: int, message: str = "injected failure", times: int = 10**6):
        """Answer requests matching ``method`` and the path regex ``pattern`` with ``status``."""
        body = self.error_body(status, message)
        self._failures.append((method, re.compile(f"^{pattern}$"), status, body, times))

    def error_body(self, status: int, message: str) -> Any:
        return {"error": message, "message": message, "code": status}

    # -- life cycle ---------------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.server_address[1]

    def start(self) -> RecordingServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                fake._dispatch(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.timeout = 0.2
        self._thread = threading.Thread(target=self._serve, name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        deadline = time.monotonic() + self.lifetime_s
        assert self._server is not None
        while not self._stop.is_set() and time.monotonic() < deadline and len(self.requests) < self.max_requests:
            self._server.handle_request()
        self._server.server_close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- queries for tests --------------------------------------------------------------------------------------
    def calls(self, method: str | None = None, pattern: str | None = None) -> list[Request]:
        regex = re.compile(f"^{pattern}$") if pattern else None
        return [r for r in self.requests
                if (method is None or r.method == method) and (regex is None or regex.match(r.path))]

    def only(self, method: str, pattern: str) -> Request:
        found = self.calls(method, pattern)
        assert len(found) == 1, f"expected one {method} {pattern}, got {[(r.method, r.path) for r in self.requests]}"
        return found[0]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    # -- dispatch -----------------------------------------------------------------------------------------------
    def _dispatch(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        request = Request(method=handler.command, path=split.path, query=parse_qs(split.query),
                          headers={k.lower(): v for k, v in handler.headers.items()}, body=body)
        content_type = request.headers.get("content-type", "")
        if body and "json" in content_type:
            request.json = json.loads(body)
        elif body and content_type.startswith("multipart/form-data"):
            request.parts = _multipart(content_type, body)
        elif body:
            with contextlib.suppress(ValueError):
                request.json = json.loads(body)
        with self._lock:
            self.requests.append(request)
            reply = self._injected(request) or self._answer(request)
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _injected(self, request: Request) -> Reply | None:
        for index in reversed(range(len(self._failures))):  # the latest injected failure wins
            method, pattern, status, body, times = self._failures[index]
            if method == request.method and pattern.match(request.path) and times > 0:
                self._failures[index] = (method, pattern, status, body, times - 1)
                return Reply(status, body)
        return None

    def _answer(self, request: Request) -> Reply:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                return handler(request, **match.groupdict())
        return Reply(404, self.error_body(404, f"the fake has no route for {request.method} {request.path}"))


def _multipart(content_type: str, body: bytes) -> dict[str, dict[str, Any]]:
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[name] = {"filename": part.get_filename(), "content": part.get_payload(decode=True)}
    return parts
