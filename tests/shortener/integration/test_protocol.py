"""The redirect fast path at the HTTP parser (http/protocol.py), over raw sockets to a real server:
keep-alive, pipelining mixed with requests the ASGI app answers, HTTP/1.0, HEAD, and requests it must
leave alone."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess
from tests.shortener.shlink_server import issue_api_keys, start_shortener

pytestmark = pytest.mark.integration

TIMEOUT_SECONDS = 10.0


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, str]]:
    """A server and the code of a link it has cached (creating a link warms the LRU)."""
    tmp_path: Path = tmp_path_factory.mktemp("protocol")
    (key,) = issue_api_keys(tmp_path / "data", "alice")
    server = start_shortener(tmp_path / "data", tmp_path / "server.log")
    try:
        created = httpx.post(
            f"{server.url}/rest/v3/short-urls",
            json={"longUrl": "https://example.com/target", "forwardQuery": True},
            headers={"X-Api-Key": key},
            timeout=TIMEOUT_SECONDS,
        )
        yield server, created.json()["shortCode"]
    finally:
        server.stop()


def exchange(server: ServerProcess, payload: bytes, responses: int) -> list[bytes]:
    """Send `payload` on one connection; read until `responses` response heads arrived (or EOF)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_SECONDS) as sock:
        sock.sendall(payload)
        data = b""
        while not _complete(data, responses):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return [b"HTTP/1.1 " + part for part in data.split(b"HTTP/1.1 ")[1:]]


def _complete(data: bytes, responses: int) -> bool:
    """Whether `responses` responses arrived, the last one's body included (by its content-length)."""
    if data.count(b"HTTP/1.1 ") < responses:
        return False
    last = data.rsplit(b"HTTP/1.1 ", 1)[1]
    head, separator, body = last.partition(b"\r\n\r\n")
    if not separator:
        return False
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":", 1)[1])
    return True


def request(path: str, *, method: str = "GET", version: str = "1.1", extra: str = "") -> bytes:
    return (
        f"{method} {path} HTTP/{version}\r\nHost: test\r\nUser-Agent: raw-socket-test\r\n{extra}\r\n".encode()
    )


def status_and_location(response: bytes) -> tuple[int, str | None]:
    head = response.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in head[1:])
    return int(head[0].split()[1]), headers.get("location")


def test_keep_alive_serves_many_redirects_on_one_connection(served: tuple[ServerProcess, str]) -> None:
    server, code = served
    responses = exchange(server, b"".join(request(f"/{code}?n={n}") for n in range(5)), 5)
    assert [status_and_location(r) for r in responses] == [
        (302, f"https://example.com/target?n={n}") for n in range(5)
    ]
    assert all(b"connection: close" not in r.lower() for r in responses)


def test_pipelined_requests_keep_their_order_across_both_paths(served: tuple[ServerProcess, str]) -> None:
    server, code = served
    payload = request(f"/{code}") + request("/healthz") + request(f"/{code}?after=1") + request("/NoSuchCode")
    statuses = [status_and_location(r) for r in exchange(server, payload, 4)]
    assert statuses == [
        (302, "https://example.com/target"),
        (200, None),
        (302, "https://example.com/target?after=1"),
        (404, None),
    ]


def test_http_10_gets_its_answer_and_the_connection_closes(served: tuple[ServerProcess, str]) -> None:
    server, code = served
    with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_SECONDS) as sock:
        sock.sendall(request(f"/{code}", version="1.0"))
        data = b""
        while chunk := sock.recv(65536):  # the server closing the connection ends the loop
            data += chunk
    assert status_and_location(data) == (302, "https://example.com/target")
    assert b"connection: close" in data.lower()


def test_head_and_other_case_are_answered(served: tuple[ServerProcess, str]) -> None:
    server, code = served
    (response,) = exchange(server, request(f"/{code.swapcase()}", method="HEAD"), 1)
    assert status_and_location(response) == (302, "https://example.com/target")


@pytest.mark.parametrize(
    ("path", "method", "expected"),
    [
        ("/%41bc", "GET", 404),  # percent-encoded: the ASGI app decodes and answers
        ("/{code}", "POST", 405),  # not a read: never a redirect
        ("/{code}/qr-code", "GET", 200),  # two segments: a page, not a redirect
    ],
)
def test_requests_the_fast_path_must_leave_alone(
    served: tuple[ServerProcess, str], path: str, method: str, expected: int
) -> None:
    server, code = served
    extra = "Content-Length: 0\r\n" if method == "POST" else ""
    (response,) = exchange(server, request(path.format(code=code), method=method, extra=extra), 1)
    assert status_and_location(response)[0] == expected


def test_clients_hanging_up_leave_no_errors_behind(served: tuple[ServerProcess, str]) -> None:
    server, code = served
    for _ in range(3):  # answered at the parser, then the client goes away (a reset, at once)
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT_SECONDS) as sock:
            sock.sendall(request(f"/{code}"))
            sock.recv(65536)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    assert httpx.get(f"{server.url}/healthz", timeout=TIMEOUT_SECONDS).status_code == 200
    log = server.log_text()
    assert "Traceback" not in log, log
    assert "Error" not in log, log
