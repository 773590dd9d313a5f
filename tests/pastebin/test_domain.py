"""Pure paste rules: request validation, text decoding, expiry, visibility and storage keys."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from scalebox.pastebin.domain import (
    EXPIRIES,
    FILE_NAME_CHARS_MAX,
    FILES_MAX,
    TITLE_CHARS_MAX,
    Visibility,
    blob_key,
    content_hash,
    decode_text,
    expires_at,
    highlight_key,
    highlight_prefix,
    token_hash,
    validate_request,
)
from scalebox.pastebin.errors import InvalidPasteError, PasteTooLargeError
from tests.pastebin.factories import T0, make_draft, make_paste, make_request

SIZE_MAX = 1000


def validate(request, *, size_bytes_max=SIZE_MAX, signed_in=False):
    validate_request(request, size_bytes_max=size_bytes_max, signed_in=signed_in)


# -- validate_request --------------------------------------------------------------------------


def test_validate_request_accepts_an_ordinary_paste():
    validate(make_request())


@pytest.mark.parametrize("content", ["", " ", "\n\n", "\t \r\n  ", "\u3000\u2003"])
def test_validate_request_rejects_content_when_empty_or_whitespace_only(content):
    with pytest.raises(InvalidPasteError, match="empty") as caught:
        validate(make_request(content=content))
    assert caught.value.field == "content"


@pytest.mark.parametrize("content", ["\x00", "abc\x00def", "PK\x03\x04\x00\x00binary"])
def test_validate_request_rejects_content_when_it_holds_nul(content):
    with pytest.raises(InvalidPasteError, match="binary") as caught:
        validate(make_request(content=content))
    assert caught.value.field == "content"


def test_validate_request_rejects_content_when_it_holds_a_lone_surrogate():
    with pytest.raises(InvalidPasteError, match="Unicode"):
        validate(make_request(content="ok \ud800 not ok"))


def test_validate_request_accepts_size_when_exactly_at_the_limit():
    validate(make_request(content="x" * SIZE_MAX))


def test_validate_request_rejects_size_when_one_byte_over_the_limit():
    with pytest.raises(PasteTooLargeError):
        validate(make_request(content="x" * (SIZE_MAX + 1)))


def test_validate_request_counts_size_in_utf8_bytes_not_characters():
    euro = "\u20ac"  # three bytes in UTF-8
    validate(make_request(content=euro * (SIZE_MAX // 3)))
    with pytest.raises(PasteTooLargeError):
        validate(make_request(content=euro * (SIZE_MAX // 3 + 1)))


def test_validate_request_counts_size_over_all_files_together():
    half = "y" * (SIZE_MAX // 2)
    validate(make_request(files=[make_draft(content=half), make_draft(content=half)]))
    with pytest.raises(PasteTooLargeError):
        validate(make_request(files=[make_draft(content=half), make_draft(content=half + "y")]))


def test_validate_request_rejects_files_when_there_are_none():
    with pytest.raises(InvalidPasteError) as caught:
        validate(make_request(files=[]))
    assert caught.value.field == "files"


def test_validate_request_accepts_files_when_exactly_at_the_maximum():
    validate(make_request(files=[make_draft(content=f"file {i}") for i in range(FILES_MAX)]))


def test_validate_request_rejects_files_when_too_many():
    with pytest.raises(InvalidPasteError) as caught:
        validate(make_request(files=[make_draft(content=f"file {i}") for i in range(FILES_MAX + 1)]))
    assert caught.value.field == "files"


@pytest.mark.parametrize("expiry", ["", "1d", "forever", "1DAY", "2days"])
def test_validate_request_rejects_expiry_when_unknown(expiry):
    with pytest.raises(InvalidPasteError) as caught:
        validate(make_request(expiry=expiry))
    assert caught.value.field == "expiry"


@pytest.mark.parametrize("expiry", list(EXPIRIES))
def test_validate_request_accepts_expiry_when_known(expiry):
    validate(make_request(expiry=expiry))


def test_validate_request_rejects_private_when_anonymous():
    with pytest.raises(InvalidPasteError) as caught:
        validate(make_request(visibility=Visibility.PRIVATE), signed_in=False)
    assert caught.value.field == "visibility"


def test_validate_request_accepts_private_when_signed_in():
    validate(make_request(visibility=Visibility.PRIVATE), signed_in=True)


def test_validate_request_accepts_title_when_exactly_at_the_limit():
    validate(make_request(title="t" * TITLE_CHARS_MAX))


def test_validate_request_rejects_title_when_too_long():
    with pytest.raises(InvalidPasteError) as caught:
        validate(make_request(title="t" * (TITLE_CHARS_MAX + 1)))
    assert caught.value.field == "title"


@pytest.mark.parametrize("name", ["n" * (FILE_NAME_CHARS_MAX + 1), "evil\x00.py"])
def test_validate_request_rejects_file_name_when_too_long_or_holding_nul(name):
    with pytest.raises(InvalidPasteError) as caught:
        validate(make_request(files=[make_draft(name=name)]))
    assert caught.value.field == "name"


@pytest.mark.parametrize("password", ["", "p" * 1025])
def test_validate_request_rejects_password_when_empty_or_too_long(password):
    with pytest.raises(InvalidPasteError) as caught:
        validate(make_request(password=password))
    assert caught.value.field == "password"


# -- decode_text -------------------------------------------------------------------------------


def test_decode_text_returns_text_when_utf8():
    assert decode_text("h\u00e9llo \U0001f600\r\n".encode()) == "h\u00e9llo \U0001f600\r\n"


@pytest.mark.parametrize("data", [b"\xff\xfe", b"caf\xe9", b"ok then \xc3"])
def test_decode_text_rejects_bytes_when_not_utf8(data):
    with pytest.raises(InvalidPasteError, match="not UTF-8") as caught:
        decode_text(data)
    assert caught.value.field == "content"


def test_decode_text_names_the_offset_of_the_bad_byte():
    with pytest.raises(InvalidPasteError, match="offset 3"):
        decode_text(b"abc\x80")


def test_decode_text_rejects_bytes_when_binary_with_nul():
    with pytest.raises(InvalidPasteError, match="binary"):
        decode_text(b"\x7fELF\x02\x01\x01\x00\x00")


def test_decode_text_rejects_bytes_when_blank():
    with pytest.raises(InvalidPasteError, match="empty"):
        decode_text(b" \n\t")


# -- expires_at --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expiry", "lifetime"),
    [
        ("10min", timedelta(minutes=10)),
        ("1hour", timedelta(hours=1)),
        ("1day", timedelta(days=1)),
        ("1week", timedelta(days=7)),
        ("1month", timedelta(days=30)),
        ("1year", timedelta(days=365)),
    ],
)
def test_expires_at_adds_the_lifetime_when_expiry_is_known(expiry, lifetime):
    assert expires_at(expiry, T0) == T0 + lifetime


def test_expires_at_is_none_when_expiry_is_never():
    assert expires_at("never", T0) is None


def test_expires_at_raises_when_expiry_is_unknown():
    with pytest.raises(InvalidPasteError, match="unknown expiry"):
        expires_at("1fortnight", T0)


def test_expiries_cover_every_expiry_with_a_lifetime_or_never():
    assert set(EXPIRIES) == {"10min", "1hour", "1day", "1week", "1month", "1year", "never"}


# -- Paste predicates --------------------------------------------------------------------------


def test_is_expired_is_false_before_and_true_from_the_expiry_instant():
    paste = make_paste(expires_at=T0 + timedelta(minutes=10))

    assert not paste.is_expired(T0 + timedelta(minutes=10) - timedelta(microseconds=1))
    assert paste.is_expired(T0 + timedelta(minutes=10))
    assert paste.is_expired(T0 + timedelta(days=1))


def test_is_expired_is_false_when_paste_never_expires():
    assert not make_paste(expires_at=None).is_expired(T0 + timedelta(days=365 * 100))


def test_is_listed_is_true_when_public_and_live():
    assert make_paste().is_listed(T0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"visibility": Visibility.UNLISTED},
        {"visibility": Visibility.PRIVATE},
        {"burn_after_reading": True},
        {"encrypted": True},
        {"hidden": True},
        {"expires_at": T0},
    ],
    ids=["unlisted", "private", "burn", "sealed", "hidden", "expired"],
)
def test_is_listed_is_false_when_any_rule_withholds_it(overrides):
    assert not make_paste(**overrides).is_listed(T0)


def test_can_view_private_only_by_the_owner():
    paste = make_paste(visibility=Visibility.PRIVATE, owner_id=7)

    assert paste.can_view(7)
    assert not paste.can_view(8)
    assert not paste.can_view(None)


def test_can_view_private_by_an_admin():
    assert make_paste(visibility=Visibility.PRIVATE, owner_id=7).can_view(None, is_admin=True)


@pytest.mark.parametrize("visibility", [Visibility.PUBLIC, Visibility.UNLISTED])
def test_can_view_public_and_unlisted_by_anyone(visibility):
    paste = make_paste(visibility=visibility, owner_id=7)

    assert paste.can_view(None)
    assert paste.can_view(8)


def test_can_view_hidden_only_by_the_owner_and_admins():
    paste = make_paste(hidden=True, owner_id=7)

    assert paste.can_view(7)
    assert paste.can_view(1, is_admin=True)
    assert not paste.can_view(8)
    assert not paste.can_view(None)


def test_can_view_hidden_anonymous_paste_by_nobody_but_admins():
    paste = make_paste(hidden=True, owner_id=None)

    assert not paste.can_view(None)
    assert paste.can_view(None, is_admin=True)


# -- hashes and keys ---------------------------------------------------------------------------


def test_token_hash_is_the_sha256_hex_of_the_token():
    assert token_hash("abc") == hashlib.sha256(b"abc").hexdigest()
    assert token_hash("abc") != token_hash("abd")
    assert "abc" not in token_hash("abc")


def test_content_hash_is_the_sha256_hex_of_the_bytes():
    assert content_hash(b"hello") == hashlib.sha256(b"hello").hexdigest()


def test_blob_key_fans_out_by_the_first_two_hex_digits():
    digest = content_hash(b"hello")

    assert blob_key(digest) == f"content/{digest[:2]}/{digest}"


def test_highlight_key_lives_under_the_highlight_prefix_and_names_lexer_and_version():
    digest = content_hash(b"hello")
    key = highlight_key(digest, "python", "3")

    assert key.startswith(highlight_prefix(digest))
    assert key == f"html/{digest[:2]}/{digest}/v3-python"
    assert highlight_key(digest, "rust", "3") != key
    assert highlight_key(digest, "python", "4") != key


def test_highlight_prefix_is_disjoint_from_blob_keys():
    digest = content_hash(b"hello")

    assert not blob_key(digest).startswith(highlight_prefix(digest))
    assert highlight_prefix(digest).endswith("/")
