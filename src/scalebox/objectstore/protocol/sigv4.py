"""AWS Signature Version 4 verification for S3, server side: the Authorization header and presigned URLs.

Sans-IO: the HTTP edge passes the method, the raw (still percent-encoded) path and query, the headers and
the time. S3's flavour: the path is encoded once and never normalized. Only AWS4-HMAC-SHA256 is accepted
(no SigV2, SigV4a or POST policy forms); the credential's region is reported, never enforced.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_from_bytes, unquote_plus, unquote_to_bytes

from scalebox.objectstore.errors import (
    AccessDeniedError,
    AuthorizationHeaderMalformedError,
    ExpiredPresignedUrlError,
    InvalidAccessKeyIdError,
    InvalidArgumentError,
    InvalidRequestError,
    RequestTimeTooSkewedError,
    SignatureDoesNotMatchError,
)

ALGORITHM = "AWS4-HMAC-SHA256"
SERVICE = "s3"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
PRESIGNED_EXPIRES_SECONDS_MAX = 604800
SKEW_SECONDS_MAX = 900

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE_HEX = re.compile(r"[0-9a-f]{64}")
_PLAIN_PATH = re.compile(r"[A-Za-z0-9\-._~/]*")
_AUTH_FIELDS = ("Credential", "SignedHeaders", "Signature")
_PRESIGN_FIELDS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_SIGV2_REFUSAL = "The authorization mechanism you have provided (Signature Version 2) is not supported."


class PayloadMode(enum.Enum):
    """What `x-amz-content-sha256` says about the body."""

    SHA256 = "sha256"  # the header is the body's SHA-256, to be checked against the bytes
    UNSIGNED = UNSIGNED_PAYLOAD
    STREAMING_UNSIGNED_TRAILER = STREAMING_UNSIGNED_TRAILER
    STREAMING_SIGNED = STREAMING_SIGNED
    STREAMING_SIGNED_TRAILER = STREAMING_SIGNED_TRAILER

    @property
    def is_streaming(self) -> bool:
        """The body is aws-chunked."""
        return self not in (PayloadMode.SHA256, PayloadMode.UNSIGNED)

    @property
    def is_chunk_signed(self) -> bool:
        """Every chunk carries a signature chained from the request's."""
        return self in (PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER)

    @property
    def has_trailer(self) -> bool:
        """Trailing headers (named by `x-amz-trailer`) follow the last chunk."""
        return self in (PayloadMode.STREAMING_UNSIGNED_TRAILER, PayloadMode.STREAMING_SIGNED_TRAILER)


_LITERAL_MODES = {mode.value: mode for mode in PayloadMode if mode is not PayloadMode.SHA256}


def payload_mode(value: str) -> PayloadMode:
    """The mode an `x-amz-content-sha256` value names; anything else raises InvalidArgumentError."""
    mode = _LITERAL_MODES.get(value)
    if mode is not None:
        return mode
    if _SHA256_HEX.fullmatch(value):
        return PayloadMode.SHA256
    raise InvalidArgumentError(
        f"x-amz-content-sha256 must be {UNSIGNED_PAYLOAD}, {STREAMING_UNSIGNED_TRAILER}, {STREAMING_SIGNED},"
        f" {STREAMING_SIGNED_TRAILER} or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=value,
    )


@dataclass(frozen=True, slots=True)
class Credential:
    """What a request claims: who signed, the scope, which headers, the signature, and when."""

    access_key: str
    date: str  # YYYYMMDD, equal to amz_date's day
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str  # 64 lower-case hex digits
    amz_date: datetime  # aware, UTC
    expires_seconds: int | None = None  # presigned only

    @property
    def scope(self) -> str:
        """The credential scope, e.g. `20130524/us-east-1/s3/aws4_request`."""
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True, slots=True)
class AuthResult:
    """A verified request: who it is, and what the body decoder needs to go on verifying chunks."""

    access_key: str
    region: str
    amz_date: str  # YYYYMMDDTHHMMSSZ, as signed
    scope: str
    signing_key: bytes = field(repr=False)
    seed_signature: str
    payload_hash: str  # the claimed x-amz-content-sha256, or UNSIGNED-PAYLOAD
    presigned: bool
    payload_mode: PayloadMode


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key for one day, region and service; the same all day, so callers may cache it."""
    key = _hmac(f"AWS4{secret}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, TERMINATOR)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def parse_amz_date(value: str) -> datetime | None:
    """The aware UTC time of an ISO 8601 basic value (`20130524T000000Z`), or None if it is not one."""
    if len(value) != 16 or value[8] != "T" or value[15] != "Z":
        return None
    digits = value[:8] + value[9:15]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def render_amz_date(moment: datetime) -> str:
    """`moment` in ISO 8601 basic form, as SigV4 signs it."""
    return f"{moment:%Y%m%dT%H%M%SZ}"


def parse_query(query_string: str) -> list[tuple[str, str]]:
    """The raw query's (name, value) pairs, percent-decoded, in order; `a` alone is ("a", "").

    `+` means a space, as in S3 and in what botocore sends for `params`; SigV4 clients encode a real `+`
    as %2B. Bytes that are not UTF-8 survive as surrogates, so encoding again gives back the signed bytes.
    """
    pairs = []
    for piece in query_string.split("&"):
        if piece:
            name, _, value = piece.partition("=")
            pairs.append(
                (unquote_plus(name, errors="surrogateescape"), unquote_plus(value, errors="surrogateescape"))
            )
    return pairs


def parse_authorization(value: str, amz_date: datetime) -> Credential:
    """The credential in an `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` header.

    `amz_date` is the request's x-amz-date (or Date); the scope's day must match it. Components may be
    separated by commas, spaces or both. SigV2 (`AWS …`) raises InvalidRequestError; anything else
    malformed raises AuthorizationHeaderMalformedError.
    """
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm == "AWS":
        raise InvalidRequestError(f"{_SIGV2_REFUSAL} Please use {ALGORITHM}.")
    if algorithm != ALGORITHM:
        raise AuthorizationHeaderMalformedError(
            f"The authorization header is malformed; the algorithm {algorithm!r} is not supported;"
            f" use {ALGORITHM}."
        )
    fields: dict[str, str] = {}
    for item in rest.replace(",", " ").split():
        name, equals, component = item.partition("=")
        if not equals or name not in _AUTH_FIELDS or name in fields:
            raise AuthorizationHeaderMalformedError(
                f"The authorization header is malformed; unexpected component {item!r}."
            )
        fields[name] = component
    missing = [name for name in _AUTH_FIELDS if name not in fields]
    if missing:
        raise AuthorizationHeaderMalformedError(
            f"The authorization header is malformed; missing {', '.join(missing)}."
        )
    return _credential(
        fields["Credential"],
        fields["SignedHeaders"],
        fields["Signature"],
        amz_date=amz_date,
        expires_seconds=None,
        where="authorization header",
    )


def parse_presigned(query_pairs: Sequence[tuple[str, str]]) -> Credential | None:
    """The credential of a presigned URL's decoded query, or None if the query carries no SigV4 signature.

    X-Amz-Expires runs from 1 to 604800 seconds (a week). A SigV2 presigned URL raises InvalidRequestError.
    """
    fields: dict[str, str] = {}
    for name, value in query_pairs:
        if name in _PRESIGN_FIELDS:
            if name in fields:
                raise AuthorizationHeaderMalformedError(f"The query string gives {name} more than once.")
            fields[name] = value
    if "X-Amz-Signature" not in fields and "X-Amz-Algorithm" not in fields:
        names = {name for name, _ in query_pairs}
        if "AWSAccessKeyId" in names and "Signature" in names:
            raise InvalidRequestError(f"{_SIGV2_REFUSAL} Please use {ALGORITHM}.")
        return None
    if len(fields) != len(_PRESIGN_FIELDS):
        raise AuthorizationHeaderMalformedError(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential,"
            " X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
        )
    if fields["X-Amz-Algorithm"] != ALGORITHM:
        raise AuthorizationHeaderMalformedError(f'X-Amz-Algorithm only supports "{ALGORITHM}".')
    amz_date = parse_amz_date(fields["X-Amz-Date"])
    if amz_date is None:
        raise AuthorizationHeaderMalformedError(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"."
        )
    expires = fields["X-Amz-Expires"]
    if not (expires.isascii() and expires.isdigit() and 1 <= int(expires) <= PRESIGNED_EXPIRES_SECONDS_MAX):
        raise AuthorizationHeaderMalformedError(
            f"X-Amz-Expires must be a whole number of seconds from 1 to {PRESIGNED_EXPIRES_SECONDS_MAX}"
            f" (a week); got {expires!r}."
        )
    return _credential(
        fields["X-Amz-Credential"],
        fields["X-Amz-SignedHeaders"],
        fields["X-Amz-Signature"],
        amz_date=amz_date,
        expires_seconds=int(expires),
        where="X-Amz-Credential",
    )


def _credential(
    scope: str, signed: str, signature: str, *, amz_date: datetime, expires_seconds: int | None, where: str
) -> Credential:
    parts = scope.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise AuthorizationHeaderMalformedError(
            f"The {where} is malformed; the Credential is malformed; expecting"
            f' "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/{TERMINATOR}".'
        )
    access_key, date, region, service, terminator = parts
    if terminator != TERMINATOR:
        raise AuthorizationHeaderMalformedError(
            f'The {where} is malformed; incorrect terminal "{terminator}". This endpoint uses "{TERMINATOR}".'
        )
    if service != SERVICE:
        raise AuthorizationHeaderMalformedError(
            f'The {where} is malformed; incorrect service "{service}". This endpoint belongs to "{SERVICE}".'
        )
    if date != f"{amz_date:%Y%m%d}":
        raise AuthorizationHeaderMalformedError(
            f"The {where} is malformed; Invalid credential date {date!r}. Date is not the same as X-Amz-Date."
        )
    signed_headers = tuple(signed.split(";"))
    if not all(signed_headers) or "host" not in signed_headers:
        raise AuthorizationHeaderMalformedError(
            f"The {where} is malformed; SignedHeaders {signed!r} must be a ';'-separated list including host."
        )
    signature = signature.lower()
    if not _SIGNATURE_HEX.fullmatch(signature):
        raise AuthorizationHeaderMalformedError(
            f"The {where} is malformed; the Signature must be 64 hexadecimal digits."
        )
    return Credential(access_key, date, region, service, signed_headers, signature, amz_date, expires_seconds)


def canonical_uri(raw_path: str) -> str:
    """The canonical URI of a raw path: each segment decoded, then encoded once, every byte but
    `A-Za-z0-9-._~`; never normalized, since in S3 `a//b` and `a/../b` are keys like any other."""
    if not raw_path:
        return "/"
    if _PLAIN_PATH.fullmatch(raw_path):
        return raw_path
    return "/".join(quote_from_bytes(unquote_to_bytes(segment), safe="") for segment in raw_path.split("/"))


def canonical_query(query_pairs: Sequence[tuple[str, str]]) -> str:
    """The canonical query: decoded pairs encoded again (`/` too), sorted by name then value, without
    X-Amz-Signature."""
    encoded = sorted(
        (quote(name, safe="", errors="surrogateescape"), quote(value, safe="", errors="surrogateescape"))
        for name, value in query_pairs
        if name != "X-Amz-Signature"
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_request(
    method: str,
    raw_path: str,
    query_pairs: Sequence[tuple[str, str]],
    headers: Sequence[tuple[str, str]],
    *,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    """The SigV4 canonical request. Header values are trimmed, inner whitespace runs become one space,
    and a repeated header's values are joined with `,`; a signed header that is absent counts as empty."""
    return _canonical_request(
        method,
        raw_path,
        query_pairs,
        _header_map(headers),
        signed_headers=signed_headers,
        payload_hash=payload_hash,
    )


def _canonical_request(
    method: str,
    raw_path: str,
    query_pairs: Sequence[tuple[str, str]],
    header_map: dict[str, list[str]],
    *,
    signed_headers: Sequence[str],
    payload_hash: str,
) -> str:
    lines = [method, canonical_uri(raw_path), canonical_query(query_pairs)]
    for name in signed_headers:
        lowered = name.lower()
        values = header_map.get(lowered, ())
        lines.append(f"{lowered}:{','.join(' '.join(value.split()) for value in values)}")
    lines.append("")
    lines.append(";".join(signed_headers))
    lines.append(payload_hash)
    return "\n".join(lines)


def string_to_sign(amz_date: str, scope: str, canonical: str) -> str:
    """The SigV4 string to sign for a canonical request."""
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def presign_query(
    method: str,
    raw_path: str,
    host: str,
    *,
    access_key: str,
    secret: str,
    region: str,
    now: datetime,
    expires_seconds: int,
    query_pairs: Sequence[tuple[str, str]] = (),
) -> str:
    """The query string of a presigned URL for `method raw_path` on `host`, as `verify` checks it:
    only `host` signed, the payload unsigned, valid `expires_seconds` from `now`."""
    assert now.tzinfo is not None, "now must be an aware datetime"
    assert 1 <= expires_seconds <= PRESIGNED_EXPIRES_SECONDS_MAX, expires_seconds
    date, amz_date = f"{now:%Y%m%d}", render_amz_date(now)
    scope = f"{date}/{region}/{SERVICE}/{TERMINATOR}"
    pairs = [
        *query_pairs,
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", f"{access_key}/{scope}"),
        ("X-Amz-Date", amz_date),
        ("X-Amz-Expires", str(expires_seconds)),
        ("X-Amz-SignedHeaders", "host"),
    ]
    canonical = canonical_request(
        method, raw_path, pairs, [("host", host)], signed_headers=("host",), payload_hash=UNSIGNED_PAYLOAD
    )
    key = signing_key(secret, date, region, SERVICE)
    signature = _sign(key, string_to_sign(amz_date, scope, canonical))
    return f"{canonical_query(pairs)}&X-Amz-Signature={signature}"


def _header_map(headers: Sequence[tuple[str, str]]) -> dict[str, list[str]]:
    header_map: dict[str, list[str]] = {}
    for name, value in headers:
        header_map.setdefault(name, []).append(value)
    return header_map


def verify(
    method: str,
    raw_path: str,
    query_string: str,
    headers: Sequence[tuple[str, str]],
    *,
    now: datetime,
    lookup_secret: Callable[[str], str | None],
    skew_seconds_max: int = SKEW_SECONDS_MAX,
) -> AuthResult | None:
    """Check a request's SigV4 signature, from its Authorization header or its presigned query.

    Returns None for an anonymous request. `headers` have lower-case names and values decoded from the
    wire as UTF-8 with surrogateescape (ASCII is the common case). Raises InvalidAccessKeyIdError,
    SignatureDoesNotMatchError (with StringToSign and CanonicalRequest in `extra`), RequestTimeTooSkewedError,
    ExpiredPresignedUrlError, AccessDeniedError (no usable date) or a malformed-request error.
    """
    assert now.tzinfo is not None, "now must be an aware datetime"
    header_map = _header_map(headers)
    query_pairs = parse_query(query_string) if query_string else []
    presigned = parse_presigned(query_pairs)
    authorization = header_map.get("authorization")
    if authorization is None:
        if presigned is None:
            return None
        credential = presigned
        _check_presigned_time(credential, now, skew_seconds_max)
        payload_hash = _presigned_payload_hash(header_map, query_pairs)
    else:
        if presigned is not None:
            raise InvalidArgumentError(
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query"
                " string parameter or the Authorization header should be specified.",
                ArgumentName="Authorization",
            )
        if len(authorization) != 1:
            raise AuthorizationHeaderMalformedError("The request has more than one Authorization header.")
        credential = parse_authorization(authorization[0], _request_date(header_map))
        _check_skew(credential.amz_date, now, skew_seconds_max)
        payload_hash = _header_payload_hash(header_map)
    mode = payload_mode(payload_hash)
    secret = lookup_secret(credential.access_key)
    if secret is None:
        raise InvalidAccessKeyIdError(
            "The AWS Access Key Id you provided does not exist in our records.",
            AWSAccessKeyId=credential.access_key,
        )
    amz_date = render_amz_date(credential.amz_date)
    canonical = _canonical_request(
        method,
        raw_path,
        query_pairs,
        header_map,
        signed_headers=credential.signed_headers,
        payload_hash=payload_hash,
    )
    to_sign = string_to_sign(amz_date, credential.scope, canonical)
    key = signing_key(secret, credential.date, credential.region, credential.service)
    if not hmac.compare_digest(_sign(key, to_sign), credential.signature):
        raise SignatureDoesNotMatchError(
            "The request signature we calculated does not match the signature you provided."
            " Check your key and signing method.",
            AWSAccessKeyId=credential.access_key,
            StringToSign=to_sign,
            SignatureProvided=credential.signature,
            CanonicalRequest=canonical,
        )
    return AuthResult(
        access_key=credential.access_key,
        region=credential.region,
        amz_date=amz_date,
        scope=credential.scope,
        signing_key=key,
        seed_signature=credential.signature,
        payload_hash=payload_hash,
        presigned=presigned is not None,
        payload_mode=mode,
    )


def _sign(key: bytes, to_sign: str) -> str:
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _header_payload_hash(header_map: dict[str, list[str]]) -> str:
    claimed = header_map.get("x-amz-content-sha256")
    if not claimed:
        raise InvalidRequestError("Missing required header for this request: x-amz-content-sha256")
    return claimed[0]


def _presigned_payload_hash(header_map: dict[str, list[str]], query_pairs: Sequence[tuple[str, str]]) -> str:
    # A presigned URL signs UNSIGNED-PAYLOAD unless the client put a hash in a header or the query.
    claimed = header_map.get("x-amz-content-sha256")
    if claimed:
        return claimed[0]
    for name, value in query_pairs:
        if name == "X-Amz-Content-Sha256":
            return value
    return UNSIGNED_PAYLOAD


def _request_date(header_map: dict[str, list[str]]) -> datetime:
    # x-amz-date wins; SigV4 also allows the HTTP Date header, signed in its ISO 8601 basic form.
    amz_dates = header_map.get("x-amz-date")
    dates = header_map.get("date")
    moment = None
    if amz_dates:
        moment = parse_amz_date(amz_dates[0])
    elif dates:
        try:
            parsed = parsedate_to_datetime(dates[0])
        except (TypeError, ValueError):
            parsed = None
        if parsed is not None:
            moment = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if moment is None:
        raise AccessDeniedError("AWS authentication requires a valid Date or x-amz-date header")
    return moment


def _check_skew(amz_date: datetime, now: datetime, skew_seconds_max: int) -> None:
    if abs((now - amz_date).total_seconds()) > skew_seconds_max:
        raise _skew_error(amz_date, now, skew_seconds_max)


def _check_presigned_time(credential: Credential, now: datetime, skew_seconds_max: int) -> None:
    # A presigned URL may be used until it expires, but not long before the moment it was signed for.
    assert credential.expires_seconds is not None
    if (credential.amz_date - now).total_seconds() > skew_seconds_max:
        raise _skew_error(credential.amz_date, now, skew_seconds_max)
    expires_at = credential.amz_date + timedelta(seconds=credential.expires_seconds)
    if now > expires_at:
        raise ExpiredPresignedUrlError(
            "Request has expired",
            **{
                "X-Amz-Expires": str(credential.expires_seconds),
                "Expires": _render_iso(expires_at),
                "ServerTime": _render_iso(now),
            },
        )


def _skew_error(amz_date: datetime, now: datetime, skew_seconds_max: int) -> RequestTimeTooSkewedError:
    return RequestTimeTooSkewedError(
        "The difference between the request time and the current time is too large.",
        RequestTime=render_amz_date(amz_date),
        ServerTime=_render_iso(now),
        MaxAllowedSkewMilliseconds=str(skew_seconds_max * 1000),
    )


def _render_iso(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"
