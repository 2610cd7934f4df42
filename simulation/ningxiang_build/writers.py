"""Write the county files (docs/county-format.md) with fixed formatting: same input, same bytes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from shapely.geometry import Polygon

from simulation.ningxiang_build.common import fmt_coord
from simulation.ningxiang_build.settlements import PlaceRow
from simulation.ningxiang_build.stations import HospitalRow, LayoutEntry, StationRow

PLACES_COLUMNS = (
    "id", "name", "name_pinyin", "kind", "township", "lon", "lat",
    "ur_code", "urban", "demand_weight", "source",
)  # fmt: skip
ATTRIBUTION = "adcode dataset by Vonng, CC BY 4.0"


def toml_str(value: str) -> str:
    """Return a TOML basic string (JSON string syntax is valid TOML for these texts)."""
    return json.dumps(value, ensure_ascii=False)


def toml_list(values: Sequence[str]) -> str:
    """Return a TOML array of strings."""
    return "[" + ", ".join(toml_str(v) for v in values) + "]"


def write_text(path: Path, text: str) -> int:
    """Write UTF-8 text with Unix newlines; return the size in bytes."""
    data = text.encode("utf-8")
    path.write_bytes(data)
    return len(data)


def write_places(path: Path, places: Sequence[PlaceRow]) -> int:
    """Write places.csv."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(PLACES_COLUMNS)
    for p in places:
        w.writerow([
            p.id, p.name, p.name_pinyin, p.kind, p.township, fmt_coord(p.lon), fmt_coord(p.lat),
            "" if p.ur_code is None else str(p.ur_code), str(p.urban), f"{p.demand_weight:.10f}",
            p.source,
        ])  # fmt: skip
    return write_text(path, buf.getvalue())


def write_boundary(path: Path, boundary: Polygon) -> int:
    """Write boundary.geojson: one Polygon feature, coordinates with 7 decimals."""
    coords = ",".join(f"[{fmt_coord(x)},{fmt_coord(y)}]" for x, y in boundary.exterior.coords)
    text = (
        '{"type":"Feature","properties":{"name":"宁乡市","datum":"WGS84",'
        f'"source":{json.dumps(ATTRIBUTION)}}},'
        f'"geometry":{{"type":"Polygon","coordinates":[[{coords}]]}}}}\n'
    )
    return write_text(path, text)


def write_facilities(path: Path, hospitals: Sequence[HospitalRow], stations: Sequence[StationRow]) -> int:
    """Write facilities.toml: hospitals, then stations."""
    lines = [
        "# Hospitals and ambulance stations of Ningxiang (WGS84). Written by",
        "# `ems geodata build-ningxiang`; see docs/ningxiang.md for the capability assumptions.",
        "",
    ]
    for h in hospitals:
        lines += [
            "[[hospital]]",
            f"id = {toml_str(h.id)}",
            f"name = {toml_str(h.name)}",
            f"aliases = {toml_list(h.aliases)}",
            f"lon = {fmt_coord(h.lon)}",
            f"lat = {fmt_coord(h.lat)}",
            f"capabilities = {toml_list(h.capabilities)}",
            f"pci_24_7 = {str(h.pci_24_7).lower()}",
            f"assumed = {str(h.assumed).lower()}",
            f"note = {toml_str(h.note)}",
            "",
        ]
    for s in stations:
        lines += [
            "[[station]]",
            f"id = {toml_str(s.id)}",
            f"name = {toml_str(s.name)}",
            f"kind = {toml_str(s.kind)}",
            f"hospital = {toml_str(s.hospital)}",
            f"lon = {fmt_coord(s.lon)}",
            f"lat = {fmt_coord(s.lat)}",
            "",
        ]
    return write_text(path, "\n".join(lines))


def write_layout(path: Path, name: str, description: str, entries: Sequence[LayoutEntry]) -> int:
    """Write a layout TOML file."""
    lines = [f"name = {toml_str(name)}", f"description = {toml_str(description)}", ""]
    for e in entries:
        lines += [
            "[[station]]",
            f"id = {toml_str(e.station)}",
            f"ambulances = {e.ambulances}",
            f"staff = {e.staff}",
            "",
        ]
    return write_text(path, "\n".join(lines))


def write_county_toml(path: Path, seed: int, notes: str) -> int:
    """Write county.toml."""
    lines = [
        f"name = {toml_str('宁乡市')}",
        f"name_en = {toml_str('Ningxiang')}",
        f"crs = {toml_str('EPSG:4326')}",
        f"roads = {toml_str('roads.osm.bz2')}",
        "source = "
        + toml_str(
            "Real township seats, villages and boundary from the adcode dataset (2016, GCJ-02, "
            "converted to WGS84); hospitals from public map data; schematic road network and "
            "generated settlements (seeded) by `ems geodata build-ningxiang`"
        ),
        f"attribution = {toml_str(ATTRIBUTION)}",
        f"notes = {toml_str(notes)}",
        f"seed = {seed}",
        "",
    ]
    return write_text(path, "\n".join(lines))


ATTRIBUTION_MD = """# Attribution

The embedded Ningxiang county is built from:

- **adcode dataset by Vonng, CC BY 4.0** (https://github.com/Vonng/adcode, commit
  b755d6e4abca8e0d309728abc9ad4b100dacc685): township seats, village centres, urban-rural classes
  and the county boundary (code 430124, 2016). Coordinates were converted from GCJ-02 to WGS84.
  Licence: Creative Commons Attribution 4.0 (https://creativecommons.org/licenses/by/4.0/).
- Hospital positions from public map data (see geodata/data/ningxiang/README.md).
- The 1+5+N network figures and the calibration trips published in the report
  "宁乡市：构建立体化急诊急救体系" (see geodata/data/ningxiang/published_figures.toml).

The road network (roads.osm.bz2) is **schematic**: generated from those places with a seeded
random generator, not surveyed and not derived from OpenStreetMap. Settlements of kind
`generated` are generated too. See docs/ningxiang.md.
"""
