"""`scalebox shortener worker`: analytics in a process of its own, beside servers that run none."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.servers import scalebox_argv, scalebox_env, wait_until
from tests.shortener.shlink_server import SHORTENER_ENV, issue_api_keys, start_shortener

pytestmark = pytest.mark.integration

TIMEOUT_SECONDS = 20.0
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"


def test_a_separate_worker_stores_the_servers_visits_and_stops_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (key,) = issue_api_keys(data_dir, "alice")
    server = start_shortener(data_dir, tmp_path / "server.log", SCALEBOX_SHORTENER_WORKERS="false")
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        scalebox_argv("shortener", "worker"),
        env=scalebox_env(data_dir, **SHORTENER_ENV),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=server.url, timeout=10, headers={"User-Agent": BROWSER}) as client:
            created = client.post(
                "/rest/v3/short-urls", json={"longUrl": "https://example.com/w"}, headers={"X-Api-Key": key}
            )
            code = created.json()["shortCode"]
            for _ in range(5):
                assert client.get(f"/{code}").status_code == 302

            def stored() -> bool:
                body = client.get(f"/rest/v3/short-urls/{code}", headers={"X-Api-Key": key}).json()
                return bool(body["visitsSummary"]["total"] == 5)

            wait_until(
                stored,
                timeout_seconds=TIMEOUT_SECONDS,
                describe=(tmp_path / "worker.log").read_text,
            )
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=TIMEOUT_SECONDS) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        log.close()
        server.stop()
    assert "shortener worker running" in (tmp_path / "worker.log").read_text()
