"""kill -9 under load, and failover to a standby: every order and trade the exchange acknowledged
over FIX is in the recovered state, and trading goes on. Real processes, real sockets."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scalebox.core.auth.passwords import TEST_PARAMS
from scalebox.exchange.domain import Order, Trade
from scalebox.exchange.engine import MatchingEngine
from scalebox.exchange.service.directory import Directory
from scalebox.exchange.service.recovery import recover_engine
from scalebox.exchange.service.venue import Applied, replay
from scalebox.exchange.snapshot import state_hash
from scalebox.exchange.storage.journal import Journal
from scalebox.exchange.storage.snapshots import SnapshotStore
from tests.exchange.integration.fix_client import FixClient, msg_type, new_order, text
from tests.servers import free_port, wait_until

pytestmark = pytest.mark.integration
PASSWORD = "password123"
START_SECONDS = 45.0


@dataclass
class ExchangeProcess:
    data_dir: Path
    fix_port: int
    log: Path
    standby: bool = False
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SCALEBOX_DATA_DIR": str(self.data_dir),
            "SCALEBOX_EXCHANGE_FIX_PORT": str(self.fix_port),
            "SCALEBOX_EXCHANGE_PORT": "0",
            "SCALEBOX_EXCHANGE_FEED_PORT": str(free_port()),
            "SCALEBOX_EXCHANGE_REPLAY_PORT": "0",
            "SCALEBOX_EXCHANGE_STANDBY_POLL_SECONDS": "0.01",
        }
        command = [
            sys.executable,
            "-m",
            "scalebox",
            "exchange",
            "serve",
            *(["--standby"] if self.standby else []),
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)

    def serving(self) -> bool:
        """True once this process has bound its ports (ports.json names its pid)."""
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(
                f"exchange exited with {self.process.returncode}:\n{self.log.read_text()[-4000:]}"
            )
        try:
            ports = json.loads((self.data_dir / "exchange" / "ports.json").read_text())
        except (FileNotFoundError, ValueError):
            return False
        return bool(ports.get("pid") == self.process.pid)

    def wait_serving(self) -> None:
        wait_until(self.serving, timeout_seconds=START_SECONDS, describe=lambda: self.log.read_text()[-4000:])

    def kill(self, signum: int = signal.SIGKILL) -> None:
        assert self.process is not None
        self.process.send_signal(signum)
        self.process.wait(timeout=30)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    directory = Directory.load(tmp_path / "exchange" / "directory.json", params=TEST_PARAMS)
    for member in ("alice", "bob"):
        directory.set_member(member, PASSWORD)
    directory.save()
    return tmp_path


@pytest.fixture
def processes(data_dir: Path) -> Iterator[list[ExchangeProcess]]:
    started: list[ExchangeProcess] = []
    yield started
    for process in started:
        if process.process is not None and process.process.poll() is None:
            process.kill()


@dataclass
class Acknowledged:
    orders: set[tuple[str, str]] = field(default_factory=set)  # (participant, ClOrdID) with 150=0
    trades: set[int] = field(default_factory=set)  # TradeID of every fill report


async def trade_until_killed(
    port: int, acknowledged: Acknowledged, orders_each: int, kill_after: int, kill
) -> None:
    """alice buys and bob sells at overlapping prices, pipelined, until `kill_after` acks: then the
    process dies while orders are in flight. Acks read before the connection drops count."""
    clients = {name: await FixClient.connect(port, name) for name in ("alice", "bob")}
    for client in clients.values():
        assert msg_type(await client.logon(PASSWORD)) == "A"
    killed = asyncio.Event()

    async def send() -> None:
        # Alternate buyers and sellers so that trades happen throughout, not after one side is in.
        for index in range(orders_each):
            for name, side, offset in (("alice", 1, -0.02), ("bob", 2, 0.0)):
                price = f"{100 + (index % 5) * 0.01 + offset:.2f}"
                await clients[name].send("D", new_order(f"{name}-{index}", side, 100, price))
            if killed.is_set():
                return
            if index % 20 == 0:
                await asyncio.sleep(0)  # let the readers count acknowledgements as they arrive

    async def read(name: str) -> None:
        client = clients[name]
        while True:
            try:
                message = await client.receive()
            except (ConnectionError, OSError, TimeoutError):
                return
            if msg_type(message) != "8":
                continue
            if text(message, 150) == "0":
                acknowledged.orders.add((name, text(message, 11) or ""))
                if len(acknowledged.orders) >= kill_after and not killed.is_set():
                    killed.set()
                    await asyncio.to_thread(kill)
            elif text(message, 150) == "F":
                acknowledged.trades.add(int(text(message, 1003) or 0))

    sender = asyncio.create_task(send())
    await asyncio.wait_for(asyncio.gather(read("alice"), read("bob")), timeout=60)
    sender.cancel()
    for client in clients.values():
        client.writer.transport.abort()


def recovered_state(data_dir: Path) -> tuple[set[tuple[str, str]], set[int]]:
    """Every order (participant, ClOrdID) and trade id in the journal, replayed from disk."""
    journal = Journal(data_dir / "exchange" / "journal")
    journal.open()
    orders: set[tuple[str, str]] = set()
    trades: set[int] = set()

    def collect(applied: Applied) -> None:
        if isinstance(applied.command, Order):
            orders.add((applied.command.participant, applied.command.request()[2]))  # type: ignore[arg-type]
        for event in applied.events:
            if isinstance(event, Trade):
                trades.add(event.trade_id)

    replayed = MatchingEngine()
    replay(replayed, journal.read(), [collect])
    recovered = recover_engine(journal, SnapshotStore(data_dir / "exchange" / "snapshots")).engine
    assert state_hash(recovered) == state_hash(replayed)  # snapshot + tail = the whole journal replayed
    journal.close()
    return orders, trades


async def test_kill_9_under_load_loses_no_acknowledged_order_or_trade(
    data_dir: Path, processes: list[ExchangeProcess]
) -> None:
    port = free_port()
    primary = ExchangeProcess(data_dir, port, data_dir / "primary.log")
    processes.append(primary)
    primary.start()
    primary.wait_serving()
    acknowledged = Acknowledged()
    await trade_until_killed(port, acknowledged, orders_each=3000, kill_after=1500, kill=primary.kill)
    assert len(acknowledged.orders) >= 1500
    assert acknowledged.trades

    restarted = ExchangeProcess(data_dir, port, data_dir / "restarted.log")
    processes.append(restarted)
    restarted.start()
    restarted.wait_serving()
    client = await FixClient.connect(port, "alice", next_seq=1)
    answer = await client.logon(PASSWORD, reset=True)
    assert msg_type(answer) == "A"
    await client.send("D", new_order("after-restart", 1, 100, "99.00"))
    report = await client.expect("8")
    assert text(report, 11) == "after-restart"
    await client.close()
    restarted.kill(signal.SIGTERM)

    orders, trades = recovered_state(data_dir)
    assert acknowledged.orders <= orders, sorted(acknowledged.orders - orders)[:10]
    assert acknowledged.trades <= trades, sorted(acknowledged.trades - trades)[:10]


async def test_standby_takes_over_when_the_primary_is_killed(
    data_dir: Path, processes: list[ExchangeProcess]
) -> None:
    port = free_port()
    primary = ExchangeProcess(data_dir, port, data_dir / "primary.log")
    standby = ExchangeProcess(data_dir, port, data_dir / "standby.log", standby=True)
    processes += [primary, standby]
    primary.start()
    primary.wait_serving()
    standby.start()
    wait_until(
        lambda: (data_dir / "exchange" / "standby.json").exists() or standby.process.poll() is not None,  # type: ignore[union-attr]
        timeout_seconds=START_SECONDS,
        describe=lambda: standby.log.read_text()[-4000:],
    )
    acknowledged = Acknowledged()
    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(time.monotonic())
        primary.kill()

    await trade_until_killed(port, acknowledged, orders_each=2000, kill_after=1000, kill=kill)
    standby.wait_serving()  # it held back until the primary's lock freed, then bound the same ports
    takeover_seconds = time.monotonic() - killed_at[0]

    client = await FixClient.connect(port, "bob", next_seq=1)
    assert msg_type(await client.logon(PASSWORD, reset=True)) == "A"
    await client.send("D", new_order("after-failover", 2, 100, "101.00"))
    report = await client.expect("8")
    assert text(report, 11) == "after-failover"
    assert text(report, 150) == "0"
    await client.close()
    standby.kill(signal.SIGTERM)

    orders, trades = recovered_state(data_dir)
    assert acknowledged.orders <= orders
    assert acknowledged.trades <= trades
    assert ("bob", "after-failover") in orders
    assert takeover_seconds < 60
