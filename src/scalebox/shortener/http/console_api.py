"""`GET /api/stats`: live figures in the shape the console reads from every system."""

from __future__ import annotations

from fastapi import APIRouter, Request

from scalebox.shortener.http.deps import shortener
from scalebox.shortener.service.analytics import ANALYTICS_GROUP
from scalebox.shortener.service.redirects import VISITS_TOPIC

router = APIRouter()


@router.get("/api/stats", tags=["Monitoring"])
async def stats(request: Request) -> dict[str, object]:
    """Links and stored visits, this process's visits and LRU hit ratio, and the analytics lag."""
    sb = shortener(request)
    links, visits = await sb.links.counts()
    latest = await sb.events.latest_offset(VISITS_TOPIC)
    committed = await sb.events.committed(VISITS_TOPIC, ANALYTICS_GROUP)
    lag = latest - (-1 if committed is None else committed)
    source = sb.source
    lookups = source.hits + source.misses
    return {
        "system": "shortener",
        "figures": [
            {"key": "links", "label": "Links", "value": links, "unit": ""},
            {"key": "visits", "label": "Visits stored", "value": visits, "unit": ""},
            {
                "key": "visits_recorded",
                "label": "Visits (this process)",
                "value": sb.recorder.recorded,
                "unit": "",
            },
            {
                "key": "lru_hit_ratio",
                "label": "LRU hit ratio",
                "value": round(source.hits / lookups, 4) if lookups else 0.0,
                "unit": "ratio",
            },
            {"key": "analytics_lag", "label": "Analytics lag (events)", "value": max(lag, 0), "unit": ""},
        ],
    }
