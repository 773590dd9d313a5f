"""The trading screen: order entry, the depth ladder, the trade tape, my open orders (cancel,
replace) and my fills. The page is complete as served and its forms work without JavaScript;
trading.js makes it live (market data and my executions over WebSockets) and sends the forms
through the JSON API instead of reloading."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from scalebox.core.errors import DomainError
from scalebox.core.web.account_pages import render_form_page
from scalebox.core.web.errors import status_for
from scalebox.core.web.forms import form_text, read_form
from scalebox.exchange.domain import Side
from scalebox.exchange.http.context import Web, web
from scalebox.exchange.http.prices import parse_price_ticks, render_price
from scalebox.exchange.http.render import render_execution, render_order, render_trade
from scalebox.exchange.http.session import login_redirect, require_member, signed_in
from scalebox.exchange.http.tickets import parse_count, ticket_from_form

router = APIRouter(include_in_schema=False)

LADDER_LEVELS = 10
TAPE_ROWS = 30
FILL_ROWS = 30
FORM_FIELDS = ("symbol", "side", "type", "tif", "quantity", "price", "stop_price", "display")
SymbolQuery = Annotated[str, Query(max_length=12)]
NoteQuery = Annotated[str, Query(max_length=40)]
Flashes = list[tuple[str, str]]

NOTES = {
    "placed": "Order placed.",
    "canceled": "Order cancelled.",
    "replaced": "Order replaced.",
}


@dataclass(frozen=True, slots=True)
class LadderRow:
    price: str
    bid_quantity: int
    ask_quantity: int


@router.get("/")
async def trading_page(request: Request, symbol: SymbolQuery = "", note: NoteQuery = "") -> Response:
    if signed_in(request) is None:
        return login_redirect(request)
    flashes = [("ok", NOTES[note])] if note in NOTES else []
    return await _trading_page(request, symbol, {}, flashes)


@router.post("/orders")
async def place_order(request: Request) -> Response:
    member = require_member(request)
    form = await read_form(request)
    typed = {name: form_text(form, name).strip() for name in FORM_FIELDS}
    wiring = web(request)
    try:
        ticket = ticket_from_form(typed, wiring.instrument(typed["symbol"]).tick_size)
        await wiring.orders.place(member.participant.participant_id, ticket)
    except DomainError as exc:
        return await _trading_page(
            request, typed["symbol"], typed, [("error", exc.detail)], status=status_for(exc)
        )
    return RedirectResponse(f"/?symbol={quote(ticket.symbol, safe='')}&note=placed", status_code=303)


@router.post("/orders/{order_id}/cancel")
async def cancel_order(request: Request, order_id: int) -> Response:
    member = require_member(request)
    form = await read_form(request)
    symbol = form_text(form, "symbol")
    try:
        await web(request).orders.cancel(member.participant.participant_id, order_id)
    except DomainError as exc:
        return await _trading_page(request, symbol, {}, [("error", exc.detail)], status=status_for(exc))
    return RedirectResponse(f"/?symbol={quote(symbol, safe='')}&note=canceled", status_code=303)


@router.post("/orders/{order_id}/replace")
async def replace_order(request: Request, order_id: int) -> Response:
    member = require_member(request)
    form = await read_form(request)
    wiring = web(request)
    participant = member.participant.participant_id
    symbol = form_text(form, "symbol")
    try:
        quantity = parse_count(form_text(form, "quantity"), "quantity", required=True)
        order = wiring.orders.get_order(participant, order_id)
        tick = wiring.tick_size(order.symbol if order else symbol)
        await wiring.orders.replace(
            participant, order_id, quantity, parse_price_ticks(form_text(form, "price"), tick)
        )
    except DomainError as exc:
        return await _trading_page(request, symbol, {}, [("error", exc.detail)], status=status_for(exc))
    return RedirectResponse(f"/?symbol={quote(symbol, safe='')}&note=replaced", status_code=303)


async def _trading_page(
    request: Request, symbol: str, typed: dict[str, str], flashes: Flashes, *, status: int = 200
) -> HTMLResponse:
    wiring = web(request)
    member = require_member(request)
    participant = member.participant.participant_id
    symbols = wiring.symbols()
    symbol = symbol if symbol in symbols else (symbols[0] if symbols else "")
    tick = wiring.tick_size(symbol)
    state = wiring.venue.engine.instruments.get(symbol)
    tape = await wiring.clearing.trades(None, TAPE_ROWS, symbol)
    fills = await wiring.clearing.fills(participant, FILL_ROWS)
    context = {
        "symbols": symbols,
        "symbol": symbol,
        "tick_size": str(tick),
        "instrument": state,
        "market_halted": wiring.venue.engine.market_halted,
        "ladder": _ladder(wiring, symbol, tick),
        "tape": [render_trade(trade, wiring.tick_size, participant) for trade in tape],
        "orders": [render_order(o, wiring.tick_size) for o in wiring.orders.open_orders(participant)],
        "fills": [render_execution(fill, wiring.tick_size) for fill in fills],
        "typed": {name: typed.get(name, "") for name in FORM_FIELDS} | {"symbol": symbol},
        "market_data": wiring.context.market_data is not None,
        "flashes": flashes,
    }
    return render_form_page(request, "exchange/trading.html", context, status_code=status)


def _ladder(wiring: Web, symbol: str, tick: Decimal) -> list[LadderRow]:
    """Asks above bids, highest price first, as a depth ladder reads."""
    state = wiring.venue.engine.instruments.get(symbol)
    if state is None:
        return []
    asks = state.book.side(Side.SELL).depth(LADDER_LEVELS)
    bids = state.book.side(Side.BUY).depth(LADDER_LEVELS)
    rows = [LadderRow(render_price(price, tick), 0, quantity) for price, quantity, _ in reversed(asks)]
    return rows + [LadderRow(render_price(price, tick), quantity, 0) for price, quantity, _ in bids]
