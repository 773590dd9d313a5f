"""What a handler answers: a status, headers, and a body (bytes, or a stream for object data)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field

XML = "application/xml"


@dataclass(slots=True)
class Response:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    stream: AsyncIterator[bytes] | None = None
    length: int | None = None  # Content-Length of a stream (or of a HEAD's object)


def xml(body: bytes, status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, [("content-type", XML), *(headers or [])], body)


def empty(status: int = 200, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(status, list(headers or []))
