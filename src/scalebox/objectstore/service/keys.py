"""Access keys: an access key id and a secret, as S3 clients are configured with.

SigV4 proves knowledge of the secret by an HMAC the server must recompute, so the server needs the
secret itself: it is kept sealed (AES-GCM under a key derived from the server secret), never in
clear text on disk, and compared only through HMACs.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from dataclasses import dataclass

from cachetools import TTLCache
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from scalebox.core.clock import Clock
from scalebox.core.errors import ConflictError, ForbiddenError, IntegrityError, InvalidError, NotFoundError
from scalebox.objectstore.storage.sql import AccessKeyRow, SqlMetadataStore

_ACCESS_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


class AccessKeyNotFoundError(NotFoundError):
    """No such access key."""

    code = "access_key_not_found"


class AccessKeyTakenError(ConflictError):
    """That access key id is in use already."""

    code = "access_key_taken"


class AdminRequiredError(ForbiddenError):
    """Only an administrator key may do this (manage keys, heal the drives)."""

    code = "admin_required"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who signed a request: the key, the name its owner goes by, and whether it may administer."""

    access_key: str
    name: str
    is_admin: bool

    @property
    def identifiers(self) -> frozenset[str]:
        """What a bucket policy's Principal may name this caller by."""
        return frozenset({self.access_key, self.name, f"arn:aws:iam::000000000000:user/{self.name}"})


@dataclass(frozen=True, slots=True)
class IssuedAccessKey:
    principal: Principal
    secret_key: str  # shown once


class SecretSealer:
    """Seals secrets with AES-256-GCM under a key derived from the server secret."""

    def __init__(self, server_secret: str) -> None:
        key = hashlib.sha256(b"scalebox objectstore access keys\x00" + server_secret.encode()).digest()
        self._aead = AESGCM(key)

    def seal(self, secret: str, access_key: str) -> str:
        nonce = secrets.token_bytes(12)
        sealed = self._aead.encrypt(nonce, secret.encode(), access_key.encode())
        return base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, access_key: str) -> str:
        raw = base64.b64decode(sealed)
        try:
            return self._aead.decrypt(raw[:12], raw[12:], access_key.encode()).decode()
        except InvalidTag:
            raise IntegrityError(
                f"the secret of access key {access_key} does not open: the server secret changed"
            ) from None


class KeyService:
    """Create, look up and revoke access keys.

    Lookups are cached for `cache_seconds`, so a key revoked by another process (the CLI) stops
    working within that time; one revoked here stops at once.
    """

    def __init__(
        self, store: SqlMetadataStore, sealer: SecretSealer, clock: Clock, *, cache_seconds: float = 5.0
    ) -> None:
        self._store = store
        self._sealer = sealer
        self._clock = clock
        self._cache: TTLCache[str, tuple[Principal, str] | None] = TTLCache(
            maxsize=10_000, ttl=cache_seconds, timer=clock.monotonic
        )

    async def create(
        self,
        name: str,
        *,
        is_admin: bool = False,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> IssuedAccessKey:
        name = name.strip()
        if not name or len(name) > 64 or any(ch.isspace() for ch in name):
            raise InvalidError("a key's name is 1-64 characters without spaces", field="name")
        access_key = access_key or "SB" + "".join(secrets.choice(_ACCESS_KEY_ALPHABET) for _ in range(18))
        secret_key = secret_key or "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
        if not 3 <= len(access_key) <= 128 or not access_key.isprintable() or "/" in access_key:
            raise InvalidError(
                "an access key id is 3-128 printable characters without '/'", field="access_key"
            )
        if len(secret_key) < 8:
            raise InvalidError("a secret key has at least 8 characters", field="secret_key")
        if await self._store.get_access_key(access_key) is not None:
            raise AccessKeyTakenError(f"access key {access_key} exists already")
        now = self._clock.now()
        await self._store.create_access_key(
            AccessKeyRow(access_key, self._sealer.seal(secret_key, access_key), name, is_admin, now, None)
        )
        self._cache.pop(access_key, None)
        return IssuedAccessKey(Principal(access_key, name, is_admin), secret_key)

    async def ensure(self, name: str, access_key: str, secret_key: str, *, is_admin: bool) -> None:
        """Create this exact key unless it exists with the same secret (the configured root key)."""
        row = await self._store.get_access_key(access_key)
        if row is None:
            await self.create(name, is_admin=is_admin, access_key=access_key, secret_key=secret_key)
        elif row.revoked_at is not None or self._sealer.open(row.secret_sealed, access_key) != secret_key:
            raise AccessKeyTakenError(
                f"access key {access_key} exists with another secret or was revoked; pick another root key"
            )

    async def lookup(self, access_key: str) -> tuple[Principal, str] | None:
        """The principal and secret of an active key, or None."""
        try:
            return self._cache[access_key]
        except KeyError:
            pass
        row = await self._store.get_access_key(access_key)
        found = None
        if row is not None and row.revoked_at is None:
            found = (
                Principal(row.access_key, row.name, row.is_admin),
                self._sealer.open(row.secret_sealed, access_key),
            )
        self._cache[access_key] = found
        return found

    async def list(self) -> list[AccessKeyRow]:
        return await self._store.list_access_keys()

    async def revoke(self, access_key: str) -> None:
        if not await self._store.revoke_access_key(access_key, self._clock.now()):
            raise AccessKeyNotFoundError(f"no active access key {access_key}")
        self._cache.pop(access_key, None)

    # The same, on behalf of a signed-in caller (the console): administrators manage every key,
    # anybody else may only see their own.

    async def list_for(self, caller: Principal) -> tuple[AccessKeyRow, ...]:
        every = await self.list()
        return tuple(row for row in every if caller.is_admin or row.access_key == caller.access_key)

    async def create_for(self, caller: Principal, name: str, *, is_admin: bool) -> IssuedAccessKey:
        require_admin(caller)
        return await self.create(name, is_admin=is_admin)

    async def revoke_for(self, caller: Principal, access_key: str) -> None:
        require_admin(caller)
        await self.revoke(access_key)


def require_admin(caller: Principal) -> None:
    """AdminRequiredError unless `caller` holds an administrator key."""
    if not caller.is_admin:
        raise AdminRequiredError(f"access key {caller.access_key} is not an administrator key")
