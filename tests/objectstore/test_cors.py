"""Bucket CORS: the document as boto3 sends it, S3's rules, rule matching and the headers sent back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scalebox.objectstore.cors import (
    CORS_BYTES_MAX,
    CORS_METHODS,
    CORS_RULES_MAX,
    CORS_VALUES_MAX,
    VARY,
    CorsRule,
    match_preflight,
    match_request,
    parse_cors,
    render_cors,
    response_headers,
)
from scalebox.objectstore.errors import InvalidArgumentError, InvalidRequestError, MalformedXmlError
from tests.objectstore.boto3_capture import NS, boto3_reads, capturing_client, sent_body

s3 = pytest.fixture(scope="module", name="s3")(capturing_client)


def make_rule(**overrides) -> CorsRule:
    fields = {
        "id": None,
        "allowed_origins": ("http://www.example.com",),
        "allowed_methods": ("GET",),
        "allowed_headers": (),
        "expose_headers": (),
        "max_age_seconds": None,
    }
    return CorsRule(**(fields | overrides))


def cors_xml(*rules: str) -> bytes:
    body = "".join(f"<CORSRule>{rule}</CORSRule>" for rule in rules)
    return f"<CORSConfiguration {NS}>{body}</CORSConfiguration>".encode()


MINIMAL = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"

values = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="*"), min_size=1)
patterns = st.builds(
    lambda head, star, tail: head + ("*" if star else "") + tail, values, st.booleans(), values
)
rules = st.builds(
    CorsRule,
    id=st.none() | st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=255),
    allowed_origins=st.lists(patterns | st.just("*"), min_size=1, max_size=5).map(tuple),
    allowed_methods=st.lists(st.sampled_from(CORS_METHODS), min_size=1, max_size=5).map(tuple),
    allowed_headers=st.lists(patterns, max_size=5).map(tuple),
    expose_headers=st.lists(values, max_size=5).map(tuple),
    max_age_seconds=st.none() | st.integers(0, 10**9),
)


# -- the document -------------------------------------------------------------------------------


def test_parse_cors_reads_put_bucket_cors_from_boto3(s3) -> None:
    configuration = {
        "CORSRules": [
            {
                "ID": "uploads",
                "AllowedHeaders": ["*"],
                "AllowedMethods": ["PUT", "POST", "DELETE"],
                "AllowedOrigins": ["http://*.example.com"],
                "ExposeHeaders": ["ETag", "x-amz-request-id"],
                "MaxAgeSeconds": 3000,
            },
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"]},
        ]
    }
    body = sent_body(s3, "put_bucket_cors", Bucket="b", CORSConfiguration=configuration)

    assert parse_cors(body) == (
        CorsRule(
            id="uploads",
            allowed_origins=("http://*.example.com",),
            allowed_methods=("PUT", "POST", "DELETE"),
            allowed_headers=("*",),
            expose_headers=("ETag", "x-amz-request-id"),
            max_age_seconds=3000,
        ),
        CorsRule(id=None, allowed_origins=("*",), allowed_methods=("GET",)),
    )


def test_render_cors_is_what_boto3_get_bucket_cors_reads() -> None:
    rule = make_rule(id="r", allowed_headers=("x-amz-*",), expose_headers=("ETag",), max_age_seconds=60)

    parsed = boto3_reads("GetBucketCors", render_cors([rule, make_rule()]))

    assert parsed["CORSRules"] == [
        {
            "ID": "r",
            "AllowedHeaders": ["x-amz-*"],
            "AllowedMethods": ["GET"],
            "AllowedOrigins": ["http://www.example.com"],
            "ExposeHeaders": ["ETag"],
            "MaxAgeSeconds": 60,
        },
        {"AllowedMethods": ["GET"], "AllowedOrigins": ["http://www.example.com"]},
    ]


def test_render_cors_is_namespaced_xml_with_declaration() -> None:
    body = render_cors([make_rule()])

    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<CORSConfiguration xmlns="http://s3')


@given(st.lists(rules, min_size=1, max_size=5))
def test_parse_cors_round_trips_render(cors_rules: list[CorsRule]) -> None:
    assert parse_cors(render_cors(cors_rules)) == tuple(cors_rules)


def test_parse_cors_accepts_xml_without_namespace() -> None:
    body = f"<CORSConfiguration><CORSRule>{MINIMAL}</CORSRule></CORSConfiguration>".encode()

    assert parse_cors(body) == (make_rule(allowed_origins=("*",)),)


# -- S3's rules ---------------------------------------------------------------------------------


def test_parse_cors_accepts_the_rule_limit_exactly() -> None:
    assert len(parse_cors(cors_xml(*[MINIMAL] * CORS_RULES_MAX))) == CORS_RULES_MAX


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (cors_xml(), MalformedXmlError, "at least 1"),
        (cors_xml(*[MINIMAL] * (CORS_RULES_MAX + 1)), InvalidArgumentError, "at most 100 rules"),
        (cors_xml("<AllowedMethod>GET</AllowedMethod>"), MalformedXmlError, "AllowedOrigin"),
        (cors_xml("<AllowedOrigin>*</AllowedOrigin>"), MalformedXmlError, "AllowedMethod"),
        (cors_xml(MINIMAL + "<AllowedMethod>PATCH</AllowedMethod>"), InvalidRequestError, "PATCH"),
        (cors_xml(MINIMAL.replace("GET", "get")), InvalidRequestError, "Unsupported method is get"),
        (
            cors_xml("<AllowedOrigin>http://*.*.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"),
            InvalidRequestError,
            'AllowedOrigin "http://\\*.\\*.com" can not have more than one wildcard',
        ),
        (cors_xml(MINIMAL + "<AllowedHeader>x-*-*</AllowedHeader>"), InvalidRequestError, "AllowedHeader"),
        (cors_xml(MINIMAL + f"<ID>{'i' * 256}</ID>"), InvalidArgumentError, "ID is longer"),
        (
            cors_xml(MINIMAL + "<ExposeHeader>h</ExposeHeader>" * (CORS_VALUES_MAX + 1)),
            InvalidArgumentError,
            "ExposeHeader",
        ),
        (cors_xml(MINIMAL + "<MaxAgeSeconds>-1</MaxAgeSeconds>"), MalformedXmlError, "MaxAgeSeconds"),
        (cors_xml(MINIMAL + "<MaxAgeSeconds>1e3</MaxAgeSeconds>"), MalformedXmlError, "MaxAgeSeconds"),
        (cors_xml(MINIMAL + "<MaxAgeSeconds>1</MaxAgeSeconds>" * 2), MalformedXmlError, "more than once"),
        (cors_xml(MINIMAL + "<AllowedOrigin> </AllowedOrigin>"), MalformedXmlError, "non-empty"),
        (
            cors_xml(MINIMAL + "<AllowedCredentials>true</AllowedCredentials>"),
            MalformedXmlError,
            "Unexpected",
        ),
        (b"<CORSConfig><CORSRule/></CORSConfig>", MalformedXmlError, "root element"),
    ],
)
def test_parse_cors_rejects_what_s3_rejects(body: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_cors(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            b'<!DOCTYPE c [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b"<CORSConfiguration><CORSRule><AllowedOrigin>&b;</AllowedOrigin></CORSRule></CORSConfiguration>",
            "entities",
            id="entity-expansion",
        ),
        pytest.param(
            b'<!DOCTYPE c [<!ENTITY x SYSTEM "file:///etc/passwd">]><CORSConfiguration>&x;</CORSConfiguration>',
            "entities",
            id="external-entity",
        ),
        pytest.param(
            b"<CORSConfiguration>" + b"<CORSRule>" * 50 + b"</CORSRule>" * 50 + b"</CORSConfiguration>",
            "deeper",
            id="deep-nesting",
        ),
        pytest.param(
            cors_xml(MINIMAL + "<ExposeHeader>h</ExposeHeader>" * (CORS_BYTES_MAX // 20)),
            "larger than",
            id="oversize",
        ),
    ],
)
def test_parse_cors_refuses_hostile_xml(body: bytes, message: str) -> None:
    with pytest.raises(MalformedXmlError, match=message):
        parse_cors(body)


# -- matching -----------------------------------------------------------------------------------

WILDCARD = make_rule(
    allowed_origins=("http://*.example.com",), allowed_methods=("GET", "PUT"), allowed_headers=("x-amz-*",)
)


@pytest.mark.parametrize(
    ("origin", "matches"),
    [
        ("http://www.example.com", True),
        ("http://a.b.example.com", True),
        ("http://.example.com", True),
        ("http://example.com", False),
        ("https://www.example.com", False),
        ("http://www.example.com.evil.net", False),
        ("http://www.EXAMPLE.com", False),
    ],
)
def test_match_request_applies_origin_wildcards(origin: str, matches: bool) -> None:
    assert (match_request([WILDCARD], origin, "GET") is WILDCARD) is matches


def test_match_request_star_origin_matches_any_origin() -> None:
    rule = make_rule(allowed_origins=("*",))

    assert match_request([rule], "null", "GET") is rule
    assert match_request([rule], "https://anything.test:8443", "GET") is rule


def test_match_request_returns_none_when_the_method_is_not_allowed() -> None:
    assert match_request([WILDCARD], "http://www.example.com", "DELETE") is None
    assert match_request([WILDCARD], "http://www.example.com", "get") is None


def test_match_request_first_matching_rule_wins() -> None:
    first = make_rule(id="first", allowed_origins=("http://www.example.com",), allowed_methods=("PUT",))
    second = make_rule(id="second", allowed_origins=("*",), allowed_methods=("GET", "PUT"))
    third = make_rule(id="third", allowed_origins=("*",), allowed_methods=("GET",))

    assert match_request([first, second, third], "http://www.example.com", "GET") is second
    assert match_request([first, second, third], "http://www.example.com", "PUT") is first
    assert match_request([], "http://www.example.com", "GET") is None


def test_match_preflight_compares_header_names_case_insensitively() -> None:
    rule = make_rule(allowed_headers=("Content-Type", "x-amz-*"))

    matched = match_preflight(
        [rule], "http://www.example.com", "GET", ["content-type", "X-Amz-Date", " x-AMZ-acl "]
    )

    assert matched is rule


def test_match_preflight_needs_every_requested_header_allowed() -> None:
    rule = make_rule(allowed_headers=("x-amz-*",))

    assert match_preflight([rule], "http://www.example.com", "GET", ["x-amz-date", "authorization"]) is None


def test_match_preflight_without_allowed_headers_matches_only_without_requested_headers() -> None:
    rule = make_rule()

    assert match_preflight([rule], "http://www.example.com", "GET", []) is rule
    assert match_preflight([rule], "http://www.example.com", "GET", ["", " "]) is rule
    assert match_preflight([rule], "http://www.example.com", "GET", ["x-amz-meta-a"]) is None


def test_match_preflight_falls_through_to_a_later_rule_allowing_the_headers() -> None:
    narrow = make_rule(id="narrow", allowed_headers=("x-amz-date",))
    broad = make_rule(id="broad", allowed_headers=("*",))

    assert match_preflight([narrow, broad], "http://www.example.com", "GET", ["x-amz-date"]) is narrow
    assert match_preflight([narrow, broad], "http://www.example.com", "GET", ["range"]) is broad
    assert match_preflight([narrow, broad], "http://www.example.com", "PUT", []) is None


# -- response headers ---------------------------------------------------------------------------


def test_response_headers_echo_the_origin_and_allow_credentials() -> None:
    rule = make_rule(
        allowed_origins=("http://*.example.com",),
        allowed_methods=("GET", "HEAD"),
        expose_headers=("ETag", "x-amz-request-id"),
        max_age_seconds=3000,
    )

    assert response_headers(rule, "http://www.example.com", preflight=False) == [
        ("Access-Control-Allow-Origin", "http://www.example.com"),
        ("Access-Control-Allow-Methods", "GET, HEAD"),
        ("Access-Control-Expose-Headers", "ETag, x-amz-request-id"),
        ("Access-Control-Max-Age", "3000"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Vary", VARY),
    ]


def test_response_headers_send_star_without_credentials_for_a_star_origin() -> None:
    rule = make_rule(allowed_origins=("*",), allowed_methods=("GET",))

    assert response_headers(rule, "http://www.example.com", preflight=False) == [
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Methods", "GET"),
        ("Vary", "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"),
    ]


def test_response_headers_send_star_whenever_the_rule_allows_any_origin() -> None:
    rule = make_rule(allowed_origins=("http://www.example.com", "*"))

    headers = dict(response_headers(rule, "http://www.example.com", preflight=False))

    assert headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in headers


def test_response_headers_of_a_preflight_echo_the_requested_headers() -> None:
    rule = make_rule(allowed_headers=("*",))

    headers = dict(
        response_headers(
            rule, "http://www.example.com", preflight=True, request_headers=["x-amz-date", " range"]
        )
    )

    assert headers["Access-Control-Allow-Headers"] == "x-amz-date, range"


def test_response_headers_of_an_actual_request_never_send_allow_headers() -> None:
    rule = make_rule(allowed_headers=("*",))

    headers = dict(
        response_headers(rule, "http://www.example.com", preflight=False, request_headers=["range"])
    )

    assert "Access-Control-Allow-Headers" not in headers
