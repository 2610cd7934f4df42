"""The values of a county directory (docs/county-format.md): places, hospitals, stations, layouts.

Frozen dataclasses and enums only; `geodata.county` reads the files into them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path


class PlaceKind(StrEnum):
    """What a row of places.csv is."""

    COUNTY = "county"
    TOWN = "town"
    VILLAGE = "village"
    GENERATED = "generated"


class StationKind(StrEnum):
    """The rank of an ambulance station in the county network."""

    CENTRE = "centre"
    SUBSTATION = "substation"
    POINT = "point"


@dataclass(frozen=True, slots=True)
class Place:
    """A settlement of places.csv (WGS84)."""

    id: str
    name: str
    name_pinyin: str
    kind: PlaceKind
    township: str
    lon: float
    lat: float
    ur_code: int | None
    urban: bool
    demand_weight: float
    source: str


@dataclass(frozen=True, slots=True)
class Hospital:
    """A hospital of facilities.toml and what it can treat."""

    id: str
    name: str
    lon: float
    lat: float
    capabilities: frozenset[str]
    aliases: tuple[str, ...] = ()
    pci_24_7: bool = False
    assumed: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class Station:
    """A place where ambulances wait: from facilities.toml or defined by a layout."""

    id: str
    name: str
    kind: StationKind
    lon: float
    lat: float
    hospital: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LayoutStation:
    """One station of a layout with its ambulances, crews and unit ids."""

    station: Station
    ambulances: int
    staff: int
    unit_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Layout:
    """A station layout: where the county's ambulances wait."""

    name: str
    description: str
    stations: tuple[LayoutStation, ...]
    path: Path | None = None

    @property
    def ambulances(self) -> int:
        """Return the number of ambulances over all stations."""
        return sum(s.ambulances for s in self.stations)

    @property
    def staff(self) -> int:
        """Return the number of staff over all stations."""
        return sum(s.staff for s in self.stations)

    @property
    def unit_ids(self) -> tuple[str, ...]:
        """Return every unit id, station by station."""
        return tuple(u for s in self.stations for u in s.unit_ids)
