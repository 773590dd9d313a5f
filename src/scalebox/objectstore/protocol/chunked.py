"""aws-chunked request bodies (S3 streaming uploads): framing taken off, chunk and trailer signatures held.

Sans-IO: `feed()` the body as it arrives and get payload back, `finish()` at its end for the trailing headers.
Covers STREAMING-UNSIGNED-PAYLOAD-TRAILER and STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]. Unsigned
chunks stream through as they arrive; a signed chunk is held until its signature checks, so its size is
capped. Chunk extensions other than chunk-signature are ignored in unsigned mode, refused in signed mode.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence

from scalebox.objectstore.errors import (
    EntityTooLargeError,
    IncompleteBodyError,
    InvalidRequestError,
    S3Error,
    SignatureDoesNotMatchError,
)
from scalebox.objectstore.protocol.sigv4 import EMPTY_SHA256, AuthResult

TRAILER_SIGNATURE = "x-amz-trailer-signature"
CHUNK_BYTES_MAX = 16 * 1024 * 1024

_SIZE_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")
_SIGNATURE_EXTENSION = re.compile(rb"chunk-signature=([0-9a-f]{64})")
_CRLF = b"\r\n"

_HEADER, _DATA, _DATA_END, _TRAILER, _DONE, _FAILED = range(6)


class ChunkSigner:
    """The chain of signatures of one chunk-signed upload, seeded by the request's own signature.

    Chunk n signs "AWS4-HMAC-SHA256-PAYLOAD", the date, the scope, signature n-1, the SHA-256 of the empty
    string and the SHA-256 of its data; the trailer signs "AWS4-HMAC-SHA256-TRAILER", the date, the scope,
    the last chunk's signature and the SHA-256 of its `name:value\\n` lines.
    """

    __slots__ = ("_amz_date", "_key", "_previous", "_scope")

    def __init__(self, signing_key: bytes, amz_date: str, scope: str, seed_signature: str) -> None:
        self._key = signing_key
        self._amz_date = amz_date
        self._scope = scope
        self._previous = seed_signature

    @classmethod
    def from_auth(cls, auth: AuthResult) -> ChunkSigner:
        """The signer continuing a verified request's signature."""
        return cls(auth.signing_key, auth.amz_date, auth.scope, auth.seed_signature)

    def chunk_string_to_sign(self, data_sha256: str) -> str:
        """What the next chunk, whose data hashes to `data_sha256` (hex), signs."""
        return (
            f"AWS4-HMAC-SHA256-PAYLOAD\n{self._amz_date}\n{self._scope}\n{self._previous}\n"
            f"{EMPTY_SHA256}\n{data_sha256}"
        )

    def trailer_string_to_sign(self, trailer: bytes) -> str:
        """What the trailer signs, given its canonical `name:value\\n` lines."""
        digest = hashlib.sha256(trailer).hexdigest()
        return f"AWS4-HMAC-SHA256-TRAILER\n{self._amz_date}\n{self._scope}\n{self._previous}\n{digest}"

    def verify_chunk(self, signature: str, data_sha256: str) -> None:
        """Check the next chunk's signature and move the chain on; raises SignatureDoesNotMatchError."""
        self._verify(signature, self.chunk_string_to_sign(data_sha256), "chunk")

    def verify_trailer(self, signature: str, trailer: bytes) -> None:
        """Check the trailer's signature; raises SignatureDoesNotMatchError."""
        self._verify(signature, self.trailer_string_to_sign(trailer), "trailer")

    def _verify(self, signature: str, to_sign: str, what: str) -> None:
        expected = hmac.new(self._key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise SignatureDoesNotMatchError(
                f"The {what} signature we calculated does not match the signature you provided.",
                StringToSign=to_sign,
                SignatureProvided=signature,
            )
        self._previous = expected


class AwsChunkedDecoder:
    """Decodes one aws-chunked body: `<hex size>[;chunk-signature=<sig>]\\r\\n<data>\\r\\n`, repeated, ending
    with a zero-size chunk, trailer lines `name:value\\r\\n` (and `x-amz-trailer-signature` when signed),
    then `\\r\\n`.

    Payload pieces are memoryviews of the bytes fed, so hold on to those bytes or copy the pieces.
    `decoded_length` is x-amz-decoded-content-length; `trailer_names` is x-amz-trailer (all of them must
    arrive, and no others). With a `signer`, every chunk is verified before its data is released, chunks
    over `chunk_bytes_max` raise EntityTooLargeError, and declared trailers must be signed. Framing
    errors raise InvalidRequestError, a wrong length IncompleteBodyError; after an error the decoder
    refuses further input.
    """

    def __init__(
        self,
        *,
        signer: ChunkSigner | None = None,
        decoded_length: int | None = None,
        trailer_names: Sequence[str] = (),
        header_bytes_max: int = 4096,
        trailer_bytes_max: int = 16384,
        chunk_bytes_max: int = CHUNK_BYTES_MAX,
    ) -> None:
        self._signer = signer
        self._decoded_length = decoded_length
        self._trailer_names = frozenset(name.lower() for name in trailer_names)
        self._header_bytes_max = header_bytes_max
        self._trailer_bytes_max = trailer_bytes_max
        self._chunk_bytes_max = chunk_bytes_max
        self._state = _HEADER
        self._line = bytearray()  # a header or trailer line split across feeds
        self._remaining = 0  # data bytes still to come in this chunk
        self._crlf_seen = 0  # bytes of the CRLF after the data seen so far
        self._total = 0  # payload bytes announced by chunk headers so far
        self._chunk_signature = ""
        self._chunk_hash = hashlib.sha256()
        self._held: list[memoryview] = []  # a signed chunk's data, until its signature checks
        self._trailers: dict[str, str] = {}
        self._trailer_bytes = 0
        self._signed_trailer = bytearray()
        self._trailer_verified = False

    @property
    def payload_bytes(self) -> int:
        """Payload bytes announced by the chunk headers read so far."""
        return self._total

    def feed(self, data: bytes) -> list[memoryview]:
        """Take the next bytes of the body; returns the payload they complete, in order."""
        if self._state == _FAILED:
            raise InvalidRequestError("The aws-chunked body was already refused.")
        try:
            return self._feed(data)
        except S3Error:
            self._state = _FAILED
            raise

    def finish(self) -> dict[str, str]:
        """Check that the body ended where it should; returns the trailers by lower-case name."""
        if self._state == _TRAILER and not self._line:
            # Tolerated: no blank line after the trailers (the JS SDK ends a checksum-less body at `0\r\n`).
            self._end_trailers()
        if self._state == _FAILED:
            raise InvalidRequestError("The aws-chunked body was already refused.")
        if self._state != _DONE:
            raise IncompleteBodyError(
                f"The aws-chunked body ended early, after {self._total} payload bytes were announced,"
                " before its final zero-length chunk and trailers."
            )
        return dict(self._trailers)

    def _feed(self, data: bytes) -> list[memoryview]:
        out: list[memoryview] = []
        view = memoryview(data)
        position, end = 0, len(data)
        while position < end:
            state = self._state
            if state == _DATA:
                position = self._feed_data(view, position, end, out)
            elif state == _HEADER:
                limit = self._header_bytes_max
                line, position = self._read_line(
                    data, position, end, limit, what="chunk header", limit_bytes_max=limit
                )
                if line is not None:
                    self._start_chunk(line)
            elif state == _DATA_END:
                position = self._feed_data_end(data, position, end)
            elif state == _TRAILER:
                budget = max(0, self._trailer_bytes_max - self._trailer_bytes)
                line, position = self._read_line(
                    data,
                    position,
                    end,
                    budget,
                    what="trailer section",
                    limit_bytes_max=self._trailer_bytes_max,
                )
                if line is not None:
                    self._trailer_bytes += len(line) + 2
                    self._take_trailer_line(line)
            else:
                raise InvalidRequestError("The aws-chunked body goes on after its end.")
        return out

    def _read_line(
        self, data: bytes, position: int, end: int, limit: int, *, what: str, limit_bytes_max: int
    ) -> tuple[bytes | None, int]:
        # One CRLF-terminated line of at most `limit` bytes before the CRLF, perhaps begun in an earlier
        # feed; never searches past the limit.
        search_end = min(end, position + limit + 2 - len(self._line))
        newline = data.find(b"\n", position, search_end)
        if newline < 0:
            self._line += data[position:search_end]
            if len(self._line) > limit + 1:
                raise InvalidRequestError(f"An aws-chunked {what} is over its {limit_bytes_max}-byte limit.")
            return None, search_end
        if self._line:
            line = bytes(self._line) + data[position:newline]
            self._line.clear()
        else:
            line = data[position:newline]
        if not line.endswith(b"\r"):
            raise InvalidRequestError(f"An aws-chunked {what} must end with CRLF.")
        return line[:-1], newline + 1

    def _start_chunk(self, line: bytes) -> None:
        size_text, _, extension = line.partition(b";")
        if not _SIZE_HEX.fullmatch(size_text):
            raise InvalidRequestError(
                f"An aws-chunked chunk size must be hexadecimal, not {size_text[:32]!r}."
            )
        size = int(size_text, 16)
        if self._signer is not None:
            match = _SIGNATURE_EXTENSION.fullmatch(extension)
            if match is None:
                raise InvalidRequestError(
                    "Every chunk of a signed upload needs ;chunk-signature=<64 hex digits>."
                )
            if size > self._chunk_bytes_max:
                raise EntityTooLargeError(
                    f"A signed chunk of {size} bytes is over the {self._chunk_bytes_max}-byte limit."
                )
            self._chunk_signature = match.group(1).decode("ascii")
            self._chunk_hash = hashlib.sha256()
        self._total += size
        if self._decoded_length is not None and self._total > self._decoded_length:
            raise IncompleteBodyError(
                f"The aws-chunked body holds more than the {self._decoded_length} bytes"
                " x-amz-decoded-content-length declares."
            )
        if size:
            self._remaining = size
            self._state = _DATA
            return
        if self._signer is not None:
            self._signer.verify_chunk(self._chunk_signature, EMPTY_SHA256)
        if self._decoded_length is not None and self._total != self._decoded_length:
            raise IncompleteBodyError(
                f"The aws-chunked body holds {self._total} bytes; x-amz-decoded-content-length declares"
                f" {self._decoded_length}."
            )
        self._state = _TRAILER

    def _feed_data(self, view: memoryview, position: int, end: int, out: list[memoryview]) -> int:
        take = min(self._remaining, end - position)
        piece = view[position : position + take]
        self._remaining -= take
        if self._signer is None:
            out.append(piece)
        else:
            self._chunk_hash.update(piece)
            self._held.append(piece)
            if not self._remaining:
                self._signer.verify_chunk(self._chunk_signature, self._chunk_hash.hexdigest())
                out.extend(self._held)
                self._held.clear()
        if not self._remaining:
            self._state = _DATA_END
            self._crlf_seen = 0
        return position + take

    def _feed_data_end(self, data: bytes, position: int, end: int) -> int:
        while self._crlf_seen < 2 and position < end:
            if data[position] != _CRLF[self._crlf_seen]:
                raise InvalidRequestError("An aws-chunked chunk's data must be followed by CRLF.")
            self._crlf_seen += 1
            position += 1
        if self._crlf_seen == 2:
            self._state = _HEADER
        return position

    def _take_trailer_line(self, line: bytes) -> None:
        if not line:
            self._end_trailers()
            return
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError as exc:
            raise InvalidRequestError("An aws-chunked trailer must be ASCII.") from exc
        raw_name, colon, raw_value = text.partition(":")
        name, value = raw_name.strip().lower(), raw_value.strip()
        if not colon or not name:
            raise InvalidRequestError(f"An aws-chunked trailer must be name:value, not {text[:64]!r}.")
        if self._trailer_verified:
            raise InvalidRequestError(f"The trailer {name} comes after {TRAILER_SIGNATURE}.")
        if name == TRAILER_SIGNATURE and self._signer is not None and self._trailer_names:
            self._signer.verify_trailer(value, bytes(self._signed_trailer))
            self._trailer_verified = True
            return
        if name not in self._trailer_names:
            raise InvalidRequestError(f"The trailer {name} was not declared in x-amz-trailer.")
        if name in self._trailers:
            raise InvalidRequestError(f"The trailer {name} is sent more than once.")
        self._trailers[name] = value
        if self._signer is not None:
            self._signed_trailer += f"{name}:{value}\n".encode("ascii")

    def _end_trailers(self) -> None:
        missing = sorted(self._trailer_names - self._trailers.keys())
        if missing:
            raise InvalidRequestError(
                f"x-amz-trailer declares {', '.join(missing)}, but the body did not send it."
            )
        if self._signer is not None and self._trailer_names and not self._trailer_verified:
            raise InvalidRequestError(f"A signed upload's trailers must end with {TRAILER_SIGNATURE}.")
        self._state = _DONE
