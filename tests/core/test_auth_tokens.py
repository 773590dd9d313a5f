"""Signed session cookies and CSRF tokens: round trips, tampering, expiry on a FakeClock, bad input."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import Signer, URLSafeSerializer

from scalebox.core.auth.tokens import CsrfCodec, NamedSessionCodec, Session, SessionCodec
from scalebox.core.clock import FakeClock

SECRET = "s" * 32
OTHER_SECRET = "o" * 32
MAX_AGE_SECONDS = 3600


def make_session_codec(clock: FakeClock, secret: str = SECRET) -> SessionCodec:
    return SessionCodec(secret, MAX_AGE_SECONDS, clock)


def make_session(clock: FakeClock, **overrides) -> Session:
    return Session(**{"account_id": 123_456_789_012, "issued_at": clock.now(), **overrides})


def flip_last_char(text: str) -> str:
    return text[:-1] + ("A" if text[-1] != "A" else "B")


def test_session_decode_returns_the_encoded_session():
    clock = FakeClock()
    codec = make_session_codec(clock)
    session = make_session(clock, issued_at=clock.now() + timedelta(microseconds=123_457))

    assert codec.decode(codec.encode(session)) == session


def test_session_decode_keeps_the_instant_when_issued_at_has_another_offset():
    clock = FakeClock()
    issued_at = clock.now().astimezone(timezone(timedelta(hours=5, minutes=30)))
    codec = make_session_codec(clock)

    decoded = codec.decode(codec.encode(make_session(clock, issued_at=issued_at)))

    assert decoded is not None
    assert decoded.issued_at == issued_at
    assert decoded.issued_at.tzinfo is UTC


def test_session_decode_returns_none_when_signature_is_tampered():
    clock = FakeClock()
    codec = make_session_codec(clock)

    assert codec.decode(flip_last_char(codec.encode(make_session(clock)))) is None


def test_session_decode_returns_none_when_payload_is_tampered():
    clock = FakeClock()
    codec = make_session_codec(clock)
    payload, signature = codec.encode(make_session(clock)).split(".")
    other_payload = codec.encode(make_session(clock, account_id=1)).split(".")[0]

    assert codec.decode(f"{other_payload}.{signature}") is None
    assert codec.decode(f"{payload}.{signature}") is not None


def test_session_decode_returns_none_when_signed_with_another_secret():
    clock = FakeClock()
    token = make_session_codec(clock, OTHER_SECRET).encode(make_session(clock))

    assert make_session_codec(clock).decode(token) is None


def test_session_decode_accepts_session_until_max_age():
    clock = FakeClock()
    codec = make_session_codec(clock)
    token = codec.encode(make_session(clock))

    clock.advance(seconds=MAX_AGE_SECONDS)

    assert codec.decode(token) is not None


def test_session_decode_returns_none_when_expired():
    clock = FakeClock()
    codec = make_session_codec(clock)
    token = codec.encode(make_session(clock))

    clock.advance(seconds=MAX_AGE_SECONDS + 1)

    assert codec.decode(token) is None


def test_session_decode_returns_none_when_issued_far_in_the_future():
    clock = FakeClock()
    codec = make_session_codec(clock)

    soon = codec.encode(make_session(clock, issued_at=clock.now() + timedelta(seconds=30)))
    later = codec.encode(make_session(clock, issued_at=clock.now() + timedelta(hours=1)))

    assert codec.decode(soon) is not None  # within the allowed skew between processes' clocks
    assert codec.decode(later) is None


@pytest.mark.parametrize(
    "payload", [[1], [1, 2, 3], {"a": 1}, ["1", 0], [1, 1.5], [True, 0], [1, 10**30], "x"]
)
def test_session_decode_returns_none_when_signed_payload_has_wrong_shape(payload):
    # Signed with the right key and salt, as an older release might have written it.
    serializer = URLSafeSerializer(
        SECRET, salt="scalebox.session", signer_kwargs={"digest_method": hashlib.sha256}
    )

    assert make_session_codec(FakeClock()).decode(serializer.dumps(payload)) is None


def test_session_decode_returns_none_when_token_is_a_csrf_token():
    clock = FakeClock()
    token = CsrfCodec(SECRET).token_for("a" * 32)

    assert make_session_codec(clock).decode(token) is None


@pytest.mark.parametrize("text", ["", ".", "abc", "a.b", "é.ü", "x" * 10_000, "\udcff"])
def test_session_decode_returns_none_when_text_is_garbage(text):
    assert make_session_codec(FakeClock()).decode(text) is None


@given(st.text())
def test_session_decode_never_raises_when_text_is_arbitrary(text):
    assert make_session_codec(FakeClock()).decode(text) is None


@pytest.mark.parametrize("secret", ["", "short", b"0123456789abcde"])
def test_codecs_raise_when_secret_key_is_short(secret):
    with pytest.raises(ValueError, match="secret key"):
        SessionCodec(secret, MAX_AGE_SECONDS, FakeClock())
    with pytest.raises(ValueError, match="secret key"):
        CsrfCodec(secret)


def test_csrf_new_browser_id_is_random_base62():
    codec = CsrfCodec(SECRET)
    rng = random.Random(5)

    first, second = codec.new_browser_id(rng), codec.new_browser_id(rng)

    assert first != second
    assert len(first) == 32
    assert first.isalnum()
    assert first.isascii()


def test_csrf_check_accepts_token_for_the_same_browser():
    codec = CsrfCodec(SECRET)
    browser_id = codec.new_browser_id(random.Random(1))

    assert codec.check(browser_id, codec.token_for(browser_id))


def test_csrf_check_rejects_token_for_another_browser():
    codec = CsrfCodec(SECRET)
    rng = random.Random(1)
    mine, theirs = codec.new_browser_id(rng), codec.new_browser_id(rng)

    assert not codec.check(mine, codec.token_for(theirs))


def test_csrf_check_rejects_token_signed_with_another_secret():
    browser_id = CsrfCodec(SECRET).new_browser_id(random.Random(1))

    assert not CsrfCodec(SECRET).check(browser_id, CsrfCodec(OTHER_SECRET).token_for(browser_id))


def test_csrf_check_rejects_tampered_token():
    codec = CsrfCodec(SECRET)
    browser_id = codec.new_browser_id(random.Random(1))

    assert not codec.check(browser_id, flip_last_char(codec.token_for(browser_id)))
    assert not codec.check(browser_id, browser_id)


@pytest.mark.parametrize(
    ("browser_id", "token"),
    [(None, None), (None, "t"), ("b" * 32, None), ("", ""), ("b" * 32, ""), ("", "t")],
)
def test_csrf_check_rejects_when_cookie_or_token_missing(browser_id, token):
    assert not CsrfCodec(SECRET).check(browser_id, token)


@pytest.mark.parametrize("browser_id", ["short", "b" * 129, "b" * 31 + "!", "ü" * 32, "\udcff" * 32])
def test_csrf_check_rejects_when_browser_id_is_malformed(browser_id):
    codec = CsrfCodec(SECRET)
    # Signed as if it were an id, to show the shape check alone turns it away.
    forged = Signer(SECRET, salt="csrf", digest_method=hashlib.sha256).sign(
        browser_id.encode("utf-8", "surrogatepass")
    )

    assert not CsrfCodec.is_browser_id(browser_id)
    assert not codec.check(browser_id, forged.decode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("suffix", ["é", "\udcff", "x" * 5000])
def test_csrf_check_rejects_when_token_is_not_ascii_or_too_long(suffix):
    codec = CsrfCodec(SECRET)
    browser_id = codec.new_browser_id(random.Random(1))

    assert not codec.check(browser_id, codec.token_for(browser_id) + suffix)


@pytest.mark.parametrize("browser_id", ["short", "b" * 129, "ü" * 32])
def test_csrf_token_for_raises_when_browser_id_is_malformed(browser_id):
    with pytest.raises(ValueError, match="browser id"):
        CsrfCodec(SECRET).token_for(browser_id)


def test_csrf_is_browser_id_accepts_new_ids():
    codec = CsrfCodec(SECRET)

    assert codec.is_browser_id(codec.new_browser_id(random.Random(2)))
    assert not codec.is_browser_id(None)


@given(st.one_of(st.none(), st.text()), st.one_of(st.none(), st.text()))
def test_csrf_check_never_raises_when_inputs_are_arbitrary(browser_id, token):
    assert not CsrfCodec(SECRET).check(browser_id, token)


def test_csrf_token_is_stable_for_a_browser():
    # Several open tabs share the cookie, so each must get a token the others' forms agree with.
    codec = CsrfCodec(SECRET)

    assert codec.token_for("b" * 32) == codec.token_for("b" * 32) == CsrfCodec(SECRET).token_for("b" * 32)


def test_session_codec_time_comes_from_the_clock_not_the_system():
    clock = FakeClock(current=datetime(2001, 1, 1, tzinfo=UTC))
    codec = make_session_codec(clock)
    token = codec.encode(make_session(clock))

    assert codec.decode(token) is not None  # decades before the system time: still fresh


def test_named_sessions_round_trip_and_expire() -> None:
    clock = FakeClock()
    codec = NamedSessionCodec("k" * 32, 60, clock, salt="console-a")
    cookie = codec.encode("alice")
    assert codec.decode(cookie) == "alice"
    clock.advance(seconds=61)
    assert codec.decode(cookie) is None


def test_named_sessions_of_one_salt_mean_nothing_under_another() -> None:
    clock = FakeClock()
    cookie = NamedSessionCodec("k" * 32, 60, clock, salt="console-a").encode("alice")
    assert NamedSessionCodec("k" * 32, 60, clock, salt="console-b").decode(cookie) is None


def test_named_sessions_refuse_an_account_session_and_garbage() -> None:
    clock = FakeClock()
    named = NamedSessionCodec("k" * 32, 60, clock, salt="scalebox.session")
    account_cookie = SessionCodec("k" * 32, 60, clock).encode(Session(account_id=7, issued_at=clock.now()))
    assert named.decode(account_cookie) is None  # same salt and key, but an id is not a name
    assert named.decode("x" * 5000) is None
    assert named.decode("not.a.cookie") is None
