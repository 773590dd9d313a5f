"""S3's additional checksums: CRC32, CRC32C, CRC64NVME, SHA1 and SHA256, their headers and multipart forms.

Digests are the raw big-endian bytes S3 base64-encodes into `x-amz-checksum-*`. A multipart object's
checksum is COMPOSITE (a checksum of the parts' digests, suffixed `-<parts>`) or, for the CRCs only,
FULL_OBJECT (the CRC of the whole object, combined from part CRCs and lengths without rereading data).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from awscrt import checksums as crt

from scalebox.objectstore.errors import InvalidArgumentError, InvalidDigestError, InvalidRequestError

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
FULL_OBJECT_ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME")
HEADER_PREFIX = "x-amz-checksum-"
CONTENT_MD5_BYTES = 16


class _Hash(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...
    def digest(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class _Algorithm:
    name: str
    digest_bytes: int
    crc: Callable[[bytes | memoryview, int], int] | None = None
    crc_polynomial: int = 0  # reflected, as the table-driven CRCs use it
    new_hash: Callable[[], _Hash] | None = None


_ALGORITHMS = {
    # zlib's CRC32 measured faster here than awscrt's; awscrt is the only source of the other two.
    "CRC32": _Algorithm("CRC32", 4, zlib.crc32, 0xEDB88320),
    "CRC32C": _Algorithm("CRC32C", 4, crt.crc32c, 0x82F63B78),
    "CRC64NVME": _Algorithm("CRC64NVME", 8, crt.crc64nvme, 0x9A6C9329AC4BC9B5),
    "SHA1": _Algorithm("SHA1", 20, new_hash=hashlib.sha1),
    "SHA256": _Algorithm("SHA256", 32, new_hash=hashlib.sha256),
}
_BY_HEADER = {HEADER_PREFIX + name.lower(): name for name in ALGORITHMS}


class Checksummer:
    """An incremental checksum of one algorithm: `update()` with the bytes, then `digest()` or `b64()`."""

    __slots__ = ("algorithm",)

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm

    def update(self, data: bytes | memoryview) -> None:
        """Add `data` to the bytes checksummed so far."""
        raise NotImplementedError

    def digest(self) -> bytes:
        """The raw digest, big-endian: 4 bytes for CRC32/CRC32C, 8 for CRC64NVME, 20 and 32 for SHAs."""
        raise NotImplementedError

    def b64(self) -> str:
        """The digest in base64, as S3 writes it in `x-amz-checksum-*` headers and `Checksum*` fields."""
        return base64.b64encode(self.digest()).decode("ascii")


class _CrcChecksummer(Checksummer):
    __slots__ = ("_crc", "_digest_bytes", "_value")

    def __init__(self, spec: _Algorithm) -> None:
        super().__init__(spec.name)
        assert spec.crc is not None
        self._crc = spec.crc
        self._digest_bytes = spec.digest_bytes
        self._value = 0

    def update(self, data: bytes | memoryview) -> None:
        self._value = self._crc(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._digest_bytes, "big")


class _HashChecksummer(Checksummer):
    __slots__ = ("_hash",)

    def __init__(self, spec: _Algorithm) -> None:
        super().__init__(spec.name)
        assert spec.new_hash is not None
        self._hash = spec.new_hash()

    def update(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def digest(self) -> bytes:
        return self._hash.digest()


def _algorithm(name: str) -> _Algorithm:
    spec = _ALGORITHMS.get(name.upper())
    if spec is None:
        raise InvalidArgumentError(
            f"Value for x-amz-checksum-algorithm / x-amz-sdk-checksum-algorithm header is invalid: {name!r};"
            f" expected one of {', '.join(ALGORITHMS)}.",
            ArgumentName="x-amz-checksum-algorithm",
            ArgumentValue=name,
        )
    return spec


def new_checksummer(algorithm: str) -> Checksummer:
    """A fresh checksummer for `algorithm` (any case); an unknown name raises InvalidArgumentError."""
    spec = _algorithm(algorithm)
    if spec.crc is not None:
        return _CrcChecksummer(spec)
    return _HashChecksummer(spec)


def digest_bytes(algorithm: str) -> int:
    """The length of the raw digest of `algorithm`."""
    return _algorithm(algorithm).digest_bytes


def header_name(algorithm: str) -> str:
    """The header carrying this algorithm's checksum, e.g. `x-amz-checksum-crc32`."""
    return HEADER_PREFIX + _algorithm(algorithm).name.lower()


def algorithm_for_header(name: str) -> str | None:
    """The algorithm whose checksum header is `name` (any case), or None for any other header."""
    return _BY_HEADER.get(name.lower())


def _decode_base64(value: str, length_bytes: int, what: str) -> bytes:
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidDigestError(f"The {what} you specified is not valid base64.") from exc
    if len(raw) != length_bytes:
        raise InvalidDigestError(
            f"The {what} you specified is not valid: {len(raw)} bytes, expected {length_bytes}."
        )
    return raw


def decode_checksum(algorithm: str, b64_value: str) -> bytes:
    """The raw digest in a `x-amz-checksum-*` value; bad base64 or a wrong length raise InvalidDigestError."""
    spec = _algorithm(algorithm)
    return _decode_base64(b64_value, spec.digest_bytes, f"{HEADER_PREFIX}{spec.name.lower()}")


def decode_content_md5(value: str) -> bytes:
    """The 16 raw bytes of a Content-MD5 header; anything else raises InvalidDigestError."""
    return _decode_base64(value, CONTENT_MD5_BYTES, "Content-MD5")


def composite_checksum(algorithm: str, part_digests: Sequence[bytes]) -> str:
    """A COMPOSITE multipart checksum: the checksum of the parts' raw digests, then `-<part count>`."""
    checksummer = new_checksummer(algorithm)
    for digest in part_digests:
        checksummer.update(digest)
    return f"{checksummer.b64()}-{len(part_digests)}"


def combine_full_object(algorithm: str, parts: Sequence[tuple[bytes, int]]) -> bytes:
    """The FULL_OBJECT CRC digest of the parts' concatenation, from each part's (digest, length) only.

    CRC(A + B) = CRC(A) * x^(8 * len(B)) mod P xor CRC(B) for these CRCs (all-ones init and final xor),
    the identity zlib's crc32_combine uses. SHA1 and SHA256 have no such form: InvalidRequestError.
    """
    spec = _algorithm(algorithm)
    if spec.crc is None:
        raise InvalidRequestError(
            f"The FULL_OBJECT checksum type is not supported for {spec.name}; use COMPOSITE.",
        )
    width_bits = spec.digest_bytes * 8
    shifts: dict[int, int] = {}  # parts are mostly one size: compute x^(8n) once per length
    crc = 0
    for digest, length_bytes in parts:
        if len(digest) != spec.digest_bytes:
            raise InvalidDigestError(
                f"A {spec.name} part digest is {spec.digest_bytes} bytes, not {len(digest)}."
            )
        assert length_bytes >= 0, length_bytes
        shift = shifts.get(length_bytes)
        if shift is None:
            shift = shifts[length_bytes] = _x_power_8n(spec.crc_polynomial, width_bits, length_bytes)
        crc = _multiply(shift, crc, spec.crc_polynomial, width_bits) ^ int.from_bytes(digest, "big")
    return crc.to_bytes(spec.digest_bytes, "big")


def _multiply(a: int, b: int, polynomial: int, width_bits: int) -> int:
    # Polynomials modulo P in the reflected representation: the top bit holds x^0.
    if a == 0:
        return 0
    mask = 1 << (width_bits - 1)
    product = 0
    while True:
        if a & mask:
            product ^= b
            if a & (mask - 1) == 0:
                return product
        mask >>= 1
        b = (b >> 1) ^ polynomial if b & 1 else b >> 1


@cache
def _squares(polynomial: int, width_bits: int) -> tuple[int, ...]:
    # x^(2^k) mod P for k = 0..66: enough for x^(8n) with n below 2^64.
    powers = [1 << (width_bits - 2)]
    for _ in range(66):
        powers.append(_multiply(powers[-1], powers[-1], polynomial, width_bits))
    return tuple(powers)


def _x_power_8n(polynomial: int, width_bits: int, n: int) -> int:
    squares = _squares(polynomial, width_bits)
    result = 1 << (width_bits - 1)
    k = 3
    while n:
        if n & 1:
            result = _multiply(squares[k], result, polynomial, width_bits)
        n >>= 1
        k += 1
    return result
