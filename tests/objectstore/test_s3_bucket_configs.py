"""Bucket configurations through boto3 (tags, CORS, lifecycle, policy, versioning) and what they do to
requests, plus bodies and requests the API must refuse cleanly: bad XML, short bodies, unknown
sub-resources."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import uuid
import zlib

import httpx
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.objectstore.s3_server import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, s3_client
from tests.servers import HOST

ROOT = Credentials(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)
BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<Tagging><TagSet><Tag><Key>k</Key><Value>&lol4;</Value></Tag></TagSet></Tagging>"""


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _code(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/xml"
    return response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def _signed(method: str, url: str, body: bytes = b"", *, unsigned_payload: bool = False) -> AWSRequest:
    """`method url` signed by botocore's header signer with the root key."""
    request = AWSRequest(method=method, url=url, data=body)
    if unsigned_payload:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(ROOT, "s3", REGION).add_auth(request)
    return request


def _send(http: httpx.Client, request: AWSRequest) -> httpx.Response:
    return http.request(request.method, request.url, content=request.body, headers=dict(request.headers))


@pytest.fixture(scope="module")
def http():
    """One httpx client for the module's raw requests (a client costs an SSL context to make)."""
    with httpx.Client() as client:
        yield client


@pytest.fixture(scope="module")
def alice(store):
    issued = store.call(store.objectstore.keys.create("alice"))
    return issued, s3_client(store.url, issued.principal.access_key, issued.secret_key)


# Tags


def test_bucket_tagging_put_get_delete(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _error(caught) == ("NoSuchTagSet", 404)
    tags = [{"Key": "team", "Value": "storage"}, {"Key": "cost-centre", "Value": "42"}]
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": tags})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == tags
    assert s3.delete_bucket_tagging(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_tagging(Bucket=bucket)
    assert _error(caught) == ("NoSuchTagSet", 404)


def test_put_bucket_tagging_with_a_wrong_content_md5_is_bad_digest(http, store, s3, bucket):
    body = b"<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>"
    wrong = base64.b64encode(hashlib.md5(b"another document").digest()).decode()
    request = AWSRequest(
        method="PUT", url=f"{store.url}/{bucket}?tagging", data=body, headers={"content-md5": wrong}
    )
    S3SigV4Auth(ROOT, "s3", REGION).add_auth(request)
    response = _send(http, request)
    assert response.status_code == 400
    assert _code(response) == "BadDigest"
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


def test_delete_objects_with_a_wrong_body_checksum_is_bad_digest(http, store, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    body = b"<Delete><Object><Key>k</Key></Object></Delete>"
    request = AWSRequest(
        method="POST",
        url=f"{store.url}/{bucket}?delete",
        data=body,
        headers={"x-amz-checksum-crc32": base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big")).decode()},
    )
    S3SigV4Auth(ROOT, "s3", REGION).add_auth(request)
    response = _send(http, request)
    assert response.status_code == 400
    assert _code(response) == "BadDigest"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_bucket_tagging_with_a_reserved_aws_key_is_invalid_tag(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "aws:owner", "Value": "me"}]})
    assert _error(caught) == ("InvalidTag", 400)


# CORS

CORS_RULES = [
    {
        "AllowedOrigins": ["https://app.example.com"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["content-type", "x-amz-*"],
        "ExposeHeaders": ["ETag"],
        "MaxAgeSeconds": 600,
        "ID": "app",
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]},
]


def test_bucket_cors_put_get_delete(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_cors(Bucket=bucket)
    assert _error(caught) == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": CORS_RULES})
    rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
    assert rules[0]["AllowedOrigins"] == ["https://app.example.com"]
    assert rules[0]["AllowedMethods"] == ["GET", "PUT"]
    assert rules[0]["AllowedHeaders"] == ["content-type", "x-amz-*"]
    assert rules[0]["ExposeHeaders"] == ["ETag"]
    assert rules[0]["MaxAgeSeconds"] == 600
    assert rules[1]["AllowedOrigins"] == ["*"]
    s3.delete_bucket_cors(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_cors(Bucket=bucket)
    assert _error(caught) == ("NoSuchCORSConfiguration", 404)


def test_cors_preflight_gets_access_control_headers(http, store, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": CORS_RULES})
    response = http.options(
        f"{store.url}/{bucket}/some/key",
        headers={
            "origin": "https://app.example.com",
            "access-control-request-method": "PUT",
            "access-control-request-headers": "Content-Type, X-Amz-Date",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-allow-methods"] == "GET, PUT"
    assert response.headers["access-control-allow-headers"] == "Content-Type, X-Amz-Date"
    assert response.headers["access-control-max-age"] == "600"
    assert response.headers["access-control-allow-credentials"] == "true"


def test_cors_preflight_not_allowed_is_403_access_denied(http, store, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": CORS_RULES})
    response = http.options(
        f"{store.url}/{bucket}/k",
        headers={"origin": "https://evil.example.com", "access-control-request-method": "PUT"},
    )
    assert response.status_code == 403
    assert _code(response) == "AccessDenied"
    assert "access-control-allow-origin" not in response.headers


def test_cors_preflight_on_bucket_without_cors_is_403(http, store, bucket):
    response = http.options(
        f"{store.url}/{bucket}/k",
        headers={"origin": "https://app.example.com", "access-control-request-method": "GET"},
    )
    assert response.status_code == 403


def test_get_with_origin_gets_access_control_allow_origin(http, store, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": CORS_RULES})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    matched = http.get(url, headers={"origin": "https://app.example.com"})
    assert matched.headers["access-control-allow-origin"] == "https://app.example.com"
    assert matched.headers["access-control-expose-headers"] == "ETag"
    anyone = http.get(url, headers={"origin": "https://other.example.org"})
    assert anyone.headers["access-control-allow-origin"] == "*"
    plain = http.get(url)
    assert "access-control-allow-origin" not in plain.headers


def test_put_bucket_cors_without_rules_is_malformed_xml(http, store, bucket):
    response = _send(
        http, _signed("PUT", f"{store.url}/{bucket}?cors", b"<CORSConfiguration></CORSConfiguration>")
    )
    assert response.status_code == 400
    assert _code(response) == "MalformedXML"


# Lifecycle

LIFECYCLE_RULE = {
    "ID": "expire-logs",
    "Status": "Enabled",
    "Filter": {
        "And": {
            "Prefix": "logs/",
            "Tags": [{"Key": "temp", "Value": "yes"}],
            "ObjectSizeGreaterThan": 1024,
        }
    },
    "Expiration": {"Days": 30},
    "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
}


def test_bucket_lifecycle_round_trips_a_rule_with_filter_and(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert _error(caught) == ("NoSuchLifecycleConfiguration", 404)
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [LIFECYCLE_RULE]})
    (rule,) = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["ID"] == "expire-logs"
    assert rule["Status"] == "Enabled"
    assert rule["Filter"] == LIFECYCLE_RULE["Filter"]
    assert rule["Expiration"] == {"Days": 30}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7}
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert _error(caught) == ("NoSuchLifecycleConfiguration", 404)


def test_bucket_lifecycle_abort_uploads_with_tags_is_invalid_request(s3, bucket):
    rule = {**LIFECYCLE_RULE, "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}}
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert _error(caught) == ("InvalidRequest", 400)


def test_bucket_lifecycle_without_an_action_is_refused(s3, bucket):
    rule = {"ID": "nothing", "Status": "Enabled", "Filter": {"Prefix": ""}}
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    assert _error(caught)[1] == 400


# Policy


def _public_read(bucket: str, *actions: str) -> str:
    statement = {
        "Sid": "PublicRead",
        "Effect": "Allow",
        "Principal": "*",
        "Action": ["s3:GetObject"],
        "Resource": [f"arn:aws:s3:::{bucket}/*"],
    }
    statements = [statement]
    if actions:
        statements.append(
            {
                "Effect": "Allow",
                "Principal": "*",
                "Action": list(actions),
                "Resource": [f"arn:aws:s3:::{bucket}"],
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def test_bucket_policy_put_get_delete(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_policy(Bucket=bucket)
    assert _error(caught) == ("NoSuchBucketPolicy", 404)
    policy = _public_read(bucket)
    assert s3.put_bucket_policy(Bucket=bucket, Policy=policy)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]) == json.loads(policy)
    s3.delete_bucket_policy(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_policy(Bucket=bucket)
    assert _error(caught) == ("NoSuchBucketPolicy", 404)


def test_bucket_policy_not_json_is_malformed_policy(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_policy(Bucket=bucket, Policy="{not json")
    assert _error(caught) == ("MalformedPolicy", 400)


def test_bucket_policy_for_another_bucket_is_malformed_policy(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_policy(Bucket=bucket, Policy=_public_read("some-other-bucket"))
    assert _error(caught) == ("MalformedPolicy", 400)


def test_public_read_policy_lets_anonymous_get_but_not_list(http, store, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"hello world")
    assert http.get(f"{store.url}/{bucket}/public.txt").status_code == 403
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_read(bucket))
    got = http.get(f"{store.url}/{bucket}/public.txt")
    assert got.status_code == 200
    assert got.content == b"hello world"
    listing = http.get(f"{store.url}/{bucket}?list-type=2")
    assert listing.status_code == 403
    assert _code(listing) == "AccessDenied"
    put = http.put(f"{store.url}/{bucket}/vandal.txt", content=b"x")
    assert put.status_code == 403
    missing = http.get(f"{store.url}/{bucket}/missing.txt")
    assert missing.status_code == 403
    assert _code(missing) == "AccessDenied"
    assert http.head(f"{store.url}/{bucket}/public.txt").headers["content-length"] == "11"
    overridden = http.get(f"{store.url}/{bucket}/public.txt?response-content-type=text/html")
    assert overridden.status_code == 400
    assert _code(overridden) == "InvalidRequest"


def test_public_policy_with_list_bucket_lets_anonymous_list(http, store, s3, bucket):
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=_public_read(bucket, "s3:ListBucket"))
    listing = http.get(f"{store.url}/{bucket}?list-type=2")
    assert listing.status_code == 200
    assert "<Key>public.txt</Key>" in listing.text
    missing = http.get(f"{store.url}/{bucket}/missing.txt")
    assert missing.status_code == 404
    assert _code(missing) == "NoSuchKey"


def test_policy_deny_for_a_key_beats_ownership(alice, s3):
    issued, client = alice
    name = f"own-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    client.put_object(Bucket=name, Key="keep", Body=b"x")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Deny",
                "Principal": {"AWS": issued.principal.access_key},
                "Action": ["s3:DeleteObject", "s3:PutObject"],
                "Resource": f"arn:aws:s3:::{name}/*",
            }
        ],
    }
    client.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))
    for call in (
        lambda: client.delete_object(Bucket=name, Key="keep"),
        lambda: client.put_object(Bucket=name, Key="new", Body=b"y"),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert _error(caught) == ("AccessDenied", 403)
    assert client.get_object(Bucket=name, Key="keep")["Body"].read() == b"x"
    s3.delete_object(Bucket=name, Key="keep")


# Versioning status


def test_bucket_versioning_status_through_boto3(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"


# Bad input


@pytest.mark.parametrize(
    "body",
    [b"this is not xml", b"<Tagging><TagSet><Tag><Key>k</Key>", b"<Other/>", BILLION_LAUGHS],
    ids=["text", "truncated", "wrong-root", "billion-laughs"],
)
def test_put_bucket_tagging_bad_document_is_malformed_xml(http, store, s3, bucket, body):
    response = _send(http, _signed("PUT", f"{store.url}/{bucket}?tagging", body))
    assert response.status_code == 400
    assert _code(response) == "MalformedXML"
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


def test_delete_objects_with_billion_laughs_is_malformed_xml(http, store, bucket):
    body = BILLION_LAUGHS.replace(
        b"<Tagging><TagSet><Tag><Key>k</Key><Value>&lol4;</Value></Tag></TagSet></Tagging>",
        b"<Delete><Object><Key>&lol4;</Key></Object></Delete>",
    )
    response = _send(http, _signed("POST", f"{store.url}/{bucket}?delete", body))
    assert response.status_code == 400
    assert _code(response) == "MalformedXML"


def test_put_with_content_length_over_the_body_then_eof_stores_nothing(store, s3, bucket):
    request = _signed("PUT", f"{store.url}/{bucket}/short", unsigned_payload=True)
    head = [f"PUT /{bucket}/short HTTP/1.1", f"Host: {HOST}:{store.port}", "Content-Length: 100"]
    head += [f"{name}: {value}" for name, value in request.headers.items()]
    with socket.create_connection((HOST, store.port), timeout=10) as conn:
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + b"only ten b")
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer == b""  # the client is gone, so there is no one to answer
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_put_with_aws_chunked_body_shorter_than_declared_is_incomplete_body(http, store, s3, bucket):
    body = b"a\r\n0123456789\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    request = AWSRequest(
        method="PUT",
        url=f"{store.url}/{bucket}/short",
        data=body,
        headers={
            "content-encoding": "aws-chunked",
            "x-amz-decoded-content-length": "100",
            "x-amz-trailer": "x-amz-checksum-crc32",
        },
    )
    request.context["checksum"] = {"request_algorithm": {"in": "trailer", "algorithm": "crc32"}}
    S3SigV4Auth(ROOT, "s3", REGION).add_auth(request)
    assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    response = _send(http, request)
    assert response.status_code == 400
    assert _code(response) == "IncompleteBody"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize("subresource", ["website", "acl", "replication", "notification", "encryption"])
def test_unknown_bucket_subresource_is_501_not_implemented(http, store, bucket, subresource):
    response = _send(http, _signed("GET", f"{store.url}/{bucket}?{subresource}"))
    assert response.status_code == 501
    assert _code(response) == "NotImplemented"
    assert "<RequestId>" in response.text


def test_get_bucket_website_through_boto3_is_not_implemented(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_website(Bucket=bucket)
    assert _error(caught) == ("NotImplemented", 501)


def test_configuration_on_a_missing_bucket_is_no_such_bucket(s3):
    name = f"gone-{uuid.uuid4().hex[:12]}"
    for call in (
        lambda: s3.get_bucket_tagging(Bucket=name),
        lambda: s3.get_bucket_cors(Bucket=name),
        lambda: s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"}),
        lambda: s3.get_bucket_policy(Bucket=name),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert _error(caught) == ("NoSuchBucket", 404)


def test_server_is_healthy_after_the_bad_input(s3, bucket):
    s3.put_object(Bucket=bucket, Key="after", Body=b"fine")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"fine"
