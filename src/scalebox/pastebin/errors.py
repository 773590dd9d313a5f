"""What can go wrong with a paste, as the caller can act on it (mapped to HTTP by core.web)."""

from __future__ import annotations

from scalebox.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidError,
    NotFoundError,
    TooLargeError,
)


class PasteNotFoundError(NotFoundError):
    """No such paste, or it has expired, been burned or been removed."""

    code = "paste_not_found"


class PasteTooLargeError(TooLargeError):
    """The paste's content is larger than this server accepts."""

    code = "paste_too_large"


class InvalidPasteError(InvalidError):
    """The paste's content or options break a rule (empty, binary, unknown lexer, bad expiry...)."""

    code = "invalid_paste"


class PasswordRequiredError(ForbiddenError):
    """The paste is protected by a password, and none or the wrong one was given."""

    code = "password_required"


class SecretDetectedError(InvalidError):
    """The secret scanner found a credential and this server rejects such pastes."""

    code = "secret_detected"


class IdCollisionError(ConflictError):
    """A freshly minted id already existed (retried by the service; surfaces only if it keeps happening)."""

    code = "id_collision"


class AccountBannedError(ForbiddenError):
    """This account is banned from creating pastes."""

    code = "account_banned"
