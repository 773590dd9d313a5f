"""Many small requests from several worker processes of several threads each, one boto3 client per
thread: a timed run of PUTs or GETs (a warm-up, then a measured window that every worker shares), or a
fill of a fixed number of keys. boto3 spends a few milliseconds of CPU a request, so one Python
process of 16 threads would measure the client's GIL rather than the server."""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
import random
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier, Event
from typing import TYPE_CHECKING, Literal

from bench.common import processes
from botocore.exceptions import BotoCoreError, ClientError
from client import Endpoint, make_client

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import Synchronized

    from mypy_boto3_s3 import S3Client

Op = Literal["put", "get", "fill"]
_CONTEXT = multiprocessing.get_context("spawn")  # fresh interpreters: nothing inherited from the harness
_START_MARGIN_S = 0.2  # from the parent's go to the workers' first request


@dataclass(frozen=True)
class Shape:
    """How the load is spread: `concurrency` threads in all over `processes` processes."""

    processes: int
    concurrency: int
    warmup_s: float = 0.0
    duration_s: float = 0.0

    def threads_of(self, process_index: int) -> int:
        base, extra = divmod(self.concurrency, self.processes)
        return base + (1 if process_index < extra else 0)


@dataclass(frozen=True)
class Task:
    """What the requests are. Keys are `prefix` + an 8-digit index, except a timed PUT's, which writes
    a new key every request."""

    bucket: str
    op: Op
    prefix: str
    body_bytes: int
    keys: int = 0  # get: picked at random from the first `keys`; fill: written, spread over the threads


@dataclass(frozen=True)
class Plan:
    """What one worker process does."""

    endpoint: Endpoint
    task: Task
    shape: Shape
    threads: int
    first_thread: int  # global index of this process's first thread


@dataclass(frozen=True)
class Window:
    """When every worker starts (`start`) and which requests count: a timed run's, those that end in
    [`measure_from`, `measure_until`); a fill's, all of them."""

    start: float
    measure_from: float
    measure_until: float

    @property
    def timed(self) -> bool:
        return self.measure_until != float("inf")

    @classmethod
    def of(cls, op: Op, shape: Shape, start: float) -> Window:
        if op == "fill":
            return cls(start, start, float("inf"))
        return cls(start, start + shape.warmup_s, start + shape.warmup_s + shape.duration_s)


@dataclass
class WorkerResult:
    """A worker process's tally over the measured window (a fill: over the whole fill)."""

    ops: int = 0
    errors: int = 0
    first_error: str = ""
    latencies_s: list[float] = field(default_factory=list)
    cpu_s: float = 0.0
    finished_at: float = 0.0


@dataclass(frozen=True)
class LoadResult:
    """Every worker's tally together, and the CPU both sides used over the same window."""

    ops: int
    errors: int
    first_error: str
    seconds: float
    latencies_s: list[float]  # sorted
    client_cpu_s: float
    server_cpu_s: float

    @property
    def ops_per_second(self) -> float:
        return self.ops / self.seconds if self.seconds else 0.0

    def percentile_ms(self, share: float) -> float:
        """The nearest-rank percentile (`share` 0.99 for p99) of the latencies, in milliseconds."""
        if not self.latencies_s:
            return 0.0
        rank = min(len(self.latencies_s), max(1, math.ceil(share * len(self.latencies_s))))
        return 1000 * self.latencies_s[rank - 1]

    @property
    def client_cores(self) -> float:
        return self.client_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.seconds if self.seconds else 0.0


def key_name(prefix: str, index: int) -> str:
    return f"{prefix}{index:08d}"


def run(endpoint: Endpoint, server_pid: int, shape: Shape, task: Task) -> LoadResult:
    """Start the workers, let them go at once, and add up what they measured. A fill measures from
    the go to the last worker's end; a timed run, the window after the warm-up."""
    plans = _plans(endpoint, shape, task)
    ready, go = _CONTEXT.Barrier(len(plans) + 1), _CONTEXT.Event()
    start_at: Synchronized[float] = _CONTEXT.Value("d", 0.0)
    results: multiprocessing.Queue[WorkerResult] = _CONTEXT.Queue()
    workers = [
        _CONTEXT.Process(target=_worker, args=(plan, ready, go, start_at, results), daemon=True)
        for plan in plans
    ]
    try:
        for worker in workers:
            worker.start()
        try:
            ready.wait(timeout=120)  # every client built: only requests from here on
        except threading.BrokenBarrierError:
            codes = [worker.exitcode for worker in workers]
            raise RuntimeError(f"the load workers did not start (exit codes {codes})") from None
        start_at.value = time.monotonic() + _START_MARGIN_S
        go.set()
        window = Window.of(task.op, shape, start_at.value)
        tallies, server_cpu_s = _collect(results, workers, window, server_pid)
        for worker in workers:
            worker.join(timeout=30)
    finally:
        for worker in workers:  # only after a failure or Ctrl-C are any still running
            if worker.is_alive():
                worker.terminate()
                worker.join(timeout=10)
    timed = task.op != "fill"
    return LoadResult(
        ops=sum(t.ops for t in tallies),
        errors=sum(t.errors for t in tallies),
        first_error=next((t.first_error for t in tallies if t.first_error), ""),
        seconds=shape.duration_s if timed else max(t.finished_at for t in tallies) - window.start,
        latencies_s=sorted(latency for t in tallies for latency in t.latencies_s),
        client_cpu_s=sum(t.cpu_s for t in tallies),
        server_cpu_s=server_cpu_s,
    )


def _plans(endpoint: Endpoint, shape: Shape, task: Task) -> list[Plan]:
    plans, first = [], 0
    for index in range(shape.processes):
        threads = shape.threads_of(index)
        if threads:
            plans.append(Plan(endpoint, task, shape, threads=threads, first_thread=first))
        first += threads
    return plans


def _collect(
    results: multiprocessing.Queue[WorkerResult],
    workers: Sequence[multiprocessing.process.BaseProcess],
    window: Window,
    server_pid: int,
) -> tuple[list[WorkerResult], float]:
    """Every worker's tally, and the server's CPU seconds over the measured window (a fill: until the
    last worker is done)."""
    _sleep_until(window.measure_from)
    before = processes.group_cpu_seconds(server_pid)
    if window.timed:
        _sleep_until(window.measure_until)
        server_cpu_s = processes.group_cpu_seconds(server_pid) - before
    tallies = [_get(results, workers) for _ in workers]
    if not window.timed:
        server_cpu_s = processes.group_cpu_seconds(server_pid) - before
    return tallies, server_cpu_s


def _get(
    results: multiprocessing.Queue[WorkerResult], workers: Sequence[multiprocessing.process.BaseProcess]
) -> WorkerResult:
    """The next worker's tally; fails at once when a worker died without one."""
    while True:
        try:
            return results.get(timeout=1.0)
        except queue.Empty:
            dead = [w for w in workers if w.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(f"a load worker exited with {dead[0].exitcode}") from None


def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


# ---------------------------------------------------------------------------------------------
# in the worker processes


@dataclass(frozen=True)
class _Job:
    """One thread of a worker: its global index, its own client, its own tally."""

    index: int
    client: S3Client
    tally: WorkerResult


def _worker(
    plan: Plan,
    ready: Barrier,
    go: Event,
    start_at: Synchronized[float],
    results: multiprocessing.Queue[WorkerResult],
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it ends us
    jobs = [
        _Job(plan.first_thread + n, make_client(plan.endpoint, pool_connections=1), WorkerResult())
        for n in range(plan.threads)
    ]
    body = os.urandom(plan.task.body_bytes)
    ready.wait()
    go.wait()
    window = Window.of(plan.task.op, plan.shape, start_at.value)
    threads = [threading.Thread(target=_thread, args=(plan, body, window, job)) for job in jobs]
    for thread in threads:
        thread.start()
    _sleep_until(window.measure_from)
    cpu_before = processes.process_cpu_seconds(os.getpid())
    if window.timed:
        _sleep_until(window.measure_until)
        cpu_s = processes.process_cpu_seconds(os.getpid()) - cpu_before
    for thread in threads:
        thread.join()
    if not window.timed:
        cpu_s = processes.process_cpu_seconds(os.getpid()) - cpu_before
    results.put(_merge([job.tally for job in jobs], cpu_s))


def _merge(tallies: list[WorkerResult], cpu_s: float) -> WorkerResult:
    return WorkerResult(
        ops=sum(t.ops for t in tallies),
        errors=sum(t.errors for t in tallies),
        first_error=next((t.first_error for t in tallies if t.first_error), ""),
        latencies_s=[latency for t in tallies for latency in t.latencies_s],
        cpu_s=cpu_s,
        finished_at=max(t.finished_at for t in tallies),
    )


def _thread(plan: Plan, body: bytes, window: Window, job: _Job) -> None:
    """Requests back to back: a fill writes this thread's share of the keys; a timed run goes on until
    the window closes, and counts only the requests that end inside it, each with its latency."""
    _sleep_until(window.start)
    task, client, tally = plan.task, job.client, job.tally
    if not window.timed:
        for index in range(job.index, task.keys, plan.shape.concurrency):
            _count(tally, _request(task, client, body, key_name(task.prefix, index)), None)
        tally.finished_at = time.monotonic()
        return
    rng = random.Random(job.index)
    sequence = 0
    while (began := time.monotonic()) < window.measure_until:
        if task.op == "put":  # a new key every time: no overwrites, nothing to collect afterwards
            key = f"{task.prefix}{job.index:03d}-{sequence:08d}"
        else:
            key = key_name(task.prefix, rng.randrange(task.keys))
        error = _request(task, client, body, key)
        ended = time.monotonic()
        sequence += 1
        if window.measure_from <= ended < window.measure_until:
            _count(tally, error, ended - began)
    tally.finished_at = time.monotonic()


def _request(task: Task, client: S3Client, body: bytes, key: str) -> str:
    """One PUT or GET (reading the whole body); returns what went wrong, or "" when nothing did."""
    try:
        if task.op == "get":
            data = client.get_object(Bucket=task.bucket, Key=key)["Body"].read()
            if len(data) != task.body_bytes:
                return f"GET {key}: {len(data)} bytes, expected {task.body_bytes}"
        else:
            client.put_object(Bucket=task.bucket, Key=key, Body=body)
    except (ClientError, BotoCoreError) as exc:
        return f"{task.op} {key}: {type(exc).__name__}: {exc}"
    return ""


def _count(tally: WorkerResult, error: str, latency_s: float | None) -> None:
    if error:
        tally.errors += 1
        tally.first_error = tally.first_error or error
        return
    tally.ops += 1
    if latency_s is not None:
        tally.latencies_s.append(latency_s)
