"""`/api/stats`: the exchange's key figures for scalebox's front door (the console on :8000)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter
from starlette.requests import Request

from scalebox.exchange.http.context import web

router = APIRouter(tags=["Monitoring"])
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@router.get("/api/stats")
async def stats(request: Request) -> dict[str, object]:
    """Commands sequenced, orders and trades per second, resting orders, listed instruments."""
    wiring = web(request)
    engine = wiring.venue.engine
    now_ns = (wiring.clock.now() - _EPOCH) // timedelta(microseconds=1) * 1000
    orders_per_second, trades_per_second = wiring.activity.rates(now_ns)
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
