"""aws-chunked decoding: botocore's bodies, AWS's published signed examples, and every way to break one."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import os
import time
from datetime import UTC, datetime

import pytest
from botocore import httpchecksum
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scalebox.objectstore.checksum import new_checksummer
from scalebox.objectstore.errors import (
    EntityTooLargeError,
    IncompleteBodyError,
    InvalidRequestError,
    SignatureDoesNotMatchError,
)
from scalebox.objectstore.protocol import sigv4
from scalebox.objectstore.protocol.chunked import AwsChunkedDecoder, ChunkSigner
from scalebox.objectstore.protocol.sigv4 import EMPTY_SHA256, PayloadMode

DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_KEY = sigv4.signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
DOC_DATE = "20130524T000000Z"
DOC_SCOPE = "20130524/us-east-1/s3/aws4_request"
DOC_DATA = b"a" * 66560
# "Signature Calculations for the Authorization Header: Transferring Payload in Multiple Chunks": 64 KiB of
# 'a', then 1 KiB, then the empty final chunk; the seed is the signature of the request's headers.
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
# "Signature Calculations for Trailing Headers": the same upload with a signed CRC32C trailer.
TRAILER_SEED = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"
TRAILER_CHUNK_SIGNATURES = (
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
)
TRAILER_SIGNATURE = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"
CRC32 = "x-amz-checksum-crc32"
BOTOCORE_CHECKSUMS = {
    "x-amz-checksum-crc32": httpchecksum.Crc32Checksum,
    "x-amz-checksum-crc32c": httpchecksum.CrtCrc32cChecksum,
    "x-amz-checksum-crc64nvme": httpchecksum.CrtCrc64NvmeChecksum,
    "x-amz-checksum-sha1": httpchecksum.Sha1Checksum,
    "x-amz-checksum-sha256": httpchecksum.Sha256Checksum,
}


def doc_body(signatures=DOC_SIGNATURES, trailer=b""):
    return (
        f"10000;chunk-signature={signatures[0]}\r\n".encode()
        + DOC_DATA[:65536]
        + f"\r\n400;chunk-signature={signatures[1]}\r\n".encode()
        + DOC_DATA[65536:]
        + f"\r\n0;chunk-signature={signatures[2]}\r\n".encode()
        + trailer
        + b"\r\n"
    )


def trailer_doc_body(value="sOO8/Q==", signature=TRAILER_SIGNATURE):
    trailer = f"x-amz-checksum-crc32c:{value}\r\n"
    if signature is not None:
        trailer += f"x-amz-trailer-signature:{signature}\r\n"
    return doc_body(TRAILER_CHUNK_SIGNATURES, trailer.encode())


def doc_signer(seed=DOC_SEED):
    return ChunkSigner(DOC_KEY, DOC_DATE, DOC_SCOPE, seed)


def botocore_body(data, *, chunk_size=1000, name=CRC32):
    """What botocore sends for STREAMING-UNSIGNED-PAYLOAD-TRAILER (name=None: no checksum at all)."""
    checksum = BOTOCORE_CHECKSUMS[name] if name else None
    wrapper = httpchecksum.AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=checksum, checksum_name=name or "x-amz-checksum", chunk_size=chunk_size
    )
    return wrapper.read()


def signed_body(data, chunk_size, *, key=DOC_KEY, seed=DOC_SEED, trailers=()):
    """An independent encoder for chunk-signed bodies, written from the AWS documentation."""

    def sign(to_sign):
        return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()

    previous, out = seed, []
    for start in [*range(0, len(data), chunk_size), len(data)]:
        chunk = data[start : start + chunk_size]
        digest = hashlib.sha256(chunk).hexdigest()
        previous = sign(
            f"AWS4-HMAC-SHA256-PAYLOAD\n{DOC_DATE}\n{DOC_SCOPE}\n{previous}\n{EMPTY_SHA256}\n{digest}"
        )
        out.append(b"%x;chunk-signature=%s\r\n" % (len(chunk), previous.encode()))
        if chunk:
            out.append(chunk + b"\r\n")
    if trailers:
        lines = "".join(f"{name}:{value}\n" for name, value in trailers).encode()
        digest = hashlib.sha256(lines).hexdigest()
        signature = sign(f"AWS4-HMAC-SHA256-TRAILER\n{DOC_DATE}\n{DOC_SCOPE}\n{previous}\n{digest}")
        out.extend(f"{name}:{value}\r\n".encode() for name, value in trailers)
        out.append(f"x-amz-trailer-signature:{signature}\r\n".encode())
    out.append(b"\r\n")
    return b"".join(out)


def decode(body, cuts=(), **options):
    """Feed `body` split at `cuts`; returns the payload and the trailers."""
    decoder = AwsChunkedDecoder(**options)
    payload = bytearray()
    edges = [0, *sorted(set(cuts)), len(body)]
    for start, end in itertools.pairwise(edges):
        for piece in decoder.feed(body[start:end]):
            payload += piece
    return bytes(payload), decoder.finish()


def every_byte(body):
    return range(1, len(body))


# -- botocore's unsigned trailer bodies ----------------------------------------------------------


def test_decoder_reads_a_botocore_body_fed_one_byte_at_a_time():
    data = os.urandom(2500)
    checksummer = new_checksummer("CRC32")
    checksummer.update(data)
    body = botocore_body(data)
    assert body.endswith(f"\r\n0\r\nx-amz-checksum-crc32:{checksummer.b64()}\r\n\r\n".encode())
    payload, trailers = decode(body, every_byte(body), decoded_length=len(data), trailer_names=[CRC32])
    assert payload == data
    assert trailers == {CRC32: checksummer.b64()}


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=5000),
    chunk_size=st.integers(1, 3000),
    name=st.sampled_from(sorted(BOTOCORE_CHECKSUMS)),
    cuts=st.lists(st.integers(0, 6000), max_size=12),
)
def test_decoder_reads_botocore_bodies_split_anywhere(data, chunk_size, name, cuts):
    body = botocore_body(data, chunk_size=chunk_size, name=name)
    payload, trailers = decode(body, [cut for cut in cuts if cut < len(body)], trailer_names=[name.upper()])
    checksummer = new_checksummer(name.removeprefix("x-amz-checksum-"))
    checksummer.update(data)
    assert payload == data
    assert trailers == {name: checksummer.b64()}


def test_decoder_reads_a_botocore_body_without_a_checksum():
    body = botocore_body(b"hello", name=None)
    assert body == b"5\r\nhello\r\n0\r\n\r\n"
    assert decode(body, decoded_length=5) == (b"hello", {})


def test_decoder_accepts_a_body_that_stops_after_its_last_chunk():
    # The AWS SDK for JavaScript ends a checksum-less body at `0\r\n`; the blank line never comes.
    assert decode(b"5\r\nhello\r\n0\r\n") == (b"hello", {})
    assert decode(b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:NhCmhg==\r\n", trailer_names=[CRC32])[1] == {
        CRC32: "NhCmhg=="
    }


def test_decoder_ignores_chunk_extensions_when_unsigned():
    assert decode(b"5;chunk-signature=whatever;x=y\r\nhello\r\n0;ext\r\n\r\n") == (b"hello", {})


def test_decoder_streams_unsigned_data_before_the_chunk_ends():
    decoder = AwsChunkedDecoder()
    assert [bytes(piece) for piece in decoder.feed(b"a\r\nhello")] == [b"hello"]
    assert [bytes(piece) for piece in decoder.feed(b"world\r\n0\r\n\r\n")] == [b"world"]
    assert decoder.finish() == {}
    assert decoder.payload_bytes == 10


# -- AWS's signed examples -----------------------------------------------------------------------


@pytest.mark.parametrize("piece_bytes", [1, 7, 1000, 65536, 1 << 20])
def test_decoder_verifies_the_aws_signed_example(piece_bytes):
    body = doc_body()
    assert len(body) == 66824  # the example's Content-Length
    payload, trailers = decode(
        body, range(piece_bytes, len(body), piece_bytes), signer=doc_signer(), decoded_length=66560
    )
    assert payload == DOC_DATA
    assert trailers == {}


def test_decoder_verifies_the_aws_example_from_the_request_verify_accepted():
    headers = [
        ("host", "s3.amazonaws.com"),
        ("x-amz-date", DOC_DATE),
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
            "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            f"x-amz-decoded-content-length;x-amz-storage-class,Signature={DOC_SEED}",
        ),
        ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
    ]
    auth = sigv4.verify(
        "PUT",
        "/examplebucket/chunkObject.txt",
        "",
        headers,
        now=datetime(2013, 5, 24, 0, 5, tzinfo=UTC),
        lookup_secret={"AKIAIOSFODNN7EXAMPLE": DOC_SECRET}.get,
    )
    assert auth is not None
    assert auth.payload_mode is PayloadMode.STREAMING_SIGNED
    payload, _ = decode(doc_body(), signer=ChunkSigner.from_auth(auth), decoded_length=66560)
    assert payload == DOC_DATA


@pytest.mark.parametrize("index", [0, 1, 2])
def test_decoder_rejects_the_aws_example_with_a_signature_changed(index):
    signatures = list(DOC_SIGNATURES)
    signatures[index] = signatures[index][:-1] + ("0" if signatures[index][-1] != "0" else "1")
    with pytest.raises(SignatureDoesNotMatchError) as caught:
        decode(doc_body(signatures), signer=doc_signer())
    assert caught.value.extra["StringToSign"].startswith("AWS4-HMAC-SHA256-PAYLOAD\n20130524T000000Z\n")


@pytest.mark.parametrize("offset", [100, 65600, 66700])
def test_decoder_rejects_the_aws_example_with_a_data_byte_flipped(offset):
    body = bytearray(doc_body())
    assert body[offset] == ord("a")
    body[offset] ^= 1
    decoder = AwsChunkedDecoder(signer=doc_signer())
    released = []

    def feed_all():
        for start in range(0, len(body), 4096):
            released.extend(decoder.feed(bytes(body[start : start + 4096])))

    with pytest.raises(SignatureDoesNotMatchError):
        feed_all()
    # Nothing of the bad chunk was handed out, at most the verified chunk before it.
    assert sum(len(piece) for piece in released) <= (0 if offset < 65600 else 65536)
    with pytest.raises(InvalidRequestError, match="already refused"):
        decoder.feed(b"0")


def test_decoder_rejects_the_aws_example_with_the_wrong_seed():
    with pytest.raises(SignatureDoesNotMatchError):
        decode(doc_body(), signer=doc_signer(TRAILER_SEED))


def test_decoder_verifies_the_aws_signed_trailer_example():
    options = {
        "signer": doc_signer(TRAILER_SEED),
        "decoded_length": 66560,
        "trailer_names": ["x-amz-checksum-crc32c"],
    }
    payload, trailers = decode(trailer_doc_body(), range(777, 70000, 777), **options)
    assert payload == DOC_DATA
    assert trailers == {"x-amz-checksum-crc32c": "sOO8/Q=="}
    checksummer = new_checksummer("crc32c")
    checksummer.update(DOC_DATA)
    assert checksummer.b64() == "sOO8/Q=="


def test_decoder_rejects_a_changed_signed_trailer():
    names = ["x-amz-checksum-crc32c"]
    with pytest.raises(SignatureDoesNotMatchError) as caught:
        decode(trailer_doc_body(value="sOO8/A=="), signer=doc_signer(TRAILER_SEED), trailer_names=names)
    assert caught.value.extra["StringToSign"].startswith("AWS4-HMAC-SHA256-TRAILER\n")
    with pytest.raises(InvalidRequestError, match="x-amz-trailer-signature"):
        decode(trailer_doc_body(signature=None), signer=doc_signer(TRAILER_SEED), trailer_names=names)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.binary(max_size=3000),
    chunk_size=st.integers(1, 2000),
    cuts=st.lists(st.integers(0, 4000), max_size=10),
    trailer=st.booleans(),
)
def test_decoder_verifies_signed_bodies_split_anywhere(data, chunk_size, cuts, trailer):
    checksummer = new_checksummer("sha256")
    checksummer.update(data)
    trailers = [("x-amz-checksum-sha256", checksummer.b64())] if trailer else []
    body = signed_body(data, chunk_size, trailers=trailers)
    options = {"signer": doc_signer(), "decoded_length": len(data), "trailer_names": [n for n, _ in trailers]}
    payload, found = decode(body, [cut for cut in cuts if cut < len(body)], **options)
    assert payload == data
    assert found == dict(trailers)


def test_decoder_rejects_signed_chunks_in_the_wrong_order():
    body = signed_body(b"x" * 100 + b"y" * 100, 100)
    first = body.index(b"64;")
    second = body.index(b"64;", first + 1)
    end = body.index(b"0;")
    swapped = body[second:end] + body[first:second] + body[end:]
    with pytest.raises(SignatureDoesNotMatchError):
        decode(swapped, signer=doc_signer())


def test_decoder_requires_a_signature_on_every_signed_chunk():
    body = signed_body(b"hello", 5).replace(b";chunk-signature=", b";chunk-signatur=", 1)
    with pytest.raises(InvalidRequestError, match="chunk-signature"):
        decode(body, signer=doc_signer())


def test_decoder_limits_signed_chunks_to_chunk_bytes_max():
    body = signed_body(b"z" * 2048, 2048)
    assert decode(body, signer=doc_signer(), chunk_bytes_max=2048)[0] == b"z" * 2048
    with pytest.raises(EntityTooLargeError, match="2047"):
        decode(body, signer=doc_signer(), chunk_bytes_max=2047)


def test_decoder_limits_no_chunk_size_when_unsigned():
    assert decode(b"800\r\n" + b"z" * 2048 + b"\r\n0\r\n\r\n", chunk_bytes_max=10)[0] == b"z" * 2048


# -- malformed and incomplete bodies -------------------------------------------------------------


def test_decoder_reports_a_body_cut_short_as_incomplete():
    data = os.urandom(300)
    body = botocore_body(data, chunk_size=100)
    after_last_chunk = body.rindex(b"\r\n0\r\n") + 5
    for cut in range(len(body) - 2):
        # Cut right after `0\r\n`, the body is whole but its promised trailer never came.
        expected = InvalidRequestError if cut == after_last_chunk else IncompleteBodyError
        with pytest.raises(expected):
            decode(body[:cut], decoded_length=len(data), trailer_names=[CRC32])
    # Cut before the blank line that ends the trailers: tolerated, everything promised arrived.
    assert decode(body[:-2], decoded_length=len(data), trailer_names=[CRC32])[0] == data


def test_decoder_reports_a_missing_trailer():
    with pytest.raises(InvalidRequestError, match="did not send"):
        decode(botocore_body(b"data", name=None), trailer_names=[CRC32])
    with pytest.raises(InvalidRequestError, match="did not send"):
        decode(b"4\r\ndata\r\n0\r\n", trailer_names=[CRC32])


@pytest.mark.parametrize(
    ("trailer", "match"),
    [
        (b"x-amz-checksum-crc32c:AAAAAA==\r\n", "not declared"),
        (b"x-amz-checksum-crc32:AAAAAA==\r\nx-amz-checksum-crc32:AAAAAA==\r\n", "more than once"),
        (b"x-amz-checksum-crc32 AAAAAA==\r\n", "name:value"),
        (b":AAAAAA==\r\n", "name:value"),
        (b"x-amz-checksum-crc32:\xff\r\n", "ASCII"),
        (b"x-amz-trailer-signature:" + b"0" * 64 + b"\r\n", "not declared"),
    ],
)
def test_decoder_rejects_bad_trailers(trailer, match):
    with pytest.raises(InvalidRequestError, match=match):
        decode(b"4\r\ndata\r\n0\r\n" + trailer + b"\r\n", trailer_names=[CRC32])


@pytest.mark.parametrize("header", [b"zz", b"0x4", b"+4", b" 4", b"4 ", b"", b"-1", b"1" * 17])
def test_decoder_rejects_a_chunk_size_that_is_not_hexadecimal(header):
    with pytest.raises(InvalidRequestError, match="hexadecimal"):
        decode(header + b"\r\ndata\r\n0\r\n\r\n")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"4\ndata\r\n0\r\n\r\n", "CRLF"),
        (b"4\r\ndata\n0\r\n\r\n", "followed by CRLF"),
        (b"4\r\ndataX\r\n0\r\n\r\n", "followed by CRLF"),
        (b"4\r\ndata\r\n0\r\n\r\nmore", "after its end"),
        (b"4\r\ndata\r\n0\r\n\r\n\r\n", "after its end"),
        (b"4\r\ndata\r\n0\r\n\n", "CRLF"),
    ],
)
def test_decoder_rejects_broken_framing(body, match):
    with pytest.raises(InvalidRequestError, match=match):
        decode(body)
    with pytest.raises(InvalidRequestError, match=match):
        decode(body, every_byte(body))


def test_decoder_holds_the_body_to_x_amz_decoded_content_length():
    body = botocore_body(b"x" * 10, chunk_size=4, name=None)
    assert decode(body, decoded_length=10)[0] == b"x" * 10
    with pytest.raises(IncompleteBodyError, match="declares 11"):
        decode(body, decoded_length=11)
    with pytest.raises(IncompleteBodyError, match="more than the 9 bytes"):
        decode(body, decoded_length=9)


def test_decoder_limits_the_chunk_header_line():
    header = b"4;" + b"x" * 100 + b"\r\n"
    assert decode(header + b"data\r\n0\r\n\r\n", header_bytes_max=102)[0] == b"data"
    for cuts in [(), range(1, len(header))]:
        with pytest.raises(InvalidRequestError, match="chunk header is over its 101-byte limit"):
            decode(header + b"data\r\n0\r\n\r\n", cuts, header_bytes_max=101)


def test_decoder_limits_the_trailer_section():
    trailer = b"x-amz-checksum-crc32:" + b"A" * 60 + b"\r\n"  # 83 bytes with its CRLF
    body = b"0\r\n" + trailer + b"\r\n"
    assert decode(body, trailer_names=[CRC32], trailer_bytes_max=85)[1] == {CRC32: "A" * 60}
    with pytest.raises(InvalidRequestError, match="trailer section is over its 80-byte limit"):
        decode(body, every_byte(body), trailer_names=[CRC32], trailer_bytes_max=80)


def test_decoder_rejects_input_after_it_failed():
    decoder = AwsChunkedDecoder()
    with pytest.raises(InvalidRequestError):
        decoder.feed(b"zz\r\n")
    with pytest.raises(InvalidRequestError, match="already refused"):
        decoder.feed(b"0\r\n\r\n")
    with pytest.raises(InvalidRequestError, match="already refused"):
        decoder.finish()


# -- speed ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("signed", [False, True])
def test_decoder_handles_64_mib_in_64_kib_pieces_in_well_under_a_second(signed):
    data = os.urandom(64 << 20)
    chunk = 1 << 20
    if signed:
        body = signed_body(data, chunk)
    else:
        body = b"".join(b"%x\r\n%s\r\n" % (chunk, data[i : i + chunk]) for i in range(0, len(data), chunk))
        body += b"0\r\n\r\n"
    pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    decoder = AwsChunkedDecoder(signer=doc_signer() if signed else None, decoded_length=len(data))
    started = time.perf_counter()
    total = 0
    for piece in pieces:
        total += sum(len(part) for part in decoder.feed(piece))
    decoder.finish()
    elapsed = time.perf_counter() - started
    assert total == len(data)
    assert elapsed < 0.5, f"{elapsed:.3f}s"
