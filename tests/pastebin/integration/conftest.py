"""The real pastebin server for integration tests, and its log in the report of any failing test.

One server per xdist worker serves every module that only adds pastes of its own (curl, steck,
browser): starting it is the slow part. Tests that crash or restart a server start their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import ServerProcess, start_pastebin

_SERVERS_KEY = pytest.StashKey[list[ServerProcess]]()


@pytest.fixture(scope="session")
def pastebin(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    """A `scalebox pastebin serve` process on a free port with a private data dir."""
    base = tmp_path_factory.mktemp("pastebin-server")
    server = start_pastebin(base / "data", base / "server.log")
    watch_server(request.config, server)
    try:
        yield server
    finally:
        server.stop()


def watch_server(config: pytest.Config, server: ServerProcess) -> None:
    """Attach `server`'s log to the report of every test that fails while it is watched."""
    config.stash.setdefault(_SERVERS_KEY, []).append(server)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.failed:
        for server in item.config.stash.get(_SERVERS_KEY, []):
            report.sections.append((f"{server.name} server log", server.log_tail()))
    return report
