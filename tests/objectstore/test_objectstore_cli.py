"""`scalebox objectstore ...` through Typer's CliRunner: access keys that a server on the same data dir
honours (and stops honouring once revoked), usage, heal and scrub."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner, Result

from scalebox.cli import app
from tests.objectstore.harness import running_objectstore
from tests.objectstore.s3_server import s3_client

# The harness's stripes are 256 KiB; the drives remember it, and a CLI opening them must agree.
CLI_ENV = {"SCALEBOX_OBJECTSTORE_BLOCK_BYTES": str(256 * 1024), "SCALEBOX_OBJECTSTORE_FSYNC": "false"}

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(data_dir: Path) -> Invoke:
    """Run `scalebox objectstore ARGS...` in process on the test's data dir."""
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(app, ["objectstore", *args, "--data-dir", str(data_dir)], env=CLI_ENV)

    return run


def _listed(output: str) -> dict[str, dict[str, str]]:
    """`keys list` rows by access key, each cell cut from where its header starts (cells may be empty)."""
    header, *lines = output.splitlines()
    starts = [match.start() for match in re.finditer(r"\S+(?: \S+)*", header)]
    names = header.split("  ")
    names = [name.strip() for name in names if name.strip()]
    rows = [
        {
            name: line[start:end].strip()
            for name, start, end in zip(names, starts, [*starts[1:], None], strict=True)
        }
        for line in lines
    ]
    return {row["access key"]: row for row in rows}


def test_help_lists_every_command() -> None:
    runner = CliRunner()
    top = runner.invoke(app, ["objectstore", "--help"])
    keys = runner.invoke(app, ["objectstore", "keys", "--help"])

    assert top.exit_code == 0, top.output
    for command in ("serve", "keys", "heal", "scrub", "usage"):
        assert re.search(rf"^\W*{command}\b", top.output, re.MULTILINE), top.output
    assert keys.exit_code == 0, keys.output
    for command in ("create", "list", "revoke"):
        assert re.search(rf"^\W*{command}\b", keys.output, re.MULTILINE), keys.output


def test_created_keys_sign_requests_until_revoked(invoke: Invoke, data_dir: Path) -> None:
    created = invoke("keys", "create", "alice")
    chosen = invoke(
        "keys",
        "create",
        "bob",
        "--admin",
        "--access-key",
        "BOBACCESSKEY0001",
        "--secret-key",
        "bob-secret-1234567",
    )

    assert created.exit_code == 0, created.output
    alice_key = re.search(r"^access key: (\S+)$", created.stdout, re.MULTILINE)
    alice_secret = re.search(r"^secret key: (\S+)$", created.stdout, re.MULTILINE)
    assert alice_key, created.stdout
    assert alice_secret, created.stdout
    assert "not shown again" in created.stderr
    assert chosen.exit_code == 0, chosen.output
    assert "access key: BOBACCESSKEY0001" in chosen.stdout

    listed = invoke("keys", "list")
    assert listed.exit_code == 0, listed.output
    rows = _listed(listed.stdout)
    assert (rows[alice_key[1]]["name"], rows[alice_key[1]]["role"], rows[alice_key[1]]["state"]) == (
        "alice",
        "",
        "active",
    )
    assert (rows["BOBACCESSKEY0001"]["name"], rows["BOBACCESSKEY0001"]["role"]) == ("bob", "admin")
    assert alice_secret[1] not in listed.output
    assert "bob-secret-1234567" not in listed.output

    with running_objectstore(data_dir) as store:
        alice = s3_client(store.url, alice_key[1], alice_secret[1])
        bob = s3_client(store.url, "BOBACCESSKEY0001", "bob-secret-1234567")
        alice.create_bucket(Bucket="alices")
        alice.put_object(Bucket="alices", Key="note.txt", Body=b"from alice")
        assert bob.get_object(Bucket="alices", Key="note.txt")["Body"].read() == b"from alice"  # an admin
        wrong = s3_client(store.url, alice_key[1], "not-her-secret")
        with pytest.raises(ClientError) as mismatch:
            wrong.list_buckets()
        assert mismatch.value.response["Error"]["Code"] == "SignatureDoesNotMatch"

    # Revoked while no server runs: the next one never saw the key as valid (keys are cached 5 s).
    revoked = invoke("keys", "revoke", alice_key[1])
    assert revoked.exit_code == 0, revoked.output
    assert revoked.stdout.strip() == f"revoked {alice_key[1]}"
    assert _listed(invoke("keys", "list").stdout)[alice_key[1]]["state"] == "revoked"
    missing = invoke("keys", "revoke", "NOSUCHKEY")
    assert missing.exit_code == 66
    assert "error:" in missing.stderr

    with running_objectstore(data_dir) as store:
        alice = s3_client(store.url, alice_key[1], alice_secret[1])
        with pytest.raises(ClientError) as refused:
            alice.get_object(Bucket="alices", Key="note.txt")
        assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
        bob = s3_client(store.url, "BOBACCESSKEY0001", "bob-secret-1234567")
        assert bob.get_object(Bucket="alices", Key="note.txt")["Body"].read() == b"from alice"


def test_usage_heal_and_scrub_report_what_they_find(invoke: Invoke, data_dir: Path) -> None:
    with running_objectstore(data_dir) as store:
        s3 = s3_client(store.url)
        s3.create_bucket(Bucket="photos")
        s3.create_bucket(Bucket="empty")
        s3.put_object(Bucket="photos", Key="small.jpg", Body=b"x" * 100)  # inline
        s3.put_object(Bucket="photos", Key="large.jpg", Body=b"y" * (600 * 1024))  # three stripes
        s3.put_object(Bucket="photos", Key="medium.jpg", Body=b"z" * (40 * 1024))  # one stripe

    usage = invoke("usage")
    assert usage.exit_code == 0, usage.output
    lines = usage.stdout.splitlines()
    assert re.search(r"^photos\s+3\s+3\s+640\.1 KiB\s+0$", usage.stdout, re.MULTILINE), usage.stdout
    assert re.search(r"^empty\s+0\s+0\s+0 B\s+0$", usage.stdout, re.MULTILINE), usage.stdout
    drives = [line for line in lines if "/drives/d" in line]
    assert [line.split()[1] for line in drives] == ["ok"] * 6, usage.stdout

    healthy = invoke("heal")
    assert healthy.exit_code == 0, healthy.output
    assert "checked 2 shard sets: 0 damaged, 0 healed (0 shards rebuilt)" in healthy.stdout

    shutil.rmtree(data_dir / "objectstore" / "drives" / "d4")
    degraded = invoke("usage")
    assert re.search(r"/drives/d4\s+missing\s+-$", degraded.stdout, re.MULTILINE), degraded.stdout

    healed = invoke("heal")
    assert healed.exit_code == 0, healed.output
    assert "checked 2 shard sets: 2 damaged, 2 healed (2 shards rebuilt)" in healed.stdout
    scrubbed = invoke("scrub")
    assert scrubbed.exit_code == 0, scrubbed.output
    assert "scrubbed 2 shard sets: 0 damaged, 0 healed (0 shards rebuilt)" in scrubbed.stdout
    assert "/drives/d4  ok" in invoke("usage").stdout

    # Settings that disagree with the drives' recorded layout: one line and EX_CONFIG, no traceback.
    mismatched = CliRunner().invoke(
        app,
        ["objectstore", "usage", "--data-dir", str(data_dir)],
        env={"SCALEBOX_OBJECTSTORE_BLOCK_BYTES": str(1024 * 1024)},
    )
    assert mismatched.exit_code == 78, mismatched.output
    assert mismatched.stderr.startswith("error: drive "), mismatched.stderr
    assert "block_bytes=262144" in mismatched.stderr
