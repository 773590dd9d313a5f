"""The consumer protocol's assignment and subscription bytes, decoded: golden bytes as aiokafka's
assignors write them, every version's layout, and garbage refused with AssignmentDecodeError."""

from __future__ import annotations

import struct

import pytest
from aiokafka.coordinator.protocol import ConsumerProtocolMemberAssignment, ConsumerProtocolMemberMetadata
from hypothesis import given
from hypothesis import strategies as st

from scalebox.eventlog.assignment import (
    Assignment,
    AssignmentDecodeError,
    decode_assignment,
    decode_subscription,
)

topic_names = st.text(alphabet="abcxyz.-_09", min_size=1, max_size=20)


def test_an_assignment_written_by_aiokafka_decodes() -> None:
    data = ConsumerProtocolMemberAssignment(0, [("orders", [0, 2]), ("users", [1])], b"").encode()

    decoded = decode_assignment(data)

    assert decoded == Assignment(0, (("orders", (0, 2)), ("users", (1,))), b"")
    assert decoded.owns("orders", 2)
    assert not decoded.owns("orders", 1)


def test_golden_bytes_of_a_version_3_assignment_with_user_data() -> None:
    data = (
        b"\x00\x03"  # version int16 = 3
        b"\x00\x00\x00\x01"  # one topic
        b"\x00\x01t"  # topic string "t"
        b"\x00\x00\x00\x02\x00\x00\x00\x05\x00\x00\x00\x07"  # partitions [5, 7]
        b"\x00\x00\x00\x02hi"  # user data "hi"
        b"\xff\xff"  # a later version's field: ignored, as Kafka does
    )
    assert decode_assignment(data) == Assignment(3, (("t", (5, 7)),), b"hi")


def test_empty_bytes_are_a_member_not_yet_synced_and_user_data_may_be_absent_or_null() -> None:
    assert decode_assignment(b"") == Assignment(0, (), None)
    assert decode_assignment(struct.pack(">hi", 0, 0)) == Assignment(0, (), None)
    assert decode_assignment(struct.pack(">hii", 0, 0, -1)) == Assignment(0, (), None)


@pytest.mark.parametrize(
    "data",
    [
        b"\x00",  # half a version
        b"\xff\xff\x00\x00\x00\x00",  # a negative version
        b"\x00\x00\x7f\xff\xff\xff",  # two billion topics
        b"\x00\x00\x00\x00\x00\x01\x00\x05ab",  # a topic name cut short
        b"\x00\x00\x00\x00\x00\x01\xff\xff",  # a null topic name
        b"\x00\x00\x00\x00\x00\x01\x00\x02\xff\xfe\x00\x00\x00\x00",  # a name that is not UTF-8
        b"\x00\x00\x00\x00\x00\x00\xff\xff\xff\xfe",  # a negative user data length
    ],
)
def test_garbage_is_refused(data: bytes) -> None:
    with pytest.raises(AssignmentDecodeError):
        decode_assignment(data)


@given(
    st.dictionaries(topic_names, st.lists(st.integers(0, 2**31 - 1), max_size=5), max_size=5),
    st.binary(max_size=10),
)
def test_whatever_aiokafka_encodes_decodes_to_the_same(
    partitions: dict[str, list[int]], user_data: bytes
) -> None:
    data = ConsumerProtocolMemberAssignment(0, list(partitions.items()), user_data).encode()

    decoded = decode_assignment(data)

    assert dict(decoded.partitions) == {topic: tuple(numbers) for topic, numbers in partitions.items()}
    assert decoded.user_data == user_data


def test_a_subscription_names_its_topics() -> None:
    data = ConsumerProtocolMemberMetadata(0, ["orders", "users"], b"").encode()

    assert decode_subscription(data).topics == ("orders", "users")
    with pytest.raises(AssignmentDecodeError):
        decode_subscription(b"\x80\x00")
