"""The JSON API: a participant's orders (place, cancel, replace, list), fills, positions and
settlement obligations, and the public book depth, trade tape and instrument list.

Authentication (http/session.py): HTTP Basic with a participant id and password, or a browser's
session cookie plus the page's CSRF token in X-CSRF-Token on writes. Prices are decimal strings
in the instrument's tick size; a price that is not a whole number of ticks is a 422.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from starlette.requests import Request
from starlette.responses import JSONResponse

from scalebox.core.errors import ForbiddenError
from scalebox.core.web.account_pages import NO_STORE
from scalebox.exchange.domain import Side
from scalebox.exchange.http.context import web
from scalebox.exchange.http.prices import parse_price_ticks, render_price
from scalebox.exchange.http.render import (
    Json,
    render_execution,
    render_holding,
    render_obligation,
    render_order,
    render_outcome,
    render_trade,
)
from scalebox.exchange.http.session import api_member
from scalebox.exchange.http.tickets import NewOrderBody, ReplaceBody, ticket_from_body
from scalebox.exchange.service.directory import Member

router = APIRouter(prefix="/api", tags=["Exchange"])

DEPTH_LEVELS_MAX = 100
ROWS_MAX = 1_000
Caller = Annotated[Member, Depends(api_member)]
OrderId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=ROWS_MAX)]
Symbol = Annotated[str, Path(min_length=1, max_length=12)]
SymbolQuery = Annotated[str, Query(max_length=12)]


def _private(body: Json, status_code: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status_code, headers=NO_STORE)


@router.post("/orders", status_code=201)
async def place_order(request: Request, body: NewOrderBody, member: Caller) -> JSONResponse:
    """Place an order: 201 with the order (null once done) and its own execution reports; 409
    `order_rejected` when the engine rejects it (the detail says why)."""
    wiring = web(request)
    ticket = ticket_from_body(body, wiring.instrument(body.symbol).tick_size)
    outcome = await wiring.orders.place(member.participant.participant_id, ticket)
    return _private(render_outcome(outcome, wiring.tick_size), status_code=201)


@router.get("/orders")
async def list_orders(request: Request, member: Caller) -> JSONResponse:
    """The caller's live orders, oldest first."""
    wiring = web(request)
    orders = wiring.orders.open_orders(member.participant.participant_id)
    return _private({"orders": [render_order(order, wiring.tick_size) for order in orders]})


@router.delete("/orders/{order_id}")
async def cancel_order(request: Request, order_id: OrderId, member: Caller) -> JSONResponse:
    """Cancel a live order: 404 when the caller has none by that id, 409 when the engine refuses."""
    wiring = web(request)
    outcome = await wiring.orders.cancel(member.participant.participant_id, order_id)
    return _private(render_outcome(outcome, wiring.tick_size))


@router.patch("/orders/{order_id}")
async def replace_order(
    request: Request, order_id: OrderId, body: ReplaceBody, member: Caller
) -> JSONResponse:
    """Cancel-replace: a new total quantity and (limit and stop-limit orders) a new price."""
    wiring = web(request)
    participant = member.participant.participant_id
    order = wiring.orders.get_order(participant, order_id)
    price_ticks = 0 if order is None else parse_price_ticks(body.price, wiring.tick_size(order.symbol))
    outcome = await wiring.orders.replace(participant, order_id, body.quantity, price_ticks)
    return _private(render_outcome(outcome, wiring.tick_size))


@router.get("/fills")
async def list_fills(request: Request, member: Caller, limit: Limit = 100) -> JSONResponse:
    """The caller's fills (trade executions) as stored by clearing, newest first."""
    wiring = web(request)
    fills = await wiring.clearing.fills(member.participant.participant_id, limit)
    return _private({"fills": [render_execution(fill, wiring.tick_size) for fill in fills]})


@router.get("/positions")
async def list_positions(request: Request, member: Caller) -> JSONResponse:
    """The caller's positions and cash per instrument, over every stored trade."""
    wiring = web(request)
    holdings = await wiring.clearing.positions(member.participant.participant_id)
    return _private({"positions": [render_holding(holding, wiring.tick_size) for holding in holdings]})


@router.get("/obligations")
async def list_obligations(
    request: Request, member: Caller, trade_date: Annotated[date, Query(alias="date")], everyone: bool = False
) -> JSONResponse:
    """End-of-day netting of one trade date: the caller's settlement obligations (T+1); operators
    may ask for every participant's with `everyone=true`."""
    wiring = web(request)
    if everyone and not member.operator:
        raise ForbiddenError("only operators may see every participant's obligations")
    obligations = await wiring.clearing.netting(trade_date)
    mine = [o for o in obligations if everyone or o.participant == member.participant.participant_id]
    return _private({"obligations": [render_obligation(o, wiring.tick_size) for o in mine]})


@router.get("/instruments")
async def list_instruments(request: Request) -> Json:
    """Every listed instrument with its tick size, lot size, phase and halt state."""
    wiring = web(request)
    out = []
    for status in wiring.operations.status().instruments:
        instrument = wiring.instrument(status.symbol)
        out.append({"symbol": status.symbol, "tick_size": str(instrument.tick_size),
                    "lot_size": instrument.lot_size, "phase": status.phase.value,
                    "halted": status.halted})  # fmt: skip
    return {"instruments": out}


@router.get("/book/{symbol}")
async def book_depth(
    request: Request, symbol: Symbol, levels: Annotated[int, Query(ge=1, le=DEPTH_LEVELS_MAX)] = 10
) -> Json:
    """Visible depth (L2): price, quantity and order count per level, best first on each side."""
    wiring = web(request)
    tick = wiring.instrument(symbol).tick_size
    book = wiring.venue.engine.instruments[symbol].book

    def side(which: Side) -> list[Json]:
        return [{"price": render_price(price, tick), "quantity": quantity, "count": count}
                for price, quantity, count in book.side(which).depth(levels)]  # fmt: skip

    return {
        "symbol": symbol,
        "sequence": wiring.venue.last_sequence,
        "bids": side(Side.BUY),
        "asks": side(Side.SELL),
    }


@router.get("/trades")
async def trade_tape(request: Request, symbol: SymbolQuery = "", limit: Limit = 50) -> Json:
    """The newest stored trades, newest first, anonymous (no participant names)."""
    wiring = web(request)
    trades = await wiring.clearing.trades(None, limit, symbol or None)
    return {"trades": [render_trade(trade, wiring.tick_size) for trade in trades]}
