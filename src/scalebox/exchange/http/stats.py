"""`/api/stats`: the exchange's key figures for scalebox's front door (the console on :8000)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from scalebox.exchange.http.context import web

router = APIRouter(tags=["Monitoring"])


@router.get("/api/stats")
async def stats(request: Request) -> dict[str, object]:
    """Commands sequenced, orders and trades per second, resting orders, listed instruments."""
    wiring = web(request)
    engine = wiring.venue.engine
    orders_per_second, trades_per_second = wiring.activity.rates(wiring.now_ns())
    return {
        "system": "exchange",
        "figures": [
            {"key": "sequence", "label": "Commands sequenced", "value": engine.last_sequence, "unit": ""},
            {"key": "orders_per_second", "label": "Orders/s", "value": orders_per_second, "unit": "/s"},
            {"key": "trades_per_second", "label": "Trades/s", "value": trades_per_second, "unit": "/s"},
            {"key": "resting", "label": "Live orders", "value": len(engine.orders), "unit": ""},
            {"key": "instruments", "label": "Instruments", "value": len(engine.instruments), "unit": ""},
        ],
    }
