"""The console port's machine-readable side: `GET /api/stats` in the shape scalebox's console reads."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

router = APIRouter()


@router.get("/api/stats", tags=["Monitoring"])
async def stats(request: Request) -> dict[str, object]:
    """Buckets, objects and bytes stored, drives online, and S3 requests served by this process."""
    objectstore: Any = request.app.state.objectstore
    usage = await objectstore.service.usage()
    drives = await asyncio.to_thread(objectstore.erasure.drive_status)
    api = request.app.state.s3_api
    return {
        "system": "objectstore",
        "figures": [
            {"key": "buckets", "label": "Buckets", "value": len(usage), "unit": ""},
            {"key": "objects", "label": "Objects", "value": sum(u.objects for u in usage), "unit": ""},
            {"key": "bytes", "label": "Stored", "value": sum(u.bytes for u in usage), "unit": "bytes"},
            {
                "key": "drives_ok",
                "label": "Drives online",
                "value": sum(drive.state == "ok" for drive in drives),
                "unit": f"of {len(drives)}",
            },
            {"key": "s3_requests", "label": "S3 requests (this process)", "value": api.requests, "unit": ""},
        ],
    }
