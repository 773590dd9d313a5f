"""The WebSocket market data endpoint (http/app.py mounts it at /ws/market-data): JSON text frames.

Client: {"op": "subscribe", "symbols": ["ACME"], "channels": ["l1", "l2", "l3", "trades", "status"]}
Server: one {"type": "snapshot", "channel", "symbol", "seq", ...} per (symbol, channel), then
{"type": "update", "channel", "symbol", "seq", "timestamp_ns", ...} messages with `seq` strictly
increasing (one counter over all channels and symbols, so a subscriber sees gaps; an update with
`seq` <= a snapshot's `seq` is never sent). Apply an update to the snapshot of its (symbol,
channel); a market-wide halt or resume is a "status" update with symbol "". Sides are "buy" and
"sell", prices integer ticks, an empty BBO side null, an L2 quantity of 0 a level gone. A bad
request gets {"type": "error", "detail"} and the socket stays open; a subscriber that falls
behind is closed with code 1013 and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from scalebox.core.errors import DomainError, InvalidError
from scalebox.exchange.domain import Side
from scalebox.exchange.marketbook import (
    L1Snapshot,
    L1Update,
    L2Snapshot,
    L2Update,
    L3Snapshot,
    L3Update,
    Message,
    Quote,
    Snapshot,
    StatusSnapshot,
    TradesSnapshot,
    TradeUpdate,
)
from scalebox.exchange.service.marketdata import MarketData, SubscriberDroppedError, Subscription

CLOSE_TRY_AGAIN_LATER = 1013
CLOSE_TIMEOUT_SECONDS = 5.0
REASON_BYTES_MAX = 120  # a close frame's reason is at most 123 bytes

Json = dict[str, object]


async def market_data_socket(websocket: WebSocket, market_data: MarketData) -> None:
    """Serve one client: wait for a valid subscribe, then stream until either side stops."""
    await websocket.accept()
    sender = _Sender(websocket)
    try:
        subscription = await _subscribe(websocket, sender, market_data)
        if subscription is None:
            return
        try:
            await _stream(websocket, sender, subscription)
        finally:
            market_data.unsubscribe(subscription)
    except WebSocketDisconnect:
        return  # the client went away while we were sending


class _Sender:
    """Serialises sends: the update pump and error replies share one socket."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.lock = asyncio.Lock()

    async def send(self, payload: Json) -> None:
        async with self.lock:
            await self.websocket.send_text(orjson.dumps(payload).decode())


async def _subscribe(websocket: WebSocket, sender: _Sender, market_data: MarketData) -> Subscription | None:
    while (text := await _receive_text(websocket, sender)) is not None:
        try:
            symbols, channels = parse_subscribe(text)
            return market_data.subscribe(symbols, channels)
        except DomainError as exc:
            await sender.send({"type": "error", "detail": exc.detail})
    return None


async def _receive_text(websocket: WebSocket, sender: _Sender) -> str | None:
    """The next text frame; None once the client disconnects. Binary frames get an error."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text = message.get("text")
        if isinstance(text, str):
            return text
        await sender.send({"type": "error", "detail": "send requests as JSON text frames"})


def parse_subscribe(text: str) -> tuple[list[str], list[str]]:
    """(symbols, channels) of a subscribe request; InvalidError when it is not one."""
    try:
        request = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InvalidError("the request is not JSON") from exc
    if not isinstance(request, dict) or request.get("op") != "subscribe":
        raise InvalidError('expected {"op": "subscribe", "symbols": [...], "channels": [...]}')
    symbols, channels = request.get("symbols"), request.get("channels")
    for name, value in (("symbols", symbols), ("channels", channels)):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise InvalidError(f"{name} must be a list of strings", field=name)
    return symbols, channels  # type: ignore[return-value]  # checked just above


async def _stream(websocket: WebSocket, sender: _Sender, subscription: Subscription) -> None:
    for snapshot in subscription.snapshots:
        await sender.send(render_snapshot(snapshot))
    pump = asyncio.create_task(_pump(sender, subscription))
    reader = asyncio.create_task(_read_more(websocket, sender))
    dropped = asyncio.create_task(subscription.wait_dropped())
    tasks = {pump, reader, dropped}
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
    for result in results:
        if isinstance(result, WebSocketDisconnect):
            return
    if subscription.dropped_reason is not None:
        reason = subscription.dropped_reason.encode()[:REASON_BYTES_MAX].decode("utf-8", "ignore")
        with contextlib.suppress(TimeoutError, WebSocketDisconnect, RuntimeError):
            async with asyncio.timeout(CLOSE_TIMEOUT_SECONDS):
                await websocket.close(CLOSE_TRY_AGAIN_LATER, reason)


async def _pump(sender: _Sender, subscription: Subscription) -> None:
    with contextlib.suppress(SubscriberDroppedError):
        while True:
            await sender.send(render_message(await subscription.next()))


async def _read_more(websocket: WebSocket, sender: _Sender) -> None:
    """Requests after the subscription are refused; returns when the client disconnects."""
    while await _receive_text(websocket, sender) is not None:
        await sender.send({"type": "error", "detail": "already subscribed: open another socket"})


# -- rendering --------------------------------------------------------------------------------


def _side(side: Side) -> str:
    return "buy" if side is Side.BUY else "sell"


def _bbo(quote: Quote) -> Json:
    return {
        "bid": {"price": quote.bid_price, "size": quote.bid_size} if quote.bid_size else None,
        "ask": {"price": quote.ask_price, "size": quote.ask_size} if quote.ask_size else None,
    }


def _trade(m: TradeUpdate) -> Json:
    aggressor = None if m.aggressor is None else _side(m.aggressor)
    return {"trade_id": m.trade_id, "price": m.price, "quantity": m.quantity, "aggressor": aggressor,
            "buy_order_id": m.buy_order_id, "sell_order_id": m.sell_order_id}  # fmt: skip


def render_message(m: Message) -> Json:
    head: Json = {"type": "update", "channel": m.channel.value, "symbol": m.symbol, "seq": m.seq,
                  "timestamp_ns": m.timestamp_ns}  # fmt: skip
    if isinstance(m, L1Update):
        return head | _bbo(m.quote)
    if isinstance(m, L2Update):
        return head | {
            "side": _side(m.side),
            "price": m.price,
            "quantity": m.quantity,
            "count": m.order_count,
        }
    if isinstance(m, L3Update):
        return head | {"action": m.action.name.lower(), "order_id": m.order_id, "side": _side(m.side),
                       "price": m.price, "visible": m.visible}  # fmt: skip
    if isinstance(m, TradeUpdate):
        return head | _trade(m)
    return head | {"phase": m.phase.value, "halted": m.halted, "reason": m.reason}


def render_snapshot(s: Snapshot) -> Json:
    head: Json = {"type": "snapshot", "symbol": s.symbol, "seq": s.seq}
    if isinstance(s, L1Snapshot):
        return head | {"channel": "l1"} | _bbo(s.quote)
    if isinstance(s, L2Snapshot):
        levels = {
            name: [{"price": e.price, "quantity": e.quantity, "count": e.order_count} for e in entries]
            for name, entries in (("bids", s.bids), ("asks", s.asks))
        }
        return head | {"channel": "l2"} | levels
    if isinstance(s, L3Snapshot):
        orders = {
            name: [{"order_id": e.order_id, "price": e.price, "visible": e.visible} for e in entries]
            for name, entries in (("bids", s.bids), ("asks", s.asks))
        }
        return head | {"channel": "l3"} | orders
    if isinstance(s, TradesSnapshot):
        last = (
            None
            if s.last is None
            else _trade(s.last) | {"seq": s.last.seq, "timestamp_ns": s.last.timestamp_ns}
        )
        return head | {"channel": "trades", "last": last, "last_price": s.last_price}
    assert isinstance(s, StatusSnapshot)
    return head | {"channel": "status", "phase": s.phase.value, "halted": s.halted, "reason": s.reason,
                   "market_halted": s.market_halted}  # fmt: skip
