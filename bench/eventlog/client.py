"""The load generators, each run as its own process (`python client.py ROLE JSON`), so neither the
client's CPU nor its GIL is the harness's: the Kafka roles use confluent-kafka (librdkafka) for both
Kafka-protocol brokers, the Redis roles a minimal RESP pipeline (resp.py).

A role prints `MARK start` when its measured window begins and `MARK end` when it ends (the harness
reads the servers' CPU time at both), `READY` when a consumer is set to receive, and last a line
`RESULT {json}`. CPU figures are this process's own user + system seconds over the window, every
thread (librdkafka's included)."""

from __future__ import annotations

import json
import os
import resource
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import resp
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

STAMP = struct.Struct("<qq")  # sequence number, scheduled send time (CLOCK_MONOTONIC, ns)
Result = dict[str, Any]


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Window:
    """The measured window: wall and CPU time between start() and stop()."""

    def __init__(self) -> None:
        self.started = self.stopped = 0.0
        self.cpu_started = self.cpu_stopped = 0.0

    def start(self) -> None:
        _say("MARK start")
        self.cpu_started, self.started = _cpu_s(), time.monotonic()

    def stop(self) -> None:
        self.stopped, self.cpu_stopped = time.monotonic(), _cpu_s()
        _say("MARK end")

    @property
    def seconds(self) -> float:
        return self.stopped - self.started

    @property
    def cpu_s(self) -> float:
        return self.cpu_stopped - self.cpu_started


def percentiles(samples_us: list[int]) -> dict[str, float]:
    """p50, p99, p99.9 and max of latencies in microseconds, as milliseconds (nearest rank)."""
    if not samples_us:
        return {"p50_ms": 0.0, "p99_ms": 0.0, "p999_ms": 0.0, "max_ms": 0.0}
    ordered = sorted(samples_us)

    def rank(fraction: float) -> float:
        index = min(len(ordered) - 1, max(0, int(fraction * len(ordered) + 0.999999) - 1))
        return ordered[index] / 1000

    return {
        "p50_ms": rank(0.50),
        "p99_ms": rank(0.99),
        "p999_ms": rank(0.999),
        "max_ms": ordered[-1] / 1000,
    }


# -- Kafka (confluent-kafka) ------------------------------------------------------------------------


def producer_config(bootstrap: str, settings: dict[str, Any]) -> dict[str, Any]:
    """Batching on, acks=all, no compression: the same for both Kafka-protocol brokers."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "linger.ms": settings["linger_ms"],
        "batch.size": settings["batch_bytes"],
        "compression.type": "none",
        "enable.idempotence": False,
        "queue.buffering.max.messages": 500_000,
        "queue.buffering.max.kbytes": 64 * 1024,
        "delivery.report.only.error": True,  # no Python callback per record: only failures come back
        "message.timeout.ms": 120_000,
    }


class _Failures:
    def __init__(self) -> None:
        self.count = 0
        self.first = ""

    def __call__(self, error: Any, _message: Any) -> None:
        if error is not None:
            self.count += 1
            self.first = self.first or str(error)


def kafka_produce(args: dict[str, Any]) -> Result:
    """As fast as the producer goes for `duration_s` (after `warmup_s`), then flush; records/s counts
    what was acknowledged over the window including the flush."""

    failures = _Failures()
    producer = Producer({**producer_config(args["bootstrap"], args), "on_delivery": failures})
    topic, value = args["topic"], os.urandom(args["value_bytes"])
    producer.list_topics(topic, timeout=30)  # connected, metadata known, before the clock starts

    def run(seconds: float) -> int:
        produce, poll = producer.produce, producer.poll
        deadline = time.monotonic() + seconds
        sent = 0
        while time.monotonic() < deadline:
            for _ in range(1000):
                while True:
                    try:
                        produce(topic, value)
                        break
                    except BufferError:  # the local queue is full: serve delivery reports, retry
                        poll(0.001)
            sent += 1000
            poll(0)
        return sent

    if args["warmup_s"] > 0:
        run(args["warmup_s"])
        producer.flush(60)
    failures.count, window = 0, Window()
    window.start()
    sent = run(args["duration_s"])
    produced_s = time.monotonic() - window.started
    unsent = producer.flush(120)
    window.stop()
    acked = sent - unsent - failures.count
    return {
        "records": acked,
        "sent": sent,
        "errors": failures.count + unsent,
        "first_error": failures.first,
        "seconds": window.seconds,
        "flush_s": window.seconds - produced_s,
        "client_cpu_s": window.cpu_s,
    }


def kafka_fill(args: dict[str, Any]) -> Result:
    """Exactly `records` records, then flush (the consume phase's data; timed for orientation only)."""

    failures = _Failures()
    producer = Producer({**producer_config(args["bootstrap"], args), "on_delivery": failures})
    topic, value = args["topic"], os.urandom(args["value_bytes"])
    producer.list_topics(topic, timeout=30)
    window = Window()
    window.start()
    produce, poll = producer.produce, producer.poll
    for index in range(args["records"]):
        while True:
            try:
                produce(topic, value)
                break
            except BufferError:
                poll(0.001)
        if index % 1000 == 0:
            poll(0)
    unsent = producer.flush(120)
    window.stop()
    errors = failures.count + unsent
    return {"records": args["records"] - errors, "errors": errors, "seconds": window.seconds}


def _consumer_config(args: dict[str, Any], group: str) -> dict[str, Any]:
    return {
        "bootstrap.servers": args["bootstrap"],
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": True,
        "auto.commit.interval.ms": 1000,
        "session.timeout.ms": 6000,  # Tansu's first assignment waits half of it
        "enable.partition.eof": False,
        # librdkafka stops fetching while its queue holds queued.min.messages (100k) records and then
        # waits fetch.queue.backoff.ms (default 1000) before the next fetch: against a broker that
        # fetches faster than this Python loop drains, that idle second would be measured instead of
        # the broker. The same for every system.
        "fetch.queue.backoff.ms": 10,
        **args.get("consumer_config", {}),  # extra librdkafka settings, for experiments by hand
    }


def kafka_consume(args: dict[str, Any]) -> Result:
    """A group consumer reads `records` from the beginning (committing every second and at the end);
    the window runs from the first record received to the last, so joining the group is not in it."""

    consumer = Consumer(_consumer_config(args, args["group"]))
    consumer.subscribe([args["topic"]])
    wanted, received, errors, first_error = args["records"], 0, 0, ""
    joined = time.monotonic()
    window = Window()
    deadline = joined + args["timeout_s"]
    byte_count = 0
    while received < wanted and time.monotonic() < deadline:
        messages = consumer.consume(num_messages=10_000, timeout=1.0)
        if not messages:
            continue
        if not received:
            window.start()
            joined = window.started - joined
        for message in messages:
            if message.error() is not None:
                errors += 1
                first_error = first_error or str(message.error())
                continue
            received += 1
            byte_count += len(message.value() or b"")
    window.stop()
    consumer.commit(asynchronous=False)
    consumer.close()
    return {
        "records": received,
        "bytes": byte_count,
        "errors": errors,
        "first_error": first_error,
        "seconds": window.seconds,
        "first_record_s": joined if received else 0.0,
        "client_cpu_s": window.cpu_s,
    }


def _paced(rate: int, total: int, send: Callable[[int, int], None], flush: Callable[[], None]) -> Result:
    """Call send(sequence, scheduled_ns) for `total` records at `rate` a second. Each record is stamped
    with the time it was due, not when it went out, so a producer that falls behind shows as latency
    (no coordinated omission); `behind_max_ms` says how far behind it ever was."""
    interval_ns = 1_000_000_000 / rate
    window = Window()
    window.start()
    start = time.monotonic_ns() + 1_000_000
    sent, behind_ns = 0, 0
    while sent < total:
        now = time.monotonic_ns()
        due = min(total, int((now - start) / interval_ns) + 1)
        if sent < due:
            behind_ns = max(behind_ns, now - (start + int(sent * interval_ns)))
        while sent < due:
            send(sent, start + int(sent * interval_ns))
            sent += 1
        flush()
        wait_ns = start + int(sent * interval_ns) - time.monotonic_ns()
        if wait_ns > 0:
            time.sleep(wait_ns / 1e9)
    window.stop()
    return {
        "sent": sent,
        "seconds": window.seconds,
        "client_cpu_s": window.cpu_s,
        "behind_max_ms": behind_ns / 1e6,
    }


def kafka_paced_produce(args: dict[str, Any]) -> Result:

    failures = _Failures()
    producer = Producer({**producer_config(args["bootstrap"], args), "on_delivery": failures})
    topic = args["topic"]
    padding = os.urandom(args["value_bytes"] - STAMP.size)
    producer.list_topics(topic, timeout=30)
    produce, pack = producer.produce, STAMP.pack

    def send(sequence: int, scheduled_ns: int) -> None:
        produce(topic, pack(sequence, scheduled_ns) + padding)

    def flush() -> None:
        producer.poll(0)

    result = _paced(args["rate"], args["records"], send, flush)
    unsent = producer.flush(60)
    return {**result, "errors": failures.count + unsent, "first_error": failures.first}


def kafka_latency_consume(args: dict[str, Any]) -> Result:
    """Assigned to partition 0 from the beginning; prints READY once it has fetched (nothing) from the
    new topic, then takes the latency of every record after the warm-up ones: receive - scheduled send."""

    consumer = Consumer(_consumer_config(args, args["group"]))
    consumer.assign([TopicPartition(args["topic"], 0, OFFSET_BEGINNING)])
    consumer.poll(0.1)  # connecting and fetching; the records of the warm-up cover the rest
    _say("READY")
    latencies, received, errors = [], 0, 0
    skip, wanted = args["warmup_records"], args["records"]
    deadline = time.monotonic() + args["timeout_s"]
    unpack = STAMP.unpack_from
    poll = consumer.poll  # one record at a time: consume(n) would wait for n records or its timeout
    while received < wanted and time.monotonic() < deadline:
        message = poll(0.2)
        if message is None:
            continue
        now = time.monotonic_ns()
        value = message.value()
        if message.error() is not None or value is None:
            errors += 1
            continue
        sequence, scheduled = unpack(value)
        received += 1
        if sequence >= skip:
            latencies.append((now - scheduled) // 1000)
    consumer.close()
    return {"records": received, "errors": errors, "measured": len(latencies), **percentiles(latencies)}


# -- Redis Streams (RESP) ----------------------------------------------------------------------------


def _redis(args: dict[str, Any]) -> resp.Connection:
    return resp.Connection(args["host"], args["port"])


def redis_produce(args: dict[str, Any]) -> Result:
    """XADD pipelines of `pipeline` commands over one connection, `in_flight` pipelines written before
    their replies are read; with several streams ("partitions"), each pipeline goes to the next."""

    connection = _redis(args)
    value = os.urandom(args["value_bytes"])
    streams = [f"{args['topic']}-{index}" for index in range(args["partitions"])]
    size, in_flight = args["pipeline"], args["in_flight"]
    pipelines = [resp.encode("XADD", stream, "*", "v", value) * size for stream in streams]

    def run(seconds: float) -> tuple[int, int]:
        deadline = time.monotonic() + seconds
        written = acked = errors = 0
        while True:
            going = time.monotonic() < deadline
            if going and written - acked < in_flight * size:
                connection.send(pipelines[(written // size) % len(pipelines)])
                written += size
                continue
            if acked == written:
                return acked, errors
            errors += resp.check(connection.read(size))
            acked += size

    if args["warmup_s"] > 0:
        run(args["warmup_s"])
    window = Window()
    window.start()
    acked, errors = run(args["duration_s"])
    window.stop()
    connection.close()
    return {
        "records": acked - errors,
        "sent": acked,
        "errors": errors,
        "first_error": "",
        "seconds": window.seconds,
        "flush_s": 0.0,
        "client_cpu_s": window.cpu_s,
    }


def redis_fill(args: dict[str, Any]) -> Result:
    """`records` XADDs to one stream in pipelines (not timed by the harness as a figure of record)."""

    connection = _redis(args)
    value = os.urandom(args["value_bytes"])
    stream, size = f"{args['topic']}-0", args["pipeline"]
    window = Window()
    window.start()
    left = args["records"]
    errors = 0
    while left:
        batch = min(size, left)
        connection.send(resp.encode("XADD", stream, "*", "v", value) * batch)
        errors += resp.check(connection.read(batch))
        left -= batch
    window.stop()
    connection.close()
    return {"records": args["records"] - errors, "errors": errors, "seconds": window.seconds}


def redis_consume(args: dict[str, Any]) -> Result:
    """XREADGROUP (COUNT `count`) from a new group at the stream's start, `in_flight` reads outstanding
    so Redis builds the next reply while this process parses the last; the XACK of each batch goes out
    with the next read. The window runs from the first reply with entries to the last."""

    connection = _redis(args)
    stream, group = f"{args['topic']}-0", args["group"]
    connection.call("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
    read = resp.encode(
        "XREADGROUP", "GROUP", group, "c1", "COUNT", args["count"], "BLOCK", 1000, "STREAMS", stream, ">"
    )
    wanted, received, byte_count, errors = args["records"], 0, 0, 0
    window = Window()
    deadline = time.monotonic() + args["timeout_s"]
    outstanding: list[int] = []  # replies each request sent is owed: 1 (a read) or 2 (an XACK and a read)
    for _ in range(max(1, args["in_flight"])):
        connection.send(read)
        outstanding.append(1)
    while received < wanted and time.monotonic() < deadline:
        replies = connection.read(outstanding.pop(0))
        if len(replies) == 2:
            errors += resp.check(replies[:1])
        reply = replies[-1]
        if isinstance(reply, resp.RedisError):
            raise reply
        if not reply:
            connection.send(read)
            outstanding.append(1)
            continue
        if not received:
            window.start()
        entries = reply[0][1]
        received += len(entries)
        byte_count += sum(len(fields[1]) for _, fields in entries)
        ack = resp.encode("XACK", stream, group, *(entry_id for entry_id, _ in entries))
        if received < wanted:
            connection.send(ack + read)
            outstanding.append(2)
        else:
            connection.send(ack)
            outstanding.append(1)
    window.stop()
    while outstanding:  # the last XACK, and any read still owed (empty, after its BLOCK)
        replies = connection.read(outstanding.pop(0))
        errors += resp.check([reply for reply in replies if isinstance(reply, (resp.RedisError, int))])
    connection.close()
    return {
        "records": received,
        "bytes": byte_count,
        "errors": errors,
        "first_error": "",
        "seconds": window.seconds,
        "first_record_s": 0.0,
        "client_cpu_s": window.cpu_s,
    }


def redis_paced_produce(args: dict[str, Any]) -> Result:
    """XADD at `rate` a second: the records due at each tick as one pipeline, replies read at once."""

    connection = _redis(args)
    stream = f"{args['topic']}-0"
    padding = os.urandom(args["value_bytes"] - STAMP.size)
    prefix = b"*5\r\n$4\r\nXADD\r\n" + resp.encode(stream)[4:] + b"$1\r\n*\r\n$1\r\nv\r\n"
    value_header = b"$%d\r\n" % args["value_bytes"]
    batch: list[bytes] = []
    errors = 0
    pack = STAMP.pack

    def send(sequence: int, scheduled_ns: int) -> None:
        batch.append(prefix + value_header + pack(sequence, scheduled_ns) + padding + b"\r\n")

    def flush() -> None:
        nonlocal errors
        if batch:
            connection.send(b"".join(batch))
            errors += resp.check(connection.read(len(batch)))
            batch.clear()

    result = _paced(args["rate"], args["records"], send, flush)
    connection.close()
    return {**result, "errors": errors, "first_error": ""}


def redis_latency_consume(args: dict[str, Any]) -> Result:
    """XREADGROUP BLOCK on a group created at the (new, empty) stream's start, XACK of each batch."""

    connection = _redis(args)
    stream, group = f"{args['topic']}-0", args["group"]
    connection.call("XGROUP", "CREATE", stream, group, "$", "MKSTREAM")
    read = resp.encode(
        "XREADGROUP", "GROUP", group, "c1", "COUNT", 1000, "BLOCK", 200, "STREAMS", stream, ">"
    )
    _say("READY")
    latencies, received, errors = [], 0, 0
    skip, wanted = args["warmup_records"], args["records"]
    deadline = time.monotonic() + args["timeout_s"]
    unpack = STAMP.unpack_from
    while received < wanted and time.monotonic() < deadline:
        connection.send(read)
        reply = connection.read(1)[0]
        now = time.monotonic_ns()
        if isinstance(reply, resp.RedisError):
            raise reply
        if not reply:
            continue
        entries = reply[0][1]
        for _, fields in entries:
            sequence, scheduled = unpack(fields[1])
            received += 1
            if sequence >= skip:
                latencies.append((now - scheduled) // 1000)
        connection.send(resp.encode("XACK", stream, group, *(entry_id for entry_id, _ in entries)))
        errors += resp.check(connection.read(1))
    connection.close()
    return {"records": received, "errors": errors, "measured": len(latencies), **percentiles(latencies)}


ROLES: dict[str, Callable[[dict[str, Any]], Result]] = {
    "kafka-produce": kafka_produce,
    "kafka-fill": kafka_fill,
    "kafka-consume": kafka_consume,
    "kafka-paced-produce": kafka_paced_produce,
    "kafka-latency-consume": kafka_latency_consume,
    "redis-produce": redis_produce,
    "redis-fill": redis_fill,
    "redis-consume": redis_consume,
    "redis-paced-produce": redis_paced_produce,
    "redis-latency-consume": redis_latency_consume,
}


def main(argv: list[str]) -> int:
    role, args = argv[0], json.loads(argv[1])
    result = ROLES[role](args)
    _say("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
