"""The object store in this process, for boto3, awscli and s3fs tests: its S3 API served by uvicorn
on a free loopback port from a background thread (so coverage sees the server's code), its
`ObjectStore` at hand for the tests that reach behind the API (drives, upkeep). With `console=True`
the console port's app (the web pages) is served too, on a second free port."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from scalebox.objectstore.app import ObjectStore, build_console_app, open_objectstore
from scalebox.objectstore.http.s3 import HEALTH_PATH, S3Api
from scalebox.objectstore.settings import ObjectStoreSettings
from tests.objectstore.s3_server import ROOT_ACCESS_KEY, ROOT_SECRET_KEY
from tests.servers import HOST, free_port, wait_until

T = TypeVar("T")
DOMAIN = "s3.localhost"


@dataclass
class RunningStore:
    url: str
    port: int
    objectstore: ObjectStore
    loop: asyncio.AbstractEventLoop
    console_url: str = ""  # with console=True

    def call(self, coroutine: Any, timeout_seconds: float = 60.0) -> Any:
        """Run a coroutine on the server's loop (for the service, upkeep and store) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_seconds)


@contextlib.contextmanager
def running_objectstore(data_dir: Path, *, console: bool = False, **overrides: Any) -> Iterator[RunningStore]:
    """Serve the S3 API (and, asked, the console port) on free ports until the block ends; background
    upkeep off unless asked."""
    port = free_port()
    console_port = free_port() if console else 0
    options: dict[str, Any] = {
        "data_dir": data_dir,
        "host": HOST,
        "port": port,
        "root_access_key": ROOT_ACCESS_KEY,
        "root_secret_key": ROOT_SECRET_KEY,
        "fsync": False,
        "domain": DOMAIN,
        "block_bytes": 256 * 1024,
        "inline_bytes_max": 16 * 1024,
        **overrides,
    }
    settings = ObjectStoreSettings(**options)
    ready: Future[tuple[RunningStore, list[uvicorn.Server]]] = Future()
    done = threading.Event()

    async def main() -> None:
        async with open_objectstore(settings) as objectstore:
            api = S3Api(objectstore.service, objectstore.keys, settings, objectstore.clock)
            servers = [_server(api, port)]
            console_url = ""
            if console:
                servers.append(_server(build_console_app(objectstore, api), console_port))
                console_url = f"http://{HOST}:{console_port}"
            url = f"http://{HOST}:{port}"
            running = RunningStore(url, port, objectstore, asyncio.get_running_loop(), console_url)
            ready.set_result((running, servers))
            await asyncio.gather(*(server.serve() for server in servers))

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test through the future
            if not ready.done():
                ready.set_exception(exc)
            raise
        finally:
            done.set()

    thread = threading.Thread(target=thread_main, name="objectstore", daemon=True)
    thread.start()
    running, servers = ready.result(timeout=30)
    wait_until(lambda: _healthy(running.url), timeout_seconds=30)
    if console:
        wait_until(lambda: _healthy(running.console_url, "/healthz"), timeout_seconds=30)
    try:
        yield running
    finally:
        for server in servers:
            server.should_exit = True
        done.wait(timeout=30)
        thread.join(timeout=5)


def _server(app: Any, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app, host=HOST, port=port, lifespan="off", access_log=False, log_config=None, loop="asyncio"
    )
    return uvicorn.Server(config)


def _healthy(url: str, path: str = HEALTH_PATH) -> bool:
    try:
        return httpx.get(url + path, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
