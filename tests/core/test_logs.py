"""Logs never carry a traceback's local variables (request bodies, keys and secrets live there)."""

from __future__ import annotations

import logging

import pytest
import structlog

from scalebox.core.logs import configure_logging


@pytest.fixture
def restored_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _fail_holding_a_secret() -> None:
    secret_key = "hunter2-not-for-logs"
    raise ValueError(f"boom ({len(secret_key)})")


def test_exception_log_shows_traceback_without_locals_in_console_format(restored_logging, capsys):
    configure_logging("INFO", "console")
    try:
        _fail_holding_a_secret()
    except ValueError:
        structlog.get_logger("test").exception("failed")
    logged = capsys.readouterr().err
    assert "ValueError: boom (20)" in logged
    assert "_fail_holding_a_secret" in logged
    assert "hunter2" not in logged
    assert "\x1b[" not in logged  # no terminal colour codes in log files
