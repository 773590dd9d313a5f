"""The post-trade page: my positions and cash per instrument, and one trade date's end-of-day
netting into settlement obligations due T+1 (operators see every participant's), each with a
chart of the net figures beside the table that holds them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from scalebox.core.web.account_pages import render_form_page
from scalebox.exchange.http.charts import layout_diverging_chart
from scalebox.exchange.http.context import web
from scalebox.exchange.http.prices import render_amount
from scalebox.exchange.http.render import render_holding, render_obligation
from scalebox.exchange.http.session import login_redirect, signed_in
from scalebox.exchange.posttrade import cash_by_participant, settlement_date

router = APIRouter(include_in_schema=False)

TRADE_DATES_SHOWN = 10


@router.get("/post-trade")
async def posttrade_page(
    request: Request, trade_date: Annotated[date | None, Query(alias="date")] = None, everyone: bool = True
) -> Response:
    member = signed_in(request)
    if member is None:
        return login_redirect(request)
    wiring = web(request)
    participant = member.participant.participant_id
    everyone = everyone and member.operator
    dates = await wiring.clearing.trade_dates(TRADE_DATES_SHOWN)
    day = trade_date or (dates[0] if dates else wiring.clock.now().date())
    holdings = await wiring.clearing.positions(participant)
    obligations = [o for o in await wiring.clearing.netting(day) if everyone or o.participant == participant]
    tick_sizes = {o.symbol: wiring.tick_size(o.symbol) for o in obligations}
    cash = sorted(cash_by_participant(obligations, tick_sizes).items())
    position_rows = [(h.symbol, h.net_quantity, f"{h.net_quantity:+,d}") for h in holdings]
    if everyone:
        cash_rows = [(who, amount, f"{amount:+,}") for who, amount in cash]
    else:
        cash_rows = [(o.symbol, o.cash_ticks * tick_sizes[o.symbol],
                      render_amount(o.cash_ticks, tick_sizes[o.symbol])) for o in obligations]  # fmt: skip
    context = {
        "trade_date": day,
        "settles": settlement_date(day, wiring.clearing.holidays),
        "dates": dates,
        "everyone": everyone,
        "is_operator": member.operator,
        "positions": [render_holding(h, wiring.tick_size) for h in holdings],
        "position_chart": layout_diverging_chart(position_rows) if position_rows else None,
        "obligations": [render_obligation(o, wiring.tick_size) for o in obligations],
        "cash_totals": [(who, f"{amount:+,}") for who, amount in cash],
        "cash_chart": layout_diverging_chart(cash_rows) if cash_rows else None,
    }
    return render_form_page(request, "exchange/posttrade.html", context)
