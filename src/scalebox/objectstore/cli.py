"""`scalebox objectstore ...`: serve, access keys, heal, scrub, usage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from scalebox.core.cli import echo_table, run_or_exit
from scalebox.core.logs import configure_logging
from scalebox.core.size import render_size
from scalebox.objectstore.settings import ObjectStoreSettings

T = TypeVar("T")
EX_CONFIG = 78  # sysexits.h: the configuration does not match what is on disk

app = typer.Typer(
    help="Object store: an S3-compatible API over erasure-coded drives (boto3, awscli, s3fs).",
    no_args_is_help=True,
)

HostOption = Annotated[
    str | None, typer.Option(help="Address to bind [env SCALEBOX_OBJECTSTORE_HOST, default 127.0.0.1].")
]
PortOption = Annotated[
    int | None, typer.Option(help="S3 API port [env SCALEBOX_OBJECTSTORE_PORT, default 9000].")
]
DataOption = Annotated[
    Path | None, typer.Option(help="Data directory [env SCALEBOX_DATA_DIR, default ./data].")
]


def _settings(**overrides: object) -> ObjectStoreSettings:
    return ObjectStoreSettings.from_env(overrides=overrides)


def _run(
    settings: ObjectStoreSettings, body: Callable[[Any], Awaitable[T]], *, format_drives: bool = True
) -> T:
    from scalebox.objectstore.app import open_objectstore

    async def main() -> T:
        async with open_objectstore(settings, format_drives=format_drives) as objectstore:
            return await body(objectstore)

    return _configured(lambda: run_or_exit(lambda: asyncio.run(main())))


def _configured(action: Callable[[], T]) -> T:
    """Drives that do not match the settings are a one-line error (EX_CONFIG), not a traceback."""
    from scalebox.objectstore.storage.erasure import DriveSetError

    try:
        return action()
    except DriveSetError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(EX_CONFIG) from exc


@app.command()
def serve(host: HostOption = None, port: PortOption = None, data_dir: DataOption = None) -> None:
    """Run the S3 API and the background upkeep (garbage collection, healing, scrubbing)."""
    from scalebox.objectstore.app import run

    settings = _settings(host=host, port=port, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    drives = settings.resolved_drives
    typer.echo(
        f"objectstore S3 API on http://{settings.host}:{settings.port}  "
        f"({settings.data_shards}+{settings.parity_shards} erasure coding over {len(drives)} drives "
        f"under {drives[0].parent})",
        err=True,
    )
    _configured(lambda: run_or_exit(lambda: run(settings)))


keys = typer.Typer(help="Access keys: create, list, revoke.", no_args_is_help=True)
app.add_typer(keys, name="keys")


@keys.command("create")
def create_key(
    name: Annotated[str, typer.Argument(help="Who the key is for; bucket owners are named by it.")],
    admin: Annotated[bool, typer.Option(help="Let the key administer every bucket and key.")] = False,
    access_key: Annotated[
        str | None, typer.Option(help="Choose the access key id (default: random).")
    ] = None,
    secret_key: Annotated[
        str | None, typer.Option(help="Choose the secret (default: random); prefer the default.")
    ] = None,
    data_dir: DataOption = None,
) -> None:
    """Create an access key; its secret is shown once."""

    async def body(objectstore: Any) -> Any:
        return await objectstore.keys.create(
            name, is_admin=admin, access_key=access_key, secret_key=secret_key
        )

    issued = _run(_settings(data_dir=data_dir), body, format_drives=False)
    typer.echo(f"access key: {issued.principal.access_key}")
    typer.echo(f"secret key: {issued.secret_key}")
    typer.echo("(the secret is not shown again)", err=True)


@keys.command("list")
def list_keys(data_dir: DataOption = None) -> None:
    """List access keys (never their secrets)."""

    async def body(objectstore: Any) -> Any:
        return await objectstore.keys.list()

    rows = _run(_settings(data_dir=data_dir), body, format_drives=False)
    echo_table(
        [
            (
                row.access_key,
                row.name,
                "admin" if row.is_admin else "",
                row.created_at.strftime("%Y-%m-%d %H:%M"),
                "revoked" if row.revoked_at else "active",
            )
            for row in rows
        ],
        ("access key", "name", "role", "created", "state"),
    )


@keys.command("revoke")
def revoke_key(access_key: str, data_dir: DataOption = None) -> None:
    """Revoke an access key; requests signed with it fail from now on."""

    async def body(objectstore: Any) -> None:
        await objectstore.keys.revoke(access_key)

    _run(_settings(data_dir=data_dir), body, format_drives=False)
    typer.echo(f"revoked {access_key}")


def _progress_run(
    label: str, action: Callable[[Any, Callable[[int, int], None]], Awaitable[Any]], data_dir: Path | None
) -> Any:
    with typer.progressbar(length=1, label=label, show_pos=True) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        async def body(objectstore: Any) -> Any:
            return await action(objectstore, progress)

        return _run(_settings(data_dir=data_dir), body)


def _report(tally: Any, verb: str) -> None:
    typer.echo(
        f"{verb} {tally.checked} shard sets: {tally.damaged} damaged, {tally.healed} healed "
        f"({tally.shards_rebuilt} shards rebuilt)"
    )
    for line in tally.unrecoverable:
        typer.echo(f"unrecoverable: {line}", err=True)
    if tally.unrecoverable:
        raise typer.Exit(1)


@app.command()
def heal(data_dir: DataOption = None) -> None:
    """Rebuild missing or damaged shards everywhere (after a drive was lost or replaced)."""
    tally = _progress_run("healing", lambda store, progress: store.upkeep.heal_all(progress), data_dir)
    _report(tally, "checked")


@app.command()
def scrub(data_dir: DataOption = None) -> None:
    """Verify every block of every shard against its checksum, and heal what fails."""
    tally = _progress_run("scrubbing", lambda store, progress: store.upkeep.scrub(progress), data_dir)
    _report(tally, "scrubbed")


@app.command()
def lifecycle(data_dir: DataOption = None) -> None:
    """Apply every bucket's lifecycle rules now (the server also does it every hour)."""

    async def body(objectstore: Any) -> Any:
        return await objectstore.expiry.run_once()

    tally = _run(_settings(data_dir=data_dir), body, format_drives=False)
    typer.echo(
        f"{tally.buckets} buckets with rules: {tally.expired} objects expired, "
        f"{tally.noncurrent_deleted} noncurrent versions deleted, {tally.markers_removed} delete markers "
        f"removed, {tally.uploads_aborted} incomplete uploads aborted"
    )


@app.command()
def usage(data_dir: DataOption = None) -> None:
    """Objects, versions and bytes per bucket, and the drives' state."""

    async def body(objectstore: Any) -> Any:
        drives = await asyncio.to_thread(objectstore.erasure.drive_status)
        return await objectstore.service.usage(), drives

    buckets, drives = _run(_settings(data_dir=data_dir), body, format_drives=False)
    echo_table(
        [(b.bucket, str(b.objects), str(b.versions), render_size(b.bytes), str(b.uploads)) for b in buckets],
        ("bucket", "objects", "versions", "bytes", "uploads"),
    )
    typer.echo("")
    echo_table(
        [
            (str(d.path), d.state, render_size(d.free_bytes) if d.free_bytes is not None else "-")
            for d in drives
        ],
        ("drive", "state", "free"),
    )
