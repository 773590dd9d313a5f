"""The FIX session state machine, sans-IO: messages and times in, actions out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scalebox.exchange.fix.logon import LogonRequest
from scalebox.exchange.fix.session import (
    Action,
    Deliver,
    Disconnect,
    FixSession,
    SessionConfig,
    SessionState,
    Transmit,
)
from scalebox.exchange.fix.store import MemorySessionStore
from scalebox.exchange.protocol.fix import (
    FixGarbled,
    FixMessage,
    FixParser,
    RequiredTagMissingError,
    decode_message,
    encode_message,
    format_timestamp,
)

T0 = datetime(2025, 1, 1, 9, 30, tzinfo=UTC)
CONFIG = SessionConfig(comp_id="SCALEBOX", heartbeat_seconds_max=60, queued_messages_max=3)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def inbound(
    msg_type: str,
    seq: int,
    *fields: tuple[int, str | int],
    now: datetime = T0,
    poss_dup: bool = False,
    **header: str,
) -> FixMessage:
    """A message from alice, sent `now`."""
    pairs: list[tuple[int, str | int]] = [
        (49, header.get("sender", "alice")),
        (56, header.get("target", "SCALEBOX")),
    ]
    pairs.append((34, seq))
    if poss_dup:
        pairs += [(43, "Y"), (122, format_timestamp(now - timedelta(seconds=1)))]
    pairs.append((52, header.get("sending_time", format_timestamp(now))))
    return FixMessage.of(msg_type, *pairs, *fields)


def logon(seq: int = 1, *extra: tuple[int, str | int]) -> FixMessage:
    return inbound("A", seq, (98, 0), (108, 30), (554, "secret"), *extra)


def sent(actions: list[Action]) -> list[FixMessage]:
    return [decode_message(action.data) for action in actions if isinstance(action, Transmit)]


def kinds(actions: list[Action]) -> list[str]:
    """Each action as a short string: the MsgType sent, "deliver D", "disconnect" or "logon?"."""
    out = []
    for action in actions:
        if isinstance(action, Transmit):
            out.append(decode_message(action.data).msg_type)
        elif isinstance(action, Deliver):
            out.append(f"deliver {action.message.get(34)}")
        elif isinstance(action, Disconnect):
            out.append("disconnect")
        else:
            out.append("logon?")
    return out


def logged_on(store: MemorySessionStore | None = None, seq: int = 1) -> tuple[FixSession, MemorySessionStore]:
    session = FixSession(CONFIG, T0)
    store = store if store is not None else MemorySessionStore()
    [request] = session.receive(logon(seq), T0)
    assert isinstance(request, LogonRequest)
    session.accept_logon(store, T0)
    return session, store


def body(msg_type: str = "8", *fields: tuple[int, str | int]) -> FixMessage:
    return FixMessage.of(msg_type, *(fields or [(11, "x")]))


# -- logon ---------------------------------------------------------------------------------------


def test_logon_asks_the_gateway_then_answers_with_a_logon():
    session = FixSession(CONFIG, T0)
    [request] = session.receive(logon(1, (553, "alice"), (141, "Y")), T0)
    assert request == LogonRequest("alice", "alice", "secret", False, 30, True)
    assert session.state is SessionState.AUTHENTICATING
    store = MemorySessionStore()
    [reply] = sent(session.accept_logon(store, T0))
    assert (reply.msg_type, reply.get(34), reply.get(108), reply.get(141), reply.get(56)) == (
        "A",
        "1",
        "30",
        "Y",
        "alice",
    )
    assert (store.next_target_seq, store.next_sender_seq) == (2, 2)
    assert session.active


def test_drop_copy_logon_is_flagged():
    [request] = FixSession(CONFIG, T0).receive(logon(1, (57, "DROPCOPY")), T0)
    assert isinstance(request, LogonRequest)
    assert request.drop_copy


def test_first_message_must_be_a_logon():
    session = FixSession(CONFIG, T0)
    assert kinds(session.receive(inbound("D", 1), T0)) == ["disconnect"]
    assert session.state is SessionState.CLOSED


@pytest.mark.parametrize(
    "message",
    [
        inbound("A", 1, (98, 0), (108, 0), (554, "pw")),  # HeartBtInt out of range
        inbound("A", 1, (98, 0), (108, 61), (554, "pw")),
        inbound("A", 1, (98, 0), (108, 30)),  # no Password
        inbound("A", 1, (98, 0), (108, 30), (554, "pw"), target="ELSEWHERE"),
        inbound("A", 1, (98, 0), (108, 30), (554, "pw"), sender="bad/comp id"),
        inbound("A", 1, (98, 1), (108, 30), (554, "pw")),  # encryption
        inbound("A", 1, (98, 0), (108, 30), (554, "pw"), now=at(-600)),  # SendingTime far off
    ],
)
def test_bad_logon_is_refused_with_an_unnumbered_logout(message):
    actions = FixSession(CONFIG, T0).receive(message, T0)
    assert kinds(actions) == ["5", "disconnect"]
    [logout] = sent(actions)
    assert logout.get(34) == "1"
    assert "logon refused" in (logout.get(58) or "")


def test_refused_logon_touches_no_store():
    session = FixSession(CONFIG, T0)
    session.receive(logon(), T0)
    actions = session.refuse_logon("logon refused: wrong password", T0)
    assert kinds(actions) == ["5", "disconnect"]
    assert session.store is None


def test_logon_reset_flag_restarts_numbers():
    store = MemorySessionStore()
    store.next_sender_seq, store.next_target_seq = 40, 50
    session = FixSession(CONFIG, T0)
    session.receive(logon(1, (141, "Y")), T0)
    [reply] = sent(session.accept_logon(store, T0))
    assert (reply.get(34), reply.get(141)) == ("1", "Y")
    assert store.next_target_seq == 2


def test_logon_with_a_number_too_low_is_logged_out():
    store = MemorySessionStore()
    store.next_target_seq = 5
    session = FixSession(CONFIG, T0)
    session.receive(logon(3), T0)
    actions = session.accept_logon(store, T0)
    assert kinds(actions) == ["5", "disconnect"]
    assert "MsgSeqNum too low, expecting 5 but received 3" in (sent(actions)[0].get(58) or "")


def test_logon_with_a_number_too_high_asks_for_the_gap():
    session, store = FixSession(CONFIG, T0), MemorySessionStore()
    session.receive(logon(4), T0)
    reply, request = sent(session.accept_logon(store, T0))
    assert reply.msg_type == "A"
    assert (request.msg_type, request.get(7), request.get(16)) == ("2", "1", "0")
    assert store.next_target_seq == 1
    assert session.receive(inbound("4", 1, (123, "Y"), (36, 4), poss_dup=True), T0) == []
    assert store.next_target_seq == 5  # the gap is filled and the held Logon counted


# -- sequence numbers ----------------------------------------------------------------------------


def test_application_messages_are_delivered_in_sequence():
    session, store = logged_on()
    assert kinds(session.receive(inbound("D", 2, (11, "a")), T0)) == ["deliver 2"]
    assert store.next_target_seq == 3


def test_a_gap_is_asked_for_once_and_held_messages_follow_the_fill():
    session, store = logged_on()
    actions = session.receive(inbound("D", 4), T0)
    [request] = sent(actions)
    assert (request.msg_type, request.get(7), request.get(16)) == ("2", "2", "0")
    assert session.receive(inbound("D", 5), T0) == []  # no second ResendRequest
    assert kinds(session.receive(inbound("D", 2, poss_dup=True), T0)) == ["deliver 2"]
    assert kinds(session.receive(inbound("D", 3, poss_dup=True), T0)) == [
        "deliver 3",
        "deliver 4",
        "deliver 5",
    ]
    assert session.receive(inbound("D", 4, poss_dup=True), T0) == []  # the resend of a held one
    assert store.next_target_seq == 6


def test_too_many_held_messages_end_the_session():
    session, _ = logged_on()
    for seq in (3, 4, 5):
        session.receive(inbound("D", seq), T0)
    assert kinds(session.receive(inbound("D", 6), T0)) == ["5", "disconnect"]


def test_a_number_too_low_is_fatal_unless_possible_duplicate():
    session, _ = logged_on()
    session.receive(inbound("D", 2), T0)
    assert session.receive(inbound("D", 2, poss_dup=True), T0) == []
    actions = session.receive(inbound("D", 2), T0)
    assert kinds(actions) == ["5", "disconnect"]
    assert session.state is SessionState.CLOSED


def test_sequence_reset_moves_the_expected_number_either_mode():
    session, store = logged_on()
    assert session.receive(inbound("4", 2, (123, "Y"), (36, 7), poss_dup=True), T0) == []
    assert store.next_target_seq == 7
    assert session.receive(inbound("4", 99, (36, 20)), T0) == []  # Reset mode: its own number is ignored
    assert store.next_target_seq == 20
    [reject] = sent(session.receive(inbound("4", 20, (36, 10)), T0))
    assert (reject.msg_type, reject.get(373), reject.get(371)) == ("3", "5", "36")
    assert store.next_target_seq == 20


def test_gap_fill_that_goes_backwards_is_rejected():
    session, store = logged_on()
    [reject] = sent(session.receive(inbound("4", 2, (123, "Y"), (36, 2)), T0))
    assert (reject.get(373), reject.get(371), reject.get(45)) == ("5", "36", "2")
    assert store.next_target_seq == 3


# -- resend --------------------------------------------------------------------------------------


def test_resend_request_resends_application_messages_and_gap_fills_the_rest():
    session, store = logged_on()  # our 1: Logon
    session.send(body("8", (11, "a")), at(1))  # 2
    assert kinds(session.tick(at(40))) == ["1"]  # 3: a TestRequest, as we heard nothing for 40 s
    session.send(body("8", (11, "b")), at(41))  # 4
    assert store.next_sender_seq == 5
    resent = sent(session.receive(inbound("2", 2, (7, 1), (16, 0), now=at(42)), at(42)))
    assert [(m.msg_type, m.get(34), m.get(36), m.get(43)) for m in resent] == [
        ("4", "1", "2", "Y"),
        ("8", "2", None, "Y"),
        ("4", "3", "4", "Y"),
        ("8", "4", None, "Y"),
    ]
    assert resent[1].get(122) == format_timestamp(at(1))
    assert resent[1].get(52) == format_timestamp(at(42))
    assert resent[1].get(11) == "a"
    assert store.next_sender_seq == 5  # resending takes no new numbers


def test_messages_the_bounded_store_dropped_are_gap_filled():
    session, _ = logged_on(MemorySessionStore(messages_max=2))
    for index in range(4):
        session.send(body("8", (11, f"o{index}")), T0)  # 2..5; 2 and 3 fall out
    resent = sent(session.receive(inbound("2", 2, (7, 2), (16, 5)), T0))
    assert [(m.msg_type, m.get(34), m.get(36)) for m in resent] == [
        ("4", "2", "4"),
        ("8", "4", None),
        ("8", "5", None),
    ]


def test_resend_request_with_a_bad_range_is_rejected():
    session, _ = logged_on()
    [reject] = sent(session.receive(inbound("2", 2, (7, 5), (16, 3)), T0))
    assert (reject.msg_type, reject.get(371)) == ("3", "16")


def test_an_early_resend_request_is_answered_at_once():
    session, _ = logged_on()
    session.send(body(), T0)
    actions = session.receive(inbound("2", 5, (7, 2), (16, 2)), T0)
    assert kinds(actions) == ["8", "2"]  # the resend, then our own ResendRequest for 2..4


# -- session-level messages ----------------------------------------------------------------------


def test_test_request_is_answered_with_its_id():
    session, _ = logged_on()
    [heartbeat] = sent(session.receive(inbound("1", 2, (112, "ping")), T0))
    assert (heartbeat.msg_type, heartbeat.get(112)) == ("0", "ping")
    [reject] = sent(session.receive(inbound("1", 3), T0))
    assert (reject.msg_type, reject.get(373), reject.get(371), reject.get(45)) == ("3", "1", "112", "3")


def test_peer_logout_is_answered_then_closed():
    session, _ = logged_on()
    assert kinds(session.receive(inbound("5", 2), T0)) == ["5", "disconnect"]


def test_our_logout_waits_for_the_reply_or_times_out():
    session, _ = logged_on()
    assert kinds(session.logout("bye", T0)) == ["5"]
    assert session.state is SessionState.LOGOUT_SENT
    assert kinds(session.receive(inbound("5", 2), T0)) == ["disconnect"]
    silent, _ = logged_on()
    silent.logout("bye", T0)
    assert silent.tick(at(1)) == []
    assert kinds(silent.tick(at(CONFIG.logout_timeout_seconds))) == ["disconnect"]


def test_a_second_logon_ends_the_session():
    session, _ = logged_on()
    assert kinds(session.receive(logon(2), T0)) == ["5", "disconnect"]


def test_invalid_msg_type_is_rejected():
    session, store = logged_on()
    [reject] = sent(session.receive(inbound("#!", 2), T0))
    assert (reject.get(373), reject.get(371)) == ("11", "35")
    assert store.next_target_seq == 3


def test_wrong_comp_id_is_rejected_and_logged_out():
    session, _ = logged_on()
    actions = session.receive(inbound("D", 2, sender="mallory"), T0)
    assert kinds(actions) == ["3", "5", "disconnect"]
    assert sent(actions)[0].get(373) == "9"


def test_sending_time_far_off_is_rejected_and_logged_out():
    session, _ = logged_on()
    actions = session.receive(inbound("D", 2, now=at(-300)), T0)
    assert kinds(actions) == ["3", "5", "disconnect"]
    assert sent(actions)[0].get(373) == "10"


def test_missing_sending_time_or_orig_sending_time_is_rejected():
    session, store = logged_on()
    missing = FixMessage.of("D", (49, "alice"), (56, "SCALEBOX"), (34, 2))
    [reject] = sent(session.receive(missing, T0))
    assert (reject.get(373), reject.get(371)) == ("1", "52")
    no_orig = FixMessage.of(
        "D", (49, "alice"), (56, "SCALEBOX"), (34, 3), (43, "Y"), (52, format_timestamp(T0))
    )
    [reject] = sent(session.receive(no_orig, T0))
    assert (reject.get(373), reject.get(371), reject.get(45)) == ("1", "122", "3")
    assert store.next_target_seq == 4


def test_garbled_frame_is_rejected_and_uses_up_its_number():
    session, store = logged_on()
    frame = encode_message(inbound("D", 2, (11, "a")))
    [item] = FixParser(4096).feed(frame[:-4] + b"000\x01")
    assert isinstance(item, FixGarbled)
    [reject] = sent(session.receive(item, T0))
    assert (reject.get(45), reject.get(373), reject.get(371), reject.get(372)) == ("2", "5", "10", "D")
    assert store.next_target_seq == 3
    assert session.receive(FixGarbled(b"junk", item.error, None), T0) == []  # nothing to refer to


def test_reject_on_behalf_of_the_application():
    session, _ = logged_on()
    message = inbound("D", 2)
    session.receive(message, T0)
    [reject] = sent(session.reject(message, RequiredTagMissingError("no ClOrdID", tag=11), T0))
    assert [reject.get(t) for t in (45, 371, 372, 373, 58)] == ["2", "11", "D", "1", "no ClOrdID"]


# -- timers --------------------------------------------------------------------------------------


def test_logon_timeout_disconnects():
    session = FixSession(CONFIG, T0)
    assert session.tick(at(9)) == []
    assert kinds(session.tick(at(10))) == ["disconnect"]


def test_heartbeats_test_requests_and_a_dead_peer():
    session, _ = logged_on()  # HeartBtInt 30
    assert session.tick(at(29)) == []
    assert kinds(session.tick(at(30))) == ["0"]
    session.receive(inbound("0", 2, now=at(30)), at(30))
    assert kinds(session.tick(at(60))) == ["0"]
    [request] = sent(session.tick(at(67)))  # 37 s of silence: 30 x 1.2 + 1
    assert (request.msg_type, request.get(112)) == ("1", "TEST1")
    assert session.tick(at(96)) == []
    assert kinds(session.tick(at(97))) == ["5", "disconnect"]


def test_an_answer_to_the_test_request_keeps_the_session():
    session, _ = logged_on()
    [request] = sent(session.tick(at(37)))
    session.receive(inbound("0", 2, (112, request.get(112) or ""), now=at(40)), at(40))
    assert "disconnect" not in kinds(session.tick(at(67)))
