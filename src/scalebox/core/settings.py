"""Settings: frozen dataclasses read once from `SCALEBOX_*` environment variables, then passed down.

`load(cls, prefix, environ, overrides)` casts each variable by the field's annotated type, the way
Starlette's `Config(environ=...)` does: `SCALEBOX_PASTEBIN_PORT=8002` fills `PastebinSettings.port`.
Shared fields (`data_dir`, `host`, `secret_key`, ...) also read the unprefixed `SCALEBOX_<FIELD>`.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from scalebox.core.errors import InvalidError

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(InvalidError):
    """An environment variable or flag holds a value of the wrong type."""

    code = "invalid_setting"


def load(
    cls: type[T],
    prefix: str,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    shared: tuple[str, ...] = (),
) -> T:
    """Build `cls` from `environ` (default os.environ) and explicit `overrides` (CLI flags win).

    A field named in `shared` also reads `SCALEBOX_<FIELD>` when the prefixed variable is unset.
    """
    environ = os.environ if environ is None else environ
    overrides = {key: value for key, value in (overrides or {}).items() if value is not None}
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name in overrides:
            values[field.name] = overrides[field.name]
            continue
        names = [f"{prefix}{field.name.upper()}"]
        if field.name in shared:
            names.append(f"SCALEBOX_{field.name.upper()}")
        raw = next((environ[name] for name in names if name in environ), None)
        if raw is not None:
            values[field.name] = _cast(names[0], raw, hints[field.name])
    return cls(**values)


def _cast(name: str, raw: str, annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (types.UnionType, typing.Union):
        if raw == "" and type(None) in args:
            return None
        annotation = next(arg for arg in args if arg is not type(None))
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    try:
        if annotation is bool:
            return _cast_bool(raw)
        if annotation in (int, float, str):
            return annotation(raw)
        if annotation is Path:
            return Path(raw)
        if origin is tuple:
            return tuple(_cast(name, part.strip(), args[0]) for part in raw.split(",") if part.strip())
        if origin is typing.Literal:
            if raw not in args:
                raise ValueError(f"expected one of {', '.join(map(str, args))}")
            return raw
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r}: {exc}", field=name) from exc
    raise TypeError(f"no cast for {annotation!r} ({name})")


def _cast_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("expected a boolean (1/0, true/false, yes/no, on/off)")


def ensure_secret_key(data_dir: Path, configured: str) -> str:
    """The configured secret, or one generated once and kept (mode 0600) under `data_dir`."""
    if configured:
        return configured
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process (scalebox up starts several) got there first
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
        handle.flush()
        os.fsync(handle.fileno())
    return key
