"""Third-party S3 clients against the object store in process: the AWS CLI (a subprocess, as people run
it) and s3fs (fsspec over aiobotocore). Every byte that goes up comes back identical."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import s3fs

from tests.objectstore.harness import RunningStore
from tests.objectstore.s3_server import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY

MiB = 1024 * 1024
AWS = Path(sys.executable).with_name("aws")
AWS_TIMEOUT_SECONDS = 120.0

# What `aws configure set default.s3.multipart_threshold 8MB` (and the same for the other two keys)
# writes. awscli v1 presigns with SigV2 unless told otherwise; the store speaks SigV4 only.
AWS_CONFIG = """\
[default]
s3 =
    multipart_threshold = 8MB
    multipart_chunksize = 8MB
    signature_version = s3v4
"""

AwsRunner = Callable[..., list[str]]


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture(scope="module")
def aws(store: RunningStore, tmp_path_factory: pytest.TempPathFactory) -> AwsRunner:
    """Run `aws --endpoint-url URL ARGS...` commands, all at once, and return each one's stdout.

    Each argument is one command (a sequence of arguments). They start together and are awaited
    together, because the CLI spends most of its time starting up; any non-zero exit fails the test.
    """
    home = tmp_path_factory.mktemp("aws")
    config = home / "config"
    config.write_text(AWS_CONFIG)
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env |= {
        "AWS_ACCESS_KEY_ID": ROOT_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": ROOT_SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),  # never the developer's own
        "AWS_PAGER": "",
        "HOME": str(home),
    }

    def run(*commands: Sequence[str]) -> list[str]:
        processes = [
            subprocess.Popen(
                [str(AWS), "--endpoint-url", store.url, *command],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for command in commands
        ]
        outputs = []
        for command, process in zip(commands, processes, strict=True):
            stdout, stderr = process.communicate(timeout=AWS_TIMEOUT_SECONDS)
            assert process.returncode == 0, f"aws {' '.join(command)} -> {process.returncode}\n{stderr}"
            outputs.append(stdout)
        return outputs

    return run


def test_awscli_copies_a_small_and_a_multipart_file_up_and_down(aws: AwsRunner, tmp_path: Path) -> None:
    bucket = f"cli-{uuid.uuid4().hex[:12]}"
    small, big = tmp_path / "small.txt", tmp_path / "big.bin"
    small.write_bytes(b"hello from the aws cli\n")
    big.write_bytes(_random_bytes(20 * MiB, seed=1))  # three parts at the configured 8 MB

    (made,) = aws(["s3", "mb", f"s3://{bucket}"])
    assert made.strip() == f"make_bucket: {bucket}"
    aws(
        ["s3", "cp", "--only-show-errors", str(small), f"s3://{bucket}/docs/small.txt"],
        ["s3", "cp", "--only-show-errors", str(big), f"s3://{bucket}/data/big.bin"],
    )
    head, _, _ = aws(
        ["s3api", "head-object", "--bucket", bucket, "--key", "data/big.bin"],
        ["s3", "cp", "--only-show-errors", f"s3://{bucket}/docs/small.txt", str(tmp_path / "small.back")],
        ["s3", "cp", "--only-show-errors", f"s3://{bucket}/data/big.bin", str(tmp_path / "big.back")],
    )

    assert (tmp_path / "small.back").read_bytes() == small.read_bytes()
    assert (tmp_path / "big.back").read_bytes() == big.read_bytes()
    described = json.loads(head)
    assert described["ContentLength"] == 20 * MiB
    assert described["ETag"].endswith('-3"'), described  # a multipart ETag: the CLI split it in three


def test_awscli_syncs_a_tree_both_ways_lists_by_prefix_and_removes_recursively(
    aws: AwsRunner, s3: Any, bucket: str, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    files = {
        "readme.md": b"# top\n",
        "a/one.txt": b"one",
        "a/b/two.bin": _random_bytes(300 * 1024, seed=2),  # erasure-coded, two stripes
        "a/b/c/three.txt": b"three" * 1000,
        "empty": b"",
    }
    for name, content in files.items():
        (tree / name).parent.mkdir(parents=True, exist_ok=True)
        (tree / name).write_bytes(content)
    s3.put_object(Bucket=bucket, Key="keep/me.txt", Body=b"outside the synced prefix")

    aws(["s3", "sync", "--only-show-errors", str(tree), f"s3://{bucket}/tree"])
    level, partial, everything, _ = aws(
        ["s3", "ls", f"s3://{bucket}/tree/a/"],
        ["s3", "ls", f"s3://{bucket}/tree/re"],
        ["s3", "ls", "--recursive", f"s3://{bucket}"],
        ["s3", "sync", "--only-show-errors", f"s3://{bucket}/tree", str(tmp_path / "back")],
    )

    assert _ls_names(level) == ["b/", "one.txt"]
    assert _ls_names(partial) == ["readme.md"]
    assert _ls_names(everything) == sorted(["keep/me.txt", *(f"tree/{name}" for name in files)])
    assert _tree(tmp_path / "back") == files

    (removed,) = aws(["s3", "rm", "--recursive", f"s3://{bucket}/tree/"])
    assert removed.count("delete: ") == len(files)
    remaining = s3.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in remaining["Contents"]] == ["keep/me.txt"]


def test_awscli_presigned_url_is_fetched_by_curl(
    aws: AwsRunner, s3: Any, bucket: str, tmp_path: Path
) -> None:
    content = _random_bytes(40 * 1024, seed=3)  # over the inline limit: streamed from the drives
    s3.put_object(Bucket=bucket, Key="shared/file name.bin", Body=content)

    (url,) = aws(["s3", "presign", f"s3://{bucket}/shared/file name.bin", "--expires-in", "300"])
    assert "X-Amz-Signature=" in url

    fetched = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail", "--max-time", "30", url.strip()],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert fetched.stdout == content
    tampered = url.strip().replace("X-Amz-Expires=300", "X-Amz-Expires=301")
    refused = subprocess.run(
        [
            "curl",
            "--silent",
            "--max-time",
            "30",
            "--write-out",
            "%{http_code}",
            "--output",
            os.devnull,
            tampered,
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert refused.stdout == b"403"


def _ls_names(listing: str) -> list[str]:
    """The names in `aws s3 ls` output: "PRE name/" lines and "date time size name" lines."""
    names = []
    for line in listing.splitlines():
        fields = line.split(maxsplit=3)
        names.append(fields[1] if fields[0] == "PRE" else fields[3])
    return sorted(names)


def _tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes() for path in root.rglob("*") if path.is_file()
    }


# s3fs


@pytest.fixture
def fs(store: RunningStore) -> s3fs.S3FileSystem:
    """A fresh s3fs filesystem on the store (no instance or listings cache shared between tests)."""
    return s3fs.S3FileSystem(
        key=ROOT_ACCESS_KEY,
        secret=ROOT_SECRET_KEY,
        client_kwargs={"endpoint_url": store.url, "region_name": REGION},
        skip_instance_cache=True,
        use_listings_cache=False,
    )


def test_s3fs_writes_a_file_in_parts_and_reads_it_back(fs: s3fs.S3FileSystem, s3: Any) -> None:
    bucket = f"fs-{uuid.uuid4().hex[:12]}"
    content = _random_bytes(12 * MiB + 123, seed=4)
    fs.mkdir(bucket)
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200

    with fs.open(f"{bucket}/data/big.bin", "wb", block_size=5 * MiB) as file:
        for offset in range(0, len(content), 3 * MiB):  # writes that do not line up with the parts
            file.write(content[offset : offset + 3 * MiB])

    assert s3.head_object(Bucket=bucket, Key="data/big.bin")["ETag"].endswith('-3"')  # 5 + 5 + 2 MiB
    with fs.open(f"{bucket}/data/big.bin", "rb") as file:
        assert file.read() == content
        file.seek(7 * MiB - 5)
        assert file.read(10) == content[7 * MiB - 5 : 7 * MiB + 5]
    assert (
        fs.cat_file(f"{bucket}/data/big.bin", start=MiB - 1, end=3 * MiB + 1)
        == content[MiB - 1 : 3 * MiB + 1]
    )
    assert fs.cat_file(f"{bucket}/data/big.bin", start=-100) == content[-100:]


def test_s3fs_pipes_lists_inspects_and_removes(fs: s3fs.S3FileSystem, bucket: str) -> None:
    medium = _random_bytes(100 * 1024, seed=5)
    fs.pipe(
        {f"{bucket}/dir/small.txt": b"small", f"{bucket}/dir/sub/medium.bin": medium, f"{bucket}/top": b"t"}
    )

    assert fs.cat(f"{bucket}/dir/small.txt") == b"small"
    assert fs.cat_file(f"{bucket}/dir/sub/medium.bin", start=1000, end=2000) == medium[1000:2000]
    assert fs.ls(bucket, detail=False) == [f"{bucket}/dir", f"{bucket}/top"]
    assert fs.ls(f"{bucket}/dir", detail=False) == [f"{bucket}/dir/small.txt", f"{bucket}/dir/sub"]
    assert fs.find(bucket) == [f"{bucket}/dir/small.txt", f"{bucket}/dir/sub/medium.bin", f"{bucket}/top"]
    info = fs.info(f"{bucket}/dir/sub/medium.bin")
    assert (info["type"], info["size"]) == ("file", len(medium))
    assert fs.info(f"{bucket}/dir")["type"] == "directory"
    assert fs.exists(f"{bucket}/dir/small.txt")
    assert fs.exists(f"{bucket}/dir")
    assert not fs.exists(f"{bucket}/dir/nothing.txt")

    fs.rm(f"{bucket}/top")
    fs.rm(f"{bucket}/dir", recursive=True)

    assert fs.find(bucket) == []
    assert not fs.exists(f"{bucket}/dir/small.txt")
    with pytest.raises(FileNotFoundError):
        fs.cat(f"{bucket}/top")
