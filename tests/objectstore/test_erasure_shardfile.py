"""The shard file and drive format codecs: golden bytes, round trips, and every flipped bit caught."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.objectstore.storage.shardfile import (
    PREAMBLE_BYTES,
    DriveFormat,
    ErasureLayout,
    ShardFormatError,
    ShardHeader,
    check_block,
    decode_drive_format,
    decode_header,
    decode_header_bytes,
    encode_block_crc,
    encode_drive_format,
    encode_header,
)


def make_header(**overrides: object) -> ShardHeader:
    fields: dict[str, object] = {
        "data_id": "0" * 32,
        "part": 1,
        "index": 0,
        "layout": ErasureLayout(4, 2, 4096),
        "size": 5,
        "labels": {"bucket": "b"},
    }
    return ShardHeader(**{**fields, **overrides})  # type: ignore[arg-type]


def test_encode_header_golden_bytes() -> None:
    body = (
        b'{"data_id":"00000000000000000000000000000000","part":1,"index":0,"data_shards":4,'
        b'"parity_shards":2,"block_bytes":4096,"checksum":"crc32c","labels":{"bucket":"b"}}'
    )
    expected = (
        b"SBXSHARD"  # magic
        + b"\x00\x01"  # version 1
        + b"\x00\x00\x00\x00\x00\x00\x00\x05"  # size: 5 object bytes in the shard set
        + len(body).to_bytes(4, "big")  # JSON length (162)
        + body
        + b"\x90\xad{?"  # CRC32C of every byte above
    )
    assert encode_header(make_header()) == expected
    assert decode_header_bytes(expected) == len(expected)
    assert decode_header(expected + b"blocks follow") == make_header()


@given(
    data_id=st.text("0123456789abcdef", min_size=32, max_size=32),
    part=st.integers(1, 10_000),
    index=st.integers(0, 5),
    size=st.integers(0, 2**63),
    labels=st.dictionaries(st.text(max_size=20), st.text(max_size=50), max_size=4),
)
def test_decode_header_inverts_encode(
    data_id: str, part: int, index: int, size: int, labels: dict[str, str]
) -> None:
    header = make_header(data_id=data_id, part=part, index=index, size=size, labels=labels)
    encoded = encode_header(header)
    assert decode_header(encoded) == header
    assert len(encoded) == len(
        encode_header(make_header(data_id=data_id, part=part, index=index, labels=labels))
    )


def test_every_flipped_header_bit_is_caught() -> None:
    encoded = encode_header(make_header())
    for bit in range(len(encoded) * 8):
        damaged = bytearray(encoded)
        damaged[bit // 8] ^= 1 << bit % 8
        with pytest.raises(ShardFormatError):
            decode_header(bytes(damaged))


def test_short_and_foreign_headers_are_refused() -> None:
    encoded = encode_header(make_header())
    for data in (encoded[:10], encoded[:-1], b"NOTSHARD" + encoded[8:]):
        with pytest.raises(ShardFormatError):
            decode_header(data)
    with pytest.raises(ValueError, match="labels too long"):
        encode_header(make_header(labels={"key": "k" * 70_000}))


def test_check_block_catches_a_flipped_bit() -> None:
    chunk = bytes(range(256)) * 4
    block = bytearray(encode_block_crc(chunk) + chunk)
    assert check_block(block)
    block[500] ^= 1
    assert not check_block(block)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 4097, 3 * 4096 + 3])
def test_layout_geometry_adds_up(size: int) -> None:
    layout = ErasureLayout(4, 2, 4096)
    chunks = [layout.stripe_chunk_bytes(size, stripe) for stripe in range(layout.stripe_count(size))]
    assert sum(layout.stripe_bytes(size, stripe) for stripe in range(len(chunks))) == size
    assert layout.shard_file_bytes(PREAMBLE_BYTES, size) == PREAMBLE_BYTES + sum(
        4 + chunk for chunk in chunks
    )
    assert all(chunk * 4 >= layout.stripe_bytes(size, s) for s, chunk in enumerate(chunks))


def test_drive_format_round_trips_and_refuses_junk() -> None:
    drive = DriveFormat("ab" * 16, 3, 6, ErasureLayout(4, 2, 1 << 20))
    assert decode_drive_format(encode_drive_format(drive)) == drive
    for junk in (b"", b"[]", b"{}", b'{"format": "other", "version": 1}', encode_drive_format(drive)[:-9]):
        with pytest.raises(ValueError, match="not a scalebox drive format file"):
            decode_drive_format(junk)
