"""Shlink's problem documents: every error of the Shlink API answered as problem+json with Shlink's
`type`, `title` and extra members, from one table over the error tree, and the route class that
applies it to the API's routes."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response

from scalebox.core.errors import (
    DomainError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
    UnauthorizedError,
)
from scalebox.core.web.errors import PROBLEM_JSON, status_for
from scalebox.shortener.errors import (
    BlockedDomainError,
    LinkNotFoundError,
    SlugTakenError,
    TagConflictError,
    TagNotFoundError,
)

_TYPE_BASE = "https://shlink.io/api/error/"


class ShlinkError(Exception):
    """An error answer as Shlink gives it: problem+json with Shlink's `type`, `title` and extra members."""

    def __init__(
        self,
        status: int,
        error: str | None,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extras: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.type = f"{_TYPE_BASE}{error}" if error else "about:blank"
        self.title = title
        self.detail = detail
        self.headers = headers
        self.extras = extras

    def response(self) -> Response:
        body = {"type": self.type, "title": self.title, "detail": self.detail, "status": self.status}
        return JSONResponse(
            {**body, **self.extras}, status_code=self.status, media_type=PROBLEM_JSON, headers=self.headers
        )


def invalid_data(*elements: str, detail: str = "Provided data is not valid") -> ShlinkError:
    return ShlinkError(400, "invalid-data", "Invalid data", detail, invalidElements=list(elements))


def missing_authentication(header: str = "X-Api-Key") -> ShlinkError:
    return ShlinkError(
        401,
        "missing-authentication",
        "Invalid authorization",
        f'Expected one of the following authentication headers, ["{header}"], but none were provided',
        expectedTypes=[header],
    )


# One table from the error tree to Shlink's problem types; the most specific kinds come first.
_PROBLEMS: tuple[tuple[type[DomainError], int, str, str], ...] = (
    (UnauthorizedError, 401, "invalid-api-key", "Invalid API key"),
    (LinkNotFoundError, 404, "short-url-not-found", "Short URL not found"),
    (TagNotFoundError, 404, "tag-not-found", "Tag not found"),
    (SlugTakenError, 400, "non-unique-slug", "Invalid custom slug"),
    (TagConflictError, 409, "tag-conflict", "Tag conflict"),
    (BlockedDomainError, 400, "invalid-url", "Invalid URL"),
    (InvalidError, 400, "invalid-data", "Invalid data"),
    (NotFoundError, 404, "not-found", "Not found"),
    (ForbiddenError, 403, "forbidden-operation", "Forbidden operation"),
)


def problem_for(exc: DomainError, request: Request) -> ShlinkError:
    """The Shlink problem for a domain error; kinds Shlink has no type for (limits) get about:blank."""
    for kind, status, error, title in _PROBLEMS:
        if isinstance(exc, kind):
            return ShlinkError(status, error, title, exc.detail, **_extras(exc, request))
    status = status_for(exc)
    headers = None
    if isinstance(exc, LimitExceededError) and exc.retry_after_seconds is not None:
        headers = {"Retry-After": str(max(1, round(exc.retry_after_seconds + 0.49)))}
    return ShlinkError(status, None, HTTPStatus(status).phrase, exc.detail, headers, code=exc.code)


def _extras(exc: DomainError, request: Request) -> dict[str, Any]:
    """The members Shlink adds to a problem: what was asked for, or which fields were wrong."""
    if isinstance(exc, SlugTakenError):
        return {"customSlug": exc.slug}
    if isinstance(exc, LinkNotFoundError):
        return {"shortCode": request.path_params.get("shortCode", "")}
    if isinstance(exc, TagNotFoundError) and "tag" in request.path_params:
        return {"tag": request.path_params["tag"]}
    if isinstance(exc, InvalidError):
        return {"invalidElements": [exc.field] if exc.field else []}
    return {}


def _validation_problem(exc: RequestValidationError) -> ShlinkError:
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return ShlinkError(
            400,
            "malformed-request-body",
            "Malformed request body",
            "Provided request does not contain a valid JSON body.",
        )
    locations = [tuple(str(part) for part in error.get("loc", ())) for error in errors]
    elements = dict.fromkeys(loc[1] for loc in locations if len(loc) > 1)
    detail = "; ".join(
        f"{'.'.join(loc[1:]) or 'body'}: {error.get('msg', 'invalid')}"
        for loc, error in zip(locations, errors, strict=True)
    )
    return invalid_data(*elements, detail=detail or "Provided data is not valid")


class ShlinkRoute(APIRoute):
    """A route whose every error, raised by a dependency, the body's validation or the use case, is
    answered in Shlink's problem terms rather than by the app-wide error table."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_in_shlink_terms(request: Request) -> Response:
            try:
                return await handle(request)
            except ShlinkError as problem:
                return problem.response()
            except DomainError as exc:
                return problem_for(exc, request).response()
            except RequestValidationError as exc:
                return _validation_problem(exc).response()

        return handle_in_shlink_terms
