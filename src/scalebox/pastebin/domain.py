"""Pastes and their rules: expiry, visibility, burn after reading, limits. Pure: no I/O, no clock reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from scalebox.pastebin.errors import InvalidPasteError, PasteTooLargeError

ID_LENGTH = 10  # 62**10 ≈ 8.4e17 ids: unguessable, and a random clash is retried
REMOVAL_TOKEN_LENGTH = 24
TITLE_CHARS_MAX = 200
FILES_MAX = 20
FILE_NAME_CHARS_MAX = 200


class Visibility(StrEnum):
    PUBLIC = "public"  # listed in recent, trending and search
    UNLISTED = "unlisted"  # anyone with the link
    PRIVATE = "private"  # only the owner, signed in


# Name -> lifetime; None is "never". Names are pinnwand's where they overlap, so its clients work.
EXPIRIES: dict[str, timedelta | None] = {
    "10min": timedelta(minutes=10),
    "1hour": timedelta(hours=1),
    "1day": timedelta(days=1),
    "1week": timedelta(weeks=1),
    "1month": timedelta(days=30),
    "1year": timedelta(days=365),
    "never": None,
}
EXPIRY_LABELS = {
    "10min": "10 minutes",
    "1hour": "1 hour",
    "1day": "1 day",
    "1week": "1 week",
    "1month": "1 month",
    "1year": "1 year",
    "never": "never",
}
DEFAULT_EXPIRY = "1week"


@dataclass(frozen=True, slots=True)
class PasteFile:
    """One file of a paste. `content_hash` is the SHA-256 (hex) of the stored blob's logical content."""

    position: int
    name: str | None
    lexer: str
    content_hash: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class Paste:
    """A paste's metadata. Content lives in the BlobStore, addressed by each file's content hash."""

    id: str
    owner_id: int | None
    title: str
    visibility: Visibility
    burn_after_reading: bool
    encrypted: bool
    created_at: datetime
    expires_at: datetime | None
    removal_hash: str
    files: tuple[PasteFile, ...]
    source: str = "web"
    view_count: int = 0
    scan_verdict: str | None = None
    hidden: bool = False

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def is_listed(self, now: datetime) -> bool:
        """Whether discovery (recent, trending, search) may show it."""
        return (
            self.visibility is Visibility.PUBLIC
            and not self.burn_after_reading
            and not self.encrypted
            and not self.hidden
            and not self.is_expired(now)
        )

    def can_view(self, viewer_id: int | None, *, is_admin: bool = False) -> bool:
        if is_admin:
            return True
        if self.hidden and (viewer_id is None or viewer_id != self.owner_id):
            return False
        return self.visibility is not Visibility.PRIVATE or (
            viewer_id is not None and viewer_id == self.owner_id
        )

    def can_delete(self, viewer_id: int | None, *, is_admin: bool = False) -> bool:
        return is_admin or (viewer_id is not None and viewer_id == self.owner_id)

    @property
    def size_bytes(self) -> int:
        return sum(file.size_bytes for file in self.files)


@dataclass(frozen=True, slots=True)
class Draft:
    """One file as submitted, before validation."""

    content: str
    lexer: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class PasteRequest:
    """Everything a client may ask for when creating a paste."""

    files: tuple[Draft, ...]
    title: str = ""
    expiry: str = DEFAULT_EXPIRY
    visibility: Visibility = Visibility.UNLISTED
    burn_after_reading: bool = False
    password: str | None = None
    source: str = "web"
    extra: dict[str, str] = field(default_factory=dict)


def expires_at(expiry: str, now: datetime) -> datetime | None:
    try:
        lifetime = EXPIRIES[expiry]
    except KeyError:
        raise InvalidPasteError(
            f"unknown expiry {expiry!r}; choose one of {', '.join(EXPIRIES)}", field="expiry"
        ) from None
    return None if lifetime is None else now + lifetime


def validate_request(request: PasteRequest, *, size_bytes_max: int, signed_in: bool) -> None:
    """Raise InvalidPasteError or PasteTooLargeError when the request breaks a rule."""
    if not request.files:
        raise InvalidPasteError("a paste needs at least one file", field="files")
    if len(request.files) > FILES_MAX:
        raise InvalidPasteError(f"a paste holds at most {FILES_MAX} files", field="files")
    if len(request.title) > TITLE_CHARS_MAX:
        raise InvalidPasteError(f"the title is longer than {TITLE_CHARS_MAX} characters", field="title")
    if request.visibility is Visibility.PRIVATE and not signed_in:
        raise InvalidPasteError("sign in (or use an API key) to create a private paste", field="visibility")
    if request.password is not None and not 1 <= len(request.password) <= 1024:
        raise InvalidPasteError("a password must be 1 to 1024 characters", field="password")
    if request.expiry not in EXPIRIES:
        raise InvalidPasteError(
            f"unknown expiry {request.expiry!r}; choose one of {', '.join(EXPIRIES)}", field="expiry"
        )
    total = 0
    for draft in request.files:
        validate_content(draft.content)
        if draft.name is not None and (len(draft.name) > FILE_NAME_CHARS_MAX or "\x00" in draft.name):
            raise InvalidPasteError("a file name is over-long or holds a NUL character", field="name")
        total += len(draft.content.encode("utf-8", "surrogatepass"))
    if total > size_bytes_max:
        raise PasteTooLargeError(f"the paste is {total} bytes; this server accepts at most {size_bytes_max}")


def validate_content(content: str) -> None:
    if not content.strip():
        raise InvalidPasteError("the paste is empty", field="content")
    if "\x00" in content:
        raise InvalidPasteError(
            "the paste looks binary (it holds NUL bytes); only text can be pasted", field="content"
        )
    try:
        content.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidPasteError("the paste is not valid Unicode text", field="content") from None


def decode_text(data: bytes) -> str:
    """Request bytes to text; non-UTF-8 or binary content is refused with a clear message."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPasteError(
            f"the paste is not UTF-8 text (bad byte at offset {exc.start}); binary files cannot be pasted",
            field="content",
        ) from None
    validate_content(text)
    return text


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def token_hash(token: str) -> str:
    """Removal tokens are stored only as this hash, like passwords and API keys."""
    return hashlib.sha256(token.encode()).hexdigest()


def blob_key(digest: str) -> str:
    return f"content/{digest[:2]}/{digest}"


def highlight_prefix(digest: str) -> str:
    """Every stored render of one content lives under this prefix, so the reaper finds them at once."""
    return f"html/{digest[:2]}/{digest}/"


def highlight_key(digest: str, lexer: str, version: str) -> str:
    return f"{highlight_prefix(digest)}v{version}-{lexer}"
