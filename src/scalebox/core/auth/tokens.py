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


class SessionCodec:
    """Encodes sessions into cookie values and back; `decode` answers None rather than raising."""

    def __init__(self, secret_key: str | bytes, max_age_seconds: int, clock: Clock) -> None:
        _check_secret(secret_key)
        assert max_age_seconds > 0, max_age_seconds
        self._serializer = URLSafeSerializer(
            secret_key, salt=_SESSION_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self._max_age = timedelta(seconds=max_age_seconds)
        self._clock = clock

    def encode(self, session: Session) -> str:
        assert session.issued_at.tzinfo is not None, "issued_at must be tz-aware"
        # Whole microseconds since the Unix epoch: exact, unlike a float, and compact.
        micros = (session.issued_at - _UNIX_EPOCH) // _MICROSECOND
        return self._serializer.dumps([session.account_id, micros])

    def decode(self, text: str) -> Session | None:
        """The session in `text`, or None if it is forged, expired, malformed or too long."""
        if len(text) > TOKEN_CHARS_MAX or not text.isascii():
            return None
        try:
            payload = self._serializer.loads(text)
        except BadData:
            return None
        session = _session_from_payload(payload)
        if session is None:
            return None
        age = self._clock.now() - session.issued_at
        if age > self._max_age or age < -timedelta(seconds=CLOCK_SKEW_SECONDS):
            return None
        return session


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


def _session_from_payload(payload: object) -> Session | None:
    # The signature proves we wrote the payload, but an older release may have written another shape.
    if not isinstance(payload, list) or len(payload) != 2:
        return None
    account_id, micros = payload
    if not (_is_plain_int(account_id) and _is_plain_int(micros)):
        return None
    try:
        issued_at = _UNIX_EPOCH + micros * _MICROSECOND
    except OverflowError:
        return None
    return Session(account_id=account_id, issued_at=issued_at)


def _is_plain_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_secret(secret_key: str | bytes) -> None:
    size_bytes = len(secret_key.encode() if isinstance(secret_key, str) else secret_key)
    if size_bytes < SECRET_KEY_BYTES_MIN:
        raise ValueError(f"secret key must be at least {SECRET_KEY_BYTES_MIN} bytes")
