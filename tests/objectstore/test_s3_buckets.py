"""Bucket operations through boto3: create, head, list, delete, location, and their S3 errors."""

from __future__ import annotations

import uuid

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.objectstore.s3_server import s3_client


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _name() -> str:
    return f"b-{uuid.uuid4().hex[:16]}"


@pytest.fixture(scope="module")
def http():
    """One httpx client for the module's raw requests (a client costs an SSL context to make)."""
    with httpx.Client() as client:
        yield client


@pytest.fixture(scope="module")
def alice(store):
    issued = store.call(store.objectstore.keys.create("alice"))
    return s3_client(store.url, issued.principal.access_key, issued.secret_key)


def test_bucket_create_head_list_delete_roundtrip(s3):
    name = _name()
    created = s3.create_bucket(Bucket=name)
    assert created["Location"] == f"/{name}"
    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"
    listed = s3.list_buckets()
    assert name in [bucket["Name"] for bucket in listed["Buckets"]]
    assert all(bucket["CreationDate"].tzinfo is not None for bucket in listed["Buckets"])
    assert listed["Owner"]["DisplayName"] == "root"
    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert name not in [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]]


def test_create_bucket_twice_by_owner_is_already_owned_by_you(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=bucket)
    assert _error(caught) == ("BucketAlreadyOwnedByYou", 409)
    assert caught.value.response["Error"]["BucketName"] == bucket


def test_create_bucket_taken_by_another_key_is_already_exists(alice, bucket):
    with pytest.raises(ClientError) as caught:
        alice.create_bucket(Bucket=bucket)
    assert _error(caught) == ("BucketAlreadyExists", 409)


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "x" * 64,
        "UpperCase",
        "under_score",
        "-leading-dash",
        "trailing-dash-",
        "double..dot",
        "dot.-dash",
        "192.168.5.4",
        "xn--punycode",
        "ends-s3alias",
    ],
)
def test_create_bucket_rejects_invalid_name(s3, name):
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=name)
    assert _error(caught) == ("InvalidBucketName", 400)
    assert caught.value.response["Error"]["BucketName"] == name


def test_head_bucket_missing_is_404_without_body(s3, store):
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=_name())
    assert _error(caught) == ("404", 404)
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["content-length"] == "0"


def test_list_objects_missing_bucket_is_no_such_bucket(s3):
    name = _name()
    with pytest.raises(ClientError) as caught:
        s3.list_objects_v2(Bucket=name)
    assert _error(caught) == ("NoSuchBucket", 404)
    assert caught.value.response["Error"]["BucketName"] == name


def test_error_body_is_s3_xml_with_code_message_resource_and_request_id(s3, store):
    name = _name()
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_location(Bucket=name)
    error = caught.value.response["Error"]
    assert error["Code"] == "NoSuchBucket"
    assert error["Message"] == "The specified bucket does not exist"
    assert error["Resource"] == name
    headers = caught.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "application/xml"
    assert caught.value.response["ResponseMetadata"]["RequestId"] == headers["x-amz-request-id"]


def test_delete_bucket_missing_is_no_such_bucket(s3):
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=_name())
    assert _error(caught) == ("NoSuchBucket", 404)


def test_delete_bucket_with_objects_is_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=bucket)
    assert _error(caught) == ("BucketNotEmpty", 409)
    assert caught.value.response["Error"]["BucketName"] == bucket
    s3.head_bucket(Bucket=bucket)


def test_delete_bucket_with_only_noncurrent_versions_is_bucket_not_empty(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="k")
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=bucket)
    assert _error(caught) == ("BucketNotEmpty", 409)


def test_delete_bucket_aborts_uploads_in_progress(s3, bucket):
    s3.create_multipart_upload(Bucket=bucket, Key="pending")
    s3.delete_bucket(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=bucket)
    assert _error(caught) == ("404", 404)


def test_get_bucket_location_of_us_east_1_is_empty(s3, bucket):
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_create_bucket_with_own_region_constraint_is_accepted(s3, store):
    name = _name()
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None


def test_create_bucket_in_another_region_is_invalid_location_constraint(s3):
    name = _name()
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert _error(caught) == ("InvalidLocationConstraint", 400)
    assert caught.value.response["Error"]["LocationConstraint"] == "eu-west-1"
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket=name)


def test_create_bucket_with_malformed_configuration_is_malformed_xml(s3):
    def corrupt(request, **_):
        request.data = b"<CreateBucketConfiguration><LocationConstraint>"

    s3.meta.events.register("before-sign.s3.CreateBucket", corrupt)
    try:
        with pytest.raises(ClientError) as caught:
            s3.create_bucket(Bucket=_name())
    finally:
        s3.meta.events.unregister("before-sign.s3.CreateBucket", corrupt)
    assert _error(caught) == ("MalformedXML", 400)


def test_list_buckets_shows_a_non_admin_only_its_own(s3, alice, bucket):
    mine = _name()
    alice.create_bucket(Bucket=mine)
    seen_by_alice = [b["Name"] for b in alice.list_buckets()["Buckets"]]
    assert mine in seen_by_alice
    assert bucket not in seen_by_alice
    seen_by_root = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert {mine, bucket} <= set(seen_by_root)
    assert alice.list_buckets()["Owner"]["DisplayName"] == "alice"


def test_head_bucket_of_another_owner_is_403(alice, bucket):
    with pytest.raises(ClientError) as caught:
        alice.head_bucket(Bucket=bucket)
    assert _error(caught) == ("403", 403)


def test_delete_bucket_of_another_owner_is_access_denied(alice, s3, bucket):
    with pytest.raises(ClientError) as caught:
        alice.delete_bucket(Bucket=bucket)
    assert _error(caught) == ("AccessDenied", 403)
    s3.head_bucket(Bucket=bucket)


def test_admin_may_delete_a_bucket_another_key_owns(alice, s3):
    name = _name()
    alice.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in alice.list_buckets()["Buckets"]]


def test_bucket_recreated_after_delete_is_empty(s3):
    name = _name()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="old", Body=b"old")
    s3.delete_object(Bucket=name, Key="old")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_unknown_method_on_bucket_is_method_not_allowed(http, store, bucket):
    response = http.request("PATCH", f"{store.url}/{bucket}")
    assert response.status_code == 405
    assert b"<Code>MethodNotAllowed</Code>" in response.content


def test_anonymous_create_bucket_is_access_denied(http, store):
    response = http.put(f"{store.url}/{_name()}")
    assert response.status_code == 403
    assert b"<Code>AccessDenied</Code>" in response.content
