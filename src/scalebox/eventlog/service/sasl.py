"""SASL for Kafka listeners: PLAIN (RFC 4616) and SCRAM-SHA-256 (RFC 5802, RFC 7677).

Users are stored as SCRAM credentials only (salt, iteration count, StoredKey, ServerKey): a stolen
catalog does not give passwords away, and PLAIN is checked by deriving the same keys from the
password it carries. Every comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from scalebox.eventlog.errors import (
    IllegalSaslStateError,
    InvalidRequestError,
    SaslAuthenticationError,
    UnsupportedSaslMechanismError,
)
from scalebox.eventlog.storage.catalog import ScramCredential

SCRAM_SHA_256 = "SCRAM-SHA-256"
PLAIN = "PLAIN"
SCRAM_ITERATIONS = 4096  # Kafka's minimum for SCRAM-SHA-256
USERNAME_MAX = 256
PASSWORD_MAX = 1024


def make_credential(
    password: str, *, iterations: int = SCRAM_ITERATIONS, salt: bytes | None = None
) -> ScramCredential:
    if not password or len(password) > PASSWORD_MAX:
        raise InvalidRequestError(f"a password must be 1 to {PASSWORD_MAX} characters")
    salt = salt or secrets.token_bytes(16)
    stored_key, server_key = _keys(password, salt, iterations)
    return ScramCredential(
        mechanism=SCRAM_SHA_256,
        salt=_b64(salt),
        iterations=iterations,
        stored_key=_b64(stored_key),
        server_key=_b64(server_key),
    )


def validate_username(name: str) -> str:
    if not name or len(name) > USERNAME_MAX or any(ch in name for ch in ",=\x00") or not name.isprintable():
        raise InvalidRequestError(
            f"a user name must be 1 to {USERNAME_MAX} printable characters without , = or NUL"
        )
    return name


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return hashlib.sha256(client_key).digest(), server_key


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@dataclass
class SaslSession:
    """One connection's authentication: handshake picks the mechanism, then one (PLAIN) or two
    (SCRAM) SaslAuthenticate round trips. `user` is set once authenticated."""

    mechanisms: tuple[str, ...]
    mechanism: str | None = None
    user: str | None = None
    _scram: _ScramExchange | None = None

    def handshake(self, mechanism: str) -> None:
        if self.user is not None or self.mechanism is not None:
            raise IllegalSaslStateError("SaslHandshake was already done on this connection")
        if mechanism not in self.mechanisms:
            raise UnsupportedSaslMechanismError(
                f"mechanism {mechanism!r} is not enabled; enabled: {', '.join(self.mechanisms)}"
            )
        self.mechanism = mechanism

    def authenticate(self, auth_bytes: bytes, users: dict[str, ScramCredential]) -> bytes:
        """Process one client message; returns the server's reply (b"" when there is none)."""
        if self.mechanism is None or self.user is not None:
            raise IllegalSaslStateError("SaslAuthenticate must follow one SaslHandshake")
        if self.mechanism == PLAIN:
            self.user = _check_plain(auth_bytes, users)
            return b""
        if self._scram is None:
            self._scram = _ScramExchange.first(auth_bytes, users)
            return self._scram.server_first.encode()
        reply = self._scram.final(auth_bytes)
        self.user = self._scram.user
        return reply


def _check_plain(message: bytes, users: dict[str, ScramCredential]) -> str:
    try:
        _authzid, user, password = message.decode().split("\x00")
    except (UnicodeDecodeError, ValueError):
        raise SaslAuthenticationError("malformed PLAIN message") from None
    credential = users.get(user)
    if credential is None:
        # Spend the same work as for a real user, so timing does not tell which names exist.
        _keys(password, b"\x00" * 16, SCRAM_ITERATIONS)
        raise SaslAuthenticationError("Authentication failed: invalid credentials")
    stored_key, _ = _keys(password, base64.b64decode(credential.salt), credential.iterations)
    if not hmac.compare_digest(stored_key, base64.b64decode(credential.stored_key)):
        raise SaslAuthenticationError("Authentication failed: invalid credentials")
    return user


@dataclass
class _ScramExchange:
    user: str
    credential: ScramCredential | None
    client_first_bare: str
    server_first: str
    nonce: str

    @classmethod
    def first(cls, message: bytes, users: dict[str, ScramCredential]) -> _ScramExchange:
        try:
            text = message.decode()
            gs2_flag, _authzid, bare = text.split(",", 2)
            attributes = dict(item.split("=", 1) for item in bare.split(","))
            user = attributes["n"].replace("=2C", ",").replace("=3D", "=")
            client_nonce = attributes["r"]
        except (UnicodeDecodeError, ValueError, KeyError):
            raise SaslAuthenticationError("malformed SCRAM client-first message") from None
        if gs2_flag not in {"n", "y"}:
            raise SaslAuthenticationError("channel binding is not supported")
        credential = users.get(user)
        salt = base64.b64decode(credential.salt) if credential else secrets.token_bytes(16)
        iterations = credential.iterations if credential else SCRAM_ITERATIONS
        nonce = client_nonce + secrets.token_urlsafe(18)
        server_first = f"r={nonce},s={_b64(salt)},i={iterations}"
        return cls(user, credential, bare, server_first, nonce)

    def final(self, message: bytes) -> bytes:
        try:
            text = message.decode()
            without_proof, proof_part = text.rsplit(",p=", 1)
            attributes = dict(item.split("=", 1) for item in without_proof.split(","))
            proof = base64.b64decode(proof_part, validate=True)
        except (UnicodeDecodeError, ValueError):
            raise SaslAuthenticationError("malformed SCRAM client-final message") from None
        if attributes.get("r") != self.nonce or self.credential is None:
            raise SaslAuthenticationError(
                "Authentication failed during authentication due to invalid credentials"
            )
        auth_message = f"{self.client_first_bare},{self.server_first},{without_proof}".encode()
        stored_key = base64.b64decode(self.credential.stored_key)
        signature = hmac.digest(stored_key, auth_message, "sha256")
        if len(proof) != len(signature):
            raise SaslAuthenticationError("Authentication failed: invalid credentials")
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), stored_key):
            raise SaslAuthenticationError(
                "Authentication failed during authentication due to invalid credentials"
            )
        server_signature = hmac.digest(base64.b64decode(self.credential.server_key), auth_message, "sha256")
        return f"v={_b64(server_signature)}".encode()
