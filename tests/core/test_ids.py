"""Identifiers: base62 round trips, unguessable random slugs, and time-ordered Snowflake ids."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.core.clock import FakeClock
from scalebox.core.ids import (
    EPOCH,
    SnowflakeGenerator,
    decode_base62,
    encode_base62,
    is_base62,
    random_base62,
    snowflake_time,
)


@given(st.integers(min_value=0, max_value=2**128))
def test_decode_inverts_encode_for_any_non_negative_integer(number):
    assert decode_base62(encode_base62(number)) == number


@pytest.mark.parametrize("text", ["", "abc-", "é", " "])
def test_decode_refuses_text_outside_the_alphabet(text):
    with pytest.raises(ValueError, match="base62"):
        decode_base62(text)


def test_encode_refuses_negative_numbers():
    with pytest.raises(ValueError, match="non-negative"):
        encode_base62(-1)


def test_random_base62_has_the_asked_length_even_for_small_draws():
    class LowRandom(random.Random):
        def randrange(self, *args, **kwargs):
            return 5

    assert random_base62(10, LowRandom()) == "0000000005"
    drawn = random_base62(10, random.Random(1))
    assert len(drawn) == 10
    assert is_base62(drawn)


def test_snowflakes_increase_when_the_clock_stands_still_or_steps_back():
    clock = FakeClock(current=EPOCH + timedelta(days=1))
    generator = SnowflakeGenerator(clock, node=3)
    ids = [generator.next_id() for _ in range(5000)]  # more than 4096 in one millisecond
    clock.current -= timedelta(seconds=1)  # a wall clock stepping back must not reorder ids
    ids.append(generator.next_id())
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert snowflake_time(ids[0]) == EPOCH + timedelta(days=1)


def test_snowflake_generator_refuses_a_node_out_of_range():
    with pytest.raises(ValueError, match="node"):
        SnowflakeGenerator(FakeClock(), node=1024)
