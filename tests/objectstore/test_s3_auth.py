"""Authentication and authorization through boto3, botocore's signers and raw httpx requests: bad and
revoked keys, anonymous callers, presigned URLs, clock skew, virtual-host addressing, bucket policies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email.utils import formatdate

import boto3
import httpx
import pytest
from botocore import UNSIGNED
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.objectstore.harness import DOMAIN
from tests.objectstore.s3_server import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY

ROOT = Credentials(ROOT_ACCESS_KEY, ROOT_SECRET_KEY)


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _code(response: httpx.Response) -> str:
    assert response.headers["content-type"] == "application/xml"
    return response.text.split("<Code>", 1)[1].split("</Code>", 1)[0]


def _signed(
    monkeypatch: pytest.MonkeyPatch, auth, method: str, url: str, *, at: datetime, body: bytes = b""
) -> AWSRequest:
    """`method url` signed by botocore's own signer `auth` as if its clock read `at`."""
    request = AWSRequest(method=method, url=url, data=body)
    with monkeypatch.context() as patch:
        patch.setattr(
            "botocore.auth.get_current_datetime", lambda remove_tzinfo=True: at.replace(tzinfo=None)
        )
        auth.add_auth(request)
    return request


def _header_auth() -> S3SigV4Auth:
    return S3SigV4Auth(ROOT, "s3", REGION)


@pytest.fixture(scope="module")
def http():
    """One httpx client for the module's raw requests (a client costs an SSL context to make)."""
    with httpx.Client() as client:
        yield client


@pytest.fixture(scope="module")
def client_for(store):
    """boto3 clients for any credentials, from one session (a session loads botocore's models once)."""
    session = boto3.session.Session()

    def client(access_key: str | None, secret_key: str | None, **config):
        return session.client(
            "s3",
            endpoint_url=store.url,
            region_name=REGION,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, **config),
        )

    return client


@pytest.fixture(scope="module")
def anonymous(client_for):
    return client_for(None, None, signature_version=UNSIGNED)


@pytest.fixture(scope="module")
def impostor(client_for):
    """The root access key with a wrong secret."""
    return client_for(ROOT_ACCESS_KEY, "not-the-secret")


@pytest.fixture(scope="module")
def alice(store, client_for):
    issued = store.call(store.objectstore.keys.create("alice"))
    return issued, client_for(issued.principal.access_key, issued.secret_key)


def test_wrong_secret_is_signature_does_not_match(impostor, bucket):
    with pytest.raises(ClientError) as caught:
        impostor.list_objects_v2(Bucket=bucket)
    assert _error(caught) == ("SignatureDoesNotMatch", 403)
    error = caught.value.response["Error"]
    assert error["AWSAccessKeyId"] == ROOT_ACCESS_KEY
    assert error["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert "CanonicalRequest" in error


def test_wrong_secret_on_put_with_a_body_is_signature_does_not_match(impostor, s3, bucket):
    with pytest.raises(ClientError) as caught:
        impostor.put_object(Bucket=bucket, Key="k", Body=b"x" * 100_000)
    assert _error(caught) == ("SignatureDoesNotMatch", 403)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_unknown_access_key_is_invalid_access_key_id(client_for):
    client = client_for("NOSUCHKEY123", "whatever-secret")
    with pytest.raises(ClientError) as caught:
        client.list_buckets()
    assert _error(caught) == ("InvalidAccessKeyId", 403)
    assert caught.value.response["Error"]["AWSAccessKeyId"] == "NOSUCHKEY123"


def test_revoked_key_stops_working_at_once(store, client_for):
    issued = store.call(store.objectstore.keys.create("carol"))
    client = client_for(issued.principal.access_key, issued.secret_key)
    client.list_buckets()
    store.call(store.objectstore.keys.revoke(issued.principal.access_key))
    with pytest.raises(ClientError) as caught:
        client.list_buckets()
    assert _error(caught) == ("InvalidAccessKeyId", 403)


def test_anonymous_list_buckets_is_access_denied(anonymous):
    with pytest.raises(ClientError) as caught:
        anonymous.list_buckets()
    assert _error(caught) == ("AccessDenied", 403)


def test_anonymous_list_and_get_are_access_denied(anonymous, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"secret")
    with pytest.raises(ClientError) as caught:
        anonymous.list_objects_v2(Bucket=bucket)
    assert _error(caught) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as caught:
        anonymous.get_object(Bucket=bucket, Key="private")
    assert _error(caught) == ("AccessDenied", 403)


def test_anonymous_put_is_access_denied_and_stores_nothing(anonymous, s3, bucket):
    with pytest.raises(ClientError) as caught:
        anonymous.put_object(Bucket=bucket, Key="intruder", Body=b"x" * 50_000)
    assert _error(caught) == ("AccessDenied", 403)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_get_and_put_urls_work_with_httpx(http, s3, bucket):
    put_url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "up load.txt"}, ExpiresIn=60
    )
    response = http.put(put_url, content=b"sent without a key")
    assert response.status_code == 200
    assert response.headers["etag"]
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "up load.txt"}, ExpiresIn=60
    )
    got = http.get(get_url)
    assert got.status_code == 200
    assert got.content == b"sent without a key"
    head = http.head(
        s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "up load.txt"})
    )
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(b"sent without a key"))


def test_presigned_put_with_content_type_needs_that_header(http, s3, bucket):
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "typed", "ContentType": "text/plain"}, ExpiresIn=60
    )
    assert http.put(url, content=b"x", headers={"content-type": "text/plain"}).status_code == 200
    refused = http.put(url, content=b"x", headers={"content-type": "image/png"})
    assert refused.status_code == 403
    assert _code(refused) == "SignatureDoesNotMatch"


def test_presigned_url_for_another_key_is_signature_does_not_match(http, s3, bucket):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"}, ExpiresIn=60)
    response = http.get(url.replace(f"/{bucket}/a?", f"/{bucket}/b?"))
    assert response.status_code == 403
    assert _code(response) == "SignatureDoesNotMatch"


def test_expired_presigned_url_is_access_denied_request_has_expired(http, monkeypatch, store, s3, bucket):
    s3.put_object(Bucket=bucket, Key="old", Body=b"x")
    signed = _signed(
        monkeypatch,
        S3SigV4QueryAuth(ROOT, "s3", REGION, expires=60),
        "GET",
        f"{store.url}/{bucket}/old",
        at=datetime.now(UTC) - timedelta(hours=1),
    )
    response = http.get(signed.url)
    assert response.status_code == 403
    assert _code(response) == "AccessDenied"
    assert "<Message>Request has expired</Message>" in response.text
    assert "<X-Amz-Expires>60</X-Amz-Expires>" in response.text


def test_presigned_url_signed_a_moment_ago_still_works(http, monkeypatch, store, s3, bucket):
    s3.put_object(Bucket=bucket, Key="fresh", Body=b"x")
    signed = _signed(
        monkeypatch,
        S3SigV4QueryAuth(ROOT, "s3", REGION, expires=3600),
        "GET",
        f"{store.url}/{bucket}/fresh",
        at=datetime.now(UTC) - timedelta(minutes=30),
    )
    assert http.get(signed.url).content == b"x"


def test_header_signed_20_minutes_ago_is_request_time_too_skewed(http, monkeypatch, store, bucket):
    signed = _signed(
        monkeypatch,
        _header_auth(),
        "GET",
        f"{store.url}/{bucket}",
        at=datetime.now(UTC) - timedelta(minutes=20),
    )
    response = http.get(signed.url, headers=dict(signed.headers))
    assert response.status_code == 403
    assert _code(response) == "RequestTimeTooSkewed"
    assert "<MaxAllowedSkewMilliseconds>900000</MaxAllowedSkewMilliseconds>" in response.text


def test_header_signed_now_by_botocore_is_accepted(http, monkeypatch, store, bucket):
    signed = _signed(monkeypatch, _header_auth(), "GET", f"{store.url}/{bucket}", at=datetime.now(UTC))
    response = http.get(signed.url, headers=dict(signed.headers))
    assert response.status_code == 200
    assert "<ListBucketResult" in response.text


def test_virtual_host_addressing_get_and_put(http, monkeypatch, store, s3, bucket):
    host = f"{bucket}.{DOMAIN}:{store.port}"
    now = datetime.now(UTC)
    put = _signed(monkeypatch, _header_auth(), "PUT", f"http://{host}/dir/v.txt", at=now, body=b"virtual")
    response = http.put(
        f"{store.url}/dir/v.txt", content=b"virtual", headers={**dict(put.headers), "host": host}
    )
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bucket, Key="dir/v.txt")["Body"].read() == b"virtual"
    get = _signed(monkeypatch, _header_auth(), "GET", f"http://{host}/dir/v.txt", at=now)
    response = http.get(f"{store.url}/dir/v.txt", headers={**dict(get.headers), "host": host})
    assert response.status_code == 200
    assert response.content == b"virtual"
    listing = _signed(monkeypatch, _header_auth(), "GET", f"http://{host}/?list-type=2", at=now)
    response = http.get(f"{store.url}/?list-type=2", headers={**dict(listing.headers), "host": host})
    assert "<Key>dir/v.txt</Key>" in response.text


def test_malformed_authorization_header_is_authorization_header_malformed(http, store, bucket):
    response = http.get(
        f"{store.url}/{bucket}",
        headers={
            "authorization": "AWS4-HMAC-SHA256 Credential=garbage",
            "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        },
    )
    assert response.status_code == 400
    assert _code(response) == "AuthorizationHeaderMalformed"


def test_signature_version_2_is_invalid_request(http, store, bucket):
    headers = {"authorization": f"AWS {ROOT_ACCESS_KEY}:c2lnbmF0dXJl", "date": formatdate(usegmt=True)}
    response = http.get(f"{store.url}/{bucket}", headers=headers)
    assert response.status_code == 400
    assert _code(response) == "InvalidRequest"


def test_missing_content_sha256_header_is_invalid_request(http, monkeypatch, store, bucket):
    signed = _signed(monkeypatch, _header_auth(), "GET", f"{store.url}/{bucket}", at=datetime.now(UTC))
    headers = {
        name: value for name, value in signed.headers.items() if name.lower() != "x-amz-content-sha256"
    }
    response = http.get(signed.url, headers=headers)
    assert response.status_code == 400
    assert _code(response) == "InvalidRequest"


def test_body_not_matching_the_signed_sha256_is_refused(http, monkeypatch, store, s3, bucket):
    signed = _signed(
        monkeypatch,
        _header_auth(),
        "PUT",
        f"{store.url}/{bucket}/k",
        at=datetime.now(UTC),
        body=b"signed body",
    )
    response = http.put(signed.url, content=b"other body!", headers=dict(signed.headers))
    assert response.status_code in (400, 403)
    assert _code(response) == "XAmzContentSHA256Mismatch"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_non_admin_cannot_touch_another_users_bucket(alice, s3, bucket):
    _, client = alice
    s3.put_object(Bucket=bucket, Key="root-owned", Body=b"x")
    for call in (
        lambda: client.list_objects_v2(Bucket=bucket),
        lambda: client.get_object(Bucket=bucket, Key="root-owned"),
        lambda: client.put_object(Bucket=bucket, Key="mine", Body=b"y"),
        lambda: client.delete_object(Bucket=bucket, Key="root-owned"),
        lambda: client.get_bucket_versioning(Bucket=bucket),
        lambda: client.put_bucket_policy(Bucket=bucket, Policy=json.dumps({"Statement": []})),
    ):
        with pytest.raises(ClientError) as caught:
            call()
        assert _error(caught) == ("AccessDenied", 403)
    assert s3.get_object(Bucket=bucket, Key="root-owned")["Body"].read() == b"x"


def test_bucket_policy_grants_another_user_what_it_names(alice, s3, bucket):
    issued, client = alice
    s3.put_object(Bucket=bucket, Key="shared/doc", Body=b"for alice")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::000000000000:user/{issued.principal.name}"]},
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket}/shared/*"],
            }
        ],
    }
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    assert client.get_object(Bucket=bucket, Key="shared/doc")["Body"].read() == b"for alice"
    with pytest.raises(ClientError) as caught:
        client.put_object(Bucket=bucket, Key="shared/new", Body=b"y")
    assert _error(caught) == ("AccessDenied", 403)
    with pytest.raises(ClientError) as caught:
        client.list_objects_v2(Bucket=bucket)
    assert _error(caught) == ("AccessDenied", 403)


def test_delete_objects_by_a_non_owner_reports_access_denied_per_key(alice, s3, bucket):
    _, client = alice
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    result = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    assert [(e["Key"], e["Code"]) for e in result["Errors"]] == [("a", "AccessDenied"), ("b", "AccessDenied")]
    assert "Deleted" not in result
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() == b"x"
