"""One S3 request as the handlers see it: addressing, authentication, and the body as a stream.

`S3Request.open` parses what uvicorn hands over (raw path, query, headers), finds the bucket and
key from path-style or virtual-host-style addressing, and checks the SigV4 signature (header or
presigned). `body()` then yields the payload: plain, verified against a signed SHA-256, or decoded
from aws-chunked framing with its chunk signatures and trailing checksums.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from starlette.types import Receive

from scalebox.objectstore.checksum import (
    ALGORITHMS,
    algorithm_for_header,
    decode_checksum,
    decode_content_md5,
    new_checksummer,
)
from scalebox.objectstore.errors import (
    BadDigestError,
    ContentSha256MismatchError,
    EntityTooLargeError,
    IncompleteBodyError,
    InvalidArgumentError,
    InvalidRequestError,
)
from scalebox.objectstore.protocol import sigv4
from scalebox.objectstore.protocol.chunked import AwsChunkedDecoder, ChunkSigner
from scalebox.objectstore.service.keys import Principal
from scalebox.objectstore.service.objects import ChecksumClaim

Lookup = Callable[[str], Awaitable[tuple[Principal, str] | None]]


@dataclass(slots=True)
class S3Request:
    method: str
    raw_path: str
    query_string: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names; repeated headers joined with ","
    header_list: list[tuple[str, str]]
    bucket: str
    key: str
    receive: Receive
    caller: Principal | None = None
    auth: sigv4.AuthResult | None = None
    trailers: dict[str, str] = field(default_factory=dict)
    body_read: bool = False  # the last body message has been received

    @classmethod
    def parse(cls, scope: Mapping[str, Any], receive: Receive, *, domain: str) -> S3Request:
        raw_path = scope.get("raw_path") or scope["path"].encode()
        raw = raw_path.decode("latin-1")
        query_string = scope.get("query_string", b"").decode("latin-1")
        header_list = [
            (name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))
            for name, value in scope["headers"]
        ]
        headers: dict[str, str] = {}
        for name, value in header_list:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
        try:
            path = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise InvalidArgumentError("The request path is not valid UTF-8", ArgumentName="key") from None
        query = dict(parse_qsl(query_string, keep_blank_values=True))
        host = headers.get("host", "").rsplit(":", 1)[0].lower() if "]" not in headers.get("host", "") else ""
        bucket, key = "", ""
        if domain and host.endswith("." + domain):
            bucket = host[: -len(domain) - 1]
            key = path[1:]
        else:
            bucket, _, key = path[1:].partition("/")
        return cls(
            method=scope["method"],
            raw_path=raw,
            query_string=query_string,
            query=query,
            headers=headers,
            header_list=header_list,
            bucket=bucket,
            key=key,
            receive=receive,
        )

    async def authenticate(self, lookup: Lookup, now: datetime, *, skew_seconds_max: int) -> None:
        """Check the signature, if any; an unsigned request stays anonymous (caller None)."""
        access_key = self._claimed_access_key()
        if access_key is None:
            return
        found = await lookup(access_key)
        result = sigv4.verify(
            self.method,
            self.raw_path,
            self.query_string,
            self.header_list,
            now=now,
            lookup_secret=lambda _key: None if found is None else found[1],
            skew_seconds_max=skew_seconds_max,
        )
        if result is not None and found is not None:
            self.auth = result
            self.caller = found[0]

    def _claimed_access_key(self) -> str | None:
        """The access key a signed request names (verify checks everything else), or None."""
        authorization = self.headers.get("authorization")
        if authorization is not None:
            _, found, rest = authorization.partition("Credential=")
            return rest.split("/", 1)[0].strip() if found else ""
        if "X-Amz-Credential" in self.query:
            return self.query["X-Amz-Credential"].split("/", 1)[0]
        if "AWSAccessKeyId" in self.query and "Signature" in self.query:
            raise InvalidRequestError(
                "Signature Version 2 is not supported; presign with SigV4 (boto3: "
                "Config(signature_version='s3v4'); awscli: "
                "aws configure set default.s3.signature_version s3v4)"
            )
        return None

    def checksum_claim(self) -> ChecksumClaim | None:
        """The checksum the client sends with this body: in a header now, or in a trailer later."""
        for name, value in self.headers.items():
            algorithm = algorithm_for_header(name) if name.startswith("x-amz-checksum-") else None
            if algorithm is not None:
                return ChecksumClaim(algorithm, functools.partial(str, value))
        trailer = self.headers.get("x-amz-trailer", "").strip().lower()
        if trailer:
            algorithm = algorithm_for_header(trailer)
            if algorithm is None:
                raise InvalidRequestError(f"The trailer {trailer} is not supported")
            return ChecksumClaim(algorithm, lambda: self.trailers.get(trailer))
        return None

    def checksum_algorithm(self) -> str:
        """The algorithm the client asked the store to compute and keep (x-amz-checksum-algorithm)."""
        value = (
            self.headers.get("x-amz-checksum-algorithm")
            or self.headers.get("x-amz-sdk-checksum-algorithm")
            or ""
        ).upper()
        if value and value not in ALGORITHMS:
            raise InvalidRequestError(
                f"Checksum algorithm {value} is not supported", ArgumentName="x-amz-checksum-algorithm"
            )
        return value

    def body_pending(self) -> bool:
        """Whether the client declared a body that has not been read to its end (the connection
        then cannot carry another request: the client may never send it, waiting on 100-continue)."""
        if self.body_read:
            return False
        length = self.headers.get("content-length", "0")
        return "transfer-encoding" in self.headers or length.strip() not in ("", "0")

    def decoded_size(self) -> int | None:
        """The payload's length in bytes, when the client declared it."""
        value = self.headers.get("x-amz-decoded-content-length") or (
            None if self._chunked() else self.headers.get("content-length")
        )
        if value is None:
            return None
        if not value.isdigit():
            raise InvalidArgumentError(
                "Content-Length must be a non-negative integer", ArgumentName="Content-Length"
            )
        return int(value)

    def _chunked(self) -> bool:
        mode = self._payload_mode()
        return mode.startswith("STREAMING-") or "aws-chunked" in self.headers.get("content-encoding", "")

    def _payload_mode(self) -> str:
        if self.auth is not None:
            return self.auth.payload_hash
        return self.headers.get("x-amz-content-sha256", sigv4.UNSIGNED_PAYLOAD)

    async def raw_body(self, bytes_max: int) -> AsyncIterator[bytes]:
        """The bytes on the wire, at most `bytes_max` of them."""
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > bytes_max:
            raise EntityTooLargeError(
                "Your proposed upload exceeds the maximum allowed size",
                ProposedSize=declared,
                MaxSizeAllowed=str(bytes_max),
            )
        total = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise IncompleteBodyError("The client closed the connection before sending the whole body")
            chunk = message.get("body", b"")
            if chunk:
                total += len(chunk)
                if total > bytes_max:
                    raise EntityTooLargeError(
                        "Your proposed upload exceeds the maximum allowed size", MaxSizeAllowed=str(bytes_max)
                    )
                yield chunk
            if not message.get("more_body", False):
                self.body_read = True
                return

    async def body(self, bytes_max: int) -> AsyncIterator[bytes | memoryview]:
        """The payload, decoded and verified as the x-amz-content-sha256 header says."""
        mode = self._payload_mode()
        # Framing costs a few bytes per chunk on top of the payload.
        wire_max = bytes_max + bytes_max // 64 + 65536
        if mode.startswith("STREAMING-"):
            signer = None
            if mode in (sigv4.STREAMING_SIGNED, sigv4.STREAMING_SIGNED_TRAILER):
                if self.auth is None:
                    raise InvalidRequestError("A signed streaming payload needs a signed request")
                signer = ChunkSigner(
                    self.auth.signing_key, self.auth.amz_date, self.auth.scope, self.auth.seed_signature
                )
            trailer_names = [
                name.strip().lower()
                for name in self.headers.get("x-amz-trailer", "").split(",")
                if name.strip()
            ]
            decoder = AwsChunkedDecoder(
                signer=signer, decoded_length=self.decoded_size(), trailer_names=trailer_names
            )
            async for chunk in self.raw_body(wire_max):
                for piece in decoder.feed(chunk):
                    yield piece
            self.trailers = decoder.finish()
            return
        if mode == sigv4.UNSIGNED_PAYLOAD or self.auth is None:
            async for chunk in self.raw_body(bytes_max):
                yield chunk
            return
        digest = hashlib.sha256()
        async for chunk in self.raw_body(bytes_max):
            digest.update(chunk)
            yield chunk
        if not hmac.compare_digest(digest.hexdigest(), mode.lower()):
            raise ContentSha256MismatchError(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ClientComputedContentSHA256=mode,
                S3ComputedContentSHA256=digest.hexdigest(),
            )

    async def read_all(self, bytes_max: int, *, body_checksum: bool = True) -> bytes:
        """A small body (XML documents) in one piece, checked against its Content-MD5 and, with
        `body_checksum` (CompleteMultipartUpload's x-amz-checksum-* is the object's), its checksum."""
        pieces = [piece async for piece in self.body(bytes_max)]
        data = b"".join(pieces)
        md5 = self.headers.get("content-md5")
        if md5 is not None and decode_content_md5(md5) != hashlib.md5(data, usedforsecurity=False).digest():
            raise BadDigestError("The Content-MD5 you specified did not match what we received.")
        claim = self.checksum_claim() if body_checksum else None
        claimed = claim.value() if claim is not None else None
        if claim is not None and claimed is not None:
            summer = new_checksummer(claim.algorithm)
            summer.update(data)
            if decode_checksum(claim.algorithm, claimed) != summer.digest():
                raise BadDigestError(
                    f"The {claim.algorithm} you specified did not match the calculated checksum."
                )
        return data
