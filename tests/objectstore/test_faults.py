"""Faults the object store must survive: a kill -9 mid-upload and after one, lost and emptied drives,
bitrot inside a shard file, and more lost drives than parity can cover (a clean error, never a hang)."""

from __future__ import annotations

import contextlib
import hashlib
import random
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError, ResponseStreamingError
from typer.testing import CliRunner

from scalebox.cli import app
from scalebox.objectstore.storage.shardfile import (
    CRC_BYTES,
    ErasureLayout,
    decode_header,
    decode_header_bytes,
)
from tests.objectstore.harness import running_objectstore
from tests.objectstore.s3_server import REGION, ROOT_ACCESS_KEY, ROOT_SECRET_KEY, s3_client, start_objectstore
from tests.servers import scalebox_argv, scalebox_env, wait_until

KiB = 1024
MiB = 1024 * KiB
# The harness's layout (256 KiB stripes, objects up to 16 KiB inline); a CLI on its data dir must agree.
BLOCK_BYTES = 256 * KiB
INLINE_BYTES_MAX = 16 * KiB
CLI_ENV = {"SCALEBOX_OBJECTSTORE_BLOCK_BYTES": str(BLOCK_BYTES), "SCALEBOX_OBJECTSTORE_FSYNC": "false"}
SERVER_BLOCK_BYTES = 1 * MiB  # a `serve` process's default layout
SIZES = (
    0,
    1,
    1000,
    INLINE_BYTES_MAX,  # the largest inline object
    INLINE_BYTES_MAX + 1,  # the smallest erasure-coded one
    100 * KiB,
    BLOCK_BYTES - 1,
    BLOCK_BYTES,
    BLOCK_BYTES + 1,
    2 * BLOCK_BYTES + 3,
    3 * BLOCK_BYTES,
    700 * KiB,
    MiB + 7,
    2 * MiB + 5,
    3 * MiB,
    5,
    20 * KiB,
    64 * KiB,
)


def _data(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _drives_root(data_dir: Path) -> Path:
    return data_dir / "objectstore" / "drives"


def _shard_files(data_dir: Path) -> dict[str, str]:
    """Every file on every drive (its path under the drives folder) and its SHA-256."""
    root = _drives_root(data_dir)
    found = {}
    for path in sorted(root.rglob("*")):
        with contextlib.suppress(FileNotFoundError, IsADirectoryError):  # a server may be deleting it
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def _put_assorted(s3: Any, bucket: str) -> dict[str, bytes]:
    """Objects of every interesting size, and one in two multipart parts (two shard sets)."""
    objects = {f"sized/{index:02d}-{size}": _data(size, index) for index, size in enumerate(SIZES)}
    for key, content in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=content)
    parts = [_data(BLOCK_BYTES + 5, 100), _data(100 * KiB, 101)]  # the store takes parts from 256 KiB
    upload = s3.create_multipart_upload(Bucket=bucket, Key="multipart")
    etags = [
        s3.upload_part(
            Bucket=bucket, Key="multipart", UploadId=upload["UploadId"], PartNumber=number, Body=body
        )["ETag"]
        for number, body in enumerate(parts, start=1)
    ]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="multipart",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]},
    )
    objects["multipart"] = b"".join(parts)
    return objects


def _assert_reads(s3: Any, bucket: str, objects: dict[str, bytes]) -> None:
    for key, content in objects.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == content, key


def _erasure_coded(objects: dict[str, bytes]) -> int:
    """How many shard sets `_put_assorted`'s objects have."""
    return sum(len(content) > INLINE_BYTES_MAX for key, content in objects.items() if key != "multipart") + 2


# kill -9


@contextlib.contextmanager
def _unfinished_put(url: str, bucket: str, key: str, declared: int) -> Iterator[socket.socket]:
    """A socket with a signed PUT's head sent, promising `declared` bytes of body; send what you like."""
    request = AWSRequest(method="PUT", url=f"{url}/{bucket}/{key}", headers={"Content-Length": str(declared)})
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})  # UNSIGNED-PAYLOAD
    S3SigV4Auth(Credentials(ROOT_ACCESS_KEY, ROOT_SECRET_KEY), "s3", REGION).add_auth(request)
    target = urlsplit(url)
    head = f"PUT /{bucket}/{key} HTTP/1.1\r\nHost: {target.netloc}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in request.headers.items()) + "\r\n"
    assert target.hostname is not None
    assert target.port is not None
    with socket.create_connection((target.hostname, target.port), timeout=30) as sock:
        sock.sendall(head.encode())
        yield sock


def _temp_shard_files(data_dir: Path, bytes_min: int) -> list[Path]:
    """Shard files being written (not yet renamed into place) holding at least `bytes_min` bytes."""
    found = []
    for path in _drives_root(data_dir).glob("*/*/*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_size >= bytes_min:
                found.append(path)
    return found


@pytest.mark.integration
def test_kill_9_keeps_acknowledged_puts_and_drops_the_one_cut_short(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    replaced, first, acked, second = (
        _data(size, seed) for seed, size in enumerate((MiB + 1, 3 * MiB + 1, 2 * MiB + 3, 8 * MiB))
    )
    server = start_objectstore(data_dir, tmp_path / "before.log")
    try:
        s3 = s3_client(server.url)
        s3.create_bucket(Bucket="crash")
        formats = set(_shard_files(data_dir))
        s3.put_object(Bucket="crash", Key="object", Body=replaced)
        replaced_files = set(_shard_files(data_dir)) - formats
        first_etag = s3.put_object(Bucket="crash", Key="object", Body=first)["ETag"]  # `replaced` is garbage
        with _unfinished_put(server.url, "crash", "object", declared=len(second)) as sock:
            sock.sendall(second[: 3 * MiB])
            # Two stripes of the new version have reached every drive, under temp names.
            wait_until(
                lambda: len(_temp_shard_files(data_dir, 2 * SERVER_BLOCK_BYTES // 4)) == 6,
                timeout_seconds=30,
                describe=lambda: "\n".join(_shard_files(data_dir)),
            )
            acked_etag = s3.put_object(Bucket="crash", Key="acked", Body=acked)["ETag"]
            server.kill()  # right after the acknowledgement, and in the middle of the other upload
    finally:
        server.stop()
    published = {
        name: digest
        for name, digest in _shard_files(data_dir).items()
        if not name.endswith(".tmp") and name not in replaced_files
    }

    server = start_objectstore(data_dir, tmp_path / "after.log")
    try:
        s3 = s3_client(server.url)
        got = s3.get_object(Bucket="crash", Key="object")
        assert (got["Body"].read(), got["ETag"]) == (first, first_etag)
        got = s3.get_object(Bucket="crash", Key="acked")
        assert (got["Body"].read(), got["ETag"]) == (acked, acked_etag)
        # The cut-short upload's temp files are gone, and the replaced version's shards (queued as
        # garbage before the kill) are deleted by the restarted server.
        wait_until(
            lambda: _shard_files(data_dir) == published,
            timeout_seconds=30,
            describe=lambda: "\n".join(_shard_files(data_dir).keys() ^ published.keys()),
        )
        s3.put_object(Bucket="crash", Key="object", Body=second)
        assert s3.get_object(Bucket="crash", Key="object")["Body"].read() == second
    finally:
        server.stop()


# Drives


def test_two_lost_drives_are_read_around_and_healed_back(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    drives = _drives_root(data_dir)
    with running_objectstore(data_dir, part_bytes_min=BLOCK_BYTES) as store:
        s3 = s3_client(store.url)
        s3.create_bucket(Bucket="drives")
        objects = _put_assorted(s3, "drives")
        intact = _shard_files(data_dir)

        shutil.rmtree(drives / "d2")
        shutil.rmtree(drives / "d5")
        _assert_reads(s3, "drives", objects)

        # Every degraded read reported its shard set; the healer rebuilds those.
        damage = store.objectstore.upkeep.damage
        wait_until(lambda: len(damage.pending) == _erasure_coded(objects), timeout_seconds=10)
        tally = store.call(store.objectstore.upkeep.heal_pending())
        assert (tally.checked, tally.damaged, tally.healed) == (_erasure_coded(objects),) * 3
        assert tally.shards_rebuilt == 2 * tally.healed
        assert tally.unrecoverable == []
        assert _shard_files(data_dir) == intact  # every shard file back, byte for byte

        # A replacement drive: an empty directory where d3 was.
        shutil.rmtree(drives / "d3")
        (drives / "d3").mkdir()
        _assert_reads(s3, "drives", objects)

    healed = subprocess.run(
        [*scalebox_argv("objectstore", "heal", "--data-dir", str(data_dir))],
        env=scalebox_env(data_dir, **CLI_ENV),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert healed.returncode == 0, healed.stdout + healed.stderr
    count = _erasure_coded(objects)
    assert (
        f"checked {count} shard sets: {count} damaged, {count} healed ({count} shards rebuilt)"
        in healed.stdout
    )
    assert _shard_files(data_dir) == intact
    with running_objectstore(data_dir) as store:
        _assert_reads(s3_client(store.url), "drives", objects)


def _shard_file_of(data_dir: Path, key: str, index: int) -> tuple[Path, int]:
    """The shard file holding chunk `index` of `key`'s stripes, and its header's length."""
    for path in _drives_root(data_dir).glob("*/*/*.1"):
        raw = path.read_bytes()
        header = decode_header(raw)
        if header.labels.get("key") == key and header.index == index:
            return path, decode_header_bytes(raw)
    raise AssertionError(f"no shard {index} of {key}")


def test_bitrot_is_read_around_and_scrub_restores_the_shard(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    layout = ErasureLayout(4, 2, BLOCK_BYTES)
    rotten_content, other_content = _data(3 * BLOCK_BYTES + 5, 1), _data(100 * KiB, 2)
    runner = CliRunner()
    with running_objectstore(data_dir) as store:
        s3 = s3_client(store.url)
        s3.create_bucket(Bucket="bitrot")
        s3.put_object(Bucket="bitrot", Key="rotten", Body=rotten_content)
        s3.put_object(Bucket="bitrot", Key="other", Body=other_content)
        s3.put_object(Bucket="bitrot", Key="inline", Body=b"tiny")
        path, header_bytes = _shard_file_of(data_dir, "rotten", 0)  # a data chunk: every GET reads it
        original = path.read_bytes()
        rotten = bytearray(original)
        rotten[layout.block_offset(header_bytes, 1) + CRC_BYTES + layout.chunk_bytes // 2] ^= 0x40
        path.write_bytes(rotten)

        assert s3.get_object(Bucket="bitrot", Key="rotten")["Body"].read() == rotten_content
        ranged = s3.get_object(Bucket="bitrot", Key="rotten", Range=f"bytes={BLOCK_BYTES}-{BLOCK_BYTES + 99}")
        assert ranged["Body"].read() == rotten_content[BLOCK_BYTES : BLOCK_BYTES + 100]

        scrub = runner.invoke(app, ["objectstore", "scrub", "--data-dir", str(data_dir)], env=CLI_ENV)
        assert scrub.exit_code == 0, scrub.output
        assert "scrubbed 2 shard sets: 1 damaged, 1 healed (1 shards rebuilt)" in scrub.stdout
        assert path.read_bytes() == original

        again = runner.invoke(app, ["objectstore", "scrub", "--data-dir", str(data_dir)], env=CLI_ENV)
        assert again.exit_code == 0, again.output
        assert "scrubbed 2 shard sets: 0 damaged, 0 healed (0 shards rebuilt)" in again.stdout
        assert s3.get_object(Bucket="bitrot", Key="rotten")["Body"].read() == rotten_content


def test_more_lost_drives_than_parity_fail_reads_cleanly_and_inline_objects_still_serve(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    drives = _drives_root(data_dir)
    with running_objectstore(data_dir) as store:
        s3 = s3_client(store.url, read_timeout=20, connect_timeout=5)
        s3.create_bucket(Bucket="lost")
        large, medium = _data(3 * BLOCK_BYTES + 1, 1), _data(50 * KiB, 2)
        s3.put_object(Bucket="lost", Key="large", Body=large)
        s3.put_object(Bucket="lost", Key="medium", Body=medium)
        s3.put_object(Bucket="lost", Key="small", Body=b"inline bytes")
        for name in ("d1", "d3", "d4"):
            shutil.rmtree(drives / name)

        with pytest.raises((ClientError, ResponseStreamingError)) as failure:
            s3.get_object(Bucket="lost", Key="large")["Body"].read()
        if isinstance(failure.value, ClientError):  # refused before the body began
            assert failure.value.response["Error"]["Code"] == "InternalError"
            assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        files = _shard_files(data_dir)
        with pytest.raises(ClientError) as refused:  # three drives cannot take a write either
            s3.put_object(Bucket="lost", Key="new", Body=medium)
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] in (500, 503)
        assert _shard_files(data_dir) == files  # and it left nothing behind

        assert s3.get_object(Bucket="lost", Key="small")["Body"].read() == b"inline bytes"
        s3.put_object(Bucket="lost", Key="small-2", Body=b"still accepted")
        assert s3.get_object(Bucket="lost", Key="small-2")["Body"].read() == b"still accepted"
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket="lost")["Contents"]]
        assert keys == ["large", "medium", "small", "small-2"]


def test_shard_set_written_but_never_committed_is_collected_after_restart(tmp_path: Path) -> None:
    # What a crash between a shard set's rename into place and its metadata commit leaves behind:
    # complete shard files no version refers to, and the intent recorded before they were written.
    data_dir = tmp_path / "data"
    with running_objectstore(data_dir) as store:
        objectstore = store.objectstore
        store.call(objectstore.store.record_intent("ab" * 16, 1, objectstore.clock.now()))
        writer = objectstore.erasure.writer("ab" * 16, 1)
        writer.write(_data(600_000, seed=9))
        writer.close()
        assert set(objectstore.erasure.list_shard_sets()) == {("ab" * 16, 1)}
    with running_objectstore(data_dir) as store:  # what serve does before its first request
        objectstore = store.objectstore
        assert store.call(objectstore.store.abandon_intents(objectstore.clock.now())) == 1
        assert store.call(objectstore.upkeep.collect_garbage()) == 1
        assert list(objectstore.erasure.list_shard_sets()) == []
