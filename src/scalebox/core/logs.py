"""Structured logs: stdlib logging rendered by structlog, as JSON or for a console, with request ids."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog

LogFormat = Literal["console", "json"]


def _drop_color_message(
    _logger: object, _method: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    # uvicorn attaches an ANSI-coloured copy of each message; the renderer colours (or not) itself.
    event.pop("color_message", None)
    return event


def configure_logging(level: str = "INFO", fmt: LogFormat = "console") -> None:
    """Route stdlib and structlog records through one renderer; call once per process, at the edge."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        _drop_color_message,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Tracebacks without local variables: locals hold request bodies, keys and secrets.
        else structlog.dev.ConsoleRenderer(
            colors=False,
            pad_event_to=0,
            exception_formatter=structlog.dev.plain_traceback,
        )
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in (
        "uvicorn.access",
        "botocore",
        "boto3",
        "urllib3",
        "aiosqlite",
        "asyncio",
        "httpx",
        "httpcore",
    ):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
