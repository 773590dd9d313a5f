"""What can go wrong with a short link, as a caller can act on it (mapped to HTTP by the edges)."""

from __future__ import annotations

from scalebox.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
)


class LinkNotFoundError(NotFoundError):
    """No such short link (or it belongs to somebody else)."""

    code = "short_url_not_found"


class InvalidLinkError(InvalidError):
    """The link's fields break a rule (dates, visit limit, redirect type, tags, rules...)."""

    code = "invalid_data"


class InvalidUrlError(InvalidLinkError):
    """The long URL cannot be shortened (scheme, credentials, length, host)."""

    code = "invalid_url"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail, field="longUrl")


class InvalidSlugError(InvalidLinkError):
    """The custom slug breaks the slug rules or is a reserved word."""

    code = "invalid_slug"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail, field="customSlug")


class SlugTakenError(ConflictError):
    """Another link already uses this slug (compared case-insensitively)."""

    code = "non_unique_slug"

    def __init__(self, slug: str) -> None:
        super().__init__(f'Provided slug "{slug}" is already in use.')
        self.slug = slug


class BlockedDomainError(ForbiddenError):
    """The long URL's domain is on this server's blocklist."""

    code = "blocked_domain"


class TagNotFoundError(NotFoundError):
    """No such tag among the caller's links."""

    code = "tag_not_found"


class TagConflictError(ConflictError):
    """A tag with the new name already exists."""

    code = "tag_conflict"


class CreateLimitError(LimitExceededError):
    """Too many links created from this address or account in the last minute."""

    code = "rate_limited"
