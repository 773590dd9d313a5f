"""The parser-level redirect (http/protocol.py) in this process: uvicorn serving the app with the fast
protocol on a free port, driven over raw sockets. The integration suite repeats the wire cases against
`scalebox shortener serve`; here they also count what the fast path did."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from scalebox.shortener.app import build_app
from scalebox.shortener.http.hot import RedirectFastPath
from scalebox.shortener.http.protocol import fast_protocol
from scalebox.shortener.service.links import Actor, LinkSpec
from scalebox.shortener.settings import ShortenerSettings

TIMEOUT_SECONDS = 10.0


@dataclass
class Running:
    app: RedirectFastPath
    port: int
    code: str


@contextlib.asynccontextmanager
async def running(tmp_path: Path, *, keep_alive_seconds: float = 5.0) -> AsyncIterator[Running]:
    settings = ShortenerSettings(
        data_dir=tmp_path, events_url="memory://", workers=False, log_requests=False, secret_key="s" * 32
    )
    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        http=fast_protocol(app),
        lifespan="on",
        log_config=None,
        access_log=False,
        timeout_keep_alive=keep_alive_seconds,  # type: ignore[arg-type]  # uvicorn takes seconds as int; a float works
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while not server.started:  # noqa: ASYNC110  # uvicorn sets a plain flag, no event to wait on
                await asyncio.sleep(0.01)
        shortener = app.shortener
        assert shortener is not None
        account = await shortener.accounts.register("alice", "correct horse battery")
        link, _ = await shortener.links.create(
            Actor(account.id), LinkSpec("https://example.com/to", forward_query=True)
        )
        port = server.servers[0].sockets[0].getsockname()[1]
        yield Running(app, port, link.code)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, TIMEOUT_SECONDS)


async def talk(port: int, payload: bytes, responses: int) -> list[bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(payload)
        heads: list[bytes] = []
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while len(heads) < responses:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                await reader.readexactly(length)
                heads.append(head)
        return heads
    finally:
        writer.close()


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\nUser-Agent: test-agent\r\nReferer: https://ref.example/\r\n{extra}\r\n".encode()


def header(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b": ")
        if key.lower() == name:
            return value
    return None


async def test_plain_redirects_come_from_the_parser_and_record_visits(tmp_path: Path) -> None:
    async with running(tmp_path) as served:
        heads = await talk(served.port, get(f"/{served.code}") + get(f"/{served.code.lower()}"), 2)
        assert [head.split(b"\r\n")[0] for head in heads] == [b"HTTP/1.1 302 Found"] * 2
        assert [header(head, b"location") for head in heads] == [b"https://example.com/to"] * 2
        assert all(header(head, b"date") for head in heads)
        shortener = served.app.shortener
        assert shortener is not None
        assert (served.app.fast, shortener.recorder.recorded) == (2, 2)
        assert (shortener.source.hits, shortener.source.misses) == (2, 0)  # one lookup a request
        await shortener.recorder.flush()
        events = await shortener.events.poll("shortener.visits", "test")
        assert b'"test-agent","https://ref.example/"' in events[0].value


async def test_a_query_to_forward_takes_the_prepared_path(tmp_path: Path) -> None:
    async with running(tmp_path) as served:
        (head,) = await talk(served.port, get(f"/{served.code}?utm=a"), 1)
        assert header(head, b"location") == b"https://example.com/to?utm=a"
        assert served.app.fast == 1
        assert served.app.shortener is not None
        assert served.app.shortener.source.hits == 1  # the plain answer's peek and prepare's count once


async def test_a_miss_counts_one_lookup_missed_and_no_hit(tmp_path: Path) -> None:
    async with running(tmp_path) as served:
        shortener = served.app.shortener
        assert shortener is not None
        shortener.source.lru.evict(served.code.lower())
        (head,) = await talk(served.port, get(f"/{served.code}"), 1)
        assert header(head, b"location") == b"https://example.com/to"
        # Peeked at the parser and twice in the ASGI layer, looked up once: the request counts once.
        assert (shortener.source.hits, shortener.source.misses, shortener.source.loads) == (0, 1, 1)
        await talk(served.port, get(f"/{served.code}"), 1)
        assert (shortener.source.hits, shortener.source.misses) == (1, 1)


async def test_http_10_and_close_requests_close_after_the_answer(tmp_path: Path) -> None:
    async with running(tmp_path) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        writer.write(f"GET /{served.code} HTTP/1.0\r\nHost: t\r\n\r\n".encode())
        async with asyncio.timeout(TIMEOUT_SECONDS):
            data = await reader.read()  # returns at EOF: the server closed the connection
        writer.close()
        assert data.startswith(b"HTTP/1.1 302 Found")
        assert b"connection: close" in data


async def test_pipelined_answers_keep_their_order_and_a_close_comes_after_its_answer(tmp_path: Path) -> None:
    # Answers are written at the end of the loop's turn (protocol._TurnWrites): a pipelined keep-alive
    # redirect, an app-served page and a closing redirect must still arrive in the order asked, and
    # the connection must close only after the last of them.
    async with running(tmp_path) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            writer.write(
                get(f"/{served.code}")
                + get(f"/{served.code}?utm=b")
                + b"GET /unknown-code HTTP/1.1\r\nHost: t\r\n\r\n"
                + get(f"/{served.code}", "Connection: close\r\n")
            )
            async with asyncio.timeout(TIMEOUT_SECONDS):
                data = await reader.read()  # returns at EOF: after the closing answer
        finally:
            writer.close()
        starts = re.findall(rb"HTTP/1\.1 \d{3} [^\r]*", data)
        assert starts == [
            b"HTTP/1.1 302 Found",
            b"HTTP/1.1 302 Found",
            b"HTTP/1.1 404 Not Found",
            b"HTTP/1.1 302 Found",
        ]
        locations = [header(part, b"location") for part in data.split(b"HTTP/1.1 ")[1:]]
        assert locations[:2] == [b"https://example.com/to", b"https://example.com/to?utm=b"]
        assert data.endswith(b"connection: close\r\n\r\n")
        assert served.app.fast == 3


async def test_a_pipelined_closing_redirect_is_written_after_the_one_before_it(tmp_path: Path) -> None:
    async with running(tmp_path) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            writer.write(get(f"/{served.code}?n=1") + get(f"/{served.code}?n=2", "Connection: close\r\n"))
            async with asyncio.timeout(TIMEOUT_SECONDS):
                data = await reader.read()
        finally:
            writer.close()
        heads = data.split(b"\r\n\r\n")
        assert [header(head, b"location") for head in heads[:2]] == [
            b"https://example.com/to?n=1",
            b"https://example.com/to?n=2",
        ]
        assert heads[2:] == [b""]
        assert served.app.fast == 2


async def test_many_connections_answered_in_one_turn_each_get_their_own_answer(tmp_path: Path) -> None:
    async with running(tmp_path) as served:
        paths = [f"/{served.code}?n={n}" for n in range(40)]
        heads = await asyncio.gather(*(talk(served.port, get(path), 1) for path in paths))
        assert [header(head, b"location") for (head,) in heads] == [
            f"https://example.com/to?n={n}".encode() for n in range(40)
        ]
        assert served.app.fast == 40


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /{code} HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n", b"405"),
        (b"GET /%41{code} HTTP/1.1\r\nHost: t\r\n\r\n", b"404"),
        (b"GET /{code}/qr-code HTTP/1.1\r\nHost: t\r\n\r\n", b"200"),
        (b"GET /unknown-code HTTP/1.1\r\nHost: t\r\n\r\n", b"404"),
        (b"GET / HTTP/1.1\r\nHost: t\r\n\r\n", b"200"),
    ],
)
async def test_everything_else_reaches_the_app(tmp_path: Path, request_bytes: bytes, status: bytes) -> None:
    async with running(tmp_path) as served:
        (head,) = await talk(served.port, request_bytes.replace(b"{code}", served.code.encode()), 1)
        assert head.split(b" ")[1] == status
        assert served.app.fast == 0


async def read_head(reader: asyncio.StreamReader) -> bytes:
    async with asyncio.timeout(TIMEOUT_SECONDS):
        return await reader.readuntil(b"\r\n\r\n")  # redirects have no body


async def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(tmp_path: Path) -> None:
    async with running(tmp_path, keep_alive_seconds=0.3) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            writer.write(get(f"/{served.code}"))
            assert (await read_head(reader)).startswith(b"HTTP/1.1 302")
            started = asyncio.get_running_loop().time()
            async with asyncio.timeout(TIMEOUT_SECONDS):
                assert await reader.read() == b""  # EOF: the server closed the idle connection
            assert asyncio.get_running_loop().time() - started >= 0.25
        finally:
            writer.close()


async def test_a_connection_in_use_outlives_the_keep_alive_timeout(tmp_path: Path) -> None:
    # The idle timer is armed once per idle period and re-armed for the remainder when requests came
    # in meanwhile: a client asking every 0.1 s keeps its connection well past one 0.3 s timeout.
    async with running(tmp_path, keep_alive_seconds=0.3) as served:
        reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
        try:
            for _ in range(10):
                writer.write(get(f"/{served.code}"))
                assert (await read_head(reader)).startswith(b"HTTP/1.1 302")
                await asyncio.sleep(0.1)  # the client's pace, well inside the timeout
            async with asyncio.timeout(TIMEOUT_SECONDS):
                assert await reader.read() == b""  # and once it stops asking, the connection goes
            assert served.app.fast == 10
        finally:
            writer.close()
