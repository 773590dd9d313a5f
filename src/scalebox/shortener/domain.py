"""The shortener's rules: codes and slugs, target URLs, links and their state, redirect rules, visits.

Pure: no framework, no I/O, no clock of its own (callers pass `now`). The service applies these
rules; the HTTP edge and the hot redirect path both call `decide` so they cannot disagree.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from scalebox.core.ids import ALPHABET
from scalebox.shortener.errors import InvalidLinkError, InvalidSlugError, InvalidUrlError

# ---------------------------------------------------------------------------------------------
# Codes and slugs

CODE_LENGTH = 7
CODE_SPACE = 62**CODE_LENGTH  # 3.5e12 codes
SLUG_LENGTH_MIN = 3
SLUG_LENGTH_MAX = 64
SLUG_PATTERN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_]|-(?!-))*")
# Words a custom slug may not take: the server's own paths, and names people mistake for them.
RESERVED_SLUGS = frozenset(
    {
        "about", "account", "admin", "api", "app", "assets", "auth", "blocklist", "dashboard",
        "docs", "edit", "export", "favicon.ico", "health", "healthz", "help", "import", "links",
        "login", "logout", "metrics", "new", "openapi.json", "qr", "redoc", "rest", "robots.txt",
        "settings", "signin", "signout", "signup", "static", "stats", "tags", "visits", "www",
    }
)  # fmt: skip

_FEISTEL_ROUNDS = 4
_HALF_BITS = 21  # 42-bit blocks hold the 7-character space (62**7 < 2**42); cycle-walk the rest


def fold(code: str) -> str:
    """The lookup key of a code: codes and slugs are unique, and found, case-insensitively."""
    return code.lower()


class CodeCipher:
    """A keyed permutation of [0, 62**7): sequence number in, 7-character code out.

    Codes are minted from per-process blocks of a sequence (no shared counter on the request path),
    and this permutation, a 4-round Feistel network over 42 bits keyed by HMAC-SHA256 with cycle
    walking back into the code space, makes neighbouring numbers give unrelated codes: without the
    key, one code says nothing about the next. Being a bijection, distinct numbers never collide.
    """

    def __init__(self, key: bytes) -> None:
        assert len(key) >= 16, "the code key must have at least 128 bits"
        self._key = key

    def code_for(self, number: int) -> str:
        assert 0 <= number < CODE_SPACE, number
        value = self._permute(number)
        while value >= CODE_SPACE:  # expected 1.25 rounds: 62**7 / 2**42 = 0.80
            value = self._permute(value)
        return _base62_fixed(value, CODE_LENGTH)

    def _permute(self, value: int) -> int:
        mask = (1 << _HALF_BITS) - 1
        left, right = value >> _HALF_BITS, value & mask
        for round_number in range(_FEISTEL_ROUNDS):
            digest = hmac.digest(self._key, bytes((round_number,)) + right.to_bytes(3, "big"), "sha256")
            left, right = right, left ^ (int.from_bytes(digest[:3], "big") & mask)
        return (left << _HALF_BITS) | right


def _base62_fixed(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 62)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def validate_slug(slug: str, *, length_min: int = SLUG_LENGTH_MIN) -> str:
    """A custom slug as given (display keeps its case), or InvalidSlugError saying what is wrong.

    Imports pass `length_min=1`: other shorteners' oldest codes are short (YOURLS starts at "1").
    """
    if not length_min <= len(slug) <= SLUG_LENGTH_MAX:
        raise InvalidSlugError(f"a custom slug has {length_min} to {SLUG_LENGTH_MAX} characters")
    if not SLUG_PATTERN.fullmatch(slug) or slug.endswith("-"):
        raise InvalidSlugError(
            "a custom slug uses letters, digits, '-' and '_', starts with a letter or digit, "
            "and has no leading, trailing or double '-'"
        )
    if fold(slug) in RESERVED_SLUGS:
        raise InvalidSlugError(f"'{slug}' is reserved")
    return slug


def looks_like_code(path_segment: str) -> bool:
    """Whether a single path segment could name a link (generated code or custom slug)."""
    return 1 <= len(path_segment) <= SLUG_LENGTH_MAX and SLUG_PATTERN.fullmatch(path_segment) is not None


# ---------------------------------------------------------------------------------------------
# Target URLs

URL_LENGTH_MAX = 2048


@dataclass(frozen=True, slots=True)
class Target:
    """A checked long URL: the text to redirect to, its host, and the key used for idempotent create."""

    url: str
    host: str
    normalized: str

    @property
    def url_hash(self) -> str:
        return hashlib.sha256(self.normalized.encode()).hexdigest()


def check_target(url: str, *, own_hosts: Iterable[str] = (), max_length: int = URL_LENGTH_MAX) -> Target:
    """Accept only absolute http(s) URLs with a host, no credentials, not pointing back at us."""
    url = url.strip()
    if not url:
        raise InvalidUrlError("the long URL is empty")
    if len(url) > max_length:
        raise InvalidUrlError(f"the long URL is longer than {max_length} characters")
    if any(ord(char) < 0x21 or ord(char) == 0x7F for char in url):
        raise InvalidUrlError("the long URL contains spaces or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidUrlError(f"the long URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise InvalidUrlError("only http and https URLs can be shortened")
    if parts.username is not None or parts.password is not None:
        raise InvalidUrlError("URLs with credentials (user:password@) cannot be shortened")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidUrlError("the long URL has no host")
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidUrlError("the long URL's host is not a valid domain name") from None
    own = {own_host.lower() for own_host in own_hosts}
    host_port = host if port is None else f"{host}:{port}"
    if host in own or host_port in own:
        raise InvalidUrlError("links to this shortener itself cannot be shortened")
    default_port = {"http": 80, "https": 443}[scheme]
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    normalized = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(url=url, host=host, normalized=normalized)


def host_blocked(host: str, blocked: frozenset[str]) -> bool:
    """Whether `host` is a blocked domain or a subdomain of one."""
    labels = host.lower().split(".")
    return any(".".join(labels[index:]) in blocked for index in range(len(labels)))


def normalize_domain(domain: str) -> str:
    """A blocklist entry: a bare lowercase domain name (a URL or '*.' prefix is reduced to its host)."""
    text = domain.strip().lower()
    if "//" in text:
        text = urlsplit(text).hostname or ""
    text = text.removeprefix("*.").strip(".")
    try:
        ascii_name = text.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_name = ""
    if not ascii_name or not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)*", ascii_name):
        raise InvalidUrlError(f"'{domain}' is not a domain name")
    return ascii_name


def forward_query(target: str, query_string: str) -> str:
    """The target with the visit's query parameters appended (the visit's win over the target's)."""
    if not query_string:
        return target
    parts = urlsplit(target)
    incoming = parse_qsl(query_string, keep_blank_values=True)
    names = {name for name, _ in incoming}
    kept = [
        (name, value) for name, value in parse_qsl(parts.query, keep_blank_values=True) if name not in names
    ]
    return urlunsplit(parts._replace(path=parts.path or "/", query=urlencode(kept + incoming)))


# ---------------------------------------------------------------------------------------------
# Redirect rules (Shlink 4's dynamic rules)

ConditionType = Literal["device", "language", "query-param", "any-value-query-param", "valueless-query-param"]
CONDITION_TYPES: tuple[str, ...] = get_args(ConditionType)
Device = Literal["android", "ios", "desktop"]
DEVICES: tuple[str, ...] = get_args(Device)
RULES_MAX = 32
CONDITIONS_MAX = 8


@dataclass(frozen=True, slots=True)
class Condition:
    type: ConditionType
    match_value: str | None = None
    match_key: str | None = None

    def matches(self, facts: VisitFacts) -> bool:
        if self.type == "device":
            return facts.device == (self.match_value or "").lower()
        if self.type == "language":
            return _language_matches(self.match_value or "", facts.languages)
        values = facts.query.get(self.match_key or "")
        if self.type == "query-param":
            return values is not None and self.match_value in values
        if self.type == "any-value-query-param":
            return values is not None and any(values)
        return values is not None and not any(values)  # valueless-query-param


@dataclass(frozen=True, slots=True)
class RedirectRule:
    long_url: str
    conditions: tuple[Condition, ...]

    def matches(self, facts: VisitFacts) -> bool:
        return all(condition.matches(facts) for condition in self.conditions)


def check_rules(
    raw: Sequence[Mapping[str, object]], *, own_hosts: Iterable[str] = ()
) -> tuple[RedirectRule, ...]:
    """Rules from their Shlink JSON shape, in priority order (the list's order), each checked."""
    if len(raw) > RULES_MAX:
        raise InvalidLinkError(f"a link has at most {RULES_MAX} redirect rules", field="redirectRules")
    own_hosts = tuple(own_hosts)
    rules = []
    for position, item in enumerate(raw, 1):
        where = f"redirect rule {position}"
        long_url = item.get("longUrl")
        conditions = item.get("conditions")
        if not isinstance(long_url, str) or not isinstance(conditions, list) or not conditions:
            raise InvalidLinkError(
                f"{where} needs a longUrl and at least one condition", field="redirectRules"
            )
        if len(conditions) > CONDITIONS_MAX:
            raise InvalidLinkError(
                f"{where} has more than {CONDITIONS_MAX} conditions", field="redirectRules"
            )
        target = check_target(long_url, own_hosts=own_hosts)
        rules.append(RedirectRule(target.url, tuple(_check_condition(where, c) for c in conditions)))
    return tuple(rules)


def _check_condition(where: str, raw: object) -> Condition:
    if not isinstance(raw, Mapping):
        raise InvalidLinkError(f"{where}: a condition is an object", field="redirectRules")
    kind, key, value = raw.get("type"), raw.get("matchKey"), raw.get("matchValue")
    if kind not in CONDITION_TYPES:
        raise InvalidLinkError(
            f"{where}: condition type must be one of {', '.join(CONDITION_TYPES)}", field="redirectRules"
        )
    for name, text in (("matchKey", key), ("matchValue", value)):
        if text is not None and (not isinstance(text, str) or len(text) > 256):
            raise InvalidLinkError(
                f"{where}: {name} is a string of at most 256 characters", field="redirectRules"
            )
    if kind == "device" and (not isinstance(value, str) or value.lower() not in DEVICES):
        raise InvalidLinkError(f"{where}: device is one of {', '.join(DEVICES)}", field="redirectRules")
    if kind == "language" and (not isinstance(value, str) or not _LANGUAGE.fullmatch(value)):
        raise InvalidLinkError(f"{where}: language is a tag such as 'es' or 'es-ES'", field="redirectRules")
    if kind.endswith("query-param") and not key:
        raise InvalidLinkError(f"{where}: a query-param condition needs matchKey", field="redirectRules")
    if kind == "query-param" and value is None:
        raise InvalidLinkError(f"{where}: a query-param condition needs matchValue", field="redirectRules")
    return Condition(kind, value if isinstance(value, str) else None, key if isinstance(key, str) else None)


_LANGUAGE = re.compile(r"[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*")


def _split_locale(tag: str) -> tuple[str, str | None]:
    parts = tag.replace("_", "-").lower().split("-")
    return parts[0], (parts[1] if len(parts) > 1 else None)


def _language_matches(match_value: str, accepted: tuple[str, ...]) -> bool:
    want_language, want_region = _split_locale(match_value)
    for tag in accepted:
        language, region = _split_locale(tag)
        if language == want_language and (want_region is None or want_region == region):
            return True
    return False


def accepted_languages(header: str, limit: int = 16) -> tuple[str, ...]:
    """The languages an Accept-Language header accepts (q > 0), best first; '*' says nothing."""
    weighted = []
    for position, item in enumerate(header.split(",")[:limit]):
        tag, _, params = item.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*" or not _LANGUAGE.fullmatch(tag):
            continue
        quality = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                quality = float(params[2:])
            except ValueError:
                continue
        if quality > 0:
            weighted.append((-quality, position, tag))
    return tuple(tag for _, _, tag in sorted(weighted))


def device_of(user_agent: str) -> Device | None:
    """The coarse device class redirect rules match on (None for an empty user agent)."""
    if not user_agent:
        return None
    if "Android" in user_agent:
        return "android"
    if "iPhone" in user_agent or "iPad" in user_agent or "iPod" in user_agent:
        return "ios"
    return "desktop"


@dataclass(frozen=True, slots=True)
class VisitFacts:
    """What redirect rules may look at in a request."""

    device: str | None = None
    languages: tuple[str, ...] = ()
    query: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_request(cls, user_agent: str, accept_language: str, query_string: str) -> VisitFacts:
        query: dict[str, list[str]] = {}
        for name, value in parse_qsl(query_string, keep_blank_values=True, max_num_fields=64):
            query.setdefault(name, []).append(value)
        return cls(
            device=device_of(user_agent),
            languages=accepted_languages(accept_language),
            query={name: tuple(values) for name, values in query.items()},
        )


# ---------------------------------------------------------------------------------------------
# Links

RedirectType = Literal[301, 302, 307, 308]
REDIRECT_TYPES: tuple[int, ...] = get_args(RedirectType)
TITLE_LENGTH_MAX = 512
TAG_LENGTH_MAX = 64
TAGS_MAX = 32
Status = Literal["active", "disabled", "not_yet_valid", "expired", "visits_exhausted"]


@dataclass(frozen=True, slots=True)
class Link:
    """A short link. `visits` counts visits stored by the analytics pipeline (bots included)."""

    id: int
    code: str
    long_url: str
    target_host: str
    url_hash: str
    created_at: datetime
    owner_id: int | None = None
    custom: bool = False
    title: str | None = None
    tags: tuple[str, ...] = ()
    valid_since: datetime | None = None
    valid_until: datetime | None = None
    max_visits: int | None = None
    redirect_type: RedirectType = 302
    forward_query: bool = True
    crawlable: bool = False
    disabled: bool = False
    disabled_reason: str | None = None
    rules: tuple[RedirectRule, ...] = ()
    visits: int = 0
    bot_visits: int = 0

    @property
    def folded(self) -> str:
        return fold(self.code)

    def status(self, now: datetime, pending_visits: int = 0) -> Status:
        """Whether the link redirects now; `pending_visits` are visits not yet stored (this process's)."""
        if self.disabled:
            return "disabled"
        if self.valid_since is not None and now < self.valid_since:
            return "not_yet_valid"
        if self.valid_until is not None and now >= self.valid_until:
            return "expired"
        if self.max_visits is not None and self.visits + pending_visits >= self.max_visits:
            return "visits_exhausted"
        return "active"

    def cache_seconds(self, now: datetime, default_seconds: float) -> float:
        """How long a cached copy may be trusted: never past the moment its status would change."""
        seconds = default_seconds
        for moment in (self.valid_since, self.valid_until):
            if moment is not None and moment > now:
                seconds = min(seconds, (moment - now).total_seconds())
        return max(seconds, 0.0)

    def with_changes(self, **changes: object) -> Link:
        return replace(self, **changes)  # type: ignore[arg-type]


def check_tags(tags: Iterable[object]) -> tuple[str, ...]:
    """Tags trimmed, deduplicated (first spelling wins, compared case-insensitively), bounded."""
    seen: dict[str, str] = {}
    for tag in tags:
        if not isinstance(tag, str):
            raise InvalidLinkError("tags are strings", field="tags")
        text = " ".join(tag.split())
        if not text:
            continue
        if len(text) > TAG_LENGTH_MAX:
            raise InvalidLinkError(f"a tag has at most {TAG_LENGTH_MAX} characters", field="tags")
        seen.setdefault(text.lower(), text)
    if len(seen) > TAGS_MAX:
        raise InvalidLinkError(f"a link has at most {TAGS_MAX} tags", field="tags")
    return tuple(seen.values())


def check_window(valid_since: datetime | None, valid_until: datetime | None) -> None:
    for name, moment in (("validSince", valid_since), ("validUntil", valid_until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidLinkError(f"{name} needs a timezone (ISO 8601 with an offset)", field=name)
    if valid_since is not None and valid_until is not None and valid_until <= valid_since:
        raise InvalidLinkError("validUntil must come after validSince", field="validUntil")


@dataclass(frozen=True, slots=True)
class Decision:
    """What a request for a link gets: a redirect (status + location) or a not-found reason."""

    status: int
    location: str | None = None
    reason: Status = "active"


def decide(
    link: Link, facts: VisitFacts | None, query_string: str, now: datetime, pending_visits: int = 0
) -> Decision:
    """The redirect a request gets: rules in priority order, else the long URL; 404 when inactive."""
    state = link.status(now, pending_visits)
    if state != "active":
        return Decision(404, None, state)
    target = link.long_url
    if link.rules and facts is not None:
        for rule in link.rules:
            if rule.matches(facts):
                target = rule.long_url
                break
    if link.forward_query and query_string:
        target = forward_query(target, query_string)
    return Decision(link.redirect_type, target)


# ---------------------------------------------------------------------------------------------
# Visits, as published on the event bus

VisitKind = Literal["valid", "base_url", "invalid_short_url", "regular_404"]
VISIT_KINDS: tuple[str, ...] = get_args(VisitKind)
_FIELD_MAX = 1024  # user agents, referers and URLs are cut to this many characters in events


@dataclass(frozen=True, slots=True)
class Visit:
    """One request worth counting, before enrichment: a link visit or an orphan (kind != valid)."""

    kind: VisitKind
    at_ms: int
    code: str | None = None
    link_id: int | None = None
    user_agent: str = ""
    referer: str = ""
    remote_addr: str = ""
    visited_url: str = ""
    redirect_url: str = ""

    def fields(self) -> VisitFields:
        return (
            self.kind,
            self.at_ms,
            self.code,
            self.link_id,
            self.user_agent,
            self.referer,
            self.remote_addr,
            self.visited_url,
            self.redirect_url,
        )

    def encode(self) -> bytes:
        return orjson.dumps(visit_wire(self.fields()))

    @classmethod
    def decode(cls, data: bytes) -> Visit:
        return cls.from_wire(_decode_json(data))

    @classmethod
    def from_wire(cls, array: Any) -> Visit:
        """A Visit from its JSON array; ValueError or TypeError when it is not one."""
        kind, at_ms, code, link_id, user_agent, referer, remote_addr, visited_url, redirect_url = array
        if kind not in VISIT_KINDS:
            raise ValueError(f"unknown visit kind {kind!r}")
        return cls(
            kind, int(at_ms), code, link_id, user_agent, referer, remote_addr, visited_url, redirect_url
        )


VisitFields = tuple[VisitKind, int, str | None, int | None, str, str, str, str, str]
"""A Visit's fields in order: what the redirect path buffers (a tuple is cheaper than a Visit)."""


def visit_wire(fields: VisitFields) -> list[object]:
    """The JSON array a visit travels as on the event log, long fields cut to _FIELD_MAX characters."""
    kind, at_ms, code, link_id, user_agent, referer, remote_addr, visited_url, redirect_url = fields
    return [
        kind,
        at_ms,
        code,
        link_id,
        user_agent[:_FIELD_MAX],
        referer[:_FIELD_MAX],
        remote_addr,
        visited_url[:_FIELD_MAX],
        redirect_url[:_FIELD_MAX],
    ]


VISITS_PER_EVENT_MAX = 1024
"""Visits travel in batches, one event holding up to this many (an array of visit arrays): one log
append per batch instead of one per visit. A visit's id is its event's offset times this, plus its
place in the batch, so redelivered batches are recognised visit by visit."""


def encode_visits(batch: Sequence[VisitFields]) -> bytes:
    """One event's value: the JSON array of the batch's visit arrays."""
    assert 0 < len(batch) <= VISITS_PER_EVENT_MAX, len(batch)
    return orjson.dumps([visit_wire(fields) for fields in batch])


def visit_arrays(data: bytes) -> list[Any]:
    """The visit arrays an event holds: a batch (array of arrays) or one visit (a lone array).
    ValueError when the value is not JSON or neither shape."""
    value = _decode_json(data)
    if not isinstance(value, list) or not value:
        raise ValueError("a visit event holds an array of visits")
    if isinstance(value[0], list):
        if len(value) > VISITS_PER_EVENT_MAX:
            raise ValueError(f"a visit event holds at most {VISITS_PER_EVENT_MAX} visits")
        return value
    return [value]


# Built once: json.loads of bytes first guesses their encoding, and decoding a visit is the analytics
# consumer's hottest step. (Encoding is orjson's: the redirect path's publisher encodes every visit.)
_VISIT_DECODER = json.JSONDecoder()


def _decode_json(data: bytes) -> Any:
    """json.loads(data), quicker for what `Visit.encode` writes: UTF-8 with no surrounding space."""
    try:
        text = data.decode()
        value, end = _VISIT_DECODER.raw_decode(text)
    except ValueError:  # not UTF-8, or no JSON value at the first character: json.loads decides
        return json.loads(data)
    return value if end == len(text) else json.loads(data)


def anonymize_ip(address: str) -> str | None:
    """The visitor's address with its host part zeroed (IPv4 /24, IPv6 /48), as Shlink stores it."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:a.b.c.d is an IPv4 visitor
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ipaddress.IPv4Address(int(ip) >> 8 << 8))
    return str(ipaddress.IPv6Address(int(ip) >> 80 << 80))
