"""The app factory every HTTP system uses: errors, middleware, health, metrics and shared static files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from prometheus_client import CollectorRegistry
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response
from starlette.staticfiles import StaticFiles

from scalebox.core.errors import DomainError
from scalebox.core.web.errors import (
    domain_error_handler,
    http_error_handler,
    unexpected_error_handler,
    validation_error_handler,
)
from scalebox.core.web.metrics import CONTENT_TYPE_LATEST, HttpMetrics, render_metrics
from scalebox.core.web.middleware import EdgeMiddleware
from scalebox.core.web.pages import CORE_STATIC, Pages

HealthCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


@dataclass(frozen=True)
class WebSettings:
    """What every HTTP edge needs to know, whatever the system."""

    body_bytes_max: int = 1024 * 1024
    log_requests: bool = True
    openapi: bool = True


@dataclass(frozen=True)
class AppParts:
    """The system-specific parts an app is built from."""

    name: str
    title: str
    routers: Sequence[APIRouter]
    pages: Pages | None = None
    lifespan: Lifespan | None = None
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    static_dir: Path | None = None
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    state: dict[str, Any] = field(default_factory=dict)


def create_app(parts: AppParts, settings: WebSettings) -> FastAPI:
    """A FastAPI app with the house error table, edge middleware, /healthz, /metrics and /static."""
    app = FastAPI(
        title=parts.title,
        lifespan=parts.lifespan,
        openapi_url="/openapi.json" if settings.openapi else None,
        docs_url="/api/docs" if settings.openapi else None,
        redoc_url=None,
    )
    app.state.pages = parts.pages
    app.state.registry = parts.registry
    for key, value in parts.state.items():
        setattr(app.state, key, value)
    app.add_exception_handler(DomainError, domain_error_handler)
    app.add_exception_handler(HTTPException, http_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(Exception, unexpected_error_handler)
    metrics = HttpMetrics(parts.registry, namespace=f"scalebox_{parts.name}")
    app.add_middleware(
        EdgeMiddleware,
        metrics=metrics,
        body_bytes_max=settings.body_bytes_max,
        log_requests=settings.log_requests,
    )
    app.include_router(_operational_router(parts))
    for router in parts.routers:
        app.include_router(router)
    app.mount("/static/core", StaticFiles(directory=CORE_STATIC), name="core-static")
    if parts.static_dir is not None:
        app.mount("/static", StaticFiles(directory=parts.static_dir), name="static")
    return app


def _operational_router(parts: AppParts) -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get("/healthz")
    async def healthz() -> Response:
        checks: dict[str, str] = {}
        for name, check in parts.health_checks.items():
            try:
                await check()
            except Exception as exc:
                checks[name] = f"down: {type(exc).__name__}: {exc}"
            else:
                checks[name] = "ok"
        healthy = all(value == "ok" for value in checks.values())
        body = {"status": "ok" if healthy else "degraded", "system": parts.name, "checks": checks}
        return JSONResponse(body, status_code=200 if healthy else 503)

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        # Browsers ask for it on every plain-text view; an empty answer keeps their consoles clean.
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        return Response(render_metrics(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)

    return router
