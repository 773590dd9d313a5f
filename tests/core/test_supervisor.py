"""The supervisor behind `scalebox up`, driven with real child processes (small Python scripts)."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import pytest

from scalebox.core.child_output import LINE_BYTES_MAX, PrefixedWriter, should_color
from scalebox.core.clock import SystemClock
from scalebox.core.errors import InvalidError
from scalebox.core.supervisor import ChildSpec, ChildState, RestartBackoff, Supervisor

WAIT_SECONDS = 5.0
SLEEPER = "import time; print('ready', flush=True); time.sleep(60)"
SIGTERM_IGNORER = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('ready', flush=True); time.sleep(60)"
)


async def wait_until(predicate: Callable[[], bool], timeout_seconds: float = WAIT_SECONDS) -> None:
    """Poll `predicate` until it holds; fail after `timeout_seconds`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_seconds
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout_seconds}s")
        await asyncio.sleep(0.01)


def is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def make_spec(name: str, script: str = SLEEPER, **env: str) -> ChildSpec:
    return ChildSpec(name=name, argv=(sys.executable, "-c", script), env=env)


@dataclass
class Harness:
    supervisor: Supervisor
    out: io.StringIO
    stop: asyncio.Event
    task: asyncio.Task[int]

    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()

    def has_line(self, line: str) -> bool:
        return line in self.lines()

    async def stop_and_wait(self) -> int:
        self.stop.set()
        return await asyncio.wait_for(self.task, WAIT_SECONDS)


@asynccontextmanager
async def supervising(
    specs: list[ChildSpec],
    *,
    backoff_initial_seconds: float = 0.5,
    backoff_max_seconds: float = 30.0,
    stop_timeout_seconds: float = WAIT_SECONDS / 2,
) -> AsyncIterator[Harness]:
    out = io.StringIO()
    supervisor = Supervisor(
        specs,
        out=out,
        backoff_initial_seconds=backoff_initial_seconds,
        backoff_max_seconds=backoff_max_seconds,
        stable_after_seconds=60.0,
        stop_timeout_seconds=stop_timeout_seconds,
        clock=SystemClock(),
    )
    stop = asyncio.Event()
    harness = Harness(supervisor, out, stop, asyncio.create_task(supervisor.run(stop)))
    try:
        yield harness
    finally:
        if not harness.task.done():
            harness.supervisor.kill()
            await harness.stop_and_wait()


async def test_output_is_prefixed_per_line_with_padded_names() -> None:
    web_script = (
        "import sys, time; print('one\\ntwo', flush=True); sys.stderr.write('oops\\n'); "
        "sys.stderr.flush(); time.sleep(60)"
    )
    web = make_spec("web", web_script)
    worker = make_spec("worker-long", "import time; print('three', flush=True); time.sleep(60)")
    async with supervising([web, worker]) as harness:
        expected = ["web         | one", "web         | two", "web         | oops", "worker-long | three"]
        await wait_until(lambda: all(harness.has_line(line) for line in expected))
        assert await harness.stop_and_wait() == 0
    assert "\x1b[" not in harness.out.getvalue()


async def test_long_line_is_split_at_limit() -> None:
    script = f"import time; print('x' * {2 * LINE_BYTES_MAX + 10}); print('end', flush=True); time.sleep(60)"
    async with supervising([make_spec("long", script)]) as harness:
        await wait_until(lambda: harness.has_line("long | end"))
        pieces = [line.removeprefix("long | ") for line in harness.lines() if "xxx" in line]
    assert [len(piece) for piece in pieces] == [LINE_BYTES_MAX, LINE_BYTES_MAX, 10]


async def test_env_is_merged_over_supervisor_environment() -> None:
    script = (
        "import os, time; print(os.environ['GREETING'], 'PATH' in os.environ, flush=True); time.sleep(60)"
    )
    async with supervising([make_spec("env", script, GREETING="hello")]) as harness:
        await wait_until(lambda: harness.has_line("env | hello True"))


async def test_crashing_child_is_restarted_with_doubling_backoff() -> None:
    crasher = make_spec("crasher", "raise SystemExit(1)")
    async with supervising([crasher], backoff_initial_seconds=0.01, backoff_max_seconds=10.0) as harness:
        await wait_until(lambda: harness.supervisor.status()[0].restarts >= 4)
        assert await harness.stop_and_wait() == 0
    logged = re.findall(
        r"^up +\| crasher exited with code 1; restarting in (\S+)s$", harness.out.getvalue(), re.M
    )
    assert [float(delay) for delay in logged[:4]] == [0.01, 0.02, 0.04, 0.08]


async def test_missing_program_is_retried_with_backoff() -> None:
    missing = ChildSpec(name="ghost", argv=("/nonexistent/scalebox-test-program",))
    async with supervising([missing], backoff_initial_seconds=0.01) as harness:
        await wait_until(lambda: harness.supervisor.status()[0].restarts >= 2)
    assert "up    | ghost could not be started" in harness.out.getvalue()


def test_backoff_is_capped_and_resets_after_stable_run() -> None:
    backoff = RestartBackoff(initial_seconds=1.0, max_seconds=5.0, stable_after_seconds=10.0)
    delays = [backoff.delay_after_exit(uptime_seconds=0.1) for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert backoff.delay_after_exit(uptime_seconds=10.0) == 1.0
    assert backoff.delay_after_exit(uptime_seconds=0.1) == 2.0


async def test_status_reports_each_child_until_stopped() -> None:
    async with supervising([make_spec("alpha"), make_spec("omega")]) as harness:
        await wait_until(lambda: harness.has_line("alpha | ready") and harness.has_line("omega | ready"))
        running = harness.supervisor.status()
        assert [(s.name, s.state, s.restarts) for s in running] == [
            ("alpha", ChildState.RUNNING, 0),
            ("omega", ChildState.RUNNING, 0),
        ]
        assert all(s.pid is not None and s.started_at is not None for s in running)
        assert await harness.stop_and_wait() == 0
    assert {(s.state, s.pid) for s in harness.supervisor.status()} == {(ChildState.STOPPED, None)}


async def test_stop_terminates_every_child() -> None:
    async with supervising([make_spec("alpha"), make_spec("omega")]) as harness:
        await wait_until(lambda: harness.has_line("alpha | ready") and harness.has_line("omega | ready"))
        pids = [status.pid for status in harness.supervisor.status()]
        assert await harness.stop_and_wait() == 0
    await wait_until(lambda: all(pid is not None and is_gone(pid) for pid in pids))
    assert "restarting" not in harness.out.getvalue()


async def test_child_ignoring_sigterm_is_killed_after_stop_timeout() -> None:
    specs = [make_spec("stubborn", SIGTERM_IGNORER), make_spec("polite")]
    async with supervising(specs, stop_timeout_seconds=0.2) as harness:
        ready = ("stubborn | ready", "polite   | ready")
        await wait_until(lambda: all(harness.has_line(line) for line in ready))
        pids = [status.pid for status in harness.supervisor.status()]
        assert await harness.stop_and_wait() != 0
    await wait_until(lambda: all(pid is not None and is_gone(pid) for pid in pids))
    assert "up       | killing stubborn as it did not stop within 0.2s" in harness.lines()
    assert not any("killing polite" in line for line in harness.lines())


async def test_grandchildren_are_stopped_with_their_parent() -> None:
    # The parent waits for its own child on SIGTERM, which proves the signal reached the whole group.
    parent = (
        "import signal, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(child.wait()))\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    async with supervising([make_spec("parent", parent)]) as harness:
        await wait_until(lambda: any(re.fullmatch(r"parent \| \d+", line) for line in harness.lines()))
        grandchild_pid = int(next(line for line in harness.lines() if line.startswith("parent |"))[9:])
        assert await harness.stop_and_wait() == 0
    await wait_until(lambda: is_gone(grandchild_pid))


def test_duplicate_or_reserved_child_names_are_rejected() -> None:
    for specs in ([make_spec("a"), make_spec("a")], [make_spec("up")], [ChildSpec(name="a", argv=())]):
        with pytest.raises(InvalidError):
            Supervisor(specs, out=io.StringIO(), clock=SystemClock())


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_color_follows_terminal_and_no_color() -> None:
    assert should_color(TerminalStream(), environ={})
    assert not should_color(TerminalStream(), environ={"NO_COLOR": "1"})
    assert not should_color(io.StringIO(), environ={})


def test_colored_prefixes_differ_per_child() -> None:
    out = io.StringIO()
    writer = PrefixedWriter(out, ["a", "b"], supervisor_name="up", color=True)
    writer.write_line("a", "hello")
    writer.write_line("b", "hello")
    first, second = out.getvalue().splitlines()
    assert first.startswith("\x1b[")
    assert first.endswith("a  |\x1b[0m hello")
    assert first[: first.index("a")] != second[: second.index("b")]


PROGRAM = """
import sys
from scalebox.core.supervisor import ChildSpec, main_run
specs = [ChildSpec(name, (sys.executable, "-c", sys.argv[1])) for name in ("alpha", "beta")]
sys.exit(main_run(specs, stop_timeout_seconds=float(sys.argv[2])))
"""


class SupervisorProcess:
    """A supervisor program running in its own process, and the pids of the children it started."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.child_pids: list[int] = []

    async def read_until_ready(self) -> None:
        """Read output until both children are started and have said they are ready."""
        assert self.process.stdout is not None
        ready: set[str] = set()
        while len(ready) < 2:
            line = (await asyncio.wait_for(self.process.stdout.readline(), WAIT_SECONDS)).decode()
            assert line, "supervisor exited early"
            if started := re.search(r"started \w+ \(pid (\d+)\)", line):
                self.child_pids.append(int(started[1]))
            if line.endswith("| ready\n"):
                ready.add(line.split()[0])

    async def read_until(self, text: str) -> None:
        assert self.process.stdout is not None
        while text not in (await asyncio.wait_for(self.process.stdout.readline(), WAIT_SECONDS)).decode():
            pass

    async def exit_code(self) -> int:
        await asyncio.wait_for(self.process.communicate(), WAIT_SECONDS)
        assert self.process.returncode is not None
        return self.process.returncode


@asynccontextmanager
async def supervisor_process(
    child_script: str, stop_timeout_seconds: float
) -> AsyncIterator[SupervisorProcess]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", PROGRAM, child_script, str(stop_timeout_seconds)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    running = SupervisorProcess(process)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for pid in running.child_pids:
            with suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)


async def test_sigint_to_supervisor_stops_children_and_exits_zero() -> None:
    async with supervisor_process(SLEEPER, stop_timeout_seconds=5.0) as running:
        await running.read_until_ready()
        running.process.send_signal(signal.SIGINT)
        assert await running.exit_code() == 0
        assert len(running.child_pids) == 2
        await wait_until(lambda: all(is_gone(pid) for pid in running.child_pids))


async def test_second_sigint_kills_children_at_once() -> None:
    async with supervisor_process(SIGTERM_IGNORER, stop_timeout_seconds=60.0) as running:
        await running.read_until_ready()
        running.process.send_signal(signal.SIGINT)
        await running.read_until("stopping")
        running.process.send_signal(signal.SIGINT)
        assert await running.exit_code() == 1
        await wait_until(lambda: all(is_gone(pid) for pid in running.child_pids))
