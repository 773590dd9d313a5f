"""`scalebox pastebin ...`: serve, migrate, reap, figures, and account administration."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from scalebox.core.cli import echo_table, run_or_exit
from scalebox.core.errors import NotFoundError
from scalebox.core.logs import configure_logging
from scalebox.pastebin.settings import PastebinSettings

T = TypeVar("T")

app = typer.Typer(
    help="Pastebin: share text by link (web, curl, pinnwand and haste APIs).", no_args_is_help=True
)

HostOption = Annotated[
    str | None, typer.Option(help="Address to bind [env SCALEBOX_PASTEBIN_HOST, default 127.0.0.1].")
]
PortOption = Annotated[
    int | None, typer.Option(help="Port to listen on [env SCALEBOX_PASTEBIN_PORT, default 8001].")
]
DataOption = Annotated[
    Path | None, typer.Option(help="Data directory [env SCALEBOX_DATA_DIR, default ./data].")
]


def _settings(**overrides: object) -> PastebinSettings:
    return PastebinSettings.from_env(overrides=overrides)


def _run(settings: PastebinSettings, body: Callable[..., Awaitable[T]]) -> T:
    from scalebox.pastebin.app import open_pastebin

    async def main() -> T:
        async with open_pastebin(settings) as pastebin:
            return await body(pastebin)

    return run_or_exit(lambda: asyncio.run(main()))


@app.command()
def serve(host: HostOption = None, port: PortOption = None, data_dir: DataOption = None) -> None:
    """Run the pastebin's web server and its background workers."""
    from scalebox.core.web.server import serve as serve_app
    from scalebox.pastebin.app import build_app

    settings = _settings(host=host, port=port, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    typer.echo(
        f"pastebin on http://{settings.host}:{settings.port}  (data in {settings.system_dir})", err=True
    )
    serve_app(
        build_app(settings),
        host=settings.host,
        port=settings.port,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )


@app.command()
def migrate(data_dir: DataOption = None) -> None:
    """Bring the database schema up to date (serve does this too)."""
    _run(_settings(data_dir=data_dir), _noop)
    typer.echo("database is up to date")


async def _noop(_pastebin: object) -> None:
    return None


@app.command()
def reap(data_dir: DataOption = None) -> None:
    """Delete expired pastes and orphan blobs now, instead of waiting for the schedule."""

    async def body(pastebin):  # type: ignore[no-untyped-def]
        return await pastebin.upkeep.reap()

    reaped = _run(_settings(data_dir=data_dir), body)
    typer.echo(f"reaped {reaped.pastes} expired pastes and {reaped.blobs} orphan blobs")


@app.command()
def stats(data_dir: DataOption = None) -> None:
    """Show live figures: pastes stored, reads in the last minute (this process), cache hit ratio."""

    async def body(pastebin):  # type: ignore[no-untyped-def]
        return await pastebin.upkeep.figures()

    figures = _run(_settings(data_dir=data_dir), body)
    echo_table([("pastes", str(figures.pastes))], ("figure", "value"))


accounts = typer.Typer(help="Accounts: create, promote to admin, ban.", no_args_is_help=True)
app.add_typer(accounts, name="accounts")


@accounts.command("create")
def create_account(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)],
    admin: Annotated[bool, typer.Option(help="Make the account a moderator.")] = False,
    data_dir: DataOption = None,
) -> None:
    """Create an account (optionally an admin who sees the moderation queue)."""

    async def body(pastebin):  # type: ignore[no-untyped-def]
        account = await pastebin.accounts.register(username, password)
        if admin:
            account = await pastebin.accounts.set_admin(account.id, True)
        return account

    account = _run(_settings(data_dir=data_dir), body)
    typer.echo(f"created {account.username} (id {account.id}{', admin' if account.is_admin else ''})")


@accounts.command("list")
def list_accounts(data_dir: DataOption = None) -> None:
    """List accounts."""

    async def body(pastebin):  # type: ignore[no-untyped-def]
        return await pastebin.accounts.list_accounts(limit=500)

    rows = [
        (
            str(a.id),
            a.username,
            "yes" if a.is_admin else "",
            "yes" if a.is_banned else "",
            a.created_at.isoformat(),
        )
        for a in _run(_settings(data_dir=data_dir), body)
    ]
    echo_table(rows, ("id", "username", "admin", "banned", "created"))


def _set_flag(username_or_id: str, data_dir: Path | None, flag: str, value: bool) -> None:
    async def body(pastebin):  # type: ignore[no-untyped-def]
        match = next(
            (
                a
                for a in await pastebin.accounts.list_accounts(limit=500)
                if a.username.lower() == username_or_id.lower() or str(a.id) == username_or_id
            ),
            None,
        )
        if match is None:
            raise NotFoundError(f"no account {username_or_id!r}")
        setter = pastebin.accounts.set_admin if flag == "admin" else pastebin.accounts.set_banned
        return await setter(match.id, value)

    account = _run(_settings(data_dir=data_dir), body)
    typer.echo(f"{account.username}: admin={account.is_admin} banned={account.is_banned}")


@accounts.command("promote")
def promote(username: str, data_dir: DataOption = None) -> None:
    """Make an account an admin (moderator)."""
    _set_flag(username, data_dir, "admin", True)


@accounts.command("ban")
def ban(username: str, data_dir: DataOption = None, unban: bool = False) -> None:
    """Ban an account from creating pastes (or lift the ban with --unban)."""
    _set_flag(username, data_dir, "banned", not unban)
