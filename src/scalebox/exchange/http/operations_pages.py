"""The operations view, for members with the operator role: each instrument's phase with buttons to
move it between CLOSED, AUCTION and CONTINUOUS, halts and resumes per instrument and market-wide
(each a sequenced command through the venue), and the venue's vital signs: journal position,
snapshot, standby lag, FIX sessions, clearing, and orders and trades per second. The same
actions and figures are in the JSON API under /api/operations."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from scalebox.core.errors import InvalidError
from scalebox.core.web.account_pages import NO_STORE, render_form_page
from scalebox.core.web.forms import form_text, read_form
from scalebox.exchange.domain import Phase
from scalebox.exchange.http.context import Web, web
from scalebox.exchange.http.prices import render_price
from scalebox.exchange.http.session import (
    api_member,
    login_redirect,
    require_member,
    require_operator,
    signed_in,
)
from scalebox.exchange.service.directory import Member
from scalebox.exchange.service.operations import HALT_REASON_CHARS_MAX, InstrumentStatus

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/api/operations", tags=["Operations"])

NoteQuery = Annotated[str, Query(max_length=40)]
Caller = Annotated[Member, Depends(api_member)]
PHASES = {phase.value: phase for phase in Phase}
NOTES = {
    "phase": "Phase changed.",
    "halted": "Trading halted.",
    "resumed": "Trading resumed.",
}


class PhaseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field("", max_length=12)  # "" = every instrument
    phase: Phase


class HaltBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field("", max_length=12)  # "" = the whole market
    reason: str = Field("operator", max_length=HALT_REASON_CHARS_MAX)


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: str = Field("", max_length=12)


@router.get("/operations")
async def operations_page(request: Request, note: NoteQuery = "") -> Response:
    member = signed_in(request)
    if member is None:
        return login_redirect(request)
    require_operator(member)
    status = vital_signs(web(request))
    columns = list(dict.fromkeys(key for session in status["fix_sessions"] for key in session))
    flashes = [("ok", NOTES[note])] if note in NOTES else []
    context = {"status": status, "fix_columns": columns, "flashes": flashes}
    return render_form_page(request, "exchange/operations.html", context)


@router.post("/operations/phase")
async def set_phase(request: Request) -> Response:
    member = require_member(request)
    form = await read_form(request)
    phase = PHASES.get(form_text(form, "phase"))
    if phase is None:
        raise InvalidError(f"phase must be one of {', '.join(PHASES)}", field="phase")
    await web(request).operations.set_phase(member, form_text(form, "symbol"), phase)
    return RedirectResponse("/operations?note=phase", status_code=303)


@router.post("/operations/halt")
async def halt(request: Request) -> Response:
    member = require_member(request)
    form = await read_form(request)
    await web(request).operations.halt(member, form_text(form, "symbol"), form_text(form, "reason"))
    return RedirectResponse("/operations?note=halted", status_code=303)


@router.post("/operations/resume")
async def resume(request: Request) -> Response:
    member = require_member(request)
    form = await read_form(request)
    await web(request).operations.resume(member, form_text(form, "symbol"))
    return RedirectResponse("/operations?note=resumed", status_code=303)


@api_router.get("/status")
async def status_api(request: Request, member: Caller) -> JSONResponse:
    """Instruments, journal, snapshot, standby, FIX sessions, clearing and activity (operators)."""
    require_operator(member)
    return JSONResponse(vital_signs(web(request)), headers=NO_STORE)


@api_router.post("/phase")
async def set_phase_api(request: Request, body: PhaseBody, member: Caller) -> dict[str, object]:
    changes = await web(request).operations.set_phase(member, body.symbol, body.phase)
    return {"changed": [{"symbol": c.symbol, "phase": c.phase.value, "halted": c.halted} for c in changes]}


@api_router.post("/halt")
async def halt_api(request: Request, body: HaltBody, member: Caller) -> dict[str, object]:
    changes = await web(request).operations.halt(member, body.symbol, body.reason)
    return {"changed": [{"symbol": c.symbol, "halted": c.halted, "reason": c.reason} for c in changes]}


@api_router.post("/resume")
async def resume_api(request: Request, body: ResumeBody, member: Caller) -> dict[str, object]:
    changes = await web(request).operations.resume(member, body.symbol)
    return {"changed": [{"symbol": c.symbol, "halted": c.halted} for c in changes]}


def vital_signs(wiring: Web) -> dict[str, Any]:
    """Everything the operations view shows, as plain JSON-able values."""
    market = wiring.operations.status()
    orders_per_second, trades_per_second = wiring.activity.rates(wiring.now_ns())
    clearing = wiring.clearing
    market_data = wiring.context.market_data
    return {
        "sequence": market.last_sequence,
        "market_halted": market.market_halted,
        "instruments": [_instrument(wiring, status) for status in market.instruments],
        "journal": wiring.context.journal_status(),
        "standby": wiring.context.standby_status(),
        "fix_sessions": wiring.context.fix_sessions(),
        "clearing": {
            "last_sequence": clearing.last_sequence(),
            "queued": clearing.queued,
            "stalled_at": clearing.stalled_at,
        },
        "activity": {
            "orders_per_second": round(orders_per_second, 1),
            "orders_total": wiring.activity.orders_total,
            "trades_per_second": round(trades_per_second, 1),
            "trades_total": wiring.activity.trades_total,
        },
        "subscribers": {
            "executions": wiring.executions.subscribers,
            "market_data": len(market_data.subscriptions) if market_data else 0,
        },
    }


def _instrument(wiring: Web, status: InstrumentStatus) -> dict[str, Any]:
    tick = wiring.tick_size(status.symbol)

    def price(ticks: int | None) -> str | None:
        return render_price(ticks, tick) if ticks else None

    return {
        "symbol": status.symbol, "phase": status.phase.value, "halted": status.halted,
        "halt_reason": status.halt_reason, "last_price": price(status.last_price_ticks),
        "best_bid": price(status.best_bid_ticks), "best_ask": price(status.best_ask_ticks),
    }  # fmt: skip
