"""Settings are read once from the environment, cast by field type, and overridden by flags."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from scalebox.core.settings import SettingsError, ensure_secret_key, load


@dataclass(frozen=True)
class ExampleSettings:
    host: str = "127.0.0.1"
    port: int = 8001
    ratio: float = 0.5
    enabled: bool = False
    data_dir: Path = Path("data")
    mode: Literal["off", "flag", "reject"] = "flag"
    names: tuple[str, ...] = ()
    limit: int | None = None


def test_load_uses_defaults_when_environment_is_empty():
    assert load(ExampleSettings, "SCALEBOX_X_", {}) == ExampleSettings()


def test_load_casts_each_field_by_its_type():
    environ = {
        "SCALEBOX_X_PORT": "9000",
        "SCALEBOX_X_RATIO": "0.25",
        "SCALEBOX_X_ENABLED": "yes",
        "SCALEBOX_X_DATA_DIR": "/srv/data",
        "SCALEBOX_X_MODE": "reject",
        "SCALEBOX_X_NAMES": "a, b,,c",
        "SCALEBOX_X_LIMIT": "7",
    }
    settings = load(ExampleSettings, "SCALEBOX_X_", environ)
    assert settings == ExampleSettings(
        port=9000,
        ratio=0.25,
        enabled=True,
        data_dir=Path("/srv/data"),
        mode="reject",
        names=("a", "b", "c"),
        limit=7,
    )


def test_load_reads_shared_variable_only_when_prefixed_one_is_unset():
    environ = {"SCALEBOX_HOST": "0.0.0.0"}
    assert load(ExampleSettings, "SCALEBOX_X_", environ, shared=("host",)).host == "0.0.0.0"
    environ["SCALEBOX_X_HOST"] = "127.0.0.2"
    assert load(ExampleSettings, "SCALEBOX_X_", environ, shared=("host",)).host == "127.0.0.2"
    assert load(ExampleSettings, "SCALEBOX_X_", {"SCALEBOX_HOST": "0.0.0.0"}).host == "127.0.0.1"


def test_overrides_win_and_none_overrides_are_ignored():
    environ = {"SCALEBOX_X_PORT": "9000"}
    assert load(ExampleSettings, "SCALEBOX_X_", environ, {"port": 9100}).port == 9100
    assert load(ExampleSettings, "SCALEBOX_X_", environ, {"port": None}).port == 9000


def test_empty_value_sets_an_optional_field_to_none():
    assert load(ExampleSettings, "SCALEBOX_X_", {"SCALEBOX_X_LIMIT": ""}).limit is None


@pytest.mark.parametrize(
    ("name", "value"),
    [("PORT", "eighty"), ("RATIO", "half"), ("ENABLED", "maybe"), ("MODE", "loud"), ("LIMIT", "x")],
)
def test_load_names_the_variable_when_a_value_has_the_wrong_type(name, value):
    with pytest.raises(SettingsError, match=f"SCALEBOX_X_{name}"):
        load(ExampleSettings, "SCALEBOX_X_", {f"SCALEBOX_X_{name}": value})


def test_secret_key_is_generated_once_kept_private_and_reused(tmp_path):
    first = ensure_secret_key(tmp_path, "")
    assert len(first) >= 32
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert ensure_secret_key(tmp_path, "") == first
    assert ensure_secret_key(tmp_path, "configured") == "configured"
