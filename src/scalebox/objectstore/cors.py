"""Bucket CORS: the `<CORSConfiguration>` document, matching a browser request to a rule, the headers sent.

Implements S3's evaluation: the first rule whose AllowedOrigin, AllowedMethod and (for a preflight)
AllowedHeader patterns all match wins. A pattern holds at most one `*`; origins match case-sensitively,
header names case-insensitively. Limits: 100 rules, 100 values per list, a 64 KB document.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass

from scalebox.objectstore.errors import InvalidArgumentError, InvalidRequestError, MalformedXmlError
from scalebox.objectstore.xmldoc import MALFORMED_XML, parse_xml, render_xml, xml_children, xml_int, xml_text

CORS_RULES_MAX = 100
CORS_VALUES_MAX = 100  # AllowedOrigin, AllowedMethod, AllowedHeader or ExposeHeader entries per rule
CORS_RULE_ID_LENGTH_MAX = 255
CORS_BYTES_MAX = 64 * 1024
CORS_METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

_RULE_ELEMENTS = frozenset(
    {"ID", "AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader", "MaxAgeSeconds"}
)


@dataclass(frozen=True, slots=True)
class CorsRule:
    """One `<CORSRule>`, its lists in document order."""

    id: str | None
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None


# -- the document -------------------------------------------------------------------------------


def parse_cors(body: bytes) -> tuple[CorsRule, ...]:
    """Parse a PutBucketCors body.

    Raises MalformedXmlError for hostile or misshapen XML, InvalidRequestError for an unsupported
    method or a pattern with more than one `*`, and InvalidArgumentError for a limit exceeded.
    """
    root = parse_xml(body, root="CORSConfiguration", bytes_max=CORS_BYTES_MAX)
    elements = xml_children(root, {"CORSRule"}, count_min=1)
    if len(elements) > CORS_RULES_MAX:
        raise InvalidArgumentError(
            f"A CORS configuration can have at most {CORS_RULES_MAX} rules; this one has {len(elements)}."
        )
    return tuple(_parse_rule(element) for element in elements)


def _parse_rule(element: ET.Element) -> CorsRule:
    xml_children(element, _RULE_ELEMENTS)
    rule_id = xml_text(element, "ID")
    if rule_id is not None and len(rule_id) > CORS_RULE_ID_LENGTH_MAX:
        raise InvalidArgumentError(
            f"The CORSRule ID is longer than the limit of {CORS_RULE_ID_LENGTH_MAX} characters.",
            ArgumentName="ID",
        )
    origins = _values(element, "AllowedOrigin")
    methods = _values(element, "AllowedMethod")
    headers = _values(element, "AllowedHeader")
    if not origins or not methods:
        raise MalformedXmlError(f"{MALFORMED_XML} Each CORSRule needs an AllowedOrigin and an AllowedMethod.")
    for method in methods:
        if method not in CORS_METHODS:
            raise InvalidRequestError(
                f"Found unsupported HTTP method in CORS config. Unsupported method is {method}"
            )
    for name, patterns in (("AllowedOrigin", origins), ("AllowedHeader", headers)):
        for pattern in patterns:
            if pattern.count("*") > 1:
                raise InvalidRequestError(f'{name} "{pattern}" can not have more than one wildcard.')
    return CorsRule(
        id=rule_id,
        allowed_origins=origins,
        allowed_methods=methods,
        allowed_headers=headers,
        expose_headers=_values(element, "ExposeHeader"),
        max_age_seconds=xml_int(element, "MaxAgeSeconds"),
    )


def _values(element: ET.Element, name: str) -> tuple[str, ...]:
    found = element.findall(name)
    if len(found) > CORS_VALUES_MAX:
        raise InvalidArgumentError(f"A CORSRule can have at most {CORS_VALUES_MAX} {name} elements.")
    values = tuple((child.text or "").strip() for child in found)
    if "" in values or any(len(child) for child in found):
        raise MalformedXmlError(f"{MALFORMED_XML} <{name}> must hold a non-empty value.")
    return values


def render_cors(rules: Sequence[CorsRule]) -> bytes:
    """The GetBucketCors response body."""
    root = ET.Element("CORSConfiguration")
    for rule in rules:
        element = ET.SubElement(root, "CORSRule")
        if rule.id is not None:
            ET.SubElement(element, "ID").text = rule.id
        for name, values in (
            ("AllowedHeader", rule.allowed_headers),
            ("AllowedMethod", rule.allowed_methods),
            ("AllowedOrigin", rule.allowed_origins),
            ("ExposeHeader", rule.expose_headers),
        ):
            for value in values:
                ET.SubElement(element, name).text = value
        if rule.max_age_seconds is not None:
            ET.SubElement(element, "MaxAgeSeconds").text = str(rule.max_age_seconds)
    return render_xml(root)


# -- evaluation ---------------------------------------------------------------------------------


def match_preflight(
    rules: Sequence[CorsRule], origin: str, method: str, request_headers: Sequence[str]
) -> CorsRule | None:
    """The first rule allowing an OPTIONS preflight, or None (S3 then answers 403).

    `method` is Access-Control-Request-Method; `request_headers` are the names listed in
    Access-Control-Request-Headers.
    """
    names = [name.strip() for name in request_headers if name.strip()]
    for rule in rules:
        if _allows(rule, origin, method) and all(
            any(_wildcard(pattern, ignore_case=True).fullmatch(name) for pattern in rule.allowed_headers)
            for name in names
        ):
            return rule
    return None


def match_request(rules: Sequence[CorsRule], origin: str, method: str) -> CorsRule | None:
    """The first rule allowing an actual cross-origin request, or None (no CORS headers are sent)."""
    return next((rule for rule in rules if _allows(rule, origin, method)), None)


def _allows(rule: CorsRule, origin: str, method: str) -> bool:
    return method in rule.allowed_methods and _matched_origin(rule, origin) is not None


def _matched_origin(rule: CorsRule, origin: str) -> str | None:
    return next(
        (
            pattern
            for pattern in rule.allowed_origins
            if _wildcard(pattern, ignore_case=False).fullmatch(origin)
        ),
        None,
    )


@functools.lru_cache(maxsize=1024)
def _wildcard(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    expression = ".*".join(re.escape(part) for part in pattern.split("*"))
    return re.compile(expression, (re.IGNORECASE | re.DOTALL) if ignore_case else re.DOTALL)


def response_headers(
    rule: CorsRule, origin: str, *, preflight: bool, request_headers: Sequence[str] = ()
) -> list[tuple[str, str]]:
    """The CORS headers S3 adds for a request that `rule` matched, in S3's order.

    As S3 does, Access-Control-Allow-Origin is `*` when any of the rule's AllowedOrigin is exactly `*`;
    otherwise it echoes `origin` and adds Access-Control-Allow-Credentials: true. A preflight echoes
    the requested header names in Access-Control-Allow-Headers.
    """
    assert _matched_origin(rule, origin) is not None, "response_headers needs a rule matching this origin"
    anyone = "*" in rule.allowed_origins
    headers = [
        ("Access-Control-Allow-Origin", "*" if anyone else origin),
        ("Access-Control-Allow-Methods", ", ".join(rule.allowed_methods)),
    ]
    names = [name.strip() for name in request_headers if name.strip()]
    if preflight and names:
        headers.append(("Access-Control-Allow-Headers", ", ".join(names)))
    if rule.expose_headers:
        headers.append(("Access-Control-Expose-Headers", ", ".join(rule.expose_headers)))
    if rule.max_age_seconds is not None:
        headers.append(("Access-Control-Max-Age", str(rule.max_age_seconds)))
    if not anyone:
        headers.append(("Access-Control-Allow-Credentials", "true"))
    headers.append(("Vary", VARY))
    return headers
