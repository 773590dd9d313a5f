"""The web app served by uvicorn inside the exchange's event loop, on a socket bound here so that
port 0 works and the bound port is known before the first request."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from scalebox.core.web.server import EmbeddedServer


@dataclass
class WebServer:
    server: uvicorn.Server
    task: asyncio.Task[None]
    sock: socket.socket
    port: int

    async def close(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=10)
        self.sock.close()


async def start_web_server(app: ASGIApp, host: str, port: int) -> WebServer:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.create_server((host, port), family=family)
    config = uvicorn.Config(
        app,
        lifespan="on",
        access_log=False,
        server_header=False,
        log_config=None,
        ws="websockets-sansio",  # the legacy implementation warns on import
        timeout_graceful_shutdown=5,
    )
    server = EmbeddedServer(config)  # the exchange's stop event owns the signals
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]), name="exchange-web")
    while not server.started:
        if task.done():
            task.result()  # raises what stopped it
        await asyncio.sleep(0.01)
    return WebServer(server, task, sock, sock.getsockname()[1])
