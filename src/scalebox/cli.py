"""`scalebox`: the root command. Mounts each system's Typer app and runs them all with `up`."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import typer

from scalebox import __version__
from scalebox.console import cli as console_cli
from scalebox.core.settings import ensure_secret_key
from scalebox.core.supervisor import ChildSpec, main_run
from scalebox.eventlog import cli as eventlog_cli
from scalebox.exchange import cli as exchange_cli
from scalebox.objectstore import cli as objectstore_cli
from scalebox.pastebin import cli as pastebin_cli
from scalebox.shortener import cli as shortener_cli


@dataclass(frozen=True)
class System:
    """A system `up` starts: its name, sub-command, and the default port of its web pages."""

    name: str
    title: str
    port: int
    typer_app: typer.Typer
    port_setting: str = "port"  # the settings field (SCALEBOX_<NAME>_<FIELD>) that moves `port`


# Systems that exist today, in start order. The console lists exactly these, nothing more.
SYSTEMS: tuple[System, ...] = (
    System("pastebin", "Pastebin", 8001, pastebin_cli.app),
    System("shortener", "URL shortener", 8002, shortener_cli.app),
    System("objectstore", "Object store", 9001, objectstore_cli.app, port_setting="console_port"),
    System("eventlog", "Event log", 8009, eventlog_cli.app, port_setting="console_port"),
    System("exchange", "Stock exchange", 8007, exchange_cli.app),
)

app = typer.Typer(
    help="scalebox: famous internet-scale systems, runnable for real.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(console_cli.app, name="console")
for _system in SYSTEMS:
    app.add_typer(_system.typer_app, name=_system.name)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def up(
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Start only these systems (repeatable).")
    ] = None,
) -> None:
    """Start the console and every system, each in its own process; Ctrl-C stops them all."""
    chosen = [s for s in SYSTEMS if not only or s.name in only]
    unknown = set(only or ()) - {s.name for s in SYSTEMS}
    if unknown:
        raise typer.BadParameter(f"unknown system(s): {', '.join(sorted(unknown))}", param_hint="--only")
    host = os.environ.get("SCALEBOX_HOST", "127.0.0.1")
    catalog = ",".join(f"{s.name}={s.title}=http://{host}:{_port(s)}" for s in chosen)
    env = {"PYTHONUNBUFFERED": "1", "SCALEBOX_CONSOLE_SYSTEMS": catalog}
    wiring = _dogfood(chosen, host)
    specs = [ChildSpec("console", (sys.executable, "-m", "scalebox", "console", "serve"), env)]
    specs += [
        ChildSpec(
            s.name, (sys.executable, "-m", "scalebox", s.name, "serve"), {**env, **wiring.get(s.name, {})}
        )
        for s in chosen
    ]
    console_port = os.environ.get("SCALEBOX_CONSOLE_PORT", "8000")
    typer.echo(f"scalebox {__version__}: console on http://{host}:{console_port}  (Ctrl-C stops everything)")
    raise typer.Exit(main_run(specs))


UP_ACCESS_KEY = "scalebox-up"
PASTEBIN_BUCKET = "pastebin"
EVENT_PRODUCERS = {"pastebin", "shortener"}  # the products that publish and consume events


def _dogfood(chosen: list[System], host: str) -> dict[str, dict[str, str]]:
    """Per-system settings that wire the products to scalebox's own infrastructure over its wire
    protocols, as they would be wired to AWS S3 or a Kafka cluster: the pastebin keeps its blobs in
    the object store through S3, and the products' events go through the event log over Kafka."""
    names = {system.name for system in chosen}
    wiring: dict[str, dict[str, str]] = {}
    data_dir = Path(os.environ.get("SCALEBOX_DATA_DIR", "data"))
    destination = (
        "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    )  # a bind-all address is no destination
    if {"pastebin", "objectstore"} <= names:
        for name, settings in _blobs_over_s3(data_dir, destination).items():
            wiring.setdefault(name, {}).update(settings)
    if "eventlog" in names:
        for name, settings in _events_over_kafka(names, data_dir, destination).items():
            wiring.setdefault(name, {}).update(settings)
    return wiring


def _blobs_over_s3(data_dir: Path, s3_host: str) -> dict[str, dict[str, str]]:
    """Left alone: a pastebin told where its blobs go (SCALEBOX_PASTEBIN_BLOB_URL), and one whose data
    directory already holds blobs on disk (moving them is not `up`'s business; it says so)."""
    if "SCALEBOX_PASTEBIN_BLOB_URL" in os.environ:
        return {}
    disk_blobs = data_dir / "pastebin" / "blobs"
    if disk_blobs.is_dir() and any(disk_blobs.iterdir()):
        typer.echo(f"pastebin keeps its blobs in {disk_blobs} (they predate the object store)", err=True)
        return {}
    access_key = os.environ.get("SCALEBOX_OBJECTSTORE_ROOT_ACCESS_KEY", UP_ACCESS_KEY)
    secret_key = os.environ.get("SCALEBOX_OBJECTSTORE_ROOT_SECRET_KEY") or ensure_secret_key(
        data_dir / "objectstore" / "up-root", ""
    )
    s3_port = os.environ.get("SCALEBOX_OBJECTSTORE_PORT", "9000")
    endpoint = quote(f"http://{s3_host}:{s3_port}", safe="")
    return {
        "objectstore": {
            "SCALEBOX_OBJECTSTORE_ROOT_ACCESS_KEY": access_key,
            "SCALEBOX_OBJECTSTORE_ROOT_SECRET_KEY": secret_key,
            "SCALEBOX_OBJECTSTORE_BUCKETS": PASTEBIN_BUCKET,
        },
        "pastebin": {
            "SCALEBOX_PASTEBIN_BLOB_URL": (
                f"s3://{quote(access_key, safe='')}:{quote(secret_key, safe='')}@{PASTEBIN_BUCKET}"
                f"?endpoint_url={endpoint}"
            )
        },
    }


def _events_over_kafka(names: set[str], data_dir: Path, kafka_host: str) -> dict[str, dict[str, str]]:
    """Each product's EventBus on the event log, through the Kafka protocol. Left alone: a product
    told where its events go (SCALEBOX_<PRODUCT>_EVENTS_URL), and one whose embedded event log already
    holds events (they stay where they are; it says so)."""
    kafka_port = os.environ.get("SCALEBOX_EVENTLOG_PORT", "9092")
    wiring: dict[str, dict[str, str]] = {}
    for product in sorted(names & EVENT_PRODUCERS):
        variable = f"SCALEBOX_{product.upper()}_EVENTS_URL"
        if variable in os.environ:
            continue
        embedded = data_dir / product / "events.db"
        if embedded.exists():
            typer.echo(f"{product} keeps its events in {embedded} (they predate the event log)", err=True)
            continue
        wiring[product] = {variable: f"kafka://{kafka_host}:{kafka_port}"}
    return wiring


def _port(system: System) -> int:
    return int(os.environ.get(f"SCALEBOX_{system.name.upper()}_{system.port_setting.upper()}", system.port))


def main() -> int:
    try:
        app()
    except SystemExit as exc:
        return int(exc.code or 0) if not isinstance(exc.code, str) else 1
    return 0
