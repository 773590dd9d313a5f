"""The WebSocket market data endpoint served by uvicorn on loopback port 0 (in this process, beside
the venue), driven by the `websockets` client: snapshots then increments that rebuild exactly the
engine's book, errors for bad requests, and a close with a reason for a slow subscriber."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from scalebox.exchange.domain import CancelOrder, ReplaceOrder, Side
from scalebox.exchange.http.marketdata_ws import market_data_socket
from scalebox.exchange.service.marketdata import MarketData
from tests.exchange.integration.feed_fixtures import SYMBOL, TIMEOUT_SECONDS, Market, running_market

pytestmark = pytest.mark.integration

CHANNELS = ["l1", "l2", "l3", "trades", "status"]


@contextlib.asynccontextmanager
async def serving(market_data: MarketData) -> AsyncIterator[str]:
    """A test app mounting the endpoint as http/app.py will; yields its WebSocket URL."""

    async def endpoint(websocket: WebSocket) -> None:
        await market_data_socket(websocket, market_data)

    app = Starlette(routes=[WebSocketRoute("/ws/market-data", endpoint)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, ws="websockets-sansio", lifespan="off",
                            log_config=None, access_log=False)  # fmt: skip
    server = uvicorn.Server(config)
    serving_task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while not server.started:  # noqa: ASYNC110  # uvicorn sets a plain flag, no event to wait on
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/ws/market-data"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving_task, TIMEOUT_SECONDS)


async def receive(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(TIMEOUT_SECONDS):
        message: dict[str, Any] = orjson.loads(await ws.recv())
    return message


async def subscribe(
    ws: ClientConnection, symbols: list[str], channels: list[str]
) -> dict[str, dict[str, Any]]:
    await ws.send(orjson.dumps({"op": "subscribe", "symbols": symbols, "channels": channels}).decode())
    snapshots = [await receive(ws) for _ in range(len(symbols) * len(channels))]
    assert {s["type"] for s in snapshots} == {"snapshot"}
    return {s["channel"]: s for s in snapshots}


class Replica:
    """The client's book, from JSON snapshots and updates."""

    def __init__(self, snapshots: dict[str, dict[str, Any]]) -> None:
        self.seq = snapshots["l3"]["seq"]
        self.bbo = (snapshots["l1"]["bid"], snapshots["l1"]["ask"])
        self.levels = {
            (side, level["price"]): (level["quantity"], level["count"])
            for side in ("bids", "asks")
            for level in snapshots["l2"][side]
        }
        self.orders = {
            o["order_id"]: (side, o["price"], o["visible"])
            for side in ("bids", "asks")
            for o in snapshots["l3"][side]
        }
        self.order_sequence = [o["order_id"] for side in ("bids", "asks") for o in snapshots["l3"][side]]
        self.trades: list[dict[str, Any]] = []

    def apply(self, update: dict[str, Any]) -> None:
        assert update["type"] == "update"
        assert update["seq"] > self.seq, (update, self.seq)
        self.seq = update["seq"]
        channel = update["channel"]
        side = "bids" if update.get("side") == "buy" else "asks"
        if channel == "l1":
            self.bbo = (update["bid"], update["ask"])
        elif channel == "l2":
            if update["quantity"]:
                self.levels[side, update["price"]] = (update["quantity"], update["count"])
            else:
                del self.levels[side, update["price"]]
        elif channel == "l3":
            self._apply_l3(side, update)
        elif channel == "trades":
            self.trades.append(update)

    def _apply_l3(self, side: str, update: dict[str, Any]) -> None:
        order_id = update["order_id"]
        if update["action"] == "delete":
            del self.orders[order_id]
            self.order_sequence.remove(order_id)
            return
        if update["action"] == "add":
            self.order_sequence.append(order_id)
        self.orders[order_id] = (side, update["price"], update["visible"])

    def l3(self, side: str) -> list[tuple[int, int, int]]:
        """(order id, price, visible) best price first, then time: arrival order within a level."""
        rank = {order_id: i for i, order_id in enumerate(self.order_sequence)}
        entries = [(oid, p, v) for oid, (s, p, v) in self.orders.items() if s == side]
        sign = -1 if side == "bids" else 1
        return sorted(entries, key=lambda e: (sign * e[1], rank[e[0]]))


def engine_view(market: Market) -> dict[str, Any]:
    book = market.venue.engine.instruments[SYMBOL].book
    return {
        "l2": {
            (name, price): (visible, count)
            for name, side in (("bids", book.bids), ("asks", book.asks))
            for price, visible, count in side.depth(1_000)
        },
        "l3": {
            name: [(o.order_id, o.price, o.visible) for o in side.orders()]
            for name, side in (("bids", book.bids), ("asks", book.asks))
        },
    }


async def test_snapshot_then_increments_rebuild_the_engines_book(tmp_path):
    async with running_market(tmp_path) as market, serving(market.market_data) as url:
        first_bid = await market.order("a", Side.BUY, 9_990, 10)
        iceberg = await market.order("b", Side.SELL, 10_010, 30, display=5)
        behind = await market.order("c", Side.SELL, 10_010, 4)
        async with connect(url) as ws:
            replica = Replica(await subscribe(ws, [SYMBOL], CHANNELS))
            assert replica.seq == market.market_data.sequence
            moved = await market.order("a", Side.BUY, 9_980, 6)
            await market.order(
                "a", Side.BUY, 10_010, 7
            )  # the iceberg's tranche, refilled at the back, then c
            await market.venue.submit(ReplaceOrder("a", SYMBOL, "r1", moved.cl_ord_id, 6, 9_985))
            await market.venue.submit(CancelOrder("a", SYMBOL, "x1", first_bid.cl_ord_id))
            while replica.seq < market.market_data.sequence:
                replica.apply(await receive(ws))

    view = engine_view(market)
    assert replica.levels == view["l2"]
    assert (replica.l3("bids"), replica.l3("asks")) == (view["l3"]["bids"], view["l3"]["asks"])
    assert replica.l3("asks") == [(behind.order_id, 10_010, 2), (iceberg.order_id, 10_010, 5)]
    assert replica.bbo == ({"price": 9_985, "size": 6}, {"price": 10_010, "size": 7})
    assert [(t["sell_order_id"], t["quantity"], t["aggressor"]) for t in replica.trades] == [
        (iceberg.order_id, 5, "buy"),
        (behind.order_id, 2, "buy"),
    ]


async def test_bad_requests_get_errors_and_the_socket_stays_usable(tmp_path):
    async with running_market(tmp_path) as market, serving(market.market_data) as url, connect(url) as ws:
        details = []
        for request in [
            "not json",
            '{"op": "unsubscribe"}',
            '{"op": "subscribe", "symbols": "ACME", "channels": ["l1"]}',
            '{"op": "subscribe", "symbols": ["ACME"], "channels": ["l9"]}',
            '{"op": "subscribe", "symbols": ["NOPE"], "channels": ["l1"]}',
        ]:
            await ws.send(request)
            reply = await receive(ws)
            assert reply["type"] == "error"
            details.append(reply["detail"])
        snapshots = await subscribe(ws, [SYMBOL], ["status"])
        await ws.send('{"op": "subscribe", "symbols": ["ACME"], "channels": ["l1"]}')
        again = await receive(ws)

    assert "not JSON" in details[0]
    assert "unknown channel 'l9'" in details[3]
    assert "NOPE" in details[4]
    assert snapshots["status"]["phase"] == "continuous"
    assert again == {"type": "error", "detail": "already subscribed: open another socket"}


async def read_until_closed(ws: ClientConnection) -> None:
    while True:
        await receive(ws)


async def test_slow_subscriber_is_closed_with_a_reason(tmp_path):
    async with running_market(tmp_path, subscriber_queue_max=2) as market, serving(market.market_data) as url:
        for price in (10_010, 10_020, 10_030):
            await market.order("b", Side.SELL, price, 1)
        async with connect(url) as ws:
            await subscribe(ws, [SYMBOL], ["l3"])
            await market.order("a", Side.BUY, 10_030, 3)  # three deletes in one command: over the queue
            with pytest.raises(ConnectionClosed) as closed:
                await read_until_closed(ws)

    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1013
    assert "slow consumer" in closed.value.rcvd.reason
    assert market.market_data.subscriptions == []
