"""Read a county's places.csv and boundary.geojson, and check the places lie inside the boundary."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from pathlib import Path

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from geodata.errors import GeodataError
from geodata.model import Place, PlaceKind

PLACES_COLUMNS = (
    "id", "name", "name_pinyin", "kind", "township", "lon", "lat",
    "ur_code", "urban", "demand_weight", "source",
)  # fmt: skip
# ur_code classes counted as urban (10-minute arrival target): docs/county-format.md.
URBAN_UR_CODES = frozenset({111, 112, 121, 122})
# Places may sit this far outside the boundary polygon (degrees, about 200 m): village centres
# and the boundary come from different surveys and both went through a datum conversion.
BOUNDARY_TOLERANCE_DEG = 0.002


def read_boundary(path: Path) -> Polygon | MultiPolygon:
    """Read boundary.geojson: a Polygon or MultiPolygon, a Feature or a one-feature collection.

    An invalid polygon is repaired with `shapely.make_valid`.

    Raises
    ------
    GeodataError
        The file is missing, not JSON, not one (Multi)Polygon, empty, or not in WGS84 range.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GeodataError("file not found", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GeodataError(f"not valid JSON ({e})", path) from e
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            raise GeodataError(f"expected one feature, got {len(features)}", path)
        data = features[0]
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    try:
        geometry = shape(data)
    except Exception as e:  # shapely raises several types for malformed GeoJSON
        raise GeodataError(f"not a GeoJSON geometry ({e})", path) from e
    if not isinstance(geometry, Polygon | MultiPolygon):
        raise GeodataError(f"expected a Polygon or MultiPolygon, got {geometry.geom_type}", path)
    if geometry.is_empty:
        raise GeodataError("the boundary is empty", path)
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    minx, miny, maxx, maxy = geometry.bounds
    if not (-180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90):
        raise GeodataError(
            f"coordinates out of WGS84 range (bounds {geometry.bounds}); expected lon, lat", path
        )
    return geometry


def read_places(path: Path) -> tuple[Place, ...]:
    """Read places.csv (columns `PLACES_COLUMNS`), in file order.

    Raises
    ------
    GeodataError
        The file is missing or not UTF-8, a column is missing, a row is malformed (the message
        gives its line), or an id appears twice.
    """
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in PLACES_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise GeodataError(
                    f"missing column(s) {', '.join(missing)}; expected {','.join(PLACES_COLUMNS)}",
                    path,
                )
            places = tuple(_place(row, path, i) for i, row in enumerate(reader, start=2))
    except FileNotFoundError:
        raise GeodataError("file not found", path) from None
    except UnicodeDecodeError as e:
        raise GeodataError(f"not UTF-8 text ({e})", path) from e
    seen: set[str] = set()
    for p in places:
        if p.id in seen:
            raise GeodataError(f"id {p.id!r} appears twice; ids must be unique", path)
        seen.add(p.id)
    return places


def _place(row: Mapping[str, str | None], path: Path, line: int) -> Place:
    def text(column: str) -> str:
        return (row.get(column) or "").strip()

    def number(column: str, low: float, high: float) -> float:
        raw = text(column)
        try:
            value = float(raw)
        except ValueError:
            raise GeodataError(f"line {line}: {column} must be a number, got {raw!r}", path) from None
        if not (low <= value <= high) or math.isnan(value):
            raise GeodataError(f"line {line}: {column} must be in [{low}, {high}], got {value}", path)
        return value

    place_id, name = text("id"), text("name")
    if not place_id or not name:
        raise GeodataError(f"line {line}: id and name are required, got {place_id!r}, {name!r}", path)
    kind_raw = text("kind")
    try:
        kind = PlaceKind(kind_raw)
    except ValueError:
        raise GeodataError(
            f"line {line}: kind must be one of {', '.join(PlaceKind)}, got {kind_raw!r}", path
        ) from None
    ur_raw = text("ur_code")
    ur_code: int | None
    if ur_raw:
        try:
            ur_code = int(ur_raw)
        except ValueError:
            raise GeodataError(f"line {line}: ur_code must be an integer, got {ur_raw!r}", path) from None
    else:
        ur_code = None
    urban_raw = text("urban")
    if urban_raw not in ("", "0", "1"):
        raise GeodataError(f"line {line}: urban must be 0 or 1, got {urban_raw!r}", path)
    urban = urban_raw == "1" if urban_raw else (ur_code in URBAN_UR_CODES)
    weight = number("demand_weight", 0.0, math.inf) if text("demand_weight") else 0.0
    return Place(
        id=place_id,
        name=name,
        name_pinyin=text("name_pinyin"),
        kind=kind,
        township=text("township"),
        lon=number("lon", -180.0, 180.0),
        lat=number("lat", -90.0, 90.0),
        ur_code=ur_code,
        urban=urban,
        demand_weight=weight,
        source=text("source"),
    )


def check_places_inside(
    places: tuple[Place, ...], boundary: Polygon | MultiPolygon, path: Path, hull: bool
) -> None:
    """Check every place lies within `BOUNDARY_TOLERANCE_DEG` of the boundary.

    Parameters
    ----------
    path
        The places file, for messages.
    hull
        Whether `boundary` is the convex hull of the roads (said in the message).

    Raises
    ------
    GeodataError
        Places lie outside; the message lists the first five.
    """
    if not places:
        return
    area = boundary.buffer(BOUNDARY_TOLERANCE_DEG)
    inside = shapely.contains_xy(area, [p.lon for p in places], [p.lat for p in places])
    outside = [p for p, ok in zip(places, inside, strict=True) if not ok]
    if outside:
        shown = ", ".join(f"{p.id} {p.name} ({p.lon}, {p.lat})" for p in outside[:5])
        more = f" and {len(outside) - 5} more" if len(outside) > 5 else ""
        against = "the convex hull of the roads" if hull else "boundary.geojson"
        raise GeodataError(
            f"{len(outside)} place(s) outside {against}: {shown}{more}; expected WGS84 lon, lat",
            path,
        )
