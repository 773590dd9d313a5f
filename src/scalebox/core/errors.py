"""The error tree every system raises from; edges map it to their protocol in one table each.

DomainError              something the caller can act on; carries data, never wire details
├── NotFoundError        (code "not_found")
├── ConflictError        (code "conflict")
├── InvalidError         (code "invalid")
├── ForbiddenError       (code "forbidden")
│   └── UnauthorizedError (code "unauthorized": who you are is unknown, rather than not allowed)
└── LimitExceededError   (code "limit_exceeded"; optional retry_after_seconds)
    └── TooLargeError    (code "too_large": a size, not a rate)

ProtocolError            malformed bytes on a wire; not a DomainError, the edge closes or rejects
IntegrityError           stored data failed its checksum; an operator problem, never the caller's
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    """Base of every error a caller can act on."""

    code: ClassVar[str] = "error"

    def __init__(self, detail: str = "") -> None:
        super().__init__(detail or self.__class__.__doc__ or self.code)

    @property
    def detail(self) -> str:
        return str(self)


class NotFoundError(DomainError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"


class ConflictError(DomainError):
    """The request conflicts with the current state."""

    code = "conflict"


class InvalidError(DomainError):
    """The request is well-formed but its values break a rule."""

    code = "invalid"

    def __init__(self, detail: str = "", *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class ForbiddenError(DomainError):
    """The caller is known but not allowed to do this."""

    code = "forbidden"


class UnauthorizedError(ForbiddenError):
    """The caller must authenticate first."""

    code = "unauthorized"


class LimitExceededError(DomainError):
    """A size, count or rate limit was exceeded."""

    code = "limit_exceeded"

    def __init__(self, detail: str = "", *, retry_after_seconds: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after_seconds = retry_after_seconds


class TooLargeError(LimitExceededError):
    """A body, value or batch is larger than the limit; retrying the same thing will not help."""

    code = "too_large"


class ProtocolError(Exception):
    """Malformed bytes on a wire: the edge answers in the protocol's own terms or closes."""


class IntegrityError(Exception):
    """Stored data failed verification (checksum mismatch, torn write)."""
