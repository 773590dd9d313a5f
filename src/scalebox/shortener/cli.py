"""`scalebox shortener ...`: serve, migrate, accounts, API keys, analytics rebuild, blocklist."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from scalebox.core.cli import echo_table, run_or_exit
from scalebox.core.errors import NotFoundError
from scalebox.core.logs import configure_logging
from scalebox.shortener.settings import ShortenerSettings

if TYPE_CHECKING:
    from scalebox.shortener.service.runtime import Shortener

T = TypeVar("T")

app = typer.Typer(
    help="URL shortener: short links, redirects, visit analytics (web and the Shlink REST API v3).",
    no_args_is_help=True,
)

HostOption = Annotated[
    str | None, typer.Option(help="Address to bind [env SCALEBOX_SHORTENER_HOST, default 127.0.0.1].")
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on [env SCALEBOX_SHORTENER_PORT, default 8002].")
]
DataOption = Annotated[
    Path | None, typer.Option(help="Data directory [env SCALEBOX_DATA_DIR, default ./data].")
]


def _settings(**overrides: object) -> ShortenerSettings:
    return ShortenerSettings.from_env(overrides=overrides)


def _run(settings: ShortenerSettings, body: Callable[[Shortener], Awaitable[T]]) -> T:
    from scalebox.shortener.app import open_shortener

    async def main() -> T:
        async with open_shortener(settings) as shortener:
            return await body(shortener)

    return run_or_exit(lambda: asyncio.run(main()))


@app.command()
def serve(
    host: HostOption = None,
    port: PortOption = None,
    data_dir: DataOption = None,
    processes: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Serving processes on the port [env SCALEBOX_SHORTENER_PROCESSES, default 1]."
        ),
    ] = None,
) -> None:
    """Run the shortener's web server, its redirect fast path and its background workers."""
    from scalebox.core.web.server import serve as serve_app
    from scalebox.shortener.app import build_app
    from scalebox.shortener.http.protocol import fast_protocol

    settings = _settings(host=host, port=port, data_dir=data_dir, processes=processes, gc_freeze=True)
    if settings.processes > 1 and not settings.reuse_port:
        raise typer.Exit(_serve_processes(settings))
    configure_logging(settings.log_level, settings.log_format)
    typer.echo(
        f"shortener on http://{settings.host}:{settings.port}  (data in {settings.system_dir})", err=True
    )
    app = build_app(settings)
    # Cached redirects are answered at the HTTP parser unless a proxy's X-Forwarded-For must be read.
    protocol = (
        fast_protocol(app) if settings.protocol_fast_path and not settings.forwarded_allow_ips else None
    )
    serve_app(
        app,
        host=settings.host,
        port=settings.port,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        http_protocol=protocol,
        reuse_port=settings.reuse_port,
    )


def _serve_processes(settings: ShortenerSettings) -> int:
    """`serve --processes N`: N serving processes on one port (SO_REUSEPORT: the kernel spreads
    connections among them), supervised, restarted when they die, stopped together on Ctrl-C. Each
    gets its own Snowflake node id; only the first runs the background workers (with the SQLite
    event log every worker would repeat the same work)."""
    from scalebox.core.supervisor import ChildSpec, main_run

    if settings.port == 0:
        raise typer.BadParameter("several processes need a fixed port", param_hint="--port")
    argv = (
        sys.executable,
        "-m",
        "scalebox",
        "shortener",
        "serve",
        "--host",
        settings.host,
        "--port",
        str(settings.port),
    )
    specs = [
        ChildSpec(
            f"shortener-{number}",
            argv,
            {
                "SCALEBOX_SHORTENER_PROCESSES": "1",
                "SCALEBOX_SHORTENER_REUSE_PORT": "true",
                "SCALEBOX_SHORTENER_NODE_ID": str(settings.node_id * 64 + number),
                "SCALEBOX_SHORTENER_WORKERS": "true" if settings.workers and number == 0 else "false",
                "SCALEBOX_DATA_DIR": str(settings.data_dir),
            },
        )
        for number in range(settings.processes)
    ]
    typer.echo(
        f"shortener: {settings.processes} processes on http://{settings.host}:{settings.port}", err=True
    )
    return main_run(specs)


@app.command()
def worker(data_dir: DataOption = None) -> None:
    """Run the background work alone (analytics consumer, blocklist rescan, log retention), no HTTP.

    For deployments that keep analytics off the redirect servers' CPUs: run the servers with
    SCALEBOX_SHORTENER_WORKERS=false and one of these beside them. Stops on SIGINT or SIGTERM.
    """
    from scalebox.core.supervisor import stop_on_signals
    from scalebox.shortener.app import Workers, freeze_startup_objects

    settings = _settings(data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)

    async def body(shortener: Shortener) -> None:
        stopping = stop_on_signals()
        freeze_startup_objects()
        typer.echo(f"shortener worker running (data in {settings.system_dir})", err=True)
        await Workers(shortener).run_until(stopping)

    _run(settings, body)


@app.command()
def migrate(data_dir: DataOption = None) -> None:
    """Bring the database schema up to date (serve does this too)."""

    async def body(_shortener: Shortener) -> None:
        return None

    _run(_settings(data_dir=data_dir), body)
    typer.echo("database is up to date")


@app.command()
def stats(data_dir: DataOption = None) -> None:
    """Show stored figures: links, and visits stored by the analytics pipeline."""

    async def body(shortener: Shortener) -> tuple[int, int]:
        return await shortener.links.counts()

    count, visits = _run(_settings(data_dir=data_dir), body)
    echo_table([("links", str(count)), ("visits", str(visits))], ("figure", "value"))


@app.command("rebuild-analytics")
def rebuild_analytics(data_dir: DataOption = None) -> None:
    """Drop stored visits and rollups and rebuild them by replaying the visit event log."""
    from scalebox.shortener.service.analytics import ANALYTICS_GROUP
    from scalebox.shortener.service.redirects import VISITS_TOPIC

    async def body(shortener: Shortener) -> int:
        return await shortener.analytics.rebuild(shortener.events, VISITS_TOPIC, ANALYTICS_GROUP)

    stored = _run(_settings(data_dir=data_dir), body)
    typer.echo(f"replayed the visit log: {stored} visits stored")


@app.command("rescan-blocklist")
def rescan_blocklist(data_dir: DataOption = None) -> None:
    """Disable links whose domain is now on the blocklist (the server does this on a schedule)."""

    async def body(shortener: Shortener) -> int:
        return await shortener.links.rescan()

    typer.echo(f"disabled {_run(_settings(data_dir=data_dir), body)} links")


accounts = typer.Typer(help="Accounts and their API keys.", no_args_is_help=True)
app.add_typer(accounts, name="accounts")


@accounts.command("create")
def create_account(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    admin: Annotated[
        bool, typer.Option(help="An administrator sees every link and manages the blocklist.")
    ] = False,
    data_dir: DataOption = None,
) -> None:
    """Create an account."""

    async def body(shortener: Shortener) -> tuple[int, str, bool]:
        account = await shortener.accounts.register(username, password)
        if admin:
            account = await shortener.accounts.set_admin(account.id, True)
        return account.id, account.username, account.is_admin

    account_id, name, is_admin = _run(_settings(data_dir=data_dir), body)
    typer.echo(f"created {name} (id {account_id}{', admin' if is_admin else ''})")


@accounts.command("api-key")
def create_api_key(
    username: str,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "cli",
    data_dir: DataOption = None,
) -> None:
    """Issue an API key for an account and print it (shown once; only its hash is stored)."""

    async def body(shortener: Shortener) -> str:
        match = await shortener.accounts.find(username)
        if match is None:
            raise NotFoundError(f"no account named {username}")
        _, plaintext = await shortener.accounts.issue_api_key(match.id, name)
        return plaintext

    typer.echo(_run(_settings(data_dir=data_dir), body))
