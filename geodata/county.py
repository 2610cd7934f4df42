"""Load a county directory (docs/county-format.md): boundary, places, facilities, layouts, roads.

Every file except the road network is read and checked by `load_county`, so a bad file is reported
at once with its path. The road network is only read by `County.load_graph` (tens of seconds for a
county); the routing engine caches what it compiles from it, so nothing here caches the graph.
"""

from __future__ import annotations

import csv
import json
import math
import re
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import MultiPolygon, Polygon, shape

from geodata.errors import (
    CountyNotFoundError,
    DisconnectedRoadsWarning,
    GeodataError,
    GeodataWarning,
    UnknownLayoutError,
)

if TYPE_CHECKING:
    import networkx as nx

    from geodata.gazetteer import Gazetteer

EMBEDDED_DIR = Path(__file__).resolve().parent
EMBEDDED_COUNTIES = ("ningxiang",)
ROAD_FILE_NAMES = ("roads.osm.bz2", "roads.osm", "roads.osm.xml", "roads.graphml")
PLACES_COLUMNS = (
    "id", "name", "name_pinyin", "kind", "township", "lon", "lat",
    "ur_code", "urban", "demand_weight", "source",
)  # fmt: skip
# ur_code classes counted as urban (10-minute arrival target): docs/county-format.md.
URBAN_UR_CODES = frozenset({111, 112, 121, 122})
# Places may sit this far outside the boundary polygon (degrees, about 200 m): village centres
# and the boundary come from different surveys and both went through a datum conversion.
BOUNDARY_TOLERANCE_DEG = 0.002

# Speeds (km/h) for roads without a maxspeed tag. China's Road Traffic Safety Law implementing
# regulations (道路交通安全法实施条例), art. 45: 30 km/h (urban) / 40 km/h (highway) on roads
# without a centre line, 50 / 70 km/h with one lane per direction; art. 78: expressways 120 max.
# Classes in between take the usual posted limits of Hunan county roads.
DEFAULT_SPEEDS_KPH: Mapping[str, float] = {
    "motorway": 100.0,
    "motorway_link": 60.0,
    "trunk": 80.0,
    "trunk_link": 50.0,
    "primary": 60.0,
    "primary_link": 40.0,
    "secondary": 50.0,
    "secondary_link": 40.0,
    "tertiary": 40.0,
    "tertiary_link": 30.0,
    "unclassified": 30.0,
    "residential": 30.0,
    "living_street": 20.0,
    "service": 20.0,
    "road": 30.0,
}
FALLBACK_SPEED_KPH = 30.0
UNKNOWN_HIGHWAY = "unclassified"


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


@dataclass(frozen=True)
class County:
    """A loaded county directory. Build it with `load_county`."""

    name: str
    name_en: str
    path: Path
    roads_path: Path
    boundary: Polygon | MultiPolygon
    places: tuple[Place, ...]
    hospitals: tuple[Hospital, ...]
    stations: tuple[Station, ...]
    layouts: dict[str, Layout]
    source: str = ""
    attribution: str = ""
    notes: str = ""
    boundary_is_hull: bool = False
    meta: dict[str, Any] = field(default_factory=dict, repr=False)

    def layout(self, name: str) -> Layout:
        """Return the layout called `name`.

        Raises
        ------
        UnknownLayoutError
            No such layout; the message lists the known ones.
        """
        try:
            return self.layouts[name]
        except KeyError:
            known = ", ".join(sorted(self.layouts)) or "none"
            raise UnknownLayoutError(
                f"layout {name!r}: not a layout of county {self.name!r} (known: {known}); "
                "or give the path of a layout TOML file of your own"
            ) from None

    def resolve_layout(self, name_or_path: str) -> Layout:
        """Return the layout called `name_or_path`, or the layout TOML file at that path.

        Raises
        ------
        GeodataError
            Neither a layout of the county nor a readable layout file (the message lists the known ones).
        """
        path = Path(name_or_path)
        if name_or_path not in self.layouts and path.suffix == ".toml" and path.is_file():
            return self.load_layout_file(path)
        return self.layout(name_or_path)

    def load_layout_file(self, path: str | Path) -> Layout:
        """Read a layout TOML file of the user's against this county's stations.

        Raises
        ------
        GeodataError
            The file is missing or malformed, or names an unknown station without lon/lat.
        """
        return _read_layout(Path(path), {s.id: s for s in self.stations})

    @cached_property
    def gazetteer(self) -> Gazetteer:
        """Return the gazetteer of this county's places, hospitals and stations."""
        from geodata.gazetteer import Gazetteer

        return Gazetteer(self.places, self.hospitals, self.stations)

    def load_graph(self) -> nx.MultiDiGraph:
        """Read the road network with travel times; keep its largest strongly connected part.

        Every edge has ``length`` (m), ``speed_kph``, ``travel_time`` (s, normal driving) and
        ``highway`` (a string). Slow for a whole county; not cached here.

        Raises
        ------
        GeodataError
            The road file is missing, unreadable or holds no roads.

        Warns
        -----
        DisconnectedRoadsWarning
            Nodes and edges outside the largest strongly connected component were dropped.
        """
        return read_roads(self.roads_path)


def load_county(name_or_dir: str | Path = "ningxiang") -> County:
    """Load and check a county directory: the embedded ``ningxiang`` or a directory path.

    Parameters
    ----------
    name_or_dir
        ``"ningxiang"`` for the county shipped in ``geodata/ningxiang/``, or the path of a
        directory in the county format (docs/county-format.md).

    Raises
    ------
    CountyNotFoundError
        Neither an embedded county nor a directory.
    GeodataError
        A file is missing or malformed; the message names the file and the problem.
    """
    path = _county_dir(name_or_dir)
    toml_path = path / "county.toml"
    meta = _read_toml(toml_path)
    roads_path = _roads_path(path, meta, toml_path)
    boundary_path = path / "boundary.geojson"
    places = _read_places(path / "places.csv")
    hospitals, stations = _read_facilities(path / "facilities.toml")
    layouts = _read_layouts(path / "layouts", {s.id: s for s in stations})
    if boundary_path.exists():
        boundary = _read_boundary(boundary_path)
        hull = False
    else:
        boundary = _hull_of_roads(roads_path)
        hull = True
    _check_places_inside(places, boundary, path / "places.csv", hull)
    return County(
        name=_str(meta, "name", toml_path, default=path.name),
        name_en=_str(meta, "name_en", toml_path, default=""),
        path=path,
        roads_path=roads_path,
        boundary=boundary,
        places=places,
        hospitals=hospitals,
        stations=stations,
        layouts=layouts,
        source=_str(meta, "source", toml_path, default=""),
        attribution=_str(meta, "attribution", toml_path, default=""),
        notes=_str(meta, "notes", toml_path, default=""),
        boundary_is_hull=hull,
        meta=meta,
    )


# --- the road network ------------------------------------------------------------------------


def read_roads(path: Path) -> nx.MultiDiGraph:
    """Read a road file (OSM XML, .osm.bz2 or GraphML) into a routable osmnx graph.

    Raises
    ------
    GeodataError
        The file is missing, unreadable or holds no roads.
    """
    import osmnx as ox

    if not path.is_file():
        raise GeodataError("road network file not found", path)
    try:
        if path.name.endswith(".graphml"):
            graph = ox.load_graphml(path)
        else:
            graph = ox.graph_from_xml(path, simplify=True, retain_all=False)
    except Exception as e:  # osmnx and its parsers raise many types; all mean a bad file
        raise GeodataError(f"cannot read the road network ({type(e).__name__}: {e})", path) from e
    return finish_graph(graph, path)


def finish_graph(graph: nx.MultiDiGraph, path: Path | str) -> nx.MultiDiGraph:
    """Give every edge highway, speed_kph and travel_time; keep the largest strongly connected part.

    Parameters
    ----------
    graph
        An osmnx-style MultiDiGraph (``x``, ``y`` on nodes, ``length`` on edges).
    path
        Where it came from, for messages.

    Raises
    ------
    GeodataError
        The graph has no edges.

    Warns
    -----
    DisconnectedRoadsWarning
        When nodes or edges outside the largest strongly connected component are dropped.
    """
    import osmnx as ox

    if graph.number_of_edges() == 0:
        raise GeodataError("no drivable roads: the road network has no edges", path)
    graph = largest_scc(graph, path)
    for _, _, data in graph.edges(data=True):
        data["highway"] = _one_highway(data.get("highway"))
    if any("speed_kph" not in d for _, _, d in graph.edges(data=True)):
        graph = ox.add_edge_speeds(
            graph, hwy_speeds=dict(DEFAULT_SPEEDS_KPH), fallback=FALLBACK_SPEED_KPH
        )
    if any("travel_time" not in d for _, _, d in graph.edges(data=True)):
        graph = ox.add_edge_travel_times(graph)
    graph.graph.setdefault("crs", "EPSG:4326")
    return graph


def largest_scc(graph: nx.MultiDiGraph, path: Path | str) -> nx.MultiDiGraph:
    """Keep the largest strongly connected component, warning with what was dropped."""
    import networkx as nx

    if nx.is_strongly_connected(graph):
        return graph
    components = list(nx.strongly_connected_components(graph))
    keep = max(components, key=len)
    kept = nx.MultiDiGraph(graph.subgraph(keep))
    dropped_nodes = graph.number_of_nodes() - kept.number_of_nodes()
    dropped_edges = graph.number_of_edges() - kept.number_of_edges()
    warnings.warn(
        f"{path}: road network has {len(components)} strongly connected components; kept the "
        f"largest ({kept.number_of_nodes()} nodes, {kept.number_of_edges()} edges), dropped "
        f"{dropped_nodes} nodes and {dropped_edges} edges that cannot reach it or be reached",
        DisconnectedRoadsWarning,
        stacklevel=3,
    )
    return kept


def _one_highway(value: Any) -> str:
    # Simplified edges merged from several ways carry a list; keep the first, as osmnx does
    # when it imputes speeds, so the routing engine sees one class per edge.
    if isinstance(value, list | tuple):
        value = value[0] if value else None
    if isinstance(value, str) and value.startswith("["):  # a list written to GraphML as text
        parts = re.findall(r"'([^']+)'", value)
        value = parts[0] if parts else None
    if not isinstance(value, str) or not value:
        return UNKNOWN_HIGHWAY
    return value


def _hull_of_roads(roads_path: Path) -> Polygon:
    graph = read_roads(roads_path)
    xy = [(d["x"], d["y"]) for _, d in graph.nodes(data=True)]
    for _, _, geometry in graph.edges(data="geometry"):
        if geometry is not None:  # simplified edges keep their bends here
            xy.extend(geometry.coords)
    hull = shapely.MultiPoint(xy).convex_hull
    if not isinstance(hull, Polygon):
        raise GeodataError("no boundary.geojson and the roads are too few to draw a hull", roads_path)
    return hull


# --- files -----------------------------------------------------------------------------------


def _county_dir(name_or_dir: str | Path) -> Path:
    if isinstance(name_or_dir, str) and name_or_dir in EMBEDDED_COUNTIES:
        path = EMBEDDED_DIR / name_or_dir
        if not path.is_dir():
            raise CountyNotFoundError(
                f"county {name_or_dir!r}: the embedded directory {path} is missing; "
                f"build it with `ems geodata build-ningxiang`"
            )
        return path
    path = Path(name_or_dir).expanduser()
    if not path.is_dir():
        raise CountyNotFoundError(
            f"county {str(name_or_dir)!r}: not an embedded county ({', '.join(EMBEDDED_COUNTIES)}) "
            f"and not a directory"
        )
    return path.resolve()


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise GeodataError("file not found", path) from None
    except tomllib.TOMLDecodeError as e:
        raise GeodataError(f"not valid TOML ({e})", path) from e
    except UnicodeDecodeError as e:
        raise GeodataError(f"not UTF-8 text ({e})", path) from e


def _roads_path(county_dir: Path, meta: Mapping[str, Any], toml_path: Path) -> Path:
    name = meta.get("roads")
    if name is not None:
        if not isinstance(name, str) or not name:
            raise GeodataError(f"roads must be a file name, got {name!r}", toml_path)
        path = county_dir / name
        if not path.is_file():
            raise GeodataError(f"roads = {name!r}: no such file in {county_dir}", toml_path)
        return path
    for candidate in ROAD_FILE_NAMES:
        if (county_dir / candidate).is_file():
            return county_dir / candidate
    raise GeodataError(
        f"no road network: set roads = FILE or add one of {', '.join(ROAD_FILE_NAMES)}", toml_path
    )


def _read_boundary(path: Path) -> Polygon | MultiPolygon:
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


def _read_places(path: Path) -> tuple[Place, ...]:
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


def _check_places_inside(
    places: tuple[Place, ...], boundary: Polygon | MultiPolygon, path: Path, hull: bool
) -> None:
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


def _read_facilities(path: Path) -> tuple[tuple[Hospital, ...], tuple[Station, ...]]:
    data = _read_toml(path)
    hospitals = tuple(
        _hospital(entry, path, i) for i, entry in enumerate(_table_list(data, "hospital", path))
    )
    stations = tuple(
        _station(entry, path, f"station[{i}]")
        for i, entry in enumerate(_table_list(data, "station", path))
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


def _table_list(data: Mapping[str, Any], key: str, path: Path) -> list[dict[str, Any]]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise GeodataError(f"{key} must be an array of tables ([[{key}]]), got {value!r}", path)
    return value


def _hospital(entry: Mapping[str, Any], path: Path, index: int) -> Hospital:
    where = f"hospital[{index}]"
    capabilities = entry.get("capabilities", [])
    if not isinstance(capabilities, list) or not all(isinstance(c, str) for c in capabilities):
        raise GeodataError(f"{where}.capabilities must be a list of strings, got {capabilities!r}", path)
    return Hospital(
        id=_str(entry, "id", path, where=where),
        name=_str(entry, "name", path, where=where),
        lon=_coord(entry, "lon", path, where),
        lat=_coord(entry, "lat", path, where),
        capabilities=frozenset(capabilities),
        aliases=_aliases(entry, path, where),
        pci_24_7=_bool(entry, "pci_24_7", path, where),
        assumed=_bool(entry, "assumed", path, where),
        note=_str(entry, "note", path, where=where, default=""),
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
    station_id = _str(entry, "id", path, where=where)
    return Station(
        id=station_id,
        name=_str(entry, "name", path, where=where, default=station_id),
        kind=kind,
        lon=_coord(entry, "lon", path, where),
        lat=_coord(entry, "lat", path, where),
        hospital=hospital or None,
        aliases=_aliases(entry, path, where),
    )


def _read_layouts(directory: Path, stations: Mapping[str, Station]) -> dict[str, Layout]:
    if not directory.is_dir():
        return {}
    layouts = {}
    for path in sorted(directory.glob("*.toml")):
        layout = _read_layout(path, stations)
        layouts[path.stem] = layout
    return layouts


def _read_layout(path: Path, stations: Mapping[str, Station]) -> Layout:
    data = _read_toml(path)
    entries = _table_list(data, "station", path)
    if not entries:
        raise GeodataError("no [[station]] tables: a layout needs at least one station", path)
    seen: set[str] = set()
    placed = []
    for i, entry in enumerate(entries):
        where = f"station[{i}]"
        station_id = _str(entry, "id", path, where=where)
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
        ambulances = _count(entry, "ambulances", path, where)
        staff = _count(entry, "staff", path, where, default=0)
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
        name=_str(data, "name", path, default=path.stem),
        description=_str(data, "description", path, default=""),
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


# --- field readers ---------------------------------------------------------------------------

_MISSING = object()


def _prefix(where: str | None, key: str) -> str:
    return f"{where}.{key}" if where else key


def _str(
    data: Mapping[str, Any], key: str, path: Path, *, where: str | None = None, default: Any = _MISSING
) -> str:
    value = data.get(key, default)
    if value is _MISSING:
        raise GeodataError(f"{_prefix(where, key)} is required", path)
    if not isinstance(value, str):
        raise GeodataError(f"{_prefix(where, key)} must be a string, got {value!r}", path)
    return value


def _coord(data: Mapping[str, Any], key: str, path: Path, where: str) -> float:
    limit = 180.0 if key == "lon" else 90.0
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GeodataError(f"{where}.{key} must be a number (WGS84 degrees), got {value!r}", path)
    if not -limit <= value <= limit:
        raise GeodataError(f"{where}.{key} must be in [{-limit}, {limit}], got {value}", path)
    return float(value)


def _bool(data: Mapping[str, Any], key: str, path: Path, where: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise GeodataError(f"{where}.{key} must be true or false, got {value!r}", path)
    return value


def _count(data: Mapping[str, Any], key: str, path: Path, where: str, default: Any = _MISSING) -> int:
    value = data.get(key, default)
    if value is _MISSING:
        raise GeodataError(f"{where}.{key} is required", path)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise GeodataError(f"{where}.{key} must be an integer >= 0, got {value!r}", path)
    return value


def _aliases(data: Mapping[str, Any], path: Path, where: str) -> tuple[str, ...]:
    value = data.get("aliases", [])
    if not isinstance(value, list) or not all(isinstance(a, str) and a for a in value):
        raise GeodataError(f"{where}.aliases must be a list of strings, got {value!r}", path)
    return tuple(value)


__all__ = [
    "County",
    "GeodataWarning",
    "Hospital",
    "Layout",
    "LayoutStation",
    "Place",
    "PlaceKind",
    "Station",
    "StationKind",
    "load_county",
    "read_roads",
    "finish_graph",
]
