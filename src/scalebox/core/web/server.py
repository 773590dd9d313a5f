"""Run an ASGI app with uvicorn (uvloop and httptools when installed), as every HTTP system does."""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.types import ASGIApp


def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    forwarded_allow_ips: str = "",
    http_protocol: type[asyncio.Protocol] | None = None,
) -> None:
    """Serve until SIGINT/SIGTERM; logging is configured by the caller (scalebox.core.logs).

    `forwarded_allow_ips` lists the proxies (comma-separated addresses, or "*") whose
    X-Forwarded-For and X-Forwarded-Proto are believed; empty trusts none, so a client cannot
    spoof its address past the rate limits. `http_protocol` replaces uvicorn's HTTP protocol class
    (a subclass of its httptools protocol, such as the shortener's redirect fast path).
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
    uvicorn.Server(config).run()
