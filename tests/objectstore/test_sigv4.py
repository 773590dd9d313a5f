"""SigV4 verification against AWS's published examples and requests signed by botocore's real signers."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from scalebox.objectstore.checksum import new_checksummer
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
from scalebox.objectstore.protocol import sigv4
from scalebox.objectstore.protocol.chunked import AwsChunkedDecoder
from scalebox.objectstore.protocol.sigv4 import (
    EMPTY_SHA256,
    STREAMING_SIGNED,
    STREAMING_SIGNED_TRAILER,
    STREAMING_UNSIGNED_TRAILER,
    UNSIGNED_PAYLOAD,
    PayloadMode,
    canonical_query,
    canonical_request,
    canonical_uri,
    parse_authorization,
    parse_presigned,
    parse_query,
    payload_mode,
    signing_key,
)

ACCESS_KEY = "SCALEBOXTESTKEY"
SECRET = "s3cr3t/with+odd=chars~"
DOC_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = datetime(2013, 5, 24, tzinfo=UTC)
SECRETS = {ACCESS_KEY: SECRET, DOC_ACCESS_KEY: DOC_SECRET}
ODD_KEYS = [
    "plain.txt",
    "with space.txt",
    "ünïcödé/ключ/日本語.bin",
    "a+b=c&d",
    "tilde~and!bang'(paren)*star",
    "double//slash",
    "dot/../dot/./x",
    "percent%20literal%",
    "semi;colon,comma:colon@at$dollar",
    "emoji 🪣",
    "trailing/",
]
PATH_ENDPOINT = "http://127.0.0.1:9000"
VIRTUAL_ENDPOINT = "http://s3.scalebox.test:9000"


@dataclass(frozen=True)
class Wire:
    """A request as the HTTP edge hands it over."""

    method: str
    raw_path: str
    query: str
    headers: list[tuple[str, str]]
    now: datetime


def verify(wire, *, now=None, secrets=SECRETS, **kwargs):
    return sigv4.verify(
        wire.method,
        wire.raw_path,
        wire.query,
        wire.headers,
        now=now or wire.now,
        lookup_secret=secrets.get,
        **kwargs,
    )


def to_wire(method, url, headers):
    parts = urlsplit(url)
    lowered = [
        (name.lower(), value.decode() if isinstance(value, bytes) else value) for name, value in headers
    ]
    if "host" not in dict(lowered):
        lowered.append(("host", parts.netloc))
    found = dict(lowered).get("x-amz-date")
    if found is None:
        found = dict(pair.split("=", 1) for pair in parts.query.split("&") if "=" in pair)["X-Amz-Date"]
    signed_at = sigv4.parse_amz_date(found)
    assert signed_at is not None
    return Wire(method, parts.path, parts.query, lowered, signed_at)


def sign(method, url, *, headers=None, body=b"", region="us-east-1"):
    """A request signed in the Authorization header by botocore's S3SigV4Auth."""
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET), "s3", region).add_auth(request)
    return to_wire(method, request.url, request.headers.items())


def make_client(endpoint=PATH_ENDPOINT, *, style="path", region="us-east-1"):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET,
        config=Config(signature_version="s3v4", s3={"addressing_style": style}, retries={"max_attempts": 1}),
    )


class _EmptyBody:
    def stream(self, **_):
        yield b""

    def read(self, *_):
        return b""


def capture(client, operation, **params):
    """The requests a real boto3 call sends, answered with an empty 200 instead of the network."""
    sent = []

    def before_send(request, **_):
        sent.append(request)
        return AWSResponse(request.url, 200, HTTPHeaders(), _EmptyBody())

    client.meta.events.register("before-send.s3", before_send)
    getattr(client, operation)(**params)
    (request,) = sent
    return to_wire(request.method, request.url, request.headers.items()), request


def presign(operation, params, *, endpoint=PATH_ENDPOINT, style="path", expires=3600):
    url = make_client(endpoint, style=style).generate_presigned_url(
        operation, Params=params, ExpiresIn=expires
    )
    method = {"get_object": "GET", "put_object": "PUT", "list_objects_v2": "GET", "head_object": "HEAD"}
    return to_wire(method[operation], url, [])


# -- AWS's published examples --------------------------------------------------------------------

DOC_HOST = ("host", "examplebucket.s3.amazonaws.com")
DOC_DATE = ("x-amz-date", "20130524T000000Z")


def doc_authorization(signed, signature):
    return (
        "authorization",
        f"AWS4-HMAC-SHA256 Credential={DOC_ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,"
        f"SignedHeaders={signed},Signature={signature}",
    )


def test_verify_accepts_the_aws_get_object_example():
    signature = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    headers = [
        DOC_HOST,
        ("range", "bytes=0-9"),
        ("x-amz-content-sha256", EMPTY_SHA256),
        DOC_DATE,
        doc_authorization("host;range;x-amz-content-sha256;x-amz-date", signature),
    ]
    result = verify(Wire("GET", "/test.txt", "", headers, DOC_NOW))
    assert result is not None
    assert (result.access_key, result.region, result.presigned) == (DOC_ACCESS_KEY, "us-east-1", False)
    assert result.scope == "20130524/us-east-1/s3/aws4_request"
    assert result.seed_signature == signature
    assert result.payload_mode is PayloadMode.SHA256


def test_verify_accepts_the_aws_put_object_example_with_a_date_header():
    body_hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"  # "Welcome to Amazon S3."
    headers = [
        DOC_HOST,
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        DOC_DATE,
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("x-amz-content-sha256", body_hash),
        doc_authorization(
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
        ),
    ]
    result = verify(Wire("PUT", "/test%24file.text", "", headers, DOC_NOW))
    assert result is not None
    assert result.payload_hash == body_hash


@pytest.mark.parametrize(
    ("query", "signature"),
    [
        ("lifecycle", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
        ("max-keys=2&prefix=J", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
        ("prefix=J&max-keys=2", "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
    ],
)
def test_verify_accepts_the_aws_bucket_examples(query, signature):
    headers = [
        DOC_HOST,
        ("x-amz-content-sha256", EMPTY_SHA256),
        DOC_DATE,
        doc_authorization("host;x-amz-content-sha256;x-amz-date", signature),
    ]
    assert verify(Wire("GET", "/", query, headers, DOC_NOW)) is not None


def test_verify_accepts_the_aws_presigned_example():
    query = (
        "X-Amz-Algorithm=AWS4-HMAC-SHA256"
        "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
        "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
        "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )
    wire = Wire("GET", "/test.txt", query, [DOC_HOST], DOC_NOW)
    result = verify(wire, now=DOC_NOW + timedelta(seconds=86400))
    assert result is not None
    assert result.presigned
    assert result.payload_hash == UNSIGNED_PAYLOAD
    with pytest.raises(ExpiredPresignedUrlError) as caught:
        verify(wire, now=DOC_NOW + timedelta(seconds=86401))
    assert caught.value.extra["X-Amz-Expires"] == "86400"


def test_verify_gives_the_aws_streaming_example_its_seed_signature():
    seed = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
    headers = [
        ("host", "s3.amazonaws.com"),
        DOC_DATE,
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        doc_authorization(
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class",
            seed,
        ),
        ("x-amz-content-sha256", STREAMING_SIGNED),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "66560"),
        ("content-length", "66824"),
    ]
    result = verify(Wire("PUT", "/examplebucket/chunkObject.txt", "", headers, DOC_NOW))
    assert result is not None
    assert result.seed_signature == seed
    assert result.signing_key == signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
    assert result.payload_mode is PayloadMode.STREAMING_SIGNED
    assert "signing_key" not in repr(result)


# -- botocore's signers ----------------------------------------------------------------------------


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize(("endpoint", "style"), [(PATH_ENDPOINT, "path"), (VIRTUAL_ENDPOINT, "virtual")])
def test_verify_accepts_boto3_put_object_for_odd_keys(key, endpoint, style):
    wire, _ = capture(
        make_client(endpoint, style=style),
        "put_object",
        Bucket="bkt",
        Key=key,
        Body=b"hi",
        Metadata={"m": "v"},
    )
    result = verify(wire)
    assert result is not None
    assert result.access_key == ACCESS_KEY
    assert result.payload_mode is PayloadMode.SHA256


@pytest.mark.parametrize("prefix", ["a b+c/~!'()*ü", "", "%2F literally", "x=y&z"])
@pytest.mark.parametrize(("endpoint", "style"), [(PATH_ENDPOINT, "path"), (VIRTUAL_ENDPOINT, "virtual")])
def test_verify_accepts_boto3_list_objects_with_odd_query_values(prefix, endpoint, style):
    wire, _ = capture(
        make_client(endpoint, style=style),
        "list_objects_v2",
        Bucket="bkt",
        Prefix=prefix,
        Delimiter="/",
        StartAfter="ключ key",
    )
    assert verify(wire) is not None


def test_verify_accepts_a_boto3_streaming_upload_over_https_and_its_body_decodes():
    data = bytes(range(256)) * 5000
    wire, request = capture(
        make_client("https://s3.scalebox.test:9443", style="virtual"),
        "put_object",
        Bucket="b",
        Key="k",
        Body=data,
    )
    result = verify(wire)
    assert result is not None
    assert result.payload_mode is PayloadMode.STREAMING_UNSIGNED_TRAILER
    headers = dict(wire.headers)
    decoder = AwsChunkedDecoder(
        decoded_length=int(headers["x-amz-decoded-content-length"]), trailer_names=[headers["x-amz-trailer"]]
    )
    body = request.body.read()
    payload = b"".join(
        bytes(piece)
        for start in range(0, len(body), 1000)
        for piece in decoder.feed(body[start : start + 1000])
    )
    checksummer = new_checksummer("crc32")
    checksummer.update(data)
    assert payload == data
    assert decoder.finish() == {"x-amz-checksum-crc32": checksummer.b64()}


def test_verify_accepts_botocore_params_where_spaces_are_plus_signs():
    request = AWSRequest(
        method="GET",
        url="http://127.0.0.1:9000/bkt",
        params={"prefix": "a b+c", "marker": "~!*'()/ü", "empty": ""},
    )
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    assert "a+b%2Bc" in prepared.url
    assert verify(to_wire("GET", prepared.url, prepared.headers.items())) is not None


def test_verify_accepts_a_request_dated_only_by_its_date_header():
    request = AWSRequest(
        method="GET", url="http://127.0.0.1:9000/bkt/k", headers={"Date": "Mon, 06 Jan 2025 10:00:00 GMT"}
    )
    S3SigV4Auth(Credentials(ACCESS_KEY, SECRET), "s3", "us-east-1").add_auth(request)
    assert "X-Amz-Date" not in request.headers
    headers = [(name.lower(), value) for name, value in request.headers.items()] + [
        ("host", "127.0.0.1:9000")
    ]
    # botocore writes the time it signed at, as `..., 21 Nov 2026 11:26:57 -0000`.
    signed_at = parsedate_to_datetime(request.headers["Date"]).replace(tzinfo=UTC)
    result = verify(Wire("GET", "/bkt/k", "", headers, signed_at))
    assert result is not None
    assert result.amz_date == f"{signed_at:%Y%m%dT%H%M%SZ}"


def test_verify_folds_whitespace_and_joins_repeated_headers():
    wire = sign("PUT", "http://127.0.0.1:9000/bkt/k", headers={"X-Amz-Meta-Note": "a   b\t c"})
    respaced = [(n, "  a b c ") if n == "x-amz-meta-note" else (n, v) for n, v in wire.headers]
    assert verify(replace(wire, headers=respaced)) is not None
    assert verify(replace(wire, headers=[*wire.headers, ("x-unsigned", "anything")])) is not None


@pytest.mark.parametrize(
    "path",
    ["/bkt/k", "/bkt/%C3%BC", "/bkt/a%2Fb", "/bkt/a//b", "/bkt/../x", "/bkt/~tilde", "/bkt/a%2Bb", "/"],
)
@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "scalebox"])
def test_verify_accepts_botocore_signatures_on_raw_paths(path, region):
    # botocore signs an S3 path exactly as it is in the URL, so these are paths already encoded as S3 wants.
    result = verify(sign("DELETE", f"http://127.0.0.1:9000{path}", region=region))
    assert result is not None
    assert result.region == region


@settings(max_examples=60, deadline=None)
@given(
    key=st.text(st.characters(codec="utf-8"), min_size=1, max_size=40),
    params=st.dictionaries(
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=10),
        st.text(st.characters(codec="utf-8"), max_size=10),
        max_size=4,
    ),
)
def test_verify_accepts_any_key_and_query_botocore_signs(key, params):
    query = "&".join(
        f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}" for name, value in params.items()
    )
    url = f"http://127.0.0.1:9000/bkt/{quote(key, safe='/~')}" + (f"?{query}" if query else "")
    assert verify(sign("GET", url)) is not None


# -- tampering -----------------------------------------------------------------------------------


@pytest.fixture
def signed():
    return sign(
        "PUT",
        "http://127.0.0.1:9000/bkt/some%20key?tagging=&versionId=1",
        headers={"X-Amz-Meta-Colour": "blue", "Content-Type": "text/plain"},
        body=b"payload",
    )


def with_header(wire, name, value):
    return replace(wire, headers=[(n, value if n == name else v) for n, v in wire.headers])


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda w: replace(w, method="POST"), id="method"),
        pytest.param(lambda w: replace(w, raw_path="/bkt/some%20kez"), id="path"),
        pytest.param(lambda w: replace(w, raw_path="/bkt//some%20key"), id="path-slash"),
        pytest.param(lambda w: replace(w, query="tagging=&versionId=2"), id="query-value"),
        pytest.param(lambda w: replace(w, query="tagging=&versionId=1&acl"), id="query-added"),
        pytest.param(lambda w: replace(w, query="versionId=1"), id="query-removed"),
        pytest.param(lambda w: with_header(w, "x-amz-meta-colour", "red"), id="signed-header"),
        pytest.param(lambda w: with_header(w, "host", "evil.example:9000"), id="host"),
        pytest.param(lambda w: with_header(w, "content-type", "text/html"), id="content-type"),
        pytest.param(lambda w: with_header(w, "x-amz-content-sha256", EMPTY_SHA256), id="payload-hash"),
    ],
)
def test_verify_rejects_a_tampered_request(signed, tamper):
    with pytest.raises(SignatureDoesNotMatchError) as caught:
        verify(tamper(signed))
    assert caught.value.extra["AWSAccessKeyId"] == ACCESS_KEY
    assert caught.value.extra["CanonicalRequest"].startswith(tamper(signed).method)
    assert caught.value.extra["StringToSign"].startswith("AWS4-HMAC-SHA256\n")


def test_verify_rejects_a_date_moved_by_one_second(signed):
    moved = sigv4.render_amz_date(signed.now + timedelta(seconds=1))
    with pytest.raises(SignatureDoesNotMatchError):
        verify(with_header(signed, "x-amz-date", moved))


def test_verify_rejects_the_wrong_secret(signed):
    with pytest.raises(SignatureDoesNotMatchError):
        verify(signed, secrets={ACCESS_KEY: SECRET + "x"})


def test_verify_rejects_an_unknown_access_key(signed):
    with pytest.raises(InvalidAccessKeyIdError) as caught:
        verify(signed, secrets={})
    assert caught.value.extra["AWSAccessKeyId"] == ACCESS_KEY


@pytest.mark.parametrize("seconds", [-900, 0, 900])
def test_verify_accepts_clock_skew_up_to_fifteen_minutes(signed, seconds):
    assert verify(signed, now=signed.now + timedelta(seconds=seconds)) is not None


@pytest.mark.parametrize("seconds", [-901, 901, 86400])
def test_verify_rejects_clock_skew_beyond_fifteen_minutes(signed, seconds):
    with pytest.raises(RequestTimeTooSkewedError) as caught:
        verify(signed, now=signed.now + timedelta(seconds=seconds))
    assert caught.value.extra["MaxAllowedSkewMilliseconds"] == "900000"


def test_verify_takes_the_skew_limit_as_an_argument(signed):
    with pytest.raises(RequestTimeTooSkewedError):
        verify(signed, now=signed.now + timedelta(seconds=61), skew_seconds_max=60)


# -- presigned URLs --------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize(("endpoint", "style"), [(PATH_ENDPOINT, "path"), (VIRTUAL_ENDPOINT, "virtual")])
def test_verify_accepts_boto3_presigned_urls_for_odd_keys(key, endpoint, style):
    params = {"Bucket": "bkt", "Key": key, "ResponseContentDisposition": 'attachment; filename="ü x.txt"'}
    result = verify(presign("get_object", params, endpoint=endpoint, style=style))
    assert result is not None
    assert result.presigned
    assert result.payload_mode is PayloadMode.UNSIGNED


def test_verify_holds_a_presigned_put_to_its_signed_content_type():
    wire = presign("put_object", {"Bucket": "bkt", "Key": "k", "ContentType": "image/png"})
    assert verify(replace(wire, headers=[*wire.headers, ("content-type", "image/png")])) is not None
    with pytest.raises(SignatureDoesNotMatchError):
        verify(replace(wire, headers=[*wire.headers, ("content-type", "text/html")]))


def test_verify_accepts_a_presigned_url_until_it_expires():
    wire = presign("get_object", {"Bucket": "bkt", "Key": "k"}, expires=60)
    assert verify(wire, now=wire.now + timedelta(seconds=60)) is not None
    with pytest.raises(ExpiredPresignedUrlError):
        verify(wire, now=wire.now + timedelta(seconds=61))


def test_verify_rejects_a_presigned_url_dated_in_the_future():
    wire = presign("get_object", {"Bucket": "bkt", "Key": "k"})
    assert verify(wire, now=wire.now - timedelta(seconds=899)) is not None
    with pytest.raises(RequestTimeTooSkewedError):
        verify(wire, now=wire.now - timedelta(seconds=901))


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda w: replace(w, method="PUT"), id="method"),
        pytest.param(lambda w: replace(w, raw_path="/bkt/other"), id="path"),
        pytest.param(
            lambda w: replace(w, query=w.query.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")),
            id="expiry",
        ),
        pytest.param(
            lambda w: replace(w, query=f"{w.query}&response-content-type=text%2Fhtml"), id="query-added"
        ),
        pytest.param(lambda w: with_header(w, "host", "evil.example:9000"), id="host"),
    ],
)
def test_verify_rejects_a_tampered_presigned_url(tamper):
    wire = presign("get_object", {"Bucket": "bkt", "Key": "k"})
    with pytest.raises(SignatureDoesNotMatchError):
        verify(tamper(wire))


def test_verify_uses_a_presigned_requests_content_sha256_header():
    wire = presign("get_object", {"Bucket": "bkt", "Key": "k"})
    with pytest.raises(SignatureDoesNotMatchError):
        verify(replace(wire, headers=[*wire.headers, ("x-amz-content-sha256", EMPTY_SHA256)]))


# -- anonymous and malformed requests ------------------------------------------------------------


def test_verify_returns_none_for_an_anonymous_request():
    assert verify(Wire("GET", "/bkt/k", "versionId=3", [("host", "h")], DOC_NOW)) is None


def test_verify_rejects_header_and_query_authentication_together(signed):
    presigned = presign("get_object", {"Bucket": "bkt", "Key": "k"})
    with pytest.raises(InvalidArgumentError, match="Only one auth mechanism"):
        verify(replace(signed, query=presigned.query))


def test_verify_requires_x_amz_content_sha256_on_header_authentication(signed):
    headers = [(n, v) for n, v in signed.headers if n != "x-amz-content-sha256"]
    with pytest.raises(InvalidRequestError, match="x-amz-content-sha256"):
        verify(replace(signed, headers=headers))


def test_verify_rejects_an_invalid_x_amz_content_sha256(signed):
    with pytest.raises(InvalidArgumentError, match="x-amz-content-sha256 must be"):
        verify(with_header(signed, "x-amz-content-sha256", "abc"))


@pytest.mark.parametrize(
    "value", [None, "yesterday", "20130524T000000", "2013-05-24T00:00:00Z", "20131324T000000Z"]
)
def test_verify_requires_a_valid_date(signed, value):
    headers = [(n, v) for n, v in signed.headers if n != "x-amz-date"]
    if value is not None:
        headers.append(("x-amz-date", value))
    with pytest.raises(AccessDeniedError, match="Date or x-amz-date"):
        verify(replace(signed, headers=headers))


def test_verify_refuses_boto3s_default_presigned_urls_which_are_signature_version_2():
    # Without signature_version="s3v4", boto3 presigns for a custom endpoint with SigV2.
    client = boto3.client(
        "s3",
        endpoint_url=PATH_ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id="A",
        aws_secret_access_key="S",
    )
    url = urlsplit(client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}))
    with pytest.raises(InvalidRequestError, match="Signature Version 2"):
        verify(Wire("GET", url.path, url.query, [("host", url.netloc)], DOC_NOW))


def test_verify_refuses_signature_version_2():
    headers = [
        ("host", "h"),
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        ("authorization", "AWS AKID:c2lnbmF0dXJl"),
    ]
    with pytest.raises(InvalidRequestError, match="Signature Version 2"):
        verify(Wire("GET", "/bkt/k", "", headers, DOC_NOW))
    with pytest.raises(InvalidRequestError, match="Signature Version 2"):
        verify(
            Wire("GET", "/bkt/k", "AWSAccessKeyId=AKID&Expires=1&Signature=c2ln", [("host", "h")], DOC_NOW)
        )


# -- parse_authorization -------------------------------------------------------------------------

GOOD_SIGNATURE = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
GOOD_CREDENTIAL = "AKID/20130524/us-east-1/s3/aws4_request"


def authorization(credential=GOOD_CREDENTIAL, signed="host;x-amz-date", signature=GOOD_SIGNATURE, sep=", "):
    return f"AWS4-HMAC-SHA256 Credential={credential}{sep}SignedHeaders={signed}{sep}Signature={signature}"


@pytest.mark.parametrize(
    "value",
    [
        authorization(),
        authorization(sep=","),
        authorization(sep=" "),
        authorization(sep=" ,, ", signature=GOOD_SIGNATURE.upper()),
        f"  AWS4-HMAC-SHA256   Signature={GOOD_SIGNATURE},Credential={GOOD_CREDENTIAL}, "
        "SignedHeaders=host;x-amz-date ",
    ],
)
def test_parse_authorization_tolerates_commas_and_spaces(value):
    credential = parse_authorization(value, DOC_NOW)
    assert credential == sigv4.Credential(
        "AKID", "20130524", "us-east-1", "s3", ("host", "x-amz-date"), GOOD_SIGNATURE, DOC_NOW
    )
    assert credential.scope == "20130524/us-east-1/s3/aws4_request"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("", "algorithm"),
        ("AWS4-ECDSA-P256-SHA256 Credential=x", "algorithm"),
        ("Bearer abc", "algorithm"),
        (f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, SignedHeaders=host", "missing Signature"),
        (f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, Credential={GOOD_CREDENTIAL}", "unexpected"),
        (f"AWS4-HMAC-SHA256 Credential={GOOD_CREDENTIAL}, Extra=1, SignedHeaders=host", "unexpected"),
        ("AWS4-HMAC-SHA256 Credential, SignedHeaders=host", "unexpected"),
        (authorization(credential="AKID/20130524/s3/aws4_request"), "Credential is malformed"),
        (authorization(credential="AKID/20130524/us-east-1/s3/aws5"), "terminal"),
        (authorization(credential="AKID/20130524/us-east-1/ec2/aws4_request"), "service"),
        (authorization(credential="AKID/20130525/us-east-1/s3/aws4_request"), "credential date"),
        (authorization(credential="/20130524/us-east-1/s3/aws4_request"), "Credential is malformed"),
        (authorization(signed="x-amz-date"), "host"),
        (authorization(signed="host;;a"), "host"),
        (authorization(signature="abc"), "64 hexadecimal"),
        (authorization(signature="g" * 64), "64 hexadecimal"),
    ],
)
def test_parse_authorization_rejects_malformed_headers(value, match):
    with pytest.raises(AuthorizationHeaderMalformedError, match=match):
        parse_authorization(value, DOC_NOW)


def test_parse_authorization_refuses_signature_version_2():
    with pytest.raises(InvalidRequestError, match="Signature Version 2"):
        parse_authorization("AWS AKID:c2lnbmF0dXJl", DOC_NOW)


# -- parse_presigned -----------------------------------------------------------------------------

PRESIGNED = {
    "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
    "X-Amz-Credential": GOOD_CREDENTIAL,
    "X-Amz-Date": "20130524T000000Z",
    "X-Amz-Expires": "86400",
    "X-Amz-SignedHeaders": "host",
    "X-Amz-Signature": GOOD_SIGNATURE,
}


def presigned_pairs(**overrides):
    fields = {**PRESIGNED, **overrides}
    return [("versionId", "1"), *((name, value) for name, value in fields.items() if value is not None)]


def test_parse_presigned_reads_the_query_fields():
    credential = parse_presigned(presigned_pairs())
    assert credential is not None
    assert (credential.access_key, credential.expires_seconds, credential.amz_date) == (
        "AKID",
        86400,
        DOC_NOW,
    )


def test_parse_presigned_is_none_without_a_signature():
    assert parse_presigned([("versionId", "1"), ("X-Amz-Date", "x")]) is None


@pytest.mark.parametrize("expires", ["1", "604800"])
def test_parse_presigned_accepts_expiry_from_a_second_to_a_week(expires):
    credential = parse_presigned(presigned_pairs(**{"X-Amz-Expires": expires}))
    assert credential is not None
    assert credential.expires_seconds == int(expires)


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"X-Amz-Expires": "0"}, "X-Amz-Expires"),
        ({"X-Amz-Expires": "604801"}, "X-Amz-Expires"),
        ({"X-Amz-Expires": "-5"}, "X-Amz-Expires"),
        ({"X-Amz-Expires": "1e3"}, "X-Amz-Expires"),
        ({"X-Amz-Expires": None}, "requires"),
        ({"X-Amz-Signature": None}, "requires"),
        ({"X-Amz-Algorithm": "AWS4-HMAC-SHA1"}, "X-Amz-Algorithm"),
        ({"X-Amz-Date": "20130524"}, "ISO8601"),
        ({"X-Amz-Credential": "AKID/20130524/us-east-1/s3"}, "Credential is malformed"),
        ({"X-Amz-SignedHeaders": "range"}, "host"),
    ],
)
def test_parse_presigned_rejects_malformed_queries(overrides, match):
    with pytest.raises(AuthorizationHeaderMalformedError, match=match):
        parse_presigned(presigned_pairs(**overrides))


def test_parse_presigned_rejects_a_repeated_field():
    with pytest.raises(AuthorizationHeaderMalformedError, match="more than once"):
        parse_presigned([*presigned_pairs(), ("X-Amz-Signature", GOOD_SIGNATURE)])


# -- canonical forms -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("/bkt/key.txt", "/bkt/key.txt"),
        ("/bkt/a b", "/bkt/a%20b"),
        ("/bkt/a%20b", "/bkt/a%20b"),
        ("/bkt/%c3%bc", "/bkt/%C3%BC"),
        ("/bkt/ü", "/bkt/%C3%BC"),
        ("/bkt/a%2Fb", "/bkt/a%2Fb"),
        ("/bkt/a//b/../c/./d", "/bkt/a//b/../c/./d"),
        ("/bkt/%7E~", "/bkt/~~"),
        ("/bkt/a+b!$", "/bkt/a%2Bb%21%24"),
        ("", "/"),
    ],
)
def test_canonical_uri_encodes_once_and_never_normalizes(raw, canonical):
    assert canonical_uri(raw) == canonical


@pytest.mark.parametrize(
    ("query", "canonical"),
    [
        ("b=2&a=1&a=0", "a=0&a=1&b=2"),
        ("acl", "acl="),
        ("acl=&&uploads", "acl=&uploads="),
        ("x=a/b&y=a%2fb", "x=a%2Fb&y=a%2Fb"),
        ("p=a+b%2Bc", "p=a%20b%2Bc"),
        ("k=%E2%9C%93~", "k=%E2%9C%93~"),
        ("X-Amz-Signature=abc&z=1", "z=1"),
        ("bad=%ff%zz", "bad=%FF%25zz"),
    ],
)
def test_canonical_query_sorts_and_reencodes(query, canonical):
    assert canonical_query(parse_query(query)) == canonical


def test_canonical_request_joins_repeated_headers_and_ends_with_the_payload_hash():
    text = canonical_request(
        "GET",
        "/bkt/k",
        [("list-type", "2")],
        [("host", "h:9000"), ("x-amz-meta-a", " one "), ("x-amz-meta-a", "two  words")],
        signed_headers=("host", "x-amz-meta-a"),
        payload_hash=UNSIGNED_PAYLOAD,
    )
    assert text.split("\n") == [
        "GET",
        "/bkt/k",
        "list-type=2",
        "host:h:9000",
        "x-amz-meta-a:one,two words",
        "",
        "host;x-amz-meta-a",
        "UNSIGNED-PAYLOAD",
    ]


# -- payload_mode --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mode", "streaming", "chunk_signed", "trailer"),
    [
        (EMPTY_SHA256, PayloadMode.SHA256, False, False, False),
        (EMPTY_SHA256.upper(), PayloadMode.SHA256, False, False, False),
        (UNSIGNED_PAYLOAD, PayloadMode.UNSIGNED, False, False, False),
        (STREAMING_UNSIGNED_TRAILER, PayloadMode.STREAMING_UNSIGNED_TRAILER, True, False, True),
        (STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED, True, True, False),
        (STREAMING_SIGNED_TRAILER, PayloadMode.STREAMING_SIGNED_TRAILER, True, True, True),
    ],
)
def test_payload_mode_names_each_value(value, mode, streaming, chunk_signed, trailer):
    found = payload_mode(value)
    assert found is mode
    assert (found.is_streaming, found.is_chunk_signed, found.has_trailer) == (
        streaming,
        chunk_signed,
        trailer,
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "unsigned-payload",
        EMPTY_SHA256[:-1],
        EMPTY_SHA256 + "0",
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
    ],
)
def test_payload_mode_rejects_other_values(value):
    with pytest.raises(InvalidArgumentError, match="x-amz-content-sha256 must be") as caught:
        payload_mode(value)
    assert caught.value.extra["ArgumentName"] == "x-amz-content-sha256"


def test_signing_key_matches_the_aws_example():
    key = signing_key(DOC_SECRET, "20130524", "us-east-1", "s3")
    assert key.hex() == "dbb893acc010964918f1fd433add87c70e8b0db6be30c1fbeafefa5ec6ba8378"
