"""Signed session cookies and CSRF tokens (itsdangerous, HMAC-SHA256); decoding never raises.

A session lives `max_age_seconds` from its signed `issued_at`, judged against the injected Clock,
so tests expire sessions by advancing a FakeClock. CSRF uses a signed double submit: a random
browser id lives in a cookie, and forms carry that id signed under the salt "csrf".
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeGuard

from itsdangerous import BadData, Signer, URLSafeSerializer

from scalebox.core.clock import Clock
from scalebox.core.ids import is_base62, random_base62

SECRET_KEY_BYTES_MIN = 16
TOKEN_CHARS_MAX = 4096  # a browser keeps at most about 4 KiB per cookie anyway
BROWSER_ID_CHARS = 32  # base62: about 190 bits
BROWSER_ID_CHARS_MIN = 16
BROWSER_ID_CHARS_MAX = 128
CLOCK_SKEW_SECONDS = 60  # how far in the future another process's clock may have put issued_at

_SESSION_SALT = "scalebox.session"
_CSRF_SALT = "csrf"
_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Session:
    """Who a browser is logged in as, and since when (tz-aware)."""

    account_id: int
    issued_at: datetime


class _StampedPayloads:
    """A value and the moment it was issued, signed; `load` answers None for anything forged, expired,
    malformed or too long. The one implementation behind every session cookie scalebox sets."""

    def __init__(self, secret_key: str | bytes, max_age_seconds: int, clock: Clock, salt: str) -> None:
        _check_secret(secret_key)
        assert max_age_seconds > 0, max_age_seconds
        self._serializer = URLSafeSerializer(
            secret_key, salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._max_age = timedelta(seconds=max_age_seconds)
        self._clock = clock

    def dump(self, value: object, issued_at: datetime) -> str:
        assert issued_at.tzinfo is not None, "issued_at must be tz-aware"
        # Whole microseconds since the Unix epoch: exact, unlike a float, and compact.
        return self._serializer.dumps([value, (issued_at - _UNIX_EPOCH) // _MICROSECOND])

    def load(self, text: str) -> tuple[object, datetime] | None:
        if len(text) > TOKEN_CHARS_MAX or not text.isascii():
            return None
        try:
            payload = self._serializer.loads(text)
        except BadData:
            return None
        # The signature proves we wrote the payload, but an older release may have written another shape.
        if not isinstance(payload, list) or len(payload) != 2 or not _is_plain_int(payload[1]):
            return None
        try:
            issued_at = _UNIX_EPOCH + payload[1] * _MICROSECOND
        except OverflowError:
            return None
        age = self._clock.now() - issued_at
        if age > self._max_age or age < -timedelta(seconds=CLOCK_SKEW_SECONDS):
            return None
        return payload[0], issued_at


class SessionCodec:
    """Encodes sessions into cookie values and back; `decode` answers None rather than raising."""

    def __init__(self, secret_key: str | bytes, max_age_seconds: int, clock: Clock) -> None:
        self._payloads = _StampedPayloads(secret_key, max_age_seconds, clock, _SESSION_SALT)

    def encode(self, session: Session) -> str:
        return self._payloads.dump(session.account_id, session.issued_at)

    def decode(self, text: str) -> Session | None:
        """The session in `text`, or None if it is forged, expired, malformed or too long."""
        loaded = self._payloads.load(text)
        if loaded is None or not _is_plain_int(loaded[0]):
            return None
        account_id, issued_at = loaded
        assert isinstance(account_id, int)
        return Session(account_id=account_id, issued_at=issued_at)


class NamedSessionCodec:
    """Sessions that name their holder by a string (a console's signed-in user or access key), signed
    under `salt` so one system's cookie means nothing to another's; `decode` answers None rather
    than raising."""

    def __init__(self, secret_key: str | bytes, max_age_seconds: int, clock: Clock, *, salt: str) -> None:
        self._payloads = _StampedPayloads(secret_key, max_age_seconds, clock, salt)
        self._clock = clock

    def encode(self, name: str) -> str:
        """A cookie value for `name`, issued now."""
        return self._payloads.dump(name, self._clock.now())

    def decode(self, text: str) -> str | None:
        """The name in `text`, or None if it is forged, expired, malformed or too long."""
        loaded = self._payloads.load(text)
        if loaded is None or not isinstance(loaded[0], str):
            return None
        return loaded[0]


class CsrfCodec:
    """Issues per-browser ids and the form tokens that prove a request came from our own page."""

    def __init__(self, secret_key: str | bytes) -> None:
        _check_secret(secret_key)
        self._signer = Signer(secret_key, salt=_CSRF_SALT, digest_method=hashlib.sha256)

    def new_browser_id(self, rng: random.Random) -> str:
        """A fresh id for the CSRF cookie; pass random.SystemRandom() outside tests."""
        return random_base62(BROWSER_ID_CHARS, rng)

    @staticmethod
    def is_browser_id(text: str | None) -> TypeGuard[str]:
        """Whether a cookie holds a usable browser id; if not, set a new one before serving a form."""
        return (
            text is not None and BROWSER_ID_CHARS_MIN <= len(text) <= BROWSER_ID_CHARS_MAX and is_base62(text)
        )

    def token_for(self, browser_id: str) -> str:
        """The token to embed in forms served to the browser holding `browser_id`."""
        if not self.is_browser_id(browser_id):
            raise ValueError("not a browser id: check is_browser_id and issue a new one")
        return self._signer.sign(browser_id).decode("ascii")

    def check(self, browser_id: str | None, token: str | None) -> bool:
        """True only if `token` was made for `browser_id`; False on anything missing or malformed."""
        if not self.is_browser_id(browser_id) or not token:
            return False
        if len(token) > TOKEN_CHARS_MAX or not token.isascii():
            return False
        return hmac.compare_digest(token.encode("ascii"), self._signer.sign(browser_id))


def _is_plain_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_secret(secret_key: str | bytes) -> None:
    size_bytes = len(secret_key.encode() if isinstance(secret_key, str) else secret_key)
    if size_bytes < SECRET_KEY_BYTES_MIN:
        raise ValueError(f"secret key must be at least {SECRET_KEY_BYTES_MIN} bytes")
