"""S3 checksums: known vectors, agreement with botocore's classes, headers, decoding and multipart forms."""

from __future__ import annotations

import base64
import hashlib
import zlib

import pytest
from awscrt import checksums as crt
from botocore import httpchecksum
from hypothesis import given
from hypothesis import strategies as st

from scalebox.objectstore.checksum import (
    ALGORITHMS,
    FULL_OBJECT_ALGORITHMS,
    algorithm_for_header,
    combine_full_object,
    composite_checksum,
    decode_checksum,
    decode_content_md5,
    digest_bytes,
    header_name,
    new_checksummer,
)
from scalebox.objectstore.errors import InvalidArgumentError, InvalidDigestError, InvalidRequestError

# The reference implementations botocore itself sends with; the CRT ones are what it uses when awscrt is
# installed, and Crc32Checksum (zlib) is its pure-Python fallback.
BOTOCORE = {
    "CRC32": httpchecksum.CrtCrc32Checksum,
    "CRC32C": httpchecksum.CrtCrc32cChecksum,
    "CRC64NVME": httpchecksum.CrtCrc64NvmeChecksum,
    "SHA1": httpchecksum.Sha1Checksum,
    "SHA256": httpchecksum.Sha256Checksum,
}
WHOLE_CRC = {
    "CRC32": (zlib.crc32, 4),
    "CRC32C": (crt.crc32c, 4),
    "CRC64NVME": (crt.crc64nvme, 8),
}


def checksum_of(algorithm, data):
    checksummer = new_checksummer(algorithm)
    checksummer.update(data)
    return checksummer.digest()


def whole_crc(algorithm, data):
    crc, size = WHOLE_CRC[algorithm]
    return crc(data).to_bytes(size, "big")


# -- Checksummer ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("CRC32", "cbf43926"),
        ("CRC32C", "e3069283"),
        ("CRC64NVME", "ae8b14860a799888"),
        ("SHA1", "f7c3bc1d808e04732adf679965ccc34ca7ae3441"),
        ("SHA256", "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
    ],
)
def test_checksummer_matches_the_check_value_of_123456789(algorithm, expected):
    assert checksum_of(algorithm, b"123456789").hex() == expected


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_checksummer_of_nothing_is_the_empty_digest(algorithm):
    empty = {"SHA1": hashlib.sha1(b"").digest(), "SHA256": hashlib.sha256(b"").digest()}
    assert new_checksummer(algorithm).digest() == empty.get(algorithm, bytes(digest_bytes(algorithm)))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@given(pieces=st.lists(st.binary(max_size=300), max_size=8))
def test_checksummer_agrees_with_botocore_when_fed_in_pieces(algorithm, pieces):
    ours = new_checksummer(algorithm)
    theirs = BOTOCORE[algorithm]()
    for piece in pieces:
        ours.update(memoryview(piece))
        theirs.update(piece)
    assert ours.digest() == theirs.digest()
    assert ours.b64() == theirs.b64digest()


def test_checksummer_crc32_agrees_with_botocores_pure_python_class():
    theirs = httpchecksum.Crc32Checksum()
    theirs.update(b"hello world")
    assert checksum_of("CRC32", b"hello world") == theirs.digest()


@pytest.mark.parametrize("name", ["crc32", "Crc32C", "crc64nvme", "sha1", "SHA256"])
def test_new_checksummer_accepts_any_case(name):
    assert new_checksummer(name).algorithm == name.upper()


@pytest.mark.parametrize("name", ["MD5", "crc16", "", "SHA512"])
def test_new_checksummer_rejects_unknown_algorithms(name):
    with pytest.raises(InvalidArgumentError, match="x-amz-sdk-checksum-algorithm") as caught:
        new_checksummer(name)
    assert caught.value.extra["ArgumentName"] == "x-amz-checksum-algorithm"


# -- headers and decoding ------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_header_name_round_trips_through_algorithm_for_header(algorithm):
    name = header_name(algorithm)
    assert name == f"x-amz-checksum-{algorithm.lower()}"
    assert algorithm_for_header(name) == algorithm
    assert algorithm_for_header(name.upper()) == algorithm


@pytest.mark.parametrize(
    "name", ["x-amz-checksum-md5", "x-amz-checksum-type", "content-md5", "x-amz-checksum-", "crc32"]
)
def test_algorithm_for_header_is_none_for_other_headers(name):
    assert algorithm_for_header(name) is None


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_decode_checksum_returns_the_raw_digest(algorithm):
    checksummer = new_checksummer(algorithm)
    checksummer.update(b"data")
    assert decode_checksum(algorithm, checksummer.b64()) == checksummer.digest()


@pytest.mark.parametrize(
    ("algorithm", "value"),
    [
        ("CRC32", "not base64!"),
        ("CRC32", "AAAAAA"),  # missing padding
        ("CRC32", "AAAA"),  # 3 bytes
        ("CRC32", "AAAAAAA="),  # 5 bytes
        ("CRC32", ""),
        ("CRC64NVME", "AAAAAA=="),  # a CRC32's length
        ("SHA256", base64.b64encode(bytes(20)).decode()),  # a SHA1's length
        ("SHA1", "AAAA AAAA"),
    ],
)
def test_decode_checksum_rejects_bad_base64_and_wrong_lengths(algorithm, value):
    with pytest.raises(InvalidDigestError):
        decode_checksum(algorithm, value)


def test_decode_content_md5_accepts_sixteen_bytes():
    digest = hashlib.md5(b"hello").digest()
    assert decode_content_md5(base64.b64encode(digest).decode()) == digest


@pytest.mark.parametrize(
    "value", ["", "zz", base64.b64encode(bytes(15)).decode(), hashlib.md5(b"x").hexdigest()]
)
def test_decode_content_md5_rejects_anything_else(value):
    with pytest.raises(InvalidDigestError, match="Content-MD5"):
        decode_content_md5(value)


# -- multipart ------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_composite_checksum_is_the_checksum_of_the_part_digests_and_the_part_count(algorithm):
    parts = [b"first part", b"second", b""]
    digests = [checksum_of(algorithm, part) for part in parts]
    reference = BOTOCORE[algorithm]()
    reference.update(b"".join(digests))
    assert composite_checksum(algorithm, digests) == f"{reference.b64digest()}-3"


def test_composite_checksum_of_sha256_parts_is_sha256_of_their_digests():
    digests = [hashlib.sha256(b"a").digest(), hashlib.sha256(b"b").digest()]
    expected = base64.b64encode(hashlib.sha256(digests[0] + digests[1]).digest()).decode()
    assert composite_checksum("sha256", digests) == f"{expected}-2"


@pytest.mark.parametrize("algorithm", FULL_OBJECT_ALGORITHMS)
@given(parts=st.lists(st.binary(max_size=2000), max_size=6))
def test_combine_full_object_equals_the_crc_of_the_whole(algorithm, parts):
    pairs = [(checksum_of(algorithm, part), len(part)) for part in parts]
    assert combine_full_object(algorithm, pairs) == whole_crc(algorithm, b"".join(parts))


@pytest.mark.parametrize("algorithm", FULL_OBJECT_ALGORITHMS)
def test_combine_full_object_handles_many_equal_parts(algorithm):
    part = bytes(range(256)) * 64
    pairs = [(checksum_of(algorithm, part), len(part))] * 50
    assert combine_full_object(algorithm, pairs) == whole_crc(algorithm, part * 50)


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256"])
def test_combine_full_object_rejects_sha_algorithms(algorithm):
    with pytest.raises(InvalidRequestError, match="FULL_OBJECT"):
        combine_full_object(algorithm, [(checksum_of(algorithm, b"x"), 1)])


def test_combine_full_object_rejects_a_digest_of_the_wrong_length():
    with pytest.raises(InvalidDigestError):
        combine_full_object("CRC64NVME", [(checksum_of("CRC32", b"x"), 1)])
