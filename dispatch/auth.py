"""Bearer tokens and roles: who may see and change what.

The token file is TOML::

    [[token]]
    value = "..."          # the bearer token (keep the file private)
    role = "crew"          # dispatcher | crew | center | planner | admin
    unit = "renmin-1"      # crew tokens: the one unit this crew may change
    # hospital = "renmin"  # center tokens: the hospital whose incoming patients it sees
    name = "A班 renmin-1"  # optional: who it is, recorded as `by` on the events it causes
"""

from __future__ import annotations

import enum
import hmac
import os
import secrets
import tomllib
from dataclasses import dataclass
from pathlib import Path

from dispatch.errors import DispatchError


class Role(enum.Enum):
    DISPATCHER = "dispatcher"
    CREW = "crew"
    CENTER = "center"
    PLANNER = "planner"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a token."""

    role: Role
    name: str
    unit: str | None = None
    hospital: str | None = None

    @property
    def by(self) -> str:
        """Who, as recorded on events (`crew:renmin-1`, `dispatcher:alice`)."""
        return f"{self.role.value}:{self.name}"

    def may_change_unit(self, unit_id: str) -> bool:
        """Return whether this principal may change the given unit's status or position."""
        if self.role in (Role.DISPATCHER, Role.ADMIN):
            return True
        return self.role is Role.CREW and self.unit == unit_id


class TokenFileError(DispatchError):
    """The token file is missing or malformed (a start-up error, not an HTTP one)."""


class Tokens:
    """The table of valid tokens; constant-time comparison on lookup."""

    def __init__(self, principals: dict[str, Principal]) -> None:
        self._by_value = dict(principals)

    def __len__(self) -> int:
        return len(self._by_value)

    def lookup(self, value: str) -> Principal | None:
        """Return the principal holding ``value``, or None."""
        for known, principal in self._by_value.items():
            if hmac.compare_digest(known.encode(), value.encode()):
                return principal
        return None

    def first(self, role: Role) -> str | None:
        """Return a token value of the given role (for printing the demo dispatcher token)."""
        return next((v for v, p in self._by_value.items() if p.role is role), None)


def load_tokens(path: Path, *, known_units: set[str] | None = None,
                known_hospitals: set[str] | None = None) -> Tokens:
    """Read a token file.

    Raises
    ------
    TokenFileError
        The file is missing, not TOML, or an entry lacks a field or names an unknown unit or hospital.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise TokenFileError(f"token file {path}: not found") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TokenFileError(f"token file {path}: not valid TOML ({e})") from e
    entries = data.get("token")
    if not isinstance(entries, list) or not entries:
        raise TokenFileError(f"token file {path}: needs at least one [[token]] entry")
    principals: dict[str, Principal] = {}
    for i, entry in enumerate(entries, 1):
        where = f"token file {path}, entry {i}"
        value = entry.get("value")
        if not isinstance(value, str) or len(value) < 16:
            raise TokenFileError(f"{where}: value must be a string of at least 16 characters")
        if value in principals:
            raise TokenFileError(f"{where}: value is used by an earlier entry")
        try:
            role = Role(entry.get("role"))
        except ValueError as e:
            raise TokenFileError(f"{where}: role must be one of {[r.value for r in Role]}, "
                                 f"got {entry.get('role')!r}") from e
        unit = entry.get("unit")
        hospital = entry.get("hospital")
        if role is Role.CREW:
            if not isinstance(unit, str):
                raise TokenFileError(f"{where}: a crew token needs unit = \"<unit id>\"")
            if known_units is not None and unit not in known_units:
                raise TokenFileError(f"{where}: unit {unit!r} is not a unit of this service")
        if role is Role.CENTER:
            if not isinstance(hospital, str):
                raise TokenFileError(f"{where}: a center token needs hospital = \"<hospital id>\"")
            if known_hospitals is not None and hospital not in known_hospitals:
                raise TokenFileError(f"{where}: hospital {hospital!r} is not a hospital of this county")
        name = entry.get("name") or unit or hospital or f"{role.value}{i}"
        principals[value] = Principal(role=role, name=str(name), unit=unit, hospital=hospital)
    return Tokens(principals)


def write_demo_tokens(path: Path, unit_ids: list[str], hospital_ids: list[str]) -> None:
    """Write a token file for the embedded demo: one dispatcher, planner and admin, a crew per unit, a center per hospital.

    The file is created readable by its owner only.
    """
    lines = ["# Generated by `ems serve` for the demo; keep it private. Format: see dispatch/auth.py.", ""]

    def entry(role: str, name: str, extra: str = "") -> None:
        lines.extend(["[[token]]", f'value = "{secrets.token_urlsafe(24)}"', f'role = "{role}"',
                      f'name = "{name}"'])
        if extra:
            lines.append(extra)
        lines.append("")

    entry("dispatcher", "dispatcher")
    entry("planner", "planner")
    entry("admin", "admin")
    for unit in unit_ids:
        entry("crew", unit, f'unit = "{unit}"')
    for hospital in hospital_ids:
        entry("center", hospital, f'hospital = "{hospital}"')
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
