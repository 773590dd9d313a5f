"""The FIX 4.4 session layer as a sans-IO state machine: logon, sequence numbers, gap detection and
recovery, heartbeats and test requests, session-level rejects and the logout handshake. Parsed
messages and the time go in, actions come out; the gateway owns the socket and the clock."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from scalebox.exchange.fix.heartbeat import Liveness, elapsed
from scalebox.exchange.fix.inbound import GapQueue, check_header, check_sending_time
from scalebox.exchange.fix.logon import LogonRequest, encode_refusal, parse_logon
from scalebox.exchange.fix.resend import answer_resend, record_outbound
from scalebox.exchange.fix.store import SessionStore
from scalebox.exchange.protocol.fix import (
    CompIdProblemError,
    FixError,
    FixGarbled,
    FixMessage,
    InvalidMsgTypeError,
    MsgType,
    SendingTimeAccuracyError,
    Tag,
    ValueIncorrectError,
)

_MSG_TYPE = re.compile(r"[0-9A-Za-z]{1,3}")


@dataclass(frozen=True, slots=True)
class SessionConfig:
    comp_id: str  # our SenderCompID
    heartbeat_seconds_max: int = 300
    sending_time_tolerance_seconds: float = 120.0
    logon_timeout_seconds: float = 10.0
    logout_timeout_seconds: float = 5.0
    queued_messages_max: int = 10_000  # messages held while a gap is being filled


# -- actions: what the gateway must do --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transmit:
    data: bytes


@dataclass(frozen=True, slots=True)
class Deliver:
    """An application message, in sequence, for the application layer."""

    message: FixMessage


@dataclass(frozen=True, slots=True)
class Disconnect:
    reason: str


Action = Transmit | Deliver | LogonRequest | Disconnect


class SessionState(Enum):
    AWAITING_LOGON = "awaiting_logon"
    AUTHENTICATING = "authenticating"
    ACTIVE = "active"
    LOGOUT_SENT = "logout_sent"
    CLOSED = "closed"


class FixSession:
    """One connection's session. Inbound sequence rules (FIX 4.4 volume 2): the expected number is
    processed; a higher one is queued behind a ResendRequest; a lower one is a duplicate with
    PossDupFlag=Y (ignored) or else a fatal error (Logout). A message rejected at session level
    still uses up its number."""

    def __init__(self, config: SessionConfig, now: datetime) -> None:
        self.config = config
        self.state = SessionState.AWAITING_LOGON
        self.store: SessionStore | None = None
        self.their_comp_id = ""
        self.heartbeat_seconds = 0
        self.messages_in = 0
        self.messages_out = 0
        self._logon: FixMessage | None = None
        self._gap = GapQueue(config.queued_messages_max)
        self._connected_at = self._logout_at = now
        self._liveness = Liveness(0, now)

    @property
    def active(self) -> bool:
        return self.state in (SessionState.ACTIVE, SessionState.LOGOUT_SENT)

    # -- inbound ---------------------------------------------------------------------------------

    def receive(self, item: FixMessage | FixGarbled, now: datetime) -> list[Action]:
        """Take one parsed item from the wire."""
        if self.state in (SessionState.AUTHENTICATING, SessionState.CLOSED):
            return []
        self._liveness.received(now)
        self.messages_in += 1
        if self.state is SessionState.AWAITING_LOGON:
            return self._first(item, now)
        if isinstance(item, FixGarbled):
            return self._garbled(item, now)
        return self._inbound(item, now)

    def _first(self, item: FixMessage | FixGarbled, now: datetime) -> list[Action]:
        if isinstance(item, FixGarbled) or item.msg_type != MsgType.LOGON:
            self.state = SessionState.CLOSED
            return [Disconnect("the first message was not a Logon")]
        try:
            check_sending_time(item, now, self.config.sending_time_tolerance_seconds)
            request = parse_logon(item, self.config.comp_id, self.config.heartbeat_seconds_max)
        except FixError as exc:
            return self._refuse(item.get(Tag.SENDER_COMP_ID) or "", f"logon refused: {exc}", now)
        self.state = SessionState.AUTHENTICATING
        self._logon = item
        self.their_comp_id = request.sender_comp_id
        self.heartbeat_seconds = self._liveness.interval_seconds = request.heartbeat_seconds
        return [request]

    def accept_logon(self, store: SessionStore, now: datetime) -> list[Action]:
        """The Logon authenticated: answer it with this session's store and check its number."""
        assert self.state is SessionState.AUTHENTICATING
        assert self._logon is not None
        logon, self._logon = self._logon, None
        self.store = store
        reset = logon.flag(Tag.RESET_SEQ_NUM_FLAG)
        if reset:
            store.reset()
        sequence, expected = logon.require_int(Tag.MSG_SEQ_NUM), store.next_target_seq
        self.state = SessionState.ACTIVE
        if sequence < expected:
            return self._logout_and_close(_too_low_text(expected, sequence), now)
        reply = FixMessage.of(
            MsgType.LOGON,
            (Tag.ENCRYPT_METHOD, 0),
            (Tag.HEART_BT_INT, self.heartbeat_seconds),
            *([(Tag.RESET_SEQ_NUM_FLAG, "Y")] if reset else []),
        )
        actions: list[Action] = [self._transmit(reply, now)]
        if sequence > expected:
            return actions + self._too_high(logon, sequence, expected, now, answered=True)
        store.set_next_target_seq(sequence + 1)
        return actions

    def refuse_logon(self, text: str, now: datetime) -> list[Action]:
        """The Logon failed authentication (or its session is taken): Logout and disconnect."""
        assert self.state is SessionState.AUTHENTICATING
        self._logon = None
        return self._refuse(self.their_comp_id, text, now)

    def _refuse(self, their_comp_id: str, text: str, now: datetime) -> list[Action]:
        self.state = SessionState.CLOSED
        return [Transmit(encode_refusal(self.config.comp_id, their_comp_id, text, now)), Disconnect(text)]

    def _inbound(self, message: FixMessage, now: datetime) -> list[Action]:
        try:
            check_header(message, their_comp_id=self.their_comp_id, our_comp_id=self.config.comp_id)
        except FixError as exc:
            return self._fatal(message, exc, now)
        sequence = message.require_int(Tag.MSG_SEQ_NUM)
        if message.msg_type == MsgType.SEQUENCE_RESET and message.get(Tag.GAP_FILL_FLAG) != "Y":
            return self._sequence_reset(message, now)  # Reset mode ignores MsgSeqNum
        store = self._store()
        expected = store.next_target_seq
        if sequence < expected:
            return self._too_low(message, sequence, expected, now)
        try:
            check_sending_time(message, now, self.config.sending_time_tolerance_seconds)
        except SendingTimeAccuracyError as exc:
            return self._fatal(message, exc, now)
        except FixError:
            pass  # missing or malformed: rejected when its turn comes, using up its number
        if sequence > expected:
            return self._too_high(message, sequence, expected, now)
        return self._process(message, now) + self._drain(now)

    def _fatal(self, message: FixMessage, error: FixError, now: datetime) -> list[Action]:
        """A fault that ends the session: CompID and SendingTime faults are also rejected first."""
        rejected = isinstance(error, CompIdProblemError | SendingTimeAccuracyError)
        return [
            *(self._reject(message, error, now) if rejected else []),
            *self._logout_and_close(str(error), now),
        ]

    def _too_low(self, message: FixMessage, sequence: int, expected: int, now: datetime) -> list[Action]:
        if message.get(Tag.POSS_DUP_FLAG) == "Y":
            return []  # a duplicate of something already processed
        return self._logout_and_close(_too_low_text(expected, sequence), now)

    def _too_high(
        self, message: FixMessage, sequence: int, expected: int, now: datetime, *, answered: bool = False
    ) -> list[Action]:
        """Hold `message` and ask for what is missing (unless a ResendRequest is already out)."""
        if message.msg_type == MsgType.LOGOUT:
            return self._on_logout(message, now)
        if self._gap.full:
            return self._logout_and_close("too many messages queued behind a sequence gap", now)
        actions: list[Action] = []
        if message.msg_type == MsgType.RESEND_REQUEST:
            # Answer at once: if both sides waited for each other's gaps, neither would recover.
            actions += self._safely(self._on_resend_request, message, now)
            answered = True
        if self._gap.hold(sequence, expected, message, answered=answered):
            request = FixMessage.of(MsgType.RESEND_REQUEST, (Tag.BEGIN_SEQ_NO, expected), (Tag.END_SEQ_NO, 0))
            actions.append(self._transmit(request, now))
        return actions

    def _drain(self, now: datetime) -> list[Action]:
        """Process queued messages that are now next in sequence."""
        if not self._gap:
            return []
        store = self._store()
        actions: list[Action] = []
        while self.active and (held := self._gap.pop(store.next_target_seq)) is not None:
            if held.answered:
                store.set_next_target_seq(store.next_target_seq + 1)
            else:
                actions += self._process(held.message, now)
        self._gap.discard_below(store.next_target_seq)
        return actions

    def _process(self, message: FixMessage, now: datetime) -> list[Action]:
        """Act on the message that is next in sequence; it uses up its number whatever happens."""
        store = self._store()
        store.set_next_target_seq(store.next_target_seq + 1)
        return self._safely(self._dispatch, message, now)

    def _safely(self, handler: _Handler, message: FixMessage, now: datetime) -> list[Action]:
        try:
            return handler(message, now)
        except FixError as exc:
            return self._reject(message, exc, now)

    def _dispatch(self, message: FixMessage, now: datetime) -> list[Action]:
        check_sending_time(message, now, None)  # accuracy was checked on arrival
        msg_type = message.msg_type
        if not _MSG_TYPE.fullmatch(msg_type):
            raise InvalidMsgTypeError(f"invalid MsgType {msg_type[:8]!r}", tag=Tag.MSG_TYPE)
        handler = _HANDLERS.get(msg_type)
        return [Deliver(message)] if handler is None else handler(self, message, now)

    # -- session-level messages -------------------------------------------------------------------

    def _on_test_request(self, message: FixMessage, now: datetime) -> list[Action]:
        test_request_id = message.require(Tag.TEST_REQ_ID)
        return [self._transmit(FixMessage.of(MsgType.HEARTBEAT, (Tag.TEST_REQ_ID, test_request_id)), now)]

    def _on_resend_request(self, message: FixMessage, now: datetime) -> list[Action]:
        begin, end = message.require_int(Tag.BEGIN_SEQ_NO), message.require_int(Tag.END_SEQ_NO)
        if begin < 1:
            raise ValueIncorrectError("BeginSeqNo must be at least 1", tag=Tag.BEGIN_SEQ_NO)
        if end and end < begin:
            raise ValueIncorrectError("EndSeqNo must be 0 or at least BeginSeqNo", tag=Tag.END_SEQ_NO)
        frames = answer_resend(
            self._store(), begin, end, sender=self.config.comp_id, target=self.their_comp_id, now=now
        )
        if frames:
            self._liveness.sent(now)
        return [Transmit(frame) for frame in frames]

    def _on_gap_fill(self, message: FixMessage, now: datetime) -> list[Action]:
        new_sequence = message.require_int(Tag.NEW_SEQ_NO)
        if new_sequence <= message.require_int(Tag.MSG_SEQ_NUM):
            raise ValueIncorrectError("NewSeqNo must be above MsgSeqNum", tag=Tag.NEW_SEQ_NO)
        store = self._store()
        store.set_next_target_seq(max(new_sequence, store.next_target_seq))
        return []

    def _sequence_reset(self, message: FixMessage, now: datetime) -> list[Action]:
        """SequenceReset-Reset: the peer's next number is NewSeqNo, whatever this one's was."""
        sequence = message.require_int(Tag.MSG_SEQ_NUM)
        try:
            new_sequence = message.require_int(Tag.NEW_SEQ_NO)
        except FixError as exc:
            return self._reject(message, exc, now, sequence)
        store = self._store()
        if new_sequence < store.next_target_seq:
            error = ValueIncorrectError(
                f"NewSeqNo {new_sequence} would lower the expected MsgSeqNum {store.next_target_seq}",
                tag=Tag.NEW_SEQ_NO,
            )
            return self._reject(message, error, now, sequence)
        store.set_next_target_seq(new_sequence)
        return self._drain(now)

    def _on_logout(self, message: FixMessage, now: datetime) -> list[Action]:
        if self.state is SessionState.LOGOUT_SENT:
            self.state = SessionState.CLOSED
            return [Disconnect("logout complete")]
        actions: list[Action] = [self._transmit(FixMessage.of(MsgType.LOGOUT), now)]
        self.state = SessionState.CLOSED
        return [*actions, Disconnect("logout requested by the peer")]

    def _on_logon(self, message: FixMessage, now: datetime) -> list[Action]:
        return self._logout_and_close("Logon received on a session already logged on", now)

    # -- outbound ---------------------------------------------------------------------------------

    def send(self, body: FixMessage, now: datetime) -> bytes:
        """Number, store and encode an application message for this (logged-on) session."""
        assert self.active, self.state
        return self._transmit(body, now).data

    def reject(
        self, message: FixMessage, error: FixError, now: datetime, ref_sequence: int | None = None
    ) -> list[Action]:
        """A session-level Reject (35=3) of `message`, for errors the application layer finds."""
        return self._reject(message, error, now, ref_sequence)

    def logout(self, text: str, now: datetime) -> list[Action]:
        """Start the logout handshake; the peer's Logout (or a timeout) ends the connection."""
        if self.state is not SessionState.ACTIVE:
            return []
        actions: list[Action] = [self._transmit(FixMessage.of(MsgType.LOGOUT, (Tag.TEXT, text)), now)]
        self.state, self._logout_at = SessionState.LOGOUT_SENT, now
        return actions

    def tick(self, now: datetime) -> list[Action]:
        """Timers: logon and logout timeouts, our heartbeats, and test requests to a silent peer."""
        state = self.state
        if state is SessionState.AWAITING_LOGON:
            timeout = self.config.logon_timeout_seconds
            return self._close_after(self._connected_at, timeout, "no Logon in time", now)
        if state is SessionState.LOGOUT_SENT:
            timeout = self.config.logout_timeout_seconds
            return self._close_after(self._logout_at, timeout, "no reply to our Logout", now)
        if state is not SessionState.ACTIVE:
            return []
        due = self._liveness.check(now)
        if due.dead:
            return self._logout_and_close("no reply to TestRequest", now)
        if due.test_request_id:
            request = FixMessage.of(MsgType.TEST_REQUEST, (Tag.TEST_REQ_ID, due.test_request_id))
            return [self._transmit(request, now)]
        return [self._transmit(FixMessage.of(MsgType.HEARTBEAT), now)] if due.heartbeat else []

    def _close_after(self, since: datetime, timeout: float, reason: str, now: datetime) -> list[Action]:
        if elapsed(since, now) < timeout:
            return []
        self.state = SessionState.CLOSED
        return [Disconnect(reason)]

    # -- helpers ----------------------------------------------------------------------------------

    def _store(self) -> SessionStore:
        assert self.store is not None, "no store before logon"
        return self.store

    def _transmit(self, body: FixMessage, now: datetime) -> Transmit:
        data = record_outbound(
            self._store(), body, sender=self.config.comp_id, target=self.their_comp_id, now=now
        )
        self._liveness.sent(now)
        self.messages_out += 1
        return Transmit(data)

    def _reject(
        self, message: FixMessage | None, error: FixError, now: datetime, ref_sequence: int | None = None
    ) -> list[Action]:
        if ref_sequence is None and message is not None:
            value = message.get(Tag.MSG_SEQ_NUM)
            ref_sequence = int(value) if value is not None and value.isascii() and value.isdigit() else 0
        fields: list[tuple[int, str | int]] = [(Tag.REF_SEQ_NUM, ref_sequence or 0)]
        if error.tag is not None:
            fields.append((Tag.REF_TAG_ID, error.tag))
        if message is not None and message.msg_type:
            fields.append((Tag.REF_MSG_TYPE, message.msg_type))
        fields += [(Tag.SESSION_REJECT_REASON, error.reason), (Tag.TEXT, str(error))]
        return [self._transmit(FixMessage.of(MsgType.REJECT, *fields), now)]

    def _garbled(self, item: FixGarbled, now: datetime) -> list[Action]:
        """Reject a frame that failed its checks (bad CheckSum, BodyLength or fields). It uses up
        its number when it had the expected one, as any rejected message does."""
        value = item.message.get(Tag.MSG_SEQ_NUM) if item.message is not None else None
        if value is None or not (value.isascii() and value.isdigit()):
            return []  # nothing to refer to: ignored, as FIX prescribes for garbled messages
        sequence, store = int(value), self._store()
        if sequence != store.next_target_seq:
            return self._reject(item.message, item.error, now, sequence)
        store.set_next_target_seq(sequence + 1)
        return self._reject(item.message, item.error, now, sequence) + self._drain(now)

    def _logout_and_close(self, text: str, now: datetime) -> list[Action]:
        actions: list[Action] = [self._transmit(FixMessage.of(MsgType.LOGOUT, (Tag.TEXT, text)), now)]
        self.state = SessionState.CLOSED
        return [*actions, Disconnect(text)]


_Handler = Callable[[FixMessage, datetime], list[Action]]


def _ignore(session: FixSession, message: FixMessage, now: datetime) -> list[Action]:
    return []


_HANDLERS: dict[str, Callable[[FixSession, FixMessage, datetime], list[Action]]] = {
    MsgType.HEARTBEAT: _ignore,  # receiving anything proves the peer alive (see tick)
    MsgType.TEST_REQUEST: FixSession._on_test_request,
    MsgType.RESEND_REQUEST: FixSession._on_resend_request,
    MsgType.REJECT: _ignore,  # the peer refused one of ours: nothing to undo at session level
    MsgType.SEQUENCE_RESET: FixSession._on_gap_fill,
    MsgType.LOGOUT: FixSession._on_logout,
    MsgType.LOGON: FixSession._on_logon,
}


def _too_low_text(expected: int, sequence: int) -> str:
    return f"MsgSeqNum too low, expecting {expected} but received {sequence}"
