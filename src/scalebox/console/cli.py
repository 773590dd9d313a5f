"""`scalebox console serve`: the front door on :8000."""

from __future__ import annotations

from typing import Annotated

import typer

from scalebox.console.settings import ConsoleSettings
from scalebox.core.logs import configure_logging

app = typer.Typer(help="The console: every system's health, link and live figures.", no_args_is_help=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [env SCALEBOX_CONSOLE_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env SCALEBOX_CONSOLE_PORT, default 8000].")] = None,
    systems: Annotated[str | None, typer.Option(help="Catalog: name=Title=http://host:port,...")] = None,
) -> None:
    """Serve the console (`scalebox up` starts it with the catalog of running systems)."""
    from scalebox.console.app import build_app
    from scalebox.core.web.server import serve as serve_app

    settings = ConsoleSettings.from_env(overrides={"host": host, "port": port, "systems": systems})
    configure_logging(settings.log_level, settings.log_format)
    serve_app(build_app(settings), host=settings.host, port=settings.port)
