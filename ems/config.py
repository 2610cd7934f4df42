"""Load `config.toml` with environment overrides, and refuse unknown keys and wrong types."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from collections.abc import Mapping
from typing import Any

from ems.config_schema import Fault, check
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
        The file is missing or not TOML, an override sets a key inside a value, or the result does
        not pass `validate_config` (a fault set by an override names its variable).
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
    overrides: dict[str, str] = {}
    for name, raw in sorted(environ.items()):
        if name.startswith(ENV_PREFIX):
            keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__") if k]
            if keys:
                _set_path(config, keys, _parse_value(name, raw))
                overrides[".".join(keys)] = name
    _validate(config, overrides)
    return config


def validate_config(config: Mapping[str, Any]) -> None:
    """Check a loaded configuration against the schema of every known key (`ems.config_schema`).

    Raises
    ------
    ConfigError
        An unknown key (with the closest known one when there is one) or a value of the wrong
        type; every fault is reported, one per line, each naming the key's full dotted name.
    """
    _validate(config, {})


def _validate(config: Mapping[str, Any], overrides: Mapping[str, str]) -> None:
    """Raise one ConfigError for every fault; ``overrides`` maps a dotted key to the variable that set it."""
    faults = check(config)
    if faults:
        raise ConfigError("\n".join(_with_origin(f, overrides) for f in faults))


def _with_origin(fault: Fault, overrides: Mapping[str, str]) -> str:
    # A key set by an override is not in the file the reader looks at: say where it came from.
    for path, name in overrides.items():
        if fault.path == path or fault.path.startswith((f"{path}.", f"{path}[")):
            return f"{fault.message}; set by {name}"
    return fault.message


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
