"""Load `config.toml` with environment overrides."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from ems.errors import EmsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = PROJECT_ROOT / "config.toml"
ENV_PREFIX = "EMS__"


class ConfigError(EmsError):
    """The configuration file or an override is malformed."""


def load_config(path: str | Path | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Read a TOML config file and apply ``EMS__SECTION__KEY`` environment overrides.

    Parameters
    ----------
    path
        The file to read; the project's ``config.toml`` when None.
    environ
        The environment to read overrides from; ``os.environ`` when None.

    Raises
    ------
    ConfigError
        The file is missing or not TOML, or an override's value is not a TOML value.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        with path.open("rb") as f:
            config = tomllib.load(f)
    except FileNotFoundError as e:
        raise ConfigError(f"config file {path}: not found") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"config file {path}: not valid TOML ({e})") from e
    environ = os.environ if environ is None else environ
    for name, raw in sorted(environ.items()):
        if name.startswith(ENV_PREFIX):
            keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
            if keys:
                _set_path(config, keys, _parse_value(name, raw))
    return config


def _parse_value(name: str, raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        # A bare word (e.g. a path or a URL) is taken as a string.
        return raw


def _set_path(config: dict[str, Any], keys: list[str], value: Any) -> None:
    node = config
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {'.'.join(keys)}: {key} is a value, not a section")
        node = child
    node[keys[-1]] = value


def section(config: dict[str, Any], dotted: str) -> dict[str, Any]:
    """Return the sub-table at a dotted path (an empty dict when absent)."""
    node: Any = config
    for key in dotted.split("."):
        node = node.get(key, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}
