"""What every system's command line shares: the exit-code table for errors and the serve helper."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import typer

from scalebox.core.errors import (
    ConflictError,
    DomainError,
    ForbiddenError,
    InvalidError,
    LimitExceededError,
    NotFoundError,
)

T = TypeVar("T")

# The one table from the error tree to exit codes (sysexits.h where one fits).
_EXIT_CODES: tuple[tuple[type[DomainError], int], ...] = (
    (InvalidError, 65),  # EX_DATAERR
    (NotFoundError, 66),  # EX_NOINPUT
    (ForbiddenError, 77),  # EX_NOPERM
    (ConflictError, 73),  # EX_CANTCREAT
    (LimitExceededError, 75),  # EX_TEMPFAIL
)


def exit_code_for(exc: DomainError) -> int:
    return next((code for kind, code in _EXIT_CODES if isinstance(exc, kind)), 1)


def run_or_exit(action: Callable[[], T]) -> T:
    """Run a command body; a DomainError becomes a one-line message and its exit code, not a traceback."""
    try:
        return action()
    except DomainError as exc:
        typer.secho(f"error: {exc.detail}", fg=typer.colors.RED, err=True)
        raise typer.Exit(exit_code_for(exc)) from exc


def echo_table(rows: Sequence[tuple[object, ...]], headers: tuple[str, ...]) -> None:
    """A plain aligned table on stdout (readable in a terminal, easy to grep)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]
    for row in (headers, *rows):
        sys.stdout.write(
            "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)).rstrip()
        )
        sys.stdout.write("\n")
