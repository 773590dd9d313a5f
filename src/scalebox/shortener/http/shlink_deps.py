"""What the Shlink API's routes depend on: the account behind the API key (header or query), the
short code in the path, and the one default domain short URLs live on."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request, Security
from fastapi.security import APIKeyHeader

from scalebox.core.errors import UnauthorizedError
from scalebox.shortener.domain import Link
from scalebox.shortener.http.deps import actor, api_key_of, base_url, client_ip, shortener
from scalebox.shortener.http.shlink_problem import ShlinkError, missing_authentication
from scalebox.shortener.service.links import Actor

_API_KEY = APIKeyHeader(
    name="X-Api-Key",
    scheme_name="ApiKey",
    description="An API key issued with `scalebox shortener accounts api-key` or on the account page.",
    auto_error=False,
)


async def api_actor(request: Request, _key: Annotated[str | None, Security(_API_KEY)]) -> Actor:
    """The account behind the request's API key; the Shlink API answers nobody without one."""
    if api_key_of(request) is None:
        raise missing_authentication()
    return await actor(request)  # an unknown, revoked or banned key raises UnauthorizedError


ApiActor = Annotated[Actor, Depends(api_actor)]
ShortCode = Annotated[str, Path(alias="shortCode", description="A short code or custom slug")]


async def query_actor(request: Request, api_key: str | None) -> Actor:
    """The account behind an `apiKey` query parameter, for the one route that takes its key there."""
    if not api_key:
        raise missing_authentication("apiKey")
    account = await shortener(request).accounts.account_for_api_key(api_key)
    if account is None:
        raise UnauthorizedError("Provided API key does not exist or is invalid.")
    return Actor(account.id, is_admin=account.is_admin, ip=client_ip(request))


def default_domain(request: Request) -> str:
    """The one domain short URLs live on: the authority of the base URL."""
    return urlsplit(base_url(request)).netloc


def is_default_domain(request: Request, domain: str | None) -> bool:
    return domain is None or domain == "DEFAULT" or domain.lower() == default_domain(request).lower()


async def find_link(request: Request, who: Actor, code: str, domain: str | None) -> Link:
    """The caller's link by its code, on the default domain (any other has no short URLs)."""
    if not is_default_domain(request, domain):
        raise ShlinkError(
            404,
            "short-url-not-found",
            "Short URL not found",
            f'No URL found with short code "{code}" for domain "{domain}"',
            shortCode=code,
            domain=domain,
        )
    return await shortener(request).links.get(who, code)
