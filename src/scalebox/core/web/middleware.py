"""Pure-ASGI middleware run on every request: request ids, security headers, body limits, metrics.

Pure ASGI (not BaseHTTPMiddleware) keeps the per-request cost to a few function calls.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import MutableMapping
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scalebox.core.web.metrics import HttpMetrics

log = logging.getLogger("scalebox.http")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
)


class PayloadTooLargeError(HTTPException):
    """The request body is larger than this app accepts (413).

    An HTTPException rather than a DomainError because it is raised while the framework reads the
    body, and FastAPI turns anything else raised there into a generic 400.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(413, detail)


class EdgeMiddleware:
    """Request id in and out, security headers, a hard body limit, access log and request metrics."""

    def __init__(
        self, app: ASGIApp, *, metrics: HttpMetrics, body_bytes_max: int, log_requests: bool
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.body_bytes_max = body_bytes_max
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        declared = _content_length(scope)
        if declared is not None and declared > self.body_bytes_max:
            # Refuse before reading a byte; the handler raises so the app's error table answers.
            receive = _refusing_receive(self.body_bytes_max)
        else:
            receive = _limited_receive(receive, self.body_bytes_max)

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                headers.append((b"x-request-id", request_id.encode()))
                present = {name for name, _ in headers}
                headers.extend(header for header in SECURITY_HEADERS if header[0] not in present)
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            self.metrics.observe(scope["method"], route, status, elapsed)
            if self.log_requests:
                log.info(
                    "%s %s %s %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={"status": status, "route": route},
                )
            structlog.contextvars.unbind_contextvars("request_id")


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text: str = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _route_template(scope: MutableMapping[str, Any]) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


def _refusing_receive(limit: int) -> Receive:
    async def receive() -> Message:
        raise PayloadTooLargeError(f"request body is larger than {limit} bytes")

    return receive


def _limited_receive(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise PayloadTooLargeError(f"request body is larger than {limit} bytes")
        return message

    return limited
