"""Read a TOML file of a county directory and check its fields, naming the file and field in errors."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geodata.errors import GeodataError

MISSING: Any = object()  # the default of a required field


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file.

    Raises
    ------
    GeodataError
        The file is missing, not UTF-8 or not valid TOML.
    """
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise GeodataError("file not found", path) from None
    except tomllib.TOMLDecodeError as e:
        raise GeodataError(f"not valid TOML ({e})", path) from e
    except UnicodeDecodeError as e:
        raise GeodataError(f"not UTF-8 text ({e})", path) from e


def table_list(data: Mapping[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    """Return the array of tables ``[[key]]`` of `data` (empty when absent).

    Raises
    ------
    GeodataError
        `key` is not an array of tables.
    """
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise GeodataError(f"{key} must be an array of tables ([[{key}]]), got {value!r}", path)
    return value


def _prefix(where: str | None, key: str) -> str:
    return f"{where}.{key}" if where else key


def str_field(
    data: Mapping[str, Any], key: str, path: Path, *, where: str | None = None, default: Any = MISSING
) -> str:
    """Return the string `key` of `data`, or `default` when absent.

    Parameters
    ----------
    where
        The table's name in messages (``station[2]``); None for the top level.
    default
        The value when `key` is absent; without one the field is required.

    Raises
    ------
    GeodataError
        A required field is absent, or the value is not a string.
    """
    value = data.get(key, default)
    if value is MISSING:
        raise GeodataError(f"{_prefix(where, key)} is required", path)
    if not isinstance(value, str):
        raise GeodataError(f"{_prefix(where, key)} must be a string, got {value!r}", path)
    return value


def coord_field(data: Mapping[str, Any], key: str, path: Path, where: str) -> float:
    """Return the WGS84 coordinate `key` (``lon`` or ``lat``) of `data`.

    Raises
    ------
    GeodataError
        The value is absent, not a number, or out of range.
    """
    limit = 180.0 if key == "lon" else 90.0
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GeodataError(f"{where}.{key} must be a number (WGS84 degrees), got {value!r}", path)
    if not -limit <= value <= limit:
        raise GeodataError(f"{where}.{key} must be in [{-limit}, {limit}], got {value}", path)
    return float(value)


def bool_field(data: Mapping[str, Any], key: str, path: Path, where: str) -> bool:
    """Return the boolean `key` of `data` (False when absent).

    Raises
    ------
    GeodataError
        The value is not true or false.
    """
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise GeodataError(f"{where}.{key} must be true or false, got {value!r}", path)
    return value


def count_field(
    data: Mapping[str, Any], key: str, path: Path, where: str, default: Any = MISSING
) -> int:
    """Return the integer >= 0 `key` of `data`, or `default` when absent (required without one).

    Raises
    ------
    GeodataError
        A required field is absent, or the value is not an integer >= 0.
    """
    value = data.get(key, default)
    if value is MISSING:
        raise GeodataError(f"{where}.{key} is required", path)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GeodataError(f"{where}.{key} must be an integer >= 0, got {value!r}", path)
    return value


def aliases_field(data: Mapping[str, Any], path: Path, where: str) -> tuple[str, ...]:
    """Return the ``aliases`` of `data` (empty when absent).

    Raises
    ------
    GeodataError
        The value is not a list of non-empty strings.
    """
    value = data.get("aliases", [])
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise GeodataError(f"{where}.aliases must be a list of strings, got {value!r}", path)
    return tuple(value)
