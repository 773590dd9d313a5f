"""`scalebox shortener serve --processes N`: several processes on one port, each with its own LRU,
all serving the same links, stopped together."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import httpx
import pytest

from tests.servers import HOST, free_port, scalebox_argv, scalebox_env, start_server
from tests.shortener.shlink_server import SHORTENER_ENV, issue_api_keys

pytestmark = pytest.mark.integration

TIMEOUT_SECONDS = 20.0


def test_two_processes_share_the_port_and_the_links(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    (key,) = issue_api_keys(data_dir, "alice")
    port = free_port()
    server = start_server(
        "shortener x2",
        scalebox_argv("shortener", "serve", "--host", HOST, "--port", str(port), "--processes", "2"),
        env=scalebox_env(data_dir, **SHORTENER_ENV),
        log_path=tmp_path / "server.log",
        port=port,
        health_path="/rest/health",
    )
    try:
        created = httpx.post(
            f"{server.url}/rest/v3/short-urls",
            json={"longUrl": "https://example.com/both"},
            headers={"X-Api-Key": key},
            timeout=TIMEOUT_SECONDS,
        )
        code = created.json()["shortCode"]
        # New connections land on either process; each answers, from its LRU or from SQL.
        for _ in range(20):
            with httpx.Client(timeout=TIMEOUT_SECONDS) as client:
                response = client.get(f"{server.url}/{code}")
            assert (response.status_code, response.headers["location"]) == (302, "https://example.com/both")
        started = set(re.findall(r"started (shortener-\d) \(pid", server.log_text()))
        assert started == {"shortener-0", "shortener-1"}, server.log_tail()
        server.process.send_signal(signal.SIGINT)
        assert server.process.wait(timeout=TIMEOUT_SECONDS) == 0, server.log_tail()
    finally:
        server.stop()
