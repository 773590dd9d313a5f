"""`scalebox exchange ...`: serve (as primary or standby), members and instruments (the directory
file), and the journal (status, verify, dump) read straight from the data directory."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import orjson
import typer

from scalebox.core.cli import echo_table, run_or_exit
from scalebox.core.logs import configure_logging
from scalebox.exchange.domain import Instrument
from scalebox.exchange.errors import InvalidConfigError
from scalebox.exchange.settings import ExchangeSettings

app = typer.Typer(
    help="Exchange: matching engine, FIX 4.4 gateway, market data, trading screen.", no_args_is_help=True
)
members = typer.Typer(help="Members (participants): add, list, remove.", no_args_is_help=True)
instruments = typer.Typer(help="Listed instruments: add, list.", no_args_is_help=True)
journal = typer.Typer(help="The sequenced journal: status, verify, dump.", no_args_is_help=True)
app.add_typer(members, name="members")
app.add_typer(instruments, name="instruments")
app.add_typer(journal, name="journal")

DataOption = Annotated[
    Path | None, typer.Option(help="Data directory [env SCALEBOX_DATA_DIR, default ./data].")
]


def _settings(**overrides: object) -> ExchangeSettings:
    return ExchangeSettings.from_env(overrides=overrides)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [default 127.0.0.1].")] = None,
    fix_port: Annotated[int | None, typer.Option(help="FIX 4.4 port [default 9878].")] = None,
    port: Annotated[int | None, typer.Option(help="Web and WebSocket port [default 8007].")] = None,
    data_dir: DataOption = None,
    standby: Annotated[
        bool, typer.Option(help="Follow the primary's journal and take over when it dies.")
    ] = False,
) -> None:
    """Run the exchange (or a hot standby of it) until Ctrl-C."""
    from scalebox.exchange.app import run

    settings = _settings(host=host, fix_port=fix_port, port=port, data_dir=data_dir)
    configure_logging(settings.log_level, settings.log_format)
    run_or_exit(lambda: run(settings, standby=standby))


@members.command("add")
def members_add(  # noqa: PLR0917 (a CLI command's options)
    participant_id: str,
    password: Annotated[
        str | None, typer.Option(help="Asked for (twice, hidden) when adding a member and not given.")
    ] = None,
    credit_limit: Annotated[
        int | None, typer.Option(help="Open-order notional limit in ticks x shares; 0 = none.")
    ] = None,
    position_limit: Annotated[
        int | None, typer.Option(help="Position limit in shares per instrument; 0 = none.")
    ] = None,
    operator: Annotated[
        bool | None, typer.Option("--operator/--no-operator", help="May use the operations view.")
    ] = None,
    drop_copy: Annotated[
        bool | None, typer.Option("--drop-copy/--no-drop-copy", help="May log on FIX drop-copy sessions.")
    ] = None,
    data_dir: DataOption = None,
) -> None:
    """Add a member, or change what is given of one (a running exchange picks it up within a second)."""
    from scalebox.exchange.service.directory import Directory

    def body() -> None:
        directory = Directory.load(_settings(data_dir=data_dir).directory_path)
        secret = password
        if secret is None and participant_id not in directory.members:
            secret = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        directory.set_member(
            participant_id,
            secret,
            credit_limit_ticks=credit_limit,
            position_limit=position_limit,
            operator=operator,
            drop_copy=drop_copy,
        )
        directory.save()
        typer.echo(f"member {participant_id} saved")

    run_or_exit(body)


@members.command("list")
def members_list(data_dir: DataOption = None) -> None:
    from scalebox.exchange.service.directory import Directory

    directory = Directory.load(_settings(data_dir=data_dir).directory_path)
    rows = [
        (
            m.participant.participant_id,
            m.participant.credit_limit_ticks or "-",
            m.participant.position_limit or "-",
            "yes" if m.operator else "",
            "yes" if m.drop_copy else "",
        )
        for m in directory.members.values()
    ]
    echo_table(rows, ("MEMBER", "CREDIT LIMIT", "POSITION LIMIT", "OPERATOR", "DROP COPY"))


@members.command("remove")
def members_remove(participant_id: str, data_dir: DataOption = None) -> None:
    """Remove a member's logon (its open orders stay until cancelled or expired)."""
    from scalebox.exchange.service.directory import Directory

    def body() -> None:
        directory = Directory.load(_settings(data_dir=data_dir).directory_path)
        directory.remove_member(participant_id)
        directory.save()
        typer.echo(f"member {participant_id} removed")

    run_or_exit(body)


@instruments.command("add")
def instruments_add(  # noqa: PLR0917 (positional: called per order on the hot path, or a CLI command's options)
    symbol: str,
    reference_price: Annotated[str, typer.Option(help="Reference price, e.g. 100.00.")],
    tick_size: Annotated[str, typer.Option(help="Tick size, e.g. 0.01.")] = "0.01",
    lot_size: Annotated[int, typer.Option(help="Lot size in shares.")] = 1,
    collar_bps: Annotated[
        int, typer.Option(help="Limit prices within this many bps of the reference.")
    ] = 1000,
    band_bps: Annotated[int, typer.Option(help="Volatility band around the rolling reference, bps.")] = 500,
    data_dir: DataOption = None,
) -> None:
    """List an instrument or change one."""
    from scalebox.exchange.service.directory import Directory

    def body() -> None:
        try:
            tick, price = Decimal(tick_size), Decimal(reference_price)
        except InvalidOperation as exc:
            raise InvalidConfigError("prices must be decimals") from exc
        if tick <= 0 or price <= 0 or price % tick:
            raise InvalidConfigError("the reference price must be a positive multiple of the tick size")
        directory = Directory.load(_settings(data_dir=data_dir).directory_path)
        directory.set_instrument(
            Instrument(
                symbol.upper(), tick, lot_size, int(price / tick), collar_bps=collar_bps, band_bps=band_bps
            )
        )
        directory.save()
        typer.echo(f"instrument {symbol.upper()} saved")

    run_or_exit(body)


@instruments.command("list")
def instruments_list(data_dir: DataOption = None) -> None:
    from scalebox.exchange.service.directory import Directory

    directory = Directory.load(_settings(data_dir=data_dir).directory_path)
    rows = [
        (i.symbol, i.tick_size, i.lot_size, i.reference_price_ticks * i.tick_size, i.collar_bps, i.band_bps)
        for i in directory.instruments.values()
    ]
    echo_table(rows, ("SYMBOL", "TICK", "LOT", "REFERENCE", "COLLAR BPS", "BAND BPS"))


@journal.command("status")
def journal_status(data_dir: DataOption = None) -> None:
    """Segments, snapshots, the primary's pid and the standby's position."""
    from scalebox.exchange.service.recovery import PrimaryLock
    from scalebox.exchange.storage.journal import Journal
    from scalebox.exchange.storage.snapshots import SnapshotStore

    settings = _settings(data_dir=data_dir)
    segments = Journal(settings.journal_dir).segments()
    snapshots = SnapshotStore(settings.snapshot_dir).paths()
    rows: list[tuple[object, ...]] = [
        ("journal segments", len(segments)),
        ("journal bytes", sum(p.stat().st_size for p in segments)),
        ("latest snapshot", int(snapshots[-1].stem) if snapshots else "-"),
        ("primary pid", PrimaryLock(settings.system_dir / "primary.lock").holder_pid() or "-"),
        ("standby at sequence", _standby_position(settings)),
    ]
    echo_table(rows, ("WHAT", "VALUE"))


@journal.command("verify")
def journal_verify(data_dir: DataOption = None) -> None:
    """Check every record's checksum and the hash chain from the first record to the last."""
    from scalebox.exchange.errors import JournalCorruptError
    from scalebox.exchange.storage.journal import GENESIS, read_records

    settings = _settings(data_dir=data_dir)

    def body() -> None:
        try:
            verify()
        except JournalCorruptError as exc:
            raise InvalidConfigError(f"journal corrupt: {exc}") from exc

    def verify() -> None:
        paths = sorted(settings.journal_dir.glob("*.journal"))
        chain, count, last = GENESIS, 0, 0
        with typer.progressbar(paths, label="verifying") as bar:
            for path in bar:
                with path.open("rb") as stream:
                    for record, _ in read_records(stream, chain):
                        if record.sequence != last + 1:
                            raise InvalidConfigError(f"{path.name}: sequence {record.sequence} after {last}")
                        chain, last, count = record.chain, record.sequence, count + 1
        typer.echo(f"{count} records verified, last sequence {last}, chain {chain.hex()}")

    run_or_exit(body)


@journal.command("dump")
def journal_dump(
    after: Annotated[int, typer.Option(help="Start after this sequence number.")] = 0,
    count: Annotated[int, typer.Option(help="How many records.")] = 20,
    data_dir: DataOption = None,
) -> None:
    """Print journal records as JSON lines: sequence, timestamp and the command."""
    from scalebox.exchange.storage.journal import Journal

    settings = _settings(data_dir=data_dir)
    for index, record in enumerate(Journal(settings.journal_dir).read(after_sequence=after)):
        if index >= count:
            break
        command = orjson.loads(record.payload)
        line = {"sequence": record.sequence, "timestamp_ns": record.timestamp_ns, "command": command}
        typer.echo(orjson.dumps(line).decode())


def _standby_position(settings: ExchangeSettings) -> str:
    """Where a following standby last said it was (its lag needs the primary's position)."""
    from scalebox.exchange.service.recovery import read_standby_status

    status = read_standby_status(settings.system_dir / "standby.json", primary_sequence=0)
    return "-" if status is None else f"{status['sequence']} (at {status['updated_at']})"
