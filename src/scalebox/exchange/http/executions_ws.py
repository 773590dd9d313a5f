"""My executions, live: the WebSocket at /ws/executions streams the signed-in participant's own
execution reports and cancel rejects as JSON text frames, from the moment it connects.

Server: {"kind": "ready", "participant"} once, then one {"kind": "execution", ...} or
{"kind": "cancel_reject", ...} per report (the fields of GET /api/fills). A client that falls
behind is closed with code 1013; it reconnects and reads GET /api/orders and /api/fills to catch
up. The handshake needs the session cookie (or HTTP Basic); a browser's must come from this site.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

import orjson
from starlette.websockets import WebSocket, WebSocketDisconnect

from scalebox.core.errors import LimitExceededError
from scalebox.exchange.http.context import web
from scalebox.exchange.http.render import render_cancel_reject, render_execution
from scalebox.exchange.http.session import connection_member
from scalebox.exchange.posttrade import ExecutionRecord
from scalebox.exchange.service.execution_feed import ExecutionSubscription, FeedDroppedError

CLOSE_POLICY_VIOLATION = 1008
CLOSE_TRY_AGAIN_LATER = 1013
REASON_BYTES_MAX = 120


async def executions_socket(websocket: WebSocket) -> None:
    """Serve one subscriber until either side stops."""
    member = await connection_member(websocket) if _same_origin(websocket) else None
    if member is None:
        await websocket.close(CLOSE_POLICY_VIOLATION, "sign in first")
        return
    wiring = web(websocket)
    participant = member.participant.participant_id
    try:
        subscription = wiring.executions.subscribe(participant)
    except LimitExceededError as exc:
        await websocket.close(CLOSE_TRY_AGAIN_LATER, exc.detail[:REASON_BYTES_MAX])
        return
    try:
        await websocket.accept()
        await websocket.send_text(orjson.dumps({"kind": "ready", "participant": participant}).decode())
        await _stream(websocket, subscription)
    except WebSocketDisconnect:
        return
    finally:
        wiring.executions.unsubscribe(subscription)


async def _stream(websocket: WebSocket, subscription: ExecutionSubscription) -> None:
    pump = asyncio.create_task(_pump(websocket, subscription))
    reader = asyncio.create_task(_drain_incoming(websocket))
    try:
        await asyncio.wait({pump, reader}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pump, reader):
            task.cancel()
        await asyncio.gather(pump, reader, return_exceptions=True)
    if subscription.dropped_reason is not None:
        reason = subscription.dropped_reason.encode()[:REASON_BYTES_MAX].decode("utf-8", "ignore")
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await websocket.close(CLOSE_TRY_AGAIN_LATER, reason)


async def _pump(websocket: WebSocket, subscription: ExecutionSubscription) -> None:
    tick_size = web(websocket).tick_size
    with contextlib.suppress(FeedDroppedError):
        while True:
            item = await subscription.next()
            if isinstance(item, ExecutionRecord):
                payload = render_execution(item, tick_size)
            else:
                payload = render_cancel_reject(item)
            await websocket.send_text(orjson.dumps(payload).decode())


async def _drain_incoming(websocket: WebSocket) -> None:
    """The client has nothing to say; read until it goes away."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


def _same_origin(websocket: WebSocket) -> bool:
    """A browser names the page that opened the socket; it must be ours (no cross-site socket
    riding on the session cookie). Non-browser clients send no Origin."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == websocket.headers.get("host", "")
