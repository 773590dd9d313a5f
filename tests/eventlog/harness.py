"""The broker in this process for client tests: its Kafka listener on a free loopback port, served
from a background thread's event loop (so coverage sees the broker's code), the `EventLog` at hand
for tests that look behind the protocol."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scalebox.eventlog.app import EventLog, open_eventlog, run_background, start_listeners
from scalebox.eventlog.settings import EventLogSettings
from tests.servers import HOST, wait_until

# Quick groups for tests: no initial rebalance delay to sit out, short session timeouts allowed.
TEST_SETTINGS: dict[str, Any] = {
    "host": HOST,
    "port": 0,
    "console_port": -1,
    "group_initial_rebalance_delay_ms": 0,
    "group_min_session_timeout_ms": 1000,
}


@dataclass
class RunningBroker:
    bootstrap: str
    port: int
    eventlog: EventLog
    loop: asyncio.AbstractEventLoop
    sasl_port: int = 0

    def call(self, coroutine: Any, timeout_seconds: float = 60.0) -> Any:
        """Run a coroutine on the broker's loop and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout_seconds)

    def run(self, function: Any, *args: Any, timeout_seconds: float = 60.0) -> Any:
        """Call a plain function on the broker's loop (the broker is not thread-safe)."""

        async def call() -> Any:
            return function(*args)

        return self.call(call(), timeout_seconds)


@contextlib.contextmanager
def running_broker(data_dir: Path, **overrides: Any) -> Iterator[RunningBroker]:
    """Serve a broker on a free port until the block ends."""
    settings = EventLogSettings(**{"data_dir": data_dir, **TEST_SETTINGS, **overrides})
    ready: Future[RunningBroker] = Future()
    done = threading.Event()
    stop: list[asyncio.Event] = []

    async def main() -> None:
        async with open_eventlog(settings) as eventlog:
            listeners = await start_listeners(eventlog)
            background = asyncio.get_running_loop().create_task(run_background(eventlog))
            stopping = asyncio.Event()
            stop.append(stopping)
            sasl_port = next((item.port for item in listeners[1:] if item.sasl), 0)
            port = listeners[0].port
            ready.set_result(
                RunningBroker(f"{HOST}:{port}", port, eventlog, asyncio.get_running_loop(), sasl_port)
            )
            try:
                await stopping.wait()
            finally:
                background.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await background
                await eventlog.server.close()

    def thread_main() -> None:
        try:
            asyncio.run(main())
        except BaseException as exc:  # surfaced to the test through the future
            if not ready.done():
                ready.set_exception(exc)
            raise
        finally:
            done.set()

    thread = threading.Thread(target=thread_main, name="eventlog", daemon=True)
    thread.start()
    running = ready.result(timeout=30)
    wait_until(lambda: _accepts(running.port), timeout_seconds=30)
    try:
        yield running
    finally:
        running.loop.call_soon_threadsafe(stop[0].set)
        done.wait(timeout=30)
        thread.join(timeout=5)


def _accepts(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
        return True
    return False
