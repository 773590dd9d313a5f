"""One FIX client for every server the benchmark drives: asyncio, raw sockets, its own small
tag=value encoder and framer. It logs on, sends NewOrderSingle messages and measures the round trip
from writing each order to reading the first ExecutionReport that names its ClOrdID.

Two ways to drive a server, with the same order mix:

- latency: one order outstanding at a time (alternating between a buying and a selling session),
  so each round trip is the server's whole path with nothing queued in front of it;
- throughput: K sessions, each keeping a window of W orders outstanding (a new order goes out as
  soon as an earlier one is answered), for a fixed time after a warm-up.

The FIX version, the comp ids and the Logon's Password (554) are parameters: the same code drives
QuickFIX's ordermatch on FIX.4.2 and scalebox's gateway on FIX.4.4. Sessions are one-sided (buyers
only buy, sellers only sell), so no order can meet its own participant's and self-trade prevention
never changes what a server does. The mix: limit DAY orders near the touch that mostly rest, and a
share that cross the spread and trade.

    .venv/bin/python bench/exchange/fix_client.py --port 9878 --begin-string FIX.4.4 \\
        --target SCALEBOX --sender B0 --sender S0 --password secret --mode latency --orders 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import itertools
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import uvloop

SOH = b"\x01"
HOST = "127.0.0.1"
_SESSION_NUMBERS = itertools.count(1)


@dataclass(frozen=True)
class SessionSpec:
    begin_string: str  # "FIX.4.2" or "FIX.4.4"
    sender: str  # our SenderCompID
    target: str  # the server's CompID
    password: str = ""  # Logon Password (554), when the server wants one
    side: int = 1  # 1 buy, 2 sell: every order of this session
    heartbeat_seconds: int = 30


@dataclass(frozen=True)
class OrderMix:
    symbol: str = "ACME"
    mid_ticks: int = 10_000  # $100.00 in ticks of 0.01
    crossing_share: float = 0.15  # orders priced through the spread: they trade
    seed: int = 7


# -- encoding ----------------------------------------------------------------------------------------


class _Clock:
    """FIX UTCTimestamp (millisecond precision) for SendingTime and TransactTime, formatted once per
    second and completed with the milliseconds."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = b""

    def now(self) -> bytes:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(second)).encode()
        return self._prefix + b".%03d" % int((now - second) * 1000)


def frame(begin_string: bytes, body: bytes) -> bytes:
    """8=, 9= and 10= around `body` (which starts with 35= and ends with SOH)."""
    head = b"8=" + begin_string + b"\x019=" + str(len(body)).encode() + SOH
    whole = head + body
    return whole + b"10=%03d\x01" % (sum(whole) & 255)


def field_value(message: bytes, tag: bytes) -> bytes | None:
    """The value of the first `tag` (b"\\x0111=" style, SOH included) in `message`."""
    start = message.find(tag)
    if start < 0:
        return None
    start += len(tag)
    return message[start : message.find(SOH, start)]


# -- one session -------------------------------------------------------------------------------------


ReportCallback = Callable[["FixSession", bytes, int | None], None]


class FixSession(asyncio.Protocol):
    """One initiator session. `on_report(session, cl_ord_id, rtt_ns)` is called once per order: with
    the round trip on its first ExecutionReport, or with None when the server refused it at the
    session or business level (Reject, BusinessMessageReject)."""

    def __init__(self, spec: SessionSpec, mix: OrderMix, clock: _Clock) -> None:
        self.spec = spec
        self.mix = mix
        self.clock = clock
        self.rng = random.Random(f"{mix.seed}-{spec.sender}")
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.seq = 0
        self.logged_on: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent: dict[bytes, tuple[int, int]] = {}  # ClOrdID -> (send time ns, MsgSeqNum)
        self.by_seq: dict[int, bytes] = {}  # MsgSeqNum -> ClOrdID of outstanding orders
        self.on_report: ReportCallback = lambda session, cl, rtt: None
        self.next_cl = 1
        self.refusals: Counter[str] = Counter()
        self.exec_types: Counter[bytes] = Counter()
        self._begin = spec.begin_string.encode()
        self._header_tail = b"\x0149=" + spec.sender.encode() + b"\x0156=" + spec.target.encode() + b"\x0134="
        side = str(spec.side).encode()
        handl_inst = b"21=1\x01" if spec.begin_string == "FIX.4.2" else b""  # required in 4.2 only
        self._order_fixed = (
            handl_inst + b"55=" + mix.symbol.encode() + b"\x0154=" + side + b"\x0140=2\x0159=0\x01"
        )
        # ClOrdIDs are unique across every session this process opens: a server may refuse one that
        # repeats a live order's (scalebox does), and the book keeps orders from earlier runs.
        self._prefix = f"{spec.sender}-{next(_SESSION_NUMBERS)}-".encode()

    # protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.logged_on.done():
            self.logged_on.set_exception(ConnectionError(f"{self.spec.sender}: connection lost before logon"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        buffer = self.buffer
        buffer += data
        position = 0
        while True:
            length_at = buffer.find(b"\x019=", position)
            if length_at < 0:
                break
            body_at = buffer.find(SOH, length_at + 3)
            if body_at < 0:
                break
            end = body_at + 1 + int(buffer[length_at + 3 : body_at]) + 7  # body, then "10=ddd\x01"
            if end > len(buffer):
                break
            self._handle(bytes(buffer[position:end]), now)
            position = end
        if position:
            del buffer[:position]

    # messages

    def _handle(self, message: bytes, now: int) -> None:
        msg_type = field_value(message, b"\x0135=")
        if msg_type == b"8":
            cl_ord_id = field_value(message, b"\x0111=")
            sent = self.sent.pop(cl_ord_id, None) if cl_ord_id is not None else None
            if sent is not None:
                self.by_seq.pop(sent[1], None)
                exec_type = field_value(message, b"\x01150=") or b"?"
                self.exec_types[exec_type] += 1
                if exec_type == b"8":  # answered, but refused: say why in the report
                    text = (field_value(message, b"\x0158=") or b"").decode(errors="replace")
                    self.refusals[f"ExecutionReport rejected: {text}"] += 1
                self.on_report(self, cl_ord_id, now - sent[0])  # type: ignore[arg-type]
        elif msg_type == b"1":  # TestRequest: answer with its TestReqID
            test_id = field_value(message, b"\x01112=") or b""
            self._send(b"0", b"112=" + test_id + SOH)
        elif msg_type in (b"3", b"j"):  # Reject, BusinessMessageReject
            text = (field_value(message, b"\x0158=") or b"").decode(errors="replace")
            self.refusals[f"{msg_type.decode()}: {text}"] += 1
            ref = field_value(message, b"\x0145=")
            cl_ord_id = self.by_seq.pop(int(ref), None) if ref and ref.isdigit() else None
            if cl_ord_id is not None:
                self.sent.pop(cl_ord_id, None)
                self.on_report(self, cl_ord_id, None)
        elif msg_type == b"A":
            if not self.logged_on.done():
                self.logged_on.set_result(None)
        elif msg_type == b"5":
            text = (field_value(message, b"\x0158=") or b"").decode(errors="replace")
            if not self.logged_on.done():
                self.logged_on.set_exception(ConnectionError(f"{self.spec.sender}: logon refused: {text}"))
            elif self.transport is not None:
                self.transport.close()

    def _send(self, msg_type: bytes, fields: bytes) -> None:
        self.seq += 1
        body = (
            b"35="
            + msg_type
            + self._header_tail
            + str(self.seq).encode()
            + b"\x0152="
            + self.clock.now()
            + SOH
        )
        assert self.transport is not None
        self.transport.write(frame(self._begin, body + fields))

    def logon(self) -> None:
        fields = b"98=0\x01108=" + str(self.spec.heartbeat_seconds).encode() + b"\x01141=Y\x01"
        if self.spec.password:
            fields += b"554=" + self.spec.password.encode() + SOH
        self._send(b"A", fields)

    def logout(self) -> None:
        self._send(b"5", b"")

    def send_order(self) -> None:
        """The next order of the mix: a DAY limit near the touch, or (crossing_share) through it."""
        rng, mix = self.rng, self.mix
        buy = self.spec.side == 1
        if rng.random() < mix.crossing_share:
            price = mix.mid_ticks + (5 if buy else -5)
        else:
            distance = 1 + int(rng.expovariate(1 / 3.0))
            price = mix.mid_ticks - distance if buy else mix.mid_ticks + distance
        quantity = rng.choice((100, 100, 200, 300, 500))
        cl_ord_id = self._prefix + str(self.next_cl).encode()
        self.next_cl += 1
        clock = self.clock.now()
        fields = (b"11=" + cl_ord_id + SOH + self._order_fixed + b"38=" + str(quantity).encode()
                  + b"\x0144=" + b"%d.%02d" % divmod(price, 100) + b"\x0160=" + clock + SOH)  # fmt: skip
        self.seq += 1
        body = b"35=D" + self._header_tail + str(self.seq).encode() + b"\x0152=" + clock + SOH + fields
        self.sent[cl_ord_id] = (time.perf_counter_ns(), self.seq)
        self.by_seq[self.seq] = cl_ord_id
        assert self.transport is not None
        self.transport.write(frame(self._begin, body))


async def connect(
    port: int, spec: SessionSpec, mix: OrderMix, clock: _Clock, timeout_s: float = 10.0
) -> FixSession:
    loop = asyncio.get_running_loop()
    _, session = await loop.create_connection(lambda: FixSession(spec, mix, clock), HOST, port)
    session.logon()
    await asyncio.wait_for(session.logged_on, timeout_s)
    return session


async def disconnect(session: FixSession, timeout_s: float = 5.0) -> None:
    if session.transport is None or session.transport.is_closing():
        return
    session.logout()
    try:
        await asyncio.wait_for(asyncio.shield(session.closed), timeout_s)
    except TimeoutError:
        pass
    finally:
        session.transport.close()


# -- the two ways to drive a server ------------------------------------------------------------------


@dataclass
class RunResult:
    mode: str
    orders: int  # answered within the measured time
    seconds: float
    round_trips_ns: list[int] = field(repr=False, default_factory=list)
    refused: int = 0  # orders answered with a Reject or BusinessMessageReject
    timed_out: int = 0  # still unanswered when the run gave up waiting
    refusal_texts: dict[str, int] = field(default_factory=dict)
    exec_types: dict[str, int] = field(default_factory=dict)  # ExecType (150) of the first reports
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None  # the server's CPU time over the measured part, when probed
    sessions: int = 0
    window: int = 0

    @property
    def per_second(self) -> float:
        return self.orders / self.seconds if self.seconds else 0.0

    @property
    def per_server_cpu_second(self) -> float | None:
        return self.orders / self.server_cpu_s if self.server_cpu_s else None

    def percentile_us(self, fraction: float) -> float:
        if not self.round_trips_ns:
            return 0.0
        ordered = sorted(self.round_trips_ns)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] / 1000


def _tally(result: RunResult, sessions: list[FixSession]) -> None:
    refusals: Counter[str] = Counter()
    exec_types: Counter[bytes] = Counter()
    for session in sessions:
        refusals.update(session.refusals)
        exec_types.update(session.exec_types)
    result.refusal_texts = dict(refusals)
    result.exec_types = {k.decode(): v for k, v in exec_types.items()}


def pair_specs(begin_string: str, target: str, senders: list[str], password: str = "") -> list[SessionSpec]:
    """Sessions alternate sides: the first buys, the second sells, and so on."""
    return [
        SessionSpec(begin_string, sender, target, password, side=1 + i % 2)
        for i, sender in enumerate(senders)
    ]


CpuProbe = Callable[[], float]  # the server's CPU seconds so far


async def run_latency(
    port: int,
    specs: list[SessionSpec],
    *,
    orders: int,
    mix: OrderMix,
    warmup: int = 200,
    cpu_probe: CpuProbe | None = None,
) -> RunResult:
    """`orders` round trips, one outstanding at a time, alternating between the sessions, after
    `warmup` unmeasured ones."""
    clock = _Clock()
    sessions = [await connect(port, spec, mix, clock) for spec in specs]
    loop = asyncio.get_running_loop()
    waiter: list[asyncio.Future[int | None]] = []

    def on_report(session: FixSession, cl_ord_id: bytes, rtt: int | None) -> None:
        if waiter and not waiter[0].done():
            waiter[0].set_result(rtt)

    for session in sessions:
        session.on_report = on_report
    result = RunResult("latency", 0, 0.0, sessions=len(sessions), window=1)
    try:
        for phase, count in (("warm-up", warmup), ("measured", orders)):
            server_cpu = cpu_probe() if cpu_probe is not None else 0.0
            cpu_start, start = time.process_time(), time.perf_counter()
            for index in range(count):
                future: asyncio.Future[int | None] = loop.create_future()
                waiter[:] = [future]
                sessions[index % len(sessions)].send_order()
                try:
                    rtt = await asyncio.wait_for(future, 10.0)
                except TimeoutError:
                    result.timed_out += 1
                    continue
                if phase == "warm-up":
                    continue
                if rtt is None:
                    result.refused += 1
                else:
                    result.round_trips_ns.append(rtt)
                    result.orders += 1
            if phase == "measured":
                result.seconds = time.perf_counter() - start
                result.client_cpu_s = time.process_time() - cpu_start
                if cpu_probe is not None:
                    result.server_cpu_s = cpu_probe() - server_cpu
    finally:
        _tally(result, sessions)
        for session in sessions:
            await disconnect(session)
    return result


async def run_throughput(
    port: int,
    specs: list[SessionSpec],
    *,
    window: int,
    duration_s: float,
    warmup_s: float,
    mix: OrderMix,
    cpu_probe: CpuProbe | None = None,
) -> RunResult:
    """Every session keeps `window` orders outstanding for `warmup_s` + `duration_s`; answers during
    the last `duration_s` count."""
    clock = _Clock()
    sessions = [await connect(port, spec, mix, clock) for spec in specs]
    result = RunResult("throughput", 0, 0.0, sessions=len(sessions), window=window)
    state: dict[str, Any] = {"measuring": False, "sending": True}
    drained = asyncio.Event()  # set once the last outstanding order is answered
    round_trips = result.round_trips_ns

    def on_report(session: FixSession, cl_ord_id: bytes, rtt: int | None) -> None:
        if state["measuring"]:
            if rtt is None:
                result.refused += 1
            else:
                result.orders += 1
                round_trips.append(rtt)
        if state["sending"]:
            session.send_order()
        elif not any(s.sent for s in sessions):
            drained.set()

    for session in sessions:
        session.on_report = on_report
    try:
        for session in sessions:
            for _ in range(window):
                session.send_order()
        await asyncio.sleep(warmup_s)
        state["measuring"] = True
        server_cpu = cpu_probe() if cpu_probe is not None else 0.0
        cpu_start, start = time.process_time(), time.perf_counter()
        await asyncio.sleep(duration_s)
        state["measuring"] = False
        result.seconds = time.perf_counter() - start
        result.client_cpu_s = time.process_time() - cpu_start
        if cpu_probe is not None:
            result.server_cpu_s = cpu_probe() - server_cpu
        state["sending"] = False
        if any(session.sent for session in sessions):  # let the last orders be answered first
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drained.wait(), 30)
        result.timed_out = sum(len(session.sent) for session in sessions)
    finally:
        _tally(result, sessions)
        for session in sessions:
            await disconnect(session)
    return result


def event_loop_name() -> str:
    return f"uvloop {importlib.metadata.version('uvloop')}"


def run(coroutine: Any) -> Any:
    """Run on uvloop (a scalebox dependency), as our server does."""
    return uvloop.run(coroutine)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--begin-string", default="FIX.4.4")
    parser.add_argument("--target", required=True, help="the server's CompID (our TargetCompID)")
    parser.add_argument("--sender", action="append", required=True, help="a session's SenderCompID; repeat")
    parser.add_argument("--password", default="")
    parser.add_argument("--symbol", default="ACME")
    parser.add_argument("--mode", choices=("latency", "throughput"), default="latency")
    parser.add_argument("--orders", type=int, default=1000, help="latency mode: round trips")
    parser.add_argument("--window", type=int, default=32, help="throughput mode: outstanding per session")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    specs = pair_specs(args.begin_string, args.target, args.sender, args.password)
    mix = OrderMix(symbol=args.symbol)
    if args.mode == "latency":
        result = run(run_latency(args.port, specs, orders=args.orders, mix=mix))
    else:
        throughput = run_throughput(
            args.port, specs, window=args.window, duration_s=args.duration, warmup_s=args.warmup, mix=mix
        )
        result = run(throughput)
    print(
        f"{result.mode}: {result.orders:,} orders in {result.seconds:.2f} s = {result.per_second:,.0f}/s; "
        f"p50 {result.percentile_us(0.5):.0f} us, p99 {result.percentile_us(0.99):.0f} us; refused "
        f"{result.refused}, timed out {result.timed_out}; {result.refusal_texts} {result.exec_types}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
