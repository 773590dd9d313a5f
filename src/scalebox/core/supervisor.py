"""The process supervisor behind `scalebox up`: one child process per system, logs prefixed by name,
restarts with exponential backoff, and an orderly stop (SIGTERM, then SIGKILL) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TextIO

from scalebox.core.child_output import LINE_BYTES_MAX, PrefixedWriter, pump_lines, should_color
from scalebox.core.clock import Clock, SystemClock
from scalebox.core.errors import InvalidError

SUPERVISOR_NAME = "up"
"""The prefix of the supervisor's own lines."""

# Once a child has exited, how long its pipes may take to reach EOF before we stop reading them.
_DRAIN_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class ChildSpec:
    """One supervised program: its name (the log prefix), its argv (never run through a shell) and
    environment variables merged over the supervisor's own environment."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str] = field(default_factory=dict)


class ChildState(StrEnum):
    """Where a child is in its life: up, waiting to be restarted, or down for good."""

    RUNNING = "running"
    BACKING_OFF = "backing-off"
    STOPPED = "stopped"


@dataclass(frozen=True)
class ChildStatus:
    """A snapshot of one child for observers (the console, `scalebox status`)."""

    name: str
    pid: int | None
    state: ChildState
    restarts: int
    started_at: datetime | None


class RestartBackoff:
    """Delays between restarts: initial, doubling up to a cap, and back to initial after a stable run."""

    def __init__(self, *, initial_seconds: float, max_seconds: float, stable_after_seconds: float) -> None:
        assert 0 < initial_seconds <= max_seconds, (initial_seconds, max_seconds)
        self._initial_seconds = initial_seconds
        self._max_seconds = max_seconds
        self._stable_after_seconds = stable_after_seconds
        self._next_seconds = initial_seconds

    def delay_after_exit(self, uptime_seconds: float) -> float:
        """The delay before restarting a child that ran for `uptime_seconds` and then exited."""
        if uptime_seconds >= self._stable_after_seconds:
            self._next_seconds = self._initial_seconds
        delay = self._next_seconds
        self._next_seconds = min(delay * 2, self._max_seconds)
        return delay


@dataclass
class _Child:
    spec: ChildSpec
    backoff: RestartBackoff
    process: asyncio.subprocess.Process | None = None
    state: ChildState = ChildState.STOPPED
    restarts: int = 0
    started_at: datetime | None = None


class Supervisor:
    """Runs every child in its own session, restarts the ones that exit, and stops them all on request.

    Children get their own session (start_new_session), so Ctrl-C in the terminal reaches only the
    supervisor, which then stops them; signals go to each child's process group, grandchildren included.
    """

    def __init__(
        self,
        specs: Sequence[ChildSpec],
        *,
        out: TextIO | None = None,
        backoff_initial_seconds: float = 0.5,
        backoff_max_seconds: float = 30.0,
        stable_after_seconds: float = 10.0,
        stop_timeout_seconds: float = 10.0,
        clock: Clock,
        color: bool | None = None,
    ) -> None:
        _check_specs(specs)
        self._children = [
            _Child(
                spec,
                RestartBackoff(
                    initial_seconds=backoff_initial_seconds,
                    max_seconds=backoff_max_seconds,
                    stable_after_seconds=stable_after_seconds,
                ),
            )
            for spec in specs
        ]
        out = sys.stdout if out is None else out  # looked up late, so captured or redirected stdout works
        color = should_color(out) if color is None else color
        names = [spec.name for spec in specs]
        self._writer = PrefixedWriter(out, names, supervisor_name=SUPERVISOR_NAME, color=color)
        self._clock = clock
        self._stop_timeout_seconds = stop_timeout_seconds
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._killed = False
        self._started = False

    def status(self) -> list[ChildStatus]:
        """Every child, in the order of the specs."""
        return [
            ChildStatus(
                name=child.spec.name,
                pid=None if child.process is None else child.process.pid,
                state=child.state,
                restarts=child.restarts,
                started_at=child.started_at,
            )
            for child in self._children
        ]

    def log(self, message: str) -> None:
        """Write one line under the supervisor's own prefix."""
        self._writer.write_line(SUPERVISOR_NAME, message)

    def kill(self) -> None:
        """Make stopping immediate: SIGKILL children instead of waiting for them to exit."""
        self._force.set()

    async def run(self, stop: asyncio.Event) -> int:
        """Supervise until `stop` is set, then stop every child.

        Returns 0 when every child exited on SIGTERM, 1 when one had to be killed.
        """
        assert not self._started, "a Supervisor runs once"
        self._started = True
        self._stop = stop
        tasks = [
            asyncio.create_task(self._supervise(child), name=f"supervise {child.spec.name}")
            for child in self._children
        ]
        try:
            await stop.wait()
            self.log(f"stopping {len(tasks)} children")
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return 1 if self._killed else 0

    async def _supervise(self, child: _Child) -> None:
        try:
            while not self._stop.is_set():
                started = self._clock.monotonic()
                exit_reason = await self._run_once(child)
                child.process = None
                if self._stop.is_set():
                    return
                delay = child.backoff.delay_after_exit(self._clock.monotonic() - started)
                self.log(f"{child.spec.name} {exit_reason}; restarting in {delay:g}s")
                child.state = ChildState.BACKING_OFF
                if await _first_of(self._stop.wait(), timeout_seconds=delay) is not None:
                    return
                child.restarts += 1
        finally:
            self._abandon(child)

    async def _run_once(self, child: _Child) -> str:
        """Start the child and wait until it exits or the supervisor stops; say how it ended."""
        name = child.spec.name
        try:
            process = await _spawn(child.spec)
        except OSError as exc:
            return f"could not be started ({exc})"
        child.process, child.state, child.started_at = process, ChildState.RUNNING, self._clock.now()
        self.log(f"started {name} (pid {process.pid})")
        assert process.stdout is not None
        assert process.stderr is not None
        pumps = [
            asyncio.create_task(pump_lines(stream, lambda text: self._writer.write_line(name, text)))
            for stream in (process.stdout, process.stderr)
        ]
        try:
            await _first_of(process.wait(), self._stop.wait())
            if self._stop.is_set():
                await self._terminate(name, process)
            # Whatever the child left behind in its process group would hold ports and pipes open.
            _signal_group(process, signal.SIGKILL)
            await _first_of(asyncio.gather(*pumps), timeout_seconds=_DRAIN_TIMEOUT_SECONDS)
        finally:
            for pump in pumps:
                pump.cancel()
        assert process.returncode is not None
        return describe_exit(process.returncode)

    async def _terminate(self, name: str, process: asyncio.subprocess.Process) -> None:
        if process.returncode is not None:
            return
        _signal_group(process, signal.SIGTERM)
        timeout = self._stop_timeout_seconds
        if await _first_of(process.wait(), self._force.wait(), timeout_seconds=timeout) == 0:
            return
        reason = "at once" if self._force.is_set() else f"as it did not stop within {timeout:g}s"
        self.log(f"killing {name} {reason}")
        self._killed = True
        _signal_group(process, signal.SIGKILL)
        await process.wait()

    def _abandon(self, child: _Child) -> None:
        """Leave no process behind, even when supervision is cancelled rather than stopped."""
        if child.process is not None and child.process.returncode is None:
            self._killed = True
            _signal_group(child.process, signal.SIGKILL)
        child.process, child.state = None, ChildState.STOPPED


def main_run(
    specs: Sequence[ChildSpec],
    *,
    out: TextIO | None = None,
    backoff_initial_seconds: float = 0.5,
    backoff_max_seconds: float = 30.0,
    stable_after_seconds: float = 10.0,
    stop_timeout_seconds: float = 10.0,
    clock: Clock | None = None,
) -> int:
    """Supervise `specs` until SIGINT, SIGTERM or SIGHUP; a second signal kills the children at once.

    Returns the process exit code: 0 after a clean stop, 1 if a child had to be killed.
    """
    supervisor = Supervisor(
        specs,
        out=out,
        backoff_initial_seconds=backoff_initial_seconds,
        backoff_max_seconds=backoff_max_seconds,
        stable_after_seconds=stable_after_seconds,
        stop_timeout_seconds=stop_timeout_seconds,
        clock=SystemClock() if clock is None else clock,
    )
    return asyncio.run(_run_until_signalled(supervisor))


async def _run_until_signalled(supervisor: Supervisor) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: signal.Signals) -> None:
        # Act before logging: writing to a terminal that has gone away (SIGHUP) may fail.
        if stop.is_set():
            supervisor.kill()
            supervisor.log(f"received {signum.name} again; killing every child")
        else:
            stop.set()
            supervisor.log(f"received {signum.name}; stopping (send it again to kill at once)")

    # SIGHUP too: children live in their own sessions, so a closed terminal would otherwise orphan them.
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await supervisor.run(stop)
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)


def describe_exit(returncode: int) -> str:
    """How a process ended, from its asyncio return code (negative: killed by that signal)."""
    if returncode >= 0:
        return f"exited with code {returncode}"
    try:
        return f"was killed by {signal.Signals(-returncode).name}"
    except ValueError:
        return f"was killed by signal {-returncode}"


def _check_specs(specs: Sequence[ChildSpec]) -> None:
    seen = {SUPERVISOR_NAME}
    for spec in specs:
        if not spec.name or not spec.argv:
            raise InvalidError(f"child {spec.name!r} needs a name and a program", field="specs")
        if spec.name in seen:
            raise InvalidError(f"child name {spec.name!r} is taken", field="specs")
        seen.add(spec.name)


async def _spawn(spec: ChildSpec) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        spec.argv[0],
        *spec.argv[1:],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **spec.env},
        start_new_session=True,  # its own process group, out of reach of the terminal's Ctrl-C
        limit=LINE_BYTES_MAX,
    )


def _signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    # start_new_session made the child the leader of a process group whose id is its pid.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


async def _first_of(*awaitables: Awaitable[object], timeout_seconds: float | None = None) -> int | None:
    """Index of the first awaitable to finish, or None on timeout; the others are cancelled."""
    tasks = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout_seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    return next((i for i, task in enumerate(tasks) if task in done), None)


def stop_on_signals() -> asyncio.Event:
    """An event that SIGINT or SIGTERM sets, for a server that stops itself cleanly on either."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    return stop
