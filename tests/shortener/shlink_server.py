"""A real `scalebox shortener serve` process for the Shlink API's integration tests, and an account
with an API key made the way an operator makes one: with the CLI."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.servers import HOST, ServerProcess, scalebox_argv, scalebox_env, start_server

CLI_TIMEOUT_SECONDS = 60
PASSWORD = "correct horse battery staple"
# Quiet, and no create limit a fast test could trip (rate limiting has its own tests).
SHORTENER_ENV = {
    "SCALEBOX_SHORTENER_LOG_REQUESTS": "false",
    "SCALEBOX_SHORTENER_CREATE_LIMIT_PER_MINUTE_ACCOUNT": "100000",
    "SCALEBOX_SHORTENER_CREATE_LIMIT_PER_MINUTE_ANONYMOUS": "100000",
    "SCALEBOX_SHORTENER_VISIT_FLUSH_SECONDS": "0.02",
}


def start_shortener(data_dir: Path, log_path: Path) -> ServerProcess:
    """The shortener on a free loopback port, healthy by Shlink's own health check."""
    argv = scalebox_argv("shortener", "serve", "--host", HOST, "--port", "0")
    env = scalebox_env(data_dir, **SHORTENER_ENV)
    return start_server("shortener", argv, env=env, log_path=log_path, health_path="/rest/health")


def issue_api_key(data_dir: Path, username: str) -> str:
    """Create an account and an API key for it with `scalebox shortener accounts`; the key's plaintext."""
    env = scalebox_env(data_dir, **SHORTENER_ENV)
    create = scalebox_argv("shortener", "accounts", "create", username, "--password", PASSWORD)
    _run(create, env)
    output = _run(scalebox_argv("shortener", "accounts", "api-key", username, "--name", "shlink-client"), env)
    return output.strip().splitlines()[-1]


def _run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_SECONDS, check=False
    )
    assert done.returncode == 0, (
        f"{' '.join(argv[2:])} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done.stdout
