"""The journal's command codec: every command survives encode -> JSON -> decode, and a damaged or
hostile payload raises BadCommandError, never a half-valid command or another exception."""

from __future__ import annotations

from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scalebox.exchange.domain import (
    CancelOrder,
    DefineInstrument,
    DefineParticipant,
    Halt,
    Instrument,
    Order,
    OrderType,
    Participant,
    Phase,
    ReplaceOrder,
    Resume,
    SelfTradePrevention,
    SetPhase,
    Side,
    TimeInForce,
)
from scalebox.exchange.errors import BadCommandError
from scalebox.exchange.protocol.commands import decode_command, encode_command
from tests.exchange.factories import make_instrument, make_order, make_participant

TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=12)  # JSON has no lone surrogates
INT = st.integers(-(2**63), 2**63 - 1)
TICK_SIZES = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1000), places=4)

POSITIVE = st.integers(1, 2**53)
NATURAL = st.integers(0, 2**53)
BPS = st.integers(0, 10_000)
ORDERS = st.builds(
    Order,
    participant=TEXT,
    symbol=TEXT,
    cl_ord_id=TEXT,
    side=st.sampled_from(Side),
    order_type=st.sampled_from(OrderType),
    tif=st.sampled_from(TimeInForce),
    quantity=INT,
    price=INT,
    stop_price=INT,
    display=INT,
    stp=st.sampled_from(SelfTradePrevention),
)
COMMANDS = st.one_of(
    ORDERS,
    st.builds(CancelOrder, TEXT, TEXT, TEXT, TEXT, INT),
    st.builds(ReplaceOrder, TEXT, TEXT, TEXT, TEXT, INT, INT, INT),
    st.builds(SetPhase, TEXT, st.sampled_from(Phase)),
    st.builds(Halt, TEXT, TEXT),
    st.builds(Resume, TEXT),
    st.builds(
        DefineInstrument,
        st.builds(Instrument, TEXT, TICK_SIZES, POSITIVE, POSITIVE, POSITIVE, NATURAL, BPS, BPS, POSITIVE),
    ),
    st.builds(DefineParticipant, st.builds(Participant, TEXT, INT, INT)),
)


def round_trip(command):
    return decode_command(orjson.loads(orjson.dumps(encode_command(command))))


@given(COMMANDS)
def test_every_command_survives_a_round_trip_through_json(command) -> None:
    decoded = round_trip(command)
    assert type(decoded) is type(command)
    assert decoded == command


@given(ORDERS)
def test_decoded_orders_carry_enums_and_no_engine_state(order) -> None:
    decoded = round_trip(order)
    assert isinstance(decoded.side, Side)
    assert isinstance(decoded.order_type, OrderType)
    assert isinstance(decoded.tif, TimeInForce)
    assert isinstance(decoded.stp, SelfTradePrevention)
    assert (decoded.order_id, decoded.leaves, decoded.cum) == (0, 0, 0)


def test_order_encodes_its_request_fields_in_constructor_order() -> None:
    order = make_order(
        participant="alice", symbol="ACME", cl_ord_id="c1", side=Side.SELL, quantity=7, price=101
    )
    assert encode_command(order) == ["O", "alice", "ACME", "c1", 2, 2, 1, 7, 101, 0, 0, 2]


def test_instrument_encodes_its_tick_size_as_a_string() -> None:
    encoded = encode_command(DefineInstrument(make_instrument(tick_size=Decimal("0.05"))))
    assert encoded[:3] == ["I", "ACME", "0.05"]
    assert decode_command(encoded).instrument.tick_size == Decimal("0.05")


def valid_payloads():
    return [
        encode_command(make_order()),
        encode_command(CancelOrder("alice", "ACME", "x", "c1", 0)),
        encode_command(ReplaceOrder("alice", "ACME", "r", "c1", 5, 100, 0)),
        encode_command(SetPhase("ACME", Phase.AUCTION)),
        encode_command(Halt("ACME", "news")),
        encode_command(Resume("ACME")),
        encode_command(DefineInstrument(make_instrument())),
        encode_command(DefineParticipant(make_participant())),
    ]


@pytest.mark.parametrize("raw", [None, 5, "O", {"tag": "O"}, [], [1, "alice"], [None], ("U", "ACME")])
def test_decode_refuses_a_payload_that_is_not_a_tagged_list(raw) -> None:
    with pytest.raises(BadCommandError):
        decode_command(raw)


@pytest.mark.parametrize("tag", ["Z", "o", "", "OO", "order"])
def test_decode_refuses_an_unknown_tag(tag) -> None:
    with pytest.raises(BadCommandError, match="unknown command tag"):
        decode_command([tag, "ACME"])


@pytest.mark.parametrize("payload", valid_payloads(), ids=lambda p: p[0])
def test_decode_refuses_a_missing_or_extra_field(payload) -> None:
    with pytest.raises(BadCommandError, match="fields"):
        decode_command(payload[:-1])
    with pytest.raises(BadCommandError, match="fields"):
        decode_command([*payload, 0])


@pytest.mark.parametrize("payload", valid_payloads(), ids=lambda p: p[0])
@pytest.mark.parametrize("wrong", [None, 1.5, [], {}, True])
def test_decode_refuses_a_field_of_the_wrong_type(payload, wrong) -> None:
    for index in range(1, len(payload)):
        damaged = [*payload[:index], wrong, *payload[index + 1 :]]
        with pytest.raises(BadCommandError):
            decode_command(damaged)


@pytest.mark.parametrize("payload", valid_payloads(), ids=lambda p: p[0])
def test_decode_refuses_a_string_where_an_integer_belongs_and_back(payload) -> None:
    for index in range(1, len(payload)):
        swapped = "7" if isinstance(payload[index], int) else 7
        with pytest.raises(BadCommandError):
            decode_command([*payload[:index], swapped, *payload[index + 1 :]])


@pytest.mark.parametrize(
    ("index", "value"),
    [(4, 0), (4, 3), (5, 0), (5, 9), (6, 2), (6, -1), (11, 0), (11, 4)],
    ids=["side 0", "side 3", "type 0", "type 9", "tif 2", "tif -1", "stp 0", "stp 4"],
)
def test_decode_refuses_an_order_with_a_bad_enum_value(index, value) -> None:
    payload = encode_command(make_order())
    payload[index] = value
    with pytest.raises(BadCommandError):
        decode_command(payload)


def test_decode_refuses_a_bool_for_an_integer_or_enum() -> None:
    payload = encode_command(make_order())
    for index in (4, 7, 8):
        with pytest.raises(BadCommandError, match="integer"):
            decode_command([*payload[:index], True, *payload[index + 1 :]])


def test_decode_refuses_an_unknown_phase() -> None:
    with pytest.raises(BadCommandError):
        decode_command(["P", "ACME", "open"])


@pytest.mark.parametrize("tick_size", ["abc", "", "0.0.1", "1,5"])
def test_decode_refuses_a_tick_size_that_is_not_a_decimal(tick_size) -> None:
    payload = encode_command(DefineInstrument(make_instrument()))
    payload[2] = tick_size
    with pytest.raises(BadCommandError):
        decode_command(payload)


JSON = st.recursive(
    st.none() | st.booleans() | INT | st.floats(allow_nan=False) | TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=6,
)


@settings(max_examples=60)
@given(tag=st.sampled_from([*"OCRPHUIA", "?"]), fields=st.lists(JSON, max_size=12))
def test_decode_of_any_json_payload_is_a_command_or_bad_command_error(tag, fields) -> None:
    try:
        command = decode_command([tag, *fields])
    except BadCommandError:
        return
    encoded = encode_command(command)
    if tag == "I":  # the tick size is parsed leniently (" 1.0" is Decimal("1.0"))
        assert Decimal(encoded[2]).compare_total(Decimal(fields[1])) == 0
        encoded[2] = fields[1]
    # Whatever decodes encodes back to the very payload it came from.
    assert encoded == [tag, *fields]


@given(command=COMMANDS, data=st.data())
def test_decode_of_a_payload_with_one_field_replaced_is_a_command_or_bad_command_error(command, data) -> None:
    payload = orjson.loads(orjson.dumps(encode_command(command)))
    index = data.draw(st.integers(0, len(payload) - 1))
    payload[index] = data.draw(JSON)
    try:
        decoded = decode_command(payload)
    except BadCommandError:
        return
    assert encode_command(decoded)[index] == payload[index] or payload[0] == "I"
