"""The real `curl` binary against the real server: /curl, /raw, removal links, limits and haste."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.servers import ServerProcess

# Under --dist loadgroup (make pytest) the modules sharing the session server share a worker.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pastebin-server")]

CURL_TIMEOUT_SECONDS = 20
_LINKS = re.compile(r"^(Paste|Raw|Removal) URL:\s+(\S+)$", re.MULTILINE)


@dataclass(frozen=True)
class CurlResult:
    status: int
    headers: dict[str, str]  # lower-cased names; the last value wins
    body: bytes


@pytest.fixture(scope="module")
def curl_binary() -> str:
    path = shutil.which("curl")
    if path is None:
        pytest.fail("the `curl` binary is not installed (apt-get install curl)")
    return path


def curl(curl_binary: str, *args: str, stdin: bytes | None = None) -> CurlResult:
    """Run curl with `args`; the response headers come back through -D on stderr's side channel."""
    argv = [curl_binary, "-sS", "--max-time", "15", "-D", "/dev/stderr", "-o", "-", *args]
    done = subprocess.run(argv, input=stdin, capture_output=True, timeout=CURL_TIMEOUT_SECONDS, check=False)
    assert done.returncode == 0, f"curl failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
    status, headers = _parse_headers(done.stderr.decode("latin-1"))
    return CurlResult(status, headers, done.stdout)


def _parse_headers(text: str) -> tuple[int, dict[str, str]]:
    # -D writes every response's head (a 100 Continue first, for large bodies); the last one counts.
    heads = [block for block in re.split(r"\r?\n\r?\n", text) if block.startswith("HTTP/")]
    assert heads, f"no response head in curl output: {text!r}"
    status_line, *lines = heads[-1].splitlines()
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers


def parse_links(output: bytes) -> dict[str, str]:
    links = {kind: url for kind, url in _LINKS.findall(output.decode())}
    assert set(links) == {"Paste", "Raw", "Removal"}, f"unexpected /curl answer: {output!r}"
    return links


def test_curl_form_from_stdin_answers_paste_raw_and_removal_urls(pastebin: ServerProcess, curl_binary: str):
    text = "hello from curl's stdin\nsecond line: ünïcödé ✓\n"

    result = curl(curl_binary, "-F", "raw=<-", f"{pastebin.url}/curl", stdin=text.encode())

    assert result.status == 200, result.body
    links = parse_links(result.body)
    assert links["Paste"].startswith(f"{pastebin.url}/")
    paste_id = links["Paste"].rsplit("/", 1)[1]
    assert links["Raw"] == f"{pastebin.url}/raw/{paste_id}"
    assert links["Removal"].startswith(f"{pastebin.url}/remove/")
    assert curl(curl_binary, links["Raw"]).body == text.encode()


def test_raw_returns_exact_bytes_as_utf8_text_with_nosniff(
    pastebin: ServerProcess, curl_binary: str, tmp_path: Path
):
    body = "tabs\tand trailing spaces   \n<script>alert(1)</script>\n\n  a+b=c&d=%41 ✓ 日本語\n".encode()
    source = tmp_path / "body.txt"
    source.write_bytes(body)

    created = curl(
        curl_binary, "-H", "Content-Type: text/plain", "--data-binary", f"@{source}", f"{pastebin.url}/curl"
    )
    raw = curl(curl_binary, parse_links(created.body)["Raw"])

    assert raw.status == 200
    assert raw.body == body
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert raw.headers["x-content-type-options"] == "nosniff"


def test_create_accepts_data_binary_file_without_content_type(
    pastebin: ServerProcess, curl_binary: str, tmp_path: Path
):
    body = b"plain `curl --data-binary @file` text\nwith a+b=c&d=%41\n"
    source = tmp_path / "body.txt"
    source.write_bytes(body)

    created = curl(curl_binary, "--data-binary", f"@{source}", f"{pastebin.url}/curl")

    assert created.status == 200, created.body
    assert curl(curl_binary, parse_links(created.body)["Raw"]).body == body


def test_delete_by_removal_url_answers_204_then_raw_is_404(pastebin: ServerProcess, curl_binary: str):
    links = parse_links(
        curl(curl_binary, "-F", "raw=<-", f"{pastebin.url}/curl", stdin=b"short-lived\n").body
    )

    deleted = curl(curl_binary, "-X", "DELETE", links["Removal"])
    raw = curl(curl_binary, links["Raw"])
    again = curl(curl_binary, "-X", "DELETE", links["Removal"])

    assert deleted.status == 204
    assert deleted.body == b""
    assert raw.status == 404
    assert again.status == 404


# One byte over the default size_bytes_max (refused by the service), and a body over body_bytes_max
# (refused by the edge before it is read).
OVERSIZE_BYTES = pytest.mark.parametrize(
    "size_bytes", [512 * 1024 + 1, 4 * 1024 * 1024], ids=["paste", "body"]
)


@OVERSIZE_BYTES
def test_create_rejects_oversize_body_with_413_problem_json(
    pastebin: ServerProcess, curl_binary: str, tmp_path: Path, size_bytes: int
):
    source = tmp_path / "big.txt"
    source.write_bytes(b"x" * size_bytes)

    result = curl(
        curl_binary, "-H", "Content-Type: text/plain", "--data-binary", f"@{source}", f"{pastebin.url}/curl"
    )

    assert result.status == 413, (result.status, result.body[:300])
    assert result.headers["content-type"].startswith("application/problem+json")
    problem = json.loads(result.body)
    assert problem["status"] == result.status
    assert re.search(r"larger than|at most", problem["detail"]), problem


def test_create_rejects_empty_text_with_problem_json(pastebin: ServerProcess, curl_binary: str):
    result = curl(curl_binary, "-F", "raw=<-", f"{pastebin.url}/curl", stdin=b"   \n")

    assert result.status == 422
    assert "nothing to paste" in json.loads(result.body)["detail"]


def test_haste_documents_creates_a_paste_readable_by_key(
    pastebin: ServerProcess, curl_binary: str, tmp_path: Path
):
    body = b'{"haste": "compatible"}\nline two\n'
    source = tmp_path / "doc.json"
    source.write_bytes(body)

    created = curl(curl_binary, "--data-binary", f"@{source}", f"{pastebin.url}/documents")
    key = json.loads(created.body)["key"]
    document = curl(curl_binary, f"{pastebin.url}/documents/{key}")
    raw = curl(curl_binary, f"{pastebin.url}/raw/{key}")

    assert created.status == 200
    assert json.loads(document.body) == {"data": body.decode(), "key": key}
    assert raw.body == body
