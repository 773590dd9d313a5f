"""Run an ASGI app with uvicorn (uvloop and httptools when installed), as every HTTP system does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator

import uvicorn
from starlette.types import ASGIApp


def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    forwarded_allow_ips: str = "",
    http_protocol: type[asyncio.Protocol] | None = None,
    reuse_port: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM; logging is configured by the caller (scalebox.core.logs).

    `forwarded_allow_ips` lists the proxies (comma-separated addresses, or "*") whose
    X-Forwarded-For and X-Forwarded-Proto are believed; empty trusts none, so a client cannot
    spoof its address past the rate limits. `http_protocol` replaces uvicorn's HTTP protocol class
    (a subclass of its httptools protocol, such as the shortener's redirect fast path).
    `reuse_port` binds with SO_REUSEPORT, so several processes can listen on one port and the kernel
    spreads connections among them.
    """
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http=http_protocol or "auto",
        access_log=False,  # EdgeMiddleware logs each request once, with its request id
        server_header=False,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=forwarded_allow_ips or None,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    server = uvicorn.Server(config)
    if not reuse_port:
        server.run()
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    server.run(sockets=[sock])


class EmbeddedServer(uvicorn.Server):
    """uvicorn inside a program that owns SIGINT and SIGTERM itself (a broker, an exchange): it
    stops when its owner sets `should_exit`, not on a signal of its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
