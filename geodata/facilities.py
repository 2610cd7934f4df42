"""Read a county's facilities.toml (hospitals, stations) and its station layouts (layouts/*.toml)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from geodata.errors import GeodataError
from geodata.fields import (
    aliases_field,
    bool_field,
    coord_field,
    count_field,
    read_toml,
    str_field,
    table_list,
)
from geodata.model import Hospital, Layout, LayoutStation, Station, StationKind


def read_facilities(path: Path) -> tuple[tuple[Hospital, ...], tuple[Station, ...]]:
    """Read facilities.toml: its ``[[hospital]]`` and ``[[station]]`` tables, in file order.

    Raises
    ------
    GeodataError
        The file is missing or malformed, an id appears twice, or a station names a hospital
        the file does not define.
    """
    data = read_toml(path)
    hospitals = tuple(
        _hospital(entry, path, i) for i, entry in enumerate(table_list(data, "hospital", path))
    )
    stations = tuple(
        _station(entry, path, f"station[{i}]")
        for i, entry in enumerate(table_list(data, "station", path))
    )
    for kind, items in (("hospital", hospitals), ("station", stations)):
        ids = [item.id for item in items]
        for item_id in ids:
            if ids.count(item_id) > 1:
                raise GeodataError(f"{kind} id {item_id!r} appears twice; ids must be unique", path)
    hospital_ids = {h.id for h in hospitals}
    for s in stations:
        if s.hospital is not None and s.hospital not in hospital_ids:
            raise GeodataError(
                f"station {s.id!r}: hospital {s.hospital!r} is not a hospital of this file", path
            )
    return hospitals, stations


def _hospital(entry: Mapping[str, Any], path: Path, index: int) -> Hospital:
    where = f"hospital[{index}]"
    capabilities = entry.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise GeodataError(f"{where}.capabilities must be a list of strings, got {capabilities!r}", path)
    return Hospital(
        id=str_field(entry, "id", path, where=where),
        name=str_field(entry, "name", path, where=where),
        lon=coord_field(entry, "lon", path, where),
        lat=coord_field(entry, "lat", path, where),
        capabilities=frozenset(capabilities),
        aliases=aliases_field(entry, path, where),
        pci_24_7=bool_field(entry, "pci_24_7", path, where),
        assumed=bool_field(entry, "assumed", path, where),
        note=str_field(entry, "note", path, where=where, default=""),
    )


def _station(entry: Mapping[str, Any], path: Path, where: str) -> Station:
    kind_raw = entry.get("kind", StationKind.POINT.value)
    try:
        kind = StationKind(kind_raw)
    except ValueError:
        raise GeodataError(
            f"{where}.kind must be one of {', '.join(StationKind)}, got {kind_raw!r}", path
        ) from None
    hospital = entry.get("hospital")
    if hospital is not None and (not isinstance(hospital, str) or not hospital):
        raise GeodataError(f"{where}.hospital must be a hospital id, got {hospital!r}", path)
    station_id = str_field(entry, "id", path, where=where)
    return Station(
        id=station_id,
        name=str_field(entry, "name", path, where=where, default=station_id),
        kind=kind,
        lon=coord_field(entry, "lon", path, where),
        lat=coord_field(entry, "lat", path, where),
        hospital=hospital or None,
        aliases=aliases_field(entry, path, where),
    )


def read_layouts(directory: Path, stations: Mapping[str, Station]) -> dict[str, Layout]:
    """Read every ``*.toml`` layout of `directory` by file stem (none when it does not exist).

    Raises
    ------
    GeodataError
        A layout file is malformed (see `read_layout`).
    """
    if not directory.is_dir():
        return {}
    layouts = {}
    for path in sorted(directory.glob("*.toml")):
        layout = read_layout(path, stations)
        layouts[path.stem] = layout
    return layouts


def read_layout(path: Path, stations: Mapping[str, Station]) -> Layout:
    """Read a layout TOML file against the county's `stations` (by id).

    A ``[[station]]`` table names a known station, possibly moving it with lon/lat, or defines
    a new one with lon/lat. Unit ids default to ``<station>-1 .. <station>-N``.

    Raises
    ------
    GeodataError
        The file is missing or malformed, has no station, names a station twice, names an
        unknown station without lon/lat, or gives a unit id twice.
    """
    data = read_toml(path)
    entries = table_list(data, "station", path)
    if not entries:
        raise GeodataError("no [[station]] tables: a layout needs at least one station", path)
    seen: set[str] = set()
    placed = []
    for i, entry in enumerate(entries):
        where = f"station[{i}]"
        station_id = str_field(entry, "id", path, where=where)
        if station_id in seen:
            raise GeodataError(f"{where}: station {station_id!r} appears twice", path)
        seen.add(station_id)
        station = stations.get(station_id)
        if station is None:
            if "lon" not in entry or "lat" not in entry:
                known = ", ".join(sorted(stations)) or "none"
                raise GeodataError(
                    f"{where}: station {station_id!r} is not in facilities.toml (known: {known}) "
                    f"and gives no lon/lat",
                    path,
                )
            station = _station(entry, path, where)
        elif "lon" in entry or "lat" in entry:
            station = _station({**_station_entry(station), **entry}, path, where)
        ambulances = count_field(entry, "ambulances", path, where)
        staff = count_field(entry, "staff", path, where, default=0)
        units = entry.get("units")
        if units is None:
            unit_ids = tuple(f"{station_id}-{n}" for n in range(1, ambulances + 1))
        else:
            if not isinstance(units, list) or not all(isinstance(u, str) and u for u in units):
                raise GeodataError(f"{where}.units must be a list of unit ids, got {units!r}", path)
            if len(units) != ambulances:
                raise GeodataError(
                    f"{where}.units lists {len(units)} unit(s) but ambulances = {ambulances}", path
                )
            unit_ids = tuple(units)
        placed.append(LayoutStation(station, ambulances, staff, unit_ids))
    all_units = [u for s in placed for u in s.unit_ids]
    duplicates = sorted({u for u in all_units if all_units.count(u) > 1})
    if duplicates:
        raise GeodataError(f"unit id(s) {', '.join(duplicates)} appear more than once", path)
    return Layout(
        name=str_field(data, "name", path, default=path.stem),
        description=str_field(data, "description", path, default=""),
        stations=tuple(placed),
        path=path,
    )


def _station_entry(station: Station) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": station.id,
        "name": station.name,
        "kind": station.kind.value,
        "lon": station.lon,
        "lat": station.lat,
        "aliases": list(station.aliases),
    }
    if station.hospital is not None:
        entry["hospital"] = station.hospital
    return entry
