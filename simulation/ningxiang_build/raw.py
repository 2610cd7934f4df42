"""Read the raw Ningxiang data (adcode CSV, boundary fence) and convert it to WGS84."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from shapely.geometry import Polygon

from geodata.county import EMBEDDED_DIR
from geodata.gcj02 import gcj02_to_wgs84
from simulation.ningxiang_build.common import BuildError

# The raw facts are county data, shipped with geodata beside the county they build.
RAW_DIR = EMBEDDED_DIR / "data" / "ningxiang"
ADCODE_CSV = "adcode_430124.csv"
FENCE_JSON = "fence_430124.json"
FIGURES_TOML = "published_figures.toml"

# Columns of the adcode CSV (it has no header): README.md of the raw data.
_COLUMNS = (
    "code", "parent", "name", "level", "rank", "adcode", "post_code", "area_code", "ur_code",
    "municipality", "virtual", "dummy", "longitude", "latitude", "center", "province", "city",
    "county", "town", "village",
)  # fmt: skip

# The four sub-districts (街道) of the county town: main urban area (ur_code 111).
URBAN_SUBDISTRICTS = frozenset({"玉潭街道", "白马桥街道", "历经铺街道", "城郊街道"})
# A township seat is a town centre (ur_code 121) in the statistics bureau's classes.
SEAT_UR_CODE = 121
SUBDISTRICT_UR_CODE = 111

# 资福镇 has no coordinates in the dataset; its village 珊瑚村 has. The seat is estimated from
# that village pulled this fraction of the way toward the mean of the nearest other seats.
ZIFU_NAME = "资福镇"
ZIFU_VILLAGE = "珊瑚村委会"
ZIFU_PULL = 0.3
ZIFU_NEIGHBOURS = 3


@dataclass(frozen=True, slots=True)
class RawPlace:
    """A row of the adcode dataset that has (or was given) coordinates, in WGS84."""

    code: str
    name: str
    level: str  # "county", "town" or "village"
    township: str  # the town / sub-district the row belongs to ("" for the county)
    ur_code: int | None
    lon: float
    lat: float
    source: str  # "adcode" or "estimated"


@dataclass(frozen=True, slots=True)
class RawData:
    """The raw data of the county, converted to WGS84."""

    county: RawPlace
    towns: tuple[RawPlace, ...]
    villages: tuple[RawPlace, ...]
    boundary: Polygon
    rows_total: int
    villages_total: int
    boundary_points: int


def read_raw(raw_dir: Path = RAW_DIR) -> RawData:
    """Read the adcode CSV and the fence, convert every coordinate from GCJ-02 to WGS84.

    Raises
    ------
    BuildError
        A file is missing or malformed, or the county, its towns or its boundary are absent.
    """
    csv_path = raw_dir / ADCODE_CSV
    try:
        with csv_path.open(encoding="utf-8", newline="") as f:
            rows = [dict(zip(_COLUMNS, r, strict=False)) for r in csv.reader(f) if r]
    except FileNotFoundError as e:
        raise BuildError("raw adcode file not found", csv_path) from e
    county_rows = [r for r in rows if r["level"] == "county"]
    if len(county_rows) != 1:
        raise BuildError(f"expected one county row, got {len(county_rows)}", csv_path)
    towns_raw = [r for r in rows if r["level"] == "town"]
    villages_raw = [r for r in rows if r["level"] == "village"]
    if not towns_raw:
        raise BuildError("no town rows", csv_path)

    def convert(r: dict[str, str], level: str, township: str, ur: int | None) -> RawPlace | None:
        if not r["longitude"] or not r["latitude"]:
            return None
        try:
            g_lon, g_lat = float(r["longitude"]), float(r["latitude"])
        except ValueError as e:
            raise BuildError(
                f"row {r['code']}: longitude/latitude must be numbers, got "
                f"{r['longitude']!r}, {r['latitude']!r}",
                csv_path,
            ) from e
        lon, lat = gcj02_to_wgs84(g_lon, g_lat)
        return RawPlace(r["code"], r["name"], level, township, ur, lon, lat, "adcode")

    county = convert(county_rows[0], "county", "", None)
    if county is None:
        raise BuildError("the county row has no coordinates", csv_path)
    towns: list[RawPlace] = []
    missing: list[dict[str, str]] = []
    for r in towns_raw:
        ur = SUBDISTRICT_UR_CODE if r["name"] in URBAN_SUBDISTRICTS else SEAT_UR_CODE
        place = convert(r, "town", r["name"], ur)
        if place is None:
            missing.append(r)
        else:
            towns.append(place)
    villages = []
    for r in villages_raw:
        ur = int(r["ur_code"]) if r["ur_code"] else None
        place = convert(r, "village", r["town"], ur)
        if place is not None:
            villages.append(place)
    for r in missing:
        towns.append(_estimate_seat(r, towns, villages, csv_path))
    towns.sort(key=lambda p: p.code)
    villages.sort(key=lambda p: p.code)
    boundary, n_points = _read_fence(raw_dir / FENCE_JSON)
    return RawData(
        county=county,
        towns=tuple(towns),
        villages=tuple(villages),
        boundary=boundary,
        rows_total=len(rows),
        villages_total=len(villages_raw),
        boundary_points=n_points,
    )


def _estimate_seat(
    row: dict[str, str], towns: list[RawPlace], villages: list[RawPlace], path: Path
) -> RawPlace:
    if row["name"] != ZIFU_NAME:
        raise BuildError(
            f"town {row['name']} ({row['code']}) has no coordinates and no estimation rule; "
            f"only {ZIFU_NAME} is expected to lack them",
            path,
        )
    anchor = next((v for v in villages if v.name == ZIFU_VILLAGE and v.township == ZIFU_NAME), None)
    if anchor is None:
        raise BuildError(f"{ZIFU_NAME}: its village {ZIFU_VILLAGE} with coordinates is missing", path)
    seats = [t for t in towns if t.name not in URBAN_SUBDISTRICTS]
    d = [np.hypot(t.lon - anchor.lon, t.lat - anchor.lat) for t in seats]
    nearest = [seats[i] for i in np.argsort(d, kind="stable")[:ZIFU_NEIGHBOURS]]
    m_lon = float(np.mean([t.lon for t in nearest]))
    m_lat = float(np.mean([t.lat for t in nearest]))
    lon = anchor.lon + ZIFU_PULL * (m_lon - anchor.lon)
    lat = anchor.lat + ZIFU_PULL * (m_lat - anchor.lat)
    return RawPlace(row["code"], row["name"], "town", row["name"], SEAT_UR_CODE, lon, lat, "estimated")


def _read_fence(path: Path) -> tuple[Polygon, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise BuildError("raw boundary file not found", path) from e
    except json.JSONDecodeError as e:
        raise BuildError(f"not valid JSON ({e})", path) from e
    if data.get("type") != "Polygon" or not data.get("coordinates"):
        raise BuildError(f"expected a GeoJSON Polygon, got type {data.get('type')!r}", path)
    ring = np.asarray(data["coordinates"][0], dtype=np.float64)
    lon, lat = gcj02_to_wgs84(ring[:, 0], ring[:, 1])
    polygon = Polygon(np.column_stack([lon, lat]))
    if not polygon.is_valid:
        raise BuildError("the boundary polygon is not valid after conversion to WGS84", path)
    return polygon, int(len(ring))
