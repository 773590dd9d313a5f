"""The real, unmodified `steck` CLI (pinnwand's client) against the real server's /api/v1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import ServerProcess

# Under --dist loadgroup (make pytest) the modules sharing the session server share a worker.
pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("pastebin-server")]

STECK_TIMEOUT_SECONDS = 30
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def steck_binary() -> Path:
    path = Path(sys.executable).with_name("steck")
    if not path.exists():
        pytest.fail(f"steck is not installed in this virtualenv ({path}); run `make dev`")
    try:
        import magic  # noqa: F401, PLC0415 - steck imports python-magic, which loads libmagic, at startup
    except ImportError as exc:
        pytest.fail(f"steck needs libmagic: apt-get install libmagic1 (`make test` installs it): {exc}")
    return path


@pytest.fixture
def steck_env(pastebin: ServerProcess, tmp_path: Path) -> dict[str, str]:
    """An environment whose XDG config points steck at our server (appdirs honours XDG_CONFIG_HOME)."""
    config_home = tmp_path / "xdg-config"
    (config_home / "steck").mkdir(parents=True)
    (config_home / "steck" / "steck.toml").write_text(f'base = "{pastebin.url}/"\n')
    proxies = {"http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}
    env = {key: value for key, value in os.environ.items() if key not in proxies}
    return {**env, "XDG_CONFIG_HOME": str(config_home), "NO_PROXY": "*", "NO_COLOR": "1"}


def run_steck(steck: Path, env: dict[str, str], *args: str, stdin: str = "", cwd: Path | None = None) -> str:
    done = subprocess.run(
        [str(steck), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=STECK_TIMEOUT_SECONDS,
        check=False,
    )
    output = _ANSI.sub("", done.stdout)
    assert done.returncode == 0, f"steck exited {done.returncode}\n{output}\n{done.stderr}"
    return output


def parse_links(output: str) -> tuple[str, str]:
    view = re.search(r"^View link:\s+(\S+)$", output, re.MULTILINE)
    removal = re.search(r"^Removal link:\s+(\S+)$", output, re.MULTILINE)
    assert view, f"no view link in steck's output:\n{output}"
    assert removal, f"no removal link in steck's output:\n{output}"
    return view.group(1), removal.group(1)


def test_steck_pastes_files_readable_as_raw_then_removable(
    pastebin: ServerProcess, steck_binary: Path, steck_env: dict[str, str], tmp_path: Path
):
    first = tmp_path / "main.py"
    first.write_text("def main() -> int:\n    return 42\n")
    second = tmp_path / "notes.txt"
    second.write_text("notes with ünïcödé ✓\n\ttabbed\n")

    output = run_steck(
        steck_binary, steck_env, "paste", "--no-confirm", "--no-magic", "--no-ignore", "main.py", "notes.txt",
        cwd=tmp_path,
    )  # fmt: skip
    view, removal = parse_links(output)

    assert view.startswith(f"{pastebin.url}/")
    paste_id = view.rsplit("/", 1)[1]
    with httpx.Client(base_url=pastebin.url, timeout=10) as client:
        assert client.get(f"/{paste_id}").status_code == 200
        assert client.get(f"/raw/{paste_id}/1").text == first.read_text()
        assert client.get(f"/raw/{paste_id}/2").text == second.read_text()
        assert client.delete(removal).status_code == 204
        assert client.get(f"/raw/{paste_id}/1").status_code == 404


def test_steck_pastes_stdin(pastebin: ServerProcess, steck_binary: Path, steck_env: dict[str, str]):
    text = "text piped into steck\nline two\n"

    output = run_steck(steck_binary, steck_env, "paste", "--no-confirm", "-", stdin=text)
    view, removal = parse_links(output)

    paste_id = view.rsplit("/", 1)[1]
    with httpx.Client(base_url=pastebin.url, timeout=10) as client:
        assert client.get(f"/raw/{paste_id}").text == text
        assert client.delete(removal).status_code == 204
        assert client.get(f"/raw/{paste_id}").status_code == 404
