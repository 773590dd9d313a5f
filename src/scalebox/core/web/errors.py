"""The one table from the error tree to HTTP, and problem+json (RFC 9457) bodies for every error.

Browsers (Accept: text/html) get the same status with the system's error page instead.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse, Response

from scalebox.core.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
    TooLargeError,
    UnauthorizedError,
)
from scalebox.core.web.pages import Pages

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# Most specific first: UnauthorizedError is a ForbiddenError.
_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFoundError, 404),
    (ConflictError, 409),
    (InvalidError, 422),
    (UnauthorizedError, 401),
    (ForbiddenError, 403),
    (TooLargeError, 413),
    (LimitExceededError, 429),
)


def status_for(exc: DomainError) -> int:
    return next((status for kind, status in _STATUS if isinstance(exc, kind)), 400)


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """An error answer in the caller's terms: problem+json for APIs, the error page for browsers."""
    title = HTTPStatus(status).phrase
    pages: Pages | None = getattr(request.app.state, "pages", None)
    if pages is not None and _wants_html(request):
        return pages.render(
            request,
            "error.html",
            {"status": status, "title": title, "detail": detail},
            status_code=status,
            headers=headers,
        )
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extensions}
    if code:
        body["code"] = code
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    if isinstance(exc, LimitExceededError) and exc.retry_after_seconds is not None:
        headers["Retry-After"] = str(max(1, round(exc.retry_after_seconds + 0.49)))
    extensions: dict[str, Any] = {}
    if isinstance(exc, InvalidError) and exc.field:
        extensions["field"] = exc.field
    return problem_response(
        request, status_for(exc), exc.detail, code=exc.code, headers=headers, **extensions
    )


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    headers = dict(exc.headers or {})
    return problem_response(request, exc.status_code, str(exc.detail), headers=headers)


async def validation_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": [str(part) for part in error.get("loc", ())], "msg": str(error.get("msg", ""))}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{'.'.join(e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors) or "invalid request"
    return problem_response(request, 422, detail, code="invalid", errors=errors)


async def unexpected_error_handler(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return problem_response(request, 500, "internal error; the request id is in the X-Request-ID header")
