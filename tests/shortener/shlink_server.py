"""A real `scalebox shortener serve` process for the Shlink API's integration tests, and accounts with
API keys for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from scalebox.shortener.app import open_shortener
from scalebox.shortener.settings import ShortenerSettings
from tests.servers import HOST, ServerProcess, scalebox_argv, scalebox_env, start_server

PASSWORD = "correct horse battery staple"
# Quiet, and no create limit a fast test could trip (rate limiting has its own tests).
SHORTENER_ENV = {
    "SCALEBOX_SHORTENER_LOG_REQUESTS": "false",
    "SCALEBOX_SHORTENER_CREATE_LIMIT_PER_MINUTE_ACCOUNT": "100000",
    "SCALEBOX_SHORTENER_CREATE_LIMIT_PER_MINUTE_ANONYMOUS": "100000",
    "SCALEBOX_SHORTENER_VISIT_FLUSH_SECONDS": "0.02",
}


def start_shortener(data_dir: Path, log_path: Path, **extra_env: str) -> ServerProcess:
    """The shortener on a free loopback port, healthy by Shlink's own health check."""
    argv = scalebox_argv("shortener", "serve", "--host", HOST, "--port", "0")
    env = scalebox_env(data_dir, **SHORTENER_ENV, **extra_env)
    return start_server("shortener", argv, env=env, log_path=log_path, health_path="/rest/health")


def issue_api_keys(data_dir: Path, *usernames: str) -> list[str]:
    """Create accounts and an API key for each, through the shortener's account service on the data
    directory the server will use (before it starts); the keys' plaintexts, in order."""

    async def issue() -> list[str]:
        keys = []
        async with open_shortener(ShortenerSettings(data_dir=data_dir)) as shortener:
            for username in usernames:
                account = await shortener.accounts.register(username, PASSWORD)
                _, plaintext = await shortener.accounts.issue_api_key(account.id, "shlink-client")
                keys.append(plaintext)
        return keys

    return asyncio.run(issue())
