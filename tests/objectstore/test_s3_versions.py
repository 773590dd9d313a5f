"""Versioning through boto3: enabling and suspending, versions kept on overwrite, reads and deletes
by version id, delete markers, the 'null' version, and listing versions page by page."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError


def _error(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


@pytest.fixture
def versioned(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def _put(s3, bucket: str, key: str, body: bytes) -> str:
    return s3.put_object(Bucket=bucket, Key=key, Body=body)["VersionId"]


def test_get_bucket_versioning_is_empty_then_enabled_then_suspended(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


def test_put_bucket_versioning_bad_status_is_refused(s3, bucket):
    with pytest.raises(ClientError) as caught:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Disabled"})
    assert _error(caught)[1] == 400
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)


def test_unversioned_bucket_answers_without_version_ids(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert "VersionId" not in put
    assert "VersionId" not in s3.get_object(Bucket=bucket, Key="k")
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert "VersionId" not in deleted
    assert "DeleteMarker" not in deleted


def test_overwrites_keep_every_version_readable_by_id(s3, versioned):
    first = _put(s3, versioned, "k", b"one")
    second = _put(s3, versioned, "k", b"two")
    assert first != second
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"two"
    got = s3.get_object(Bucket=versioned, Key="k", VersionId=first)
    assert got["Body"].read() == b"one"
    assert got["VersionId"] == first
    head = s3.head_object(Bucket=versioned, Key="k", VersionId=second)
    assert head["VersionId"] == second
    assert head["ContentLength"] == 3
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(second, True), (first, False)]


def test_get_object_unknown_version_id_is_no_such_version(s3, versioned):
    _put(s3, versioned, "k", b"x")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k", VersionId="nope")
    assert _error(caught) == ("NoSuchVersion", 404)
    assert caught.value.response["Error"]["VersionId"] == "nope"


def test_delete_without_version_id_adds_a_delete_marker(s3, versioned):
    version = _put(s3, versioned, "k", b"x")
    deleted = s3.delete_object(Bucket=versioned, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    assert marker != version
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k")
    assert _error(caught) == ("NoSuchKey", 404)
    headers = caught.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true"
    assert headers["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=versioned, Key="k")
    assert _error(caught) == ("404", 404)
    assert caught.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert s3.list_objects_v2(Bucket=versioned)["KeyCount"] == 0
    listed = s3.list_object_versions(Bucket=versioned)
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(version, False)]
    assert s3.get_object(Bucket=versioned, Key="k", VersionId=version)["Body"].read() == b"x"


def test_get_of_a_delete_marker_by_version_id_is_method_not_allowed(s3, versioned):
    _put(s3, versioned, "k", b"x")
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=versioned, Key="k", VersionId=marker)
    assert _error(caught) == ("MethodNotAllowed", 405)
    headers = caught.value.response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amz-delete-marker"] == "true"
    assert caught.value.response["Error"]["ResourceType"] == "DeleteMarker"


def test_head_of_a_delete_marker_by_version_id_is_405(s3, versioned):
    _put(s3, versioned, "k", b"x")
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=versioned, Key="k", VersionId=marker)
    assert _error(caught) == ("405", 405)


def test_deleting_the_delete_marker_restores_the_object(s3, versioned):
    _put(s3, versioned, "k", b"back")
    marker = s3.delete_object(Bucket=versioned, Key="k")["VersionId"]
    removed = s3.delete_object(Bucket=versioned, Key="k", VersionId=marker)
    assert removed["DeleteMarker"] is True
    assert removed["VersionId"] == marker
    assert s3.get_object(Bucket=versioned, Key="k")["Body"].read() == b"back"
    assert "DeleteMarkers" not in s3.list_object_versions(Bucket=versioned)


def test_delete_by_version_id_removes_only_that_version(s3, versioned):
    first = _put(s3, versioned, "k", b"one")
    second = _put(s3, versioned, "k", b"two")
    removed = s3.delete_object(Bucket=versioned, Key="k", VersionId=second)
    assert removed["VersionId"] == second
    assert "DeleteMarker" not in removed
    got = s3.get_object(Bucket=versioned, Key="k")
    assert got["Body"].read() == b"one"
    assert got["VersionId"] == first
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [(first, True)]


def test_delete_objects_with_version_ids(s3, versioned):
    first = _put(s3, versioned, "k", b"one")
    _put(s3, versioned, "k", b"two")
    result = s3.delete_objects(
        Bucket=versioned, Delete={"Objects": [{"Key": "k", "VersionId": first}, {"Key": "other"}]}
    )
    by_key = {d["Key"]: d for d in result["Deleted"]}
    assert by_key["k"]["VersionId"] == first
    assert by_key["other"]["DeleteMarker"] is True
    assert by_key["other"]["DeleteMarkerVersionId"]
    assert len(s3.list_object_versions(Bucket=versioned, Prefix="k")["Versions"]) == 1


def test_suspended_versioning_replaces_the_null_version(s3, versioned):
    kept = _put(s3, versioned, "k", b"enabled")
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Suspended"})
    put = s3.put_object(Bucket=versioned, Key="k", Body=b"null one")
    assert "VersionId" not in put
    s3.put_object(Bucket=versioned, Key="k", Body=b"null two")
    versions = s3.list_object_versions(Bucket=versioned)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in versions] == [("null", True), (kept, False)]
    assert s3.get_object(Bucket=versioned, Key="k", VersionId="null")["Body"].read() == b"null two"
    assert s3.get_object(Bucket=versioned, Key="k")["VersionId"] == "null"
    assert s3.head_object(Bucket=versioned, Key="k")["VersionId"] == "null"


def test_suspended_versioning_delete_makes_a_null_delete_marker(s3, versioned):
    kept = _put(s3, versioned, "k", b"enabled")
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=versioned, Key="k", Body=b"null")
    deleted = s3.delete_object(Bucket=versioned, Key="k")
    assert deleted["DeleteMarker"] is True
    assert deleted["VersionId"] == "null"
    listed = s3.list_object_versions(Bucket=versioned)
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == ["null"]
    assert [v["VersionId"] for v in listed["Versions"]] == [kept]


def test_objects_written_before_versioning_have_the_null_version(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    after = _put(s3, bucket, "k", b"after")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in versions] == [after, "null"]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"


def test_copy_object_from_an_old_version(s3, versioned):
    first = _put(s3, versioned, "src", b"one")
    _put(s3, versioned, "src", b"two")
    copied = s3.copy_object(
        Bucket=versioned, Key="dst", CopySource={"Bucket": versioned, "Key": "src", "VersionId": first}
    )
    assert copied["CopySourceVersionId"] == first
    assert copied["VersionId"]
    assert s3.get_object(Bucket=versioned, Key="dst")["Body"].read() == b"one"


def test_object_tagging_by_version_id(s3, versioned):
    first = _put(s3, versioned, "k", b"one")
    _put(s3, versioned, "k", b"two")
    tagged = s3.put_object_tagging(
        Bucket=versioned, Key="k", VersionId=first, Tagging={"TagSet": [{"Key": "old", "Value": "yes"}]}
    )
    assert tagged["VersionId"] == first
    assert s3.get_object_tagging(Bucket=versioned, Key="k", VersionId=first)["TagSet"] == [
        {"Key": "old", "Value": "yes"}
    ]
    assert s3.get_object_tagging(Bucket=versioned, Key="k")["TagSet"] == []


@pytest.fixture
def history(s3, versioned):
    """Three keys with two versions each and one delete marker: seven entries, newest first per key."""
    expected = []
    for key in ("a", "b", "c"):
        ids = [_put(s3, versioned, key, f"{key}{n}".encode()) for n in range(2)]
        expected += [(key, ids[1]), (key, ids[0])]
    marker = s3.delete_object(Bucket=versioned, Key="b")["VersionId"]
    expected.insert(2, ("b", marker))
    return versioned, expected


def test_list_object_versions_orders_by_key_then_newest_first(s3, history):
    bucket, expected = history
    listed = s3.list_object_versions(Bucket=bucket)
    entries = sorted(
        [(v["Key"], v["VersionId"], v["LastModified"]) for v in listed["Versions"]]
        + [(m["Key"], m["VersionId"], m["LastModified"]) for m in listed["DeleteMarkers"]],
        key=lambda entry: [e[:2] for e in expected].index(entry[:2]),
    )
    assert [e[:2] for e in entries] == expected


@pytest.mark.parametrize("page_size", [1, 2, 3, 4])
def test_list_object_versions_pages_with_key_and_version_id_markers(s3, history, page_size):
    bucket, expected = history
    seen = []
    key_marker, version_marker = "", ""
    while True:
        page = s3.list_object_versions(
            Bucket=bucket, MaxKeys=page_size, KeyMarker=key_marker, VersionIdMarker=version_marker
        )
        entries = [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        entries += [(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])]
        assert len(entries) <= page_size
        seen += sorted(entries, key=expected.index)
        if not page["IsTruncated"]:
            break
        key_marker, version_marker = page["NextKeyMarker"], page["NextVersionIdMarker"]
        assert (key_marker, version_marker) == seen[-1]
    assert seen == expected


def test_list_object_versions_paginator_sees_every_version(s3, history):
    bucket, expected = history
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    seen = []
    for page in pages:
        seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
        seen += [(m["Key"], m["VersionId"]) for m in page.get("DeleteMarkers", [])]
    assert sorted(seen) == sorted(expected)


def test_list_object_versions_with_prefix_and_delimiter(s3, versioned):
    for key in ("dir/a", "dir/b", "top"):
        _put(s3, versioned, key, b"x")
    listed = s3.list_object_versions(Bucket=versioned, Delimiter="/")
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["dir/"]
    assert [v["Key"] for v in listed["Versions"]] == ["top"]
    inside = s3.list_object_versions(Bucket=versioned, Prefix="dir/")
    assert [v["Key"] for v in inside["Versions"]] == ["dir/a", "dir/b"]


def test_list_object_versions_version_id_marker_without_key_marker_is_invalid_argument(s3, versioned):
    with pytest.raises(ClientError) as caught:
        s3.list_object_versions(Bucket=versioned, VersionIdMarker="abc")
    assert _error(caught) == ("InvalidArgument", 400)


def test_list_object_versions_of_unversioned_bucket_shows_null_versions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions] == [("k", "null", True)]
