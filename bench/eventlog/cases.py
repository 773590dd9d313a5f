"""The three phases (produce, end-to-end latency, consume), each run on every server in turn through
client processes (client.py), with the servers' CPU time read at the start and end of each measured
window. Topics (streams, for Redis) are created fresh for every run and deleted after it, so no run
reads or pays for another's data."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import resp
from bench.common import processes, spy
from bench.common.processes import HOST
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from servers import PYTHON, System

HERE = Path(__file__).resolve().parent
CLIENT = HERE / "client.py"
KiB = 1024
_children: list[subprocess.Popen[bytes]] = []  # client processes still running: stopped on the way out


@dataclass(frozen=True)
class Settings:
    """The shape of every phase, the same for every server."""

    quick: bool
    duration_s: float  # measured seconds of a produce run
    warmup_s: float  # of a produce run (not measured)
    latency_duration_s: float
    latency_warmup_s: float  # paced records first, not measured
    fetch_wait_max_ms: int | None  # the Kafka consumers' fetch.wait.max.ms (None: librdkafka's 500)
    produce_cases: tuple[tuple[int, int], ...]  # (value bytes, partitions)
    linger_ms: int
    batch_bytes: int
    latency_rate: int
    latency_linger_ms: int
    latency_value_bytes: int
    consume_records: int
    consume_value_bytes: int
    redis_pipeline: int
    redis_in_flight: int
    idle_window_s: float


@dataclass
class ProduceRun:
    system: str
    value_bytes: int
    partitions: int
    records: int
    seconds: float
    errors: int
    first_error: str
    flush_s: float
    client_cpu_s: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def mb_s(self) -> float:
        return self.rate * self.value_bytes / 1e6

    @property
    def client_cores(self) -> float:
        return self.client_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class LatencyRun:
    system: str
    rate: int
    expected: int  # records sent, warm-up included
    received: int
    measured: int  # records after the warm-up ones
    errors: int
    p50_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    behind_max_ms: float  # how far the paced producer ever fell behind its schedule
    seconds: float
    producer_cpu_s: float
    server_cpu_s: float

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def producer_cores(self) -> float:
        return self.producer_cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class ConsumeRun:
    system: str
    records: int
    value_bytes: int
    seconds: float
    first_record_s: float  # from subscribing to the first record (group join, first fetch)
    errors: int
    fill_rate: float  # records/s of the unmeasured fill before it
    client_cpu_s: float
    server_cpu_s: float

    @property
    def rate(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def mb_s(self) -> float:
        return self.rate * self.value_bytes / 1e6

    @property
    def client_cores(self) -> float:
        return self.client_cpu_s / self.seconds if self.seconds else 0.0

    @property
    def server_cores(self) -> float:
        return self.server_cpu_s / self.seconds if self.seconds else 0.0


@dataclass
class Results:
    """Whatever phases ran (`--only` leaves the others out); runs keyed by server name."""

    produce: list[dict[str, ProduceRun]] = field(default_factory=list)
    latency: dict[str, LatencyRun] = field(default_factory=dict)
    consume: dict[str, ConsumeRun] = field(default_factory=dict)
    profile: str = ""  # py-spy's summary of our broker in the profiled produce run


@dataclass
class Bench:
    args: argparse.Namespace
    settings: Settings
    systems: list[System]
    work_dir: Path
    py_spy: Path | None
    profile_case: tuple[int, int] = (KiB, 1)
    results: Results = field(default_factory=Results)


# -- client processes ---------------------------------------------------------------------------------


@dataclass
class ClientRun:
    result: dict[str, Any]
    server_cpu_s: float  # the server's CPU seconds between the client's MARK start and MARK end


class _Client:
    """One client process and its stdout, read line by line with a deadline."""

    def __init__(self, role: str, args: dict[str, Any], log: Path) -> None:
        with log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [str(PYTHON), str(CLIENT), role, json.dumps(args)],
                cwd=HERE,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=stderr,
                start_new_session=True,
            )
        _children.append(self.process)
        self.role, self.log = role, log
        self._buffer = b""

    def lines(self, timeout_s: float) -> Iterator[str]:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        deadline = time.monotonic() + timeout_s
        while True:
            while b"\n" in self._buffer:
                line, self._buffer = self._buffer.split(b"\n", 1)
                yield line.decode(errors="replace")
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError(f"client {self.role} took over {timeout_s:.0f} s:\n{self._log_tail()}")
            ready, _, _ = select.select([fd], [], [], min(left, 1.0))
            if not ready:
                continue
            data = os.read(fd, 65536)
            if not data:
                return
            self._buffer += data

    def until(self, marker: str, timeout_s: float, on_mark: Callable[[str], None] | None = None) -> str:
        """Read lines until one starting with `marker`; calls on_mark with every MARK line on the way."""
        for line in self.lines(timeout_s):
            if line.startswith("MARK ") and on_mark is not None:
                on_mark(line[5:])
            if line.startswith(marker):
                return line
        self.process.wait(timeout=30)
        raise RuntimeError(
            f"client {self.role} exited ({self.process.returncode}) before {marker}:\n{self._log_tail()}"
        )

    def result(self, timeout_s: float, on_mark: Callable[[str], None] | None = None) -> dict[str, Any]:
        line = self.until("RESULT ", timeout_s, on_mark)
        self.process.wait(timeout=30)
        _children.remove(self.process)
        parsed: dict[str, Any] = json.loads(line[len("RESULT ") :])
        return parsed

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()
        if self.process in _children:
            _children.remove(self.process)

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


def stop_clients() -> None:
    """Kill every client process still running (an interrupted run)."""
    for process in list(_children):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    _children.clear()


def run_client(bench: Bench, system: System, role: str, args: dict[str, Any], timeout_s: float) -> ClientRun:
    """Run one client process to its end, reading `system`'s CPU time at its marks."""
    client = _Client(role, args, bench.work_dir / f"client-{system.name}.log")
    return _finish(client, system, timeout_s)


def _finish(client: _Client, system: System, timeout_s: float) -> ClientRun:
    marks: dict[str, float] = {}

    def on_mark(name: str) -> None:
        marks[name] = processes.group_cpu_seconds(system.server.process.pid)

    try:
        result = client.result(timeout_s, on_mark)
    except BaseException:
        client.stop()
        raise
    return ClientRun(result, marks.get("end", 0.0) - marks.get("start", 0.0))


# -- topics and streams -------------------------------------------------------------------------------


def create_topic(system: System, name: str, partitions: int) -> None:
    """A fresh topic (Kafka) of `partitions`, waited for until its metadata shows every partition led;
    for Redis nothing: XADD creates the stream."""
    if system.protocol != "kafka":
        return
    admin = AdminClient({"bootstrap.servers": system.bootstrap, "log_level": 3})
    futures = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=1)], operation_timeout=30
    )
    futures[name].result(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        topic = admin.list_topics(name, timeout=10).topics.get(name)
        if (
            topic is not None
            and topic.error is None
            and len(topic.partitions) == partitions
            and all(partition.leader >= 0 for partition in topic.partitions.values())
        ):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{system.name}: topic {name} has no {partitions} led partitions after 30 s")


def delete_topic(system: System, name: str, partitions: int) -> None:
    """Free what the run stored (Tansu and Redis keep it in memory); a failure is only reported."""
    try:
        if system.protocol == "redis":
            connection = resp.Connection(HOST, system.server.port)
            try:
                connection.call("UNLINK", *(f"{name}-{index}" for index in range(partitions)))
            finally:
                connection.close()
            return
        admin = AdminClient({"bootstrap.servers": system.bootstrap, "log_level": 3})
        admin.delete_topics([name], operation_timeout=30)[name].result(timeout=60)
    except Exception as error:  # best effort: the next run uses a new name anyway
        print(f"  ({system.name}: could not delete {name}: {error})", flush=True)


def wait_idle(bench: Bench) -> None:
    """Until every server uses under 5% of a core over one window, sampled together (at most 120 s)."""
    servers = [system.server for system in bench.systems]
    window = bench.settings.idle_window_s
    deadline = time.monotonic() + 120
    before = [processes.group_cpu_seconds(server.process.pid) for server in servers]
    while time.monotonic() < deadline:
        time.sleep(window)
        after = [processes.group_cpu_seconds(server.process.pid) for server in servers]
        if all(b - a < 0.05 * window for a, b in zip(before, after, strict=True)):
            return
        before = after
    print("  (a server was still busy after 120 s; going on)", flush=True)


def _order(bench: Bench, index: int) -> list[System]:
    """The servers, rotated run by run so that drift in the machine's load favours no one."""
    shift = index % len(bench.systems)
    return bench.systems[shift:] + bench.systems[:shift]


def _common(system: System, bench: Bench, topic: str) -> dict[str, Any]:
    settings = bench.settings
    if system.protocol == "kafka":
        wait = settings.fetch_wait_max_ms
        return {
            "bootstrap": system.bootstrap,
            "topic": topic,
            "linger_ms": settings.linger_ms,
            "batch_bytes": settings.batch_bytes,
            "consumer_config": {} if wait is None else {"fetch.wait.max.ms": wait},
        }
    return {
        "host": HOST,
        "port": system.server.port,
        "topic": topic,
        "pipeline": settings.redis_pipeline,
        "in_flight": settings.redis_in_flight,
    }


# -- phases -------------------------------------------------------------------------------------------


def run_produce(bench: Bench) -> None:
    settings = bench.settings
    for index, (value_bytes, partitions) in enumerate(settings.produce_cases):
        runs: dict[str, ProduceRun] = {}
        for system in _order(bench, index):
            topic = f"produce-{value_bytes}b-{partitions}p-{system.name}"
            wait_idle(bench)
            create_topic(system, topic, partitions)
            args = {
                **_common(system, bench, topic),
                "value_bytes": value_bytes,
                "partitions": partitions,
                "duration_s": settings.duration_s,
                "warmup_s": settings.warmup_s,
            }
            profile = (
                bench.py_spy is not None
                and system.name == "scalebox"
                and (value_bytes, partitions) == bench.profile_case
            )
            recorder, collapsed = (
                None,
                bench.args.profile_dir / f"eventlog-produce-{value_bytes}b-{partitions}p.txt",
            )
            if profile and bench.py_spy is not None:
                bench.args.profile_dir.mkdir(parents=True, exist_ok=True)
                recorder = spy.start(bench.py_spy, system.server.process.pid, collapsed)
            try:
                run = run_client(
                    bench, system, f"{system.protocol}-produce", args, settings.duration_s * 4 + 120
                )
            finally:
                if recorder is not None:
                    spy.finish(recorder, timeout_s=30)
            if recorder is not None and collapsed.exists():
                bench.results.profile = spy.summarise(collapsed, ("confluent_kafka",))
                print(f"\nprofile of scalebox, produce ({collapsed}):\n{bench.results.profile}\n", flush=True)
            result = run.result
            runs[system.name] = produced = ProduceRun(
                system=system.name,
                value_bytes=value_bytes,
                partitions=partitions,
                records=result["records"],
                seconds=result["seconds"],
                errors=result["errors"],
                first_error=result["first_error"],
                flush_s=result["flush_s"],
                client_cpu_s=result["client_cpu_s"],
                server_cpu_s=run.server_cpu_s,
            )
            print(
                f"produce {_size(value_bytes):>6} x{partitions} {system.name:<8} "
                f"{produced.rate:>10,.0f} rec/s {produced.mb_s:7.1f} MB/s  errors {produced.errors}  "
                f"flush {produced.flush_s:.2f} s  "
                f"client {produced.client_cores:.2f} cores  server {produced.server_cores:.2f} cores",
                flush=True,
            )
            delete_topic(system, topic, partitions)
        bench.results.produce.append(runs)


def run_latency(bench: Bench) -> None:
    settings = bench.settings
    rate = settings.latency_rate
    warmup_records = int(rate * settings.latency_warmup_s)
    total = warmup_records + int(rate * settings.latency_duration_s)
    for system in _order(bench, 0):
        topic = f"latency-{system.name}"
        wait_idle(bench)
        create_topic(system, topic, 1)
        common = _common(system, bench, topic)
        timeout_s = settings.latency_duration_s + settings.latency_warmup_s + 60
        consumer = _Client(
            f"{system.protocol}-latency-consume",
            {
                **common,
                "group": f"latency-{system.name}",
                "records": total,
                "warmup_records": warmup_records,
                "timeout_s": timeout_s,
            },
            bench.work_dir / f"client-{system.name}.log",
        )
        try:
            consumer.until("READY", 60)
            producer = _Client(
                f"{system.protocol}-paced-produce",
                {
                    **common,
                    "linger_ms": settings.latency_linger_ms,
                    "value_bytes": settings.latency_value_bytes,
                    "rate": rate,
                    "records": total,
                },
                bench.work_dir / f"client-{system.name}.log",
            )
            sent = _finish(producer, system, timeout_s)
            received = consumer.result(timeout_s)
        except BaseException:
            consumer.stop()
            raise
        produced = sent.result
        run = LatencyRun(
            system=system.name,
            rate=rate,
            expected=total,
            received=received["records"],
            measured=received["measured"],
            errors=produced["errors"] + received["errors"],
            p50_ms=received["p50_ms"],
            p99_ms=received["p99_ms"],
            p999_ms=received["p999_ms"],
            max_ms=received["max_ms"],
            behind_max_ms=produced["behind_max_ms"],
            seconds=produced["seconds"],
            producer_cpu_s=produced["client_cpu_s"],
            server_cpu_s=sent.server_cpu_s,
        )
        bench.results.latency[system.name] = run
        print(
            f"latency {rate:,}/s {system.name:<8} p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms  "
            f"p99.9 {run.p999_ms:6.2f} ms  max {run.max_ms:7.2f} ms  received {run.received:,}/{total:,}  "
            f"producer behind at most {run.behind_max_ms:.1f} ms  server {run.server_cores:.2f} cores",
            flush=True,
        )
        delete_topic(system, topic, 1)


def run_consume(bench: Bench) -> None:
    settings = bench.settings
    records, value_bytes = settings.consume_records, settings.consume_value_bytes
    for system in _order(bench, 1):
        topic = f"consume-{system.name}"
        wait_idle(bench)
        create_topic(system, topic, 1)
        common = _common(system, bench, topic)
        fill = run_client(
            bench,
            system,
            f"{system.protocol}-fill",
            {**common, "value_bytes": value_bytes, "records": records, "partitions": 1},
            600,
        ).result
        if fill["errors"]:
            raise RuntimeError(f"{system.name}: {fill['errors']} records of the fill failed")
        wait_idle(bench)
        run = run_client(
            bench,
            system,
            f"{system.protocol}-consume",
            {
                **common,
                "group": f"consume-{system.name}",
                "records": records,
                "count": 1000,
                "timeout_s": 300,
            },
            420,
        )
        result = run.result
        consumed = ConsumeRun(
            system=system.name,
            records=result["records"],
            value_bytes=value_bytes,
            seconds=result["seconds"],
            first_record_s=result["first_record_s"],
            errors=result["errors"],
            fill_rate=fill["records"] / fill["seconds"] if fill["seconds"] else 0.0,
            client_cpu_s=result["client_cpu_s"],
            server_cpu_s=run.server_cpu_s,
        )
        bench.results.consume[system.name] = consumed
        print(
            f"consume {_size(value_bytes):>6} {system.name:<8} {consumed.rate:>10,.0f} rec/s "
            f"{consumed.mb_s:7.1f} MB/s  {consumed.records:,}/{records:,} records  "
            f"first after {consumed.first_record_s:.2f} s  client {consumed.client_cores:.2f} cores  "
            f"server {consumed.server_cores:.2f} cores  (filled at {consumed.fill_rate:,.0f} rec/s)",
            flush=True,
        )
        delete_topic(system, topic, 1)


def _size(value_bytes: int) -> str:
    return f"{value_bytes // KiB} KiB" if value_bytes % KiB == 0 else f"{value_bytes} B"
