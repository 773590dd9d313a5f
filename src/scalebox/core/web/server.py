"""Run an ASGI app with uvicorn (uvloop and httptools when installed), as every HTTP system does."""

from __future__ import annotations

import uvicorn
from starlette.types import ASGIApp


def serve(app: ASGIApp, *, host: str, port: int, proxy_headers: bool = False) -> None:
    """Serve until SIGINT/SIGTERM; logging is configured by the caller (scalebox.core.logs)."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",
        http="auto",
        access_log=False,  # EdgeMiddleware logs each request once, with its request id
        server_header=False,
        proxy_headers=proxy_headers,
        forwarded_allow_ips="127.0.0.1" if proxy_headers else None,
        log_config=None,
        timeout_graceful_shutdown=10,
    )
    uvicorn.Server(config).run()
