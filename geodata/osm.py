"""Import OpenStreetMap data into a county directory (docs/county-format.md).

Sources: OSM XML (``.osm``, ``.osm.xml``, ``.osm.bz2``), GraphML written by osmnx (``.graphml``),
PBF extracts (``.osm.pbf``, read with pyrosm) and, online only, a place name through
`osmnx.graph_from_place`. The output keeps the drivable roads (osmnx's "drive" network: no
footways, tracks, service roads or private ways), only their largest strongly connected component,
with osmnx speeds and travel times, plus the OSM place nodes as the gazetteer.
"""

from __future__ import annotations

import csv
import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from geodata.county import PLACES_COLUMNS, finish_graph
from geodata.errors import NoInternetError, OsmImportError

if TYPE_CHECKING:
    import networkx as nx

ATTRIBUTION = "© OpenStreetMap contributors, ODbL 1.0 (https://www.openstreetmap.org/copyright)"
XML_SUFFIXES = (".osm", ".osm.xml", ".xml", ".osm.bz2", ".xml.bz2")
PBF_SUFFIXES = (".osm.pbf", ".pbf")
GRAPHML_SUFFIXES = (".graphml",)
NO_INTERNET = (
    "no internet: --place needs to reach OpenStreetMap's servers; download an extract "
    "(e.g. from https://download.geofabrik.de) and pass its path"
)

# osmnx's "drive" network filter (osmnx/_overpass.py, _get_network_filter), applied to ways
# read from a file the way Overpass applies it to a query.
_NOT_DRIVABLE_HIGHWAY = frozenset(
    "abandoned bridleway bus_guideway construction corridor cycleway elevator escalator footway "
    "no path pedestrian planned platform proposed raceway razed rest_area service services steps "
    "track".split()
)
_NOT_DRIVABLE_SERVICE = frozenset(
    "alley driveway emergency_access parking parking_aisle private".split()
)
_EXTRA_WAY_TAGS = ("motor_vehicle", "motorcar")
# OSM place=* values kept as places, and the kind each becomes.
_PLACE_KINDS = {
    "city": "town",
    "town": "town",
    "suburb": "town",
    "village": "village",
    "hamlet": "village",
    "neighbourhood": "village",
    "quarter": "village",
    "isolated_dwelling": "village",
    "locality": "village",
}
_PINYIN_TAGS = ("name:zh_pinyin", "name:zh-Latn-pinyin", "name:zh-Latn", "name:en")
# The hull is widened by this much (degrees, ~100 m) so that roads on its edge are inside.
_HULL_MARGIN_DEG = 0.001
_NODE_ATTRS = ("x", "y", "street_count", "highway", "ref", "junction")
_DROP_EDGE_ATTRS = ("tags", "visible", "timestamp", "version", "osm_type", "u", "v", "id", "changeset")


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What `import_county` wrote."""

    out_dir: Path
    name: str
    source: str
    n_nodes: int
    n_edges: int
    road_km: float
    n_places: int
    dropped_nodes: int
    dropped_edges: int
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """Return a few lines for a person."""
        lines = [
            f"county {self.name!r} written to {self.out_dir}",
            f"  source: {self.source}",
            f"  roads: {self.n_nodes:,} nodes, {self.n_edges:,} edges, {self.road_km:,.1f} km",
            f"  places: {self.n_places:,}",
        ]
        if self.dropped_nodes or self.dropped_edges:
            lines.append(
                f"  dropped outside the largest strongly connected component: "
                f"{self.dropped_nodes:,} nodes, {self.dropped_edges:,} edges"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def import_county(
    source: Path | str | None,
    out_dir: Path | str,
    *,
    place: str | None = None,
    name: str | None = None,
) -> ImportReport:
    """Import an OSM extract, a GraphML file or (online) a place into a county directory.

    Parameters
    ----------
    source
        The file to read: ``.osm``, ``.osm.xml``, ``.osm.bz2``, ``.graphml`` or ``.osm.pbf``.
        None when `place` is given.
    out_dir
        The directory to write (created; must be empty or hold an earlier import).
    place
        A place name for `osmnx.graph_from_place` (needs the internet), instead of `source`.
    name
        The county's name; the file stem or the place name when None.

    Raises
    ------
    OsmImportError
        The file is missing, not OSM, holds no drivable roads, or the output is not writable.
    NoInternetError
        `place` was given and OpenStreetMap's servers cannot be reached.

    Warns
    -----
    DisconnectedRoadsWarning
        Parts of the network outside its largest strongly connected component were dropped.
    """
    if (source is None) == (place is None):
        raise OsmImportError("give either a source file or place=NAME, not both or neither")
    out_dir = Path(out_dir)
    _check_out_dir(out_dir)
    notes: list[str] = []
    if place is not None:
        graph, places = _graph_from_place(place), []
        description = f"OpenStreetMap via osmnx.graph_from_place({place!r})"
        default_name = place
    else:
        path = Path(source)  # type: ignore[arg-type]
        graph, places, description = _read_source(path)
        default_name = _stem(path)
    n_before, e_before = graph.number_of_nodes(), graph.number_of_edges()
    graph = finish_graph(graph, source if source is not None else place)  # type: ignore[arg-type]
    dropped_nodes = n_before - graph.number_of_nodes()
    dropped_edges = e_before - graph.number_of_edges()
    boundary = _hull(graph)
    places, outside = _inside(places, boundary)
    if outside:
        notes.append(f"{outside} OSM place node(s) outside the road network's hull were left out")
    if not places:
        notes.append(
            "no OSM place nodes: places.csv has its header only; add settlements for the "
            "gazetteer and the demand model"
        )
    county_name = name or default_name
    _write(out_dir, graph, boundary, places, county_name, description)
    return ImportReport(
        out_dir=out_dir,
        name=county_name,
        source=description,
        n_nodes=graph.number_of_nodes(),
        n_edges=graph.number_of_edges(),
        road_km=road_length_m(graph) / 1000.0,
        n_places=len(places),
        dropped_nodes=dropped_nodes,
        dropped_edges=dropped_edges,
        notes=tuple(notes),
    )


def road_length_m(graph: nx.MultiDiGraph) -> float:
    """Return the length of road (m), counting a two-way road once rather than per direction."""
    seen: set[tuple[Any, Any, int]] = set()
    total = 0.0
    for u, v, length in graph.edges(data="length"):
        key = (min(u, v), max(u, v), round(float(length)))
        if key not in seen:
            seen.add(key)
            total += float(length)
    return total


# --- reading --------------------------------------------------------------------------------


def _read_source(path: Path) -> tuple[nx.MultiDiGraph, list[dict[str, Any]], str]:
    if not path.exists():
        raise OsmImportError("file not found", path)
    if not path.is_file():
        raise OsmImportError("not a file", path)
    lower = path.name.lower()
    if lower.endswith(PBF_SUFFIXES):
        graph, places = _read_pbf(path)
        return graph, places, f"OpenStreetMap PBF extract {path.name}"
    if lower.endswith(GRAPHML_SUFFIXES):
        return _read_graphml(path), [], f"GraphML {path.name}"
    if lower.endswith(XML_SUFFIXES):
        graph, places = _read_xml(path)
        return graph, places, f"OpenStreetMap XML {path.name}"
    raise OsmImportError(
        f"unknown file type; expected one of {', '.join(XML_SUFFIXES + PBF_SUFFIXES + GRAPHML_SUFFIXES)}",
        path,
    )


@contextmanager
def _open_text(path: Path) -> Iterator[IO[bytes]]:
    import bz2

    if path.name.lower().endswith(".bz2"):
        with bz2.open(path, "rb") as f:
            yield f
    else:
        with path.open("rb") as f:
            yield f


def _scan_xml(path: Path) -> tuple[list[dict[str, Any]], int]:
    """Check that a file is OSM XML; return its place nodes and its count of highway ways."""
    places: list[dict[str, Any]] = []
    highways = 0
    try:
        with _open_text(path) as f:
            events = ET.iterparse(f, events=("start", "end"))
            _, root = next(events)
            if root.tag != "osm":
                raise OsmImportError(
                    f"not OpenStreetMap XML: the root element is <{root.tag}>, expected <osm>", path
                )
            for event, element in events:
                if event != "end":
                    continue
                if element.tag == "node":
                    tags = {t.get("k"): t.get("v") for t in element.iter("tag")}
                    if tags.get("place") in _PLACE_KINDS and tags.get("name"):
                        places.append(
                            {"id": element.get("id"), "lon": element.get("lon"),
                             "lat": element.get("lat"), "tags": tags}
                        )  # fmt: skip
                    root.clear()
                elif element.tag == "way":
                    if any(t.get("k") == "highway" for t in element.iter("tag")):
                        highways += 1
                    root.clear()
    except ET.ParseError as e:
        raise OsmImportError(f"not OpenStreetMap XML: not well-formed XML ({e})", path) from e
    except (OSError, EOFError) as e:  # bz2 raises OSError on a file that is not bzip2
        raise OsmImportError(f"cannot read the file ({e})", path) from e
    except StopIteration:
        raise OsmImportError("not OpenStreetMap XML: the file is empty", path) from None
    return places, highways


def _read_xml(path: Path) -> tuple[nx.MultiDiGraph, list[dict[str, Any]]]:
    import osmnx as ox

    places, highways = _scan_xml(path)
    if highways == 0:
        raise OsmImportError("no drivable roads: the file has no highway=* ways", path)
    useful = list(ox.settings.useful_tags_way)
    ox.settings.useful_tags_way = useful + [t for t in _EXTRA_WAY_TAGS if t not in useful]
    try:
        graph = ox.graph_from_xml(path, simplify=False, retain_all=True)
    except Exception as e:  # osmnx raises several types on odd files; all mean "cannot import"
        raise OsmImportError(f"osmnx cannot build a graph ({type(e).__name__}: {e})", path) from e
    finally:
        ox.settings.useful_tags_way = useful
    drop = [(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True) if not _drivable(d)]
    graph.remove_edges_from(drop)
    for _, _, data in graph.edges(data=True):
        for tag in _EXTRA_WAY_TAGS:
            data.pop(tag, None)
    graph.remove_nodes_from([n for n in list(graph.nodes) if graph.degree(n) == 0])
    if graph.number_of_edges() == 0:
        raise OsmImportError(
            f"no drivable roads: none of its {highways} highway ways is open to cars "
            f"(osmnx 'drive' filter)",
            path,
        )
    graph = ox.simplify_graph(graph)
    return graph, [_place_row(p) for p in places]


def _drivable(data: dict[str, Any]) -> bool:
    highway = data.get("highway")
    return (
        isinstance(highway, str)
        and highway not in _NOT_DRIVABLE_HIGHWAY
        and data.get("area") != "yes"
        and data.get("access") != "private"
        and data.get("motor_vehicle") != "no"
        and data.get("motorcar") != "no"
        and data.get("service") not in _NOT_DRIVABLE_SERVICE
    )


def _read_graphml(path: Path) -> nx.MultiDiGraph:
    import osmnx as ox

    try:
        graph = ox.load_graphml(path)
    except Exception as e:  # networkx/osmnx raise several types on files that are not GraphML
        raise OsmImportError(f"not an osmnx GraphML file ({type(e).__name__}: {e})", path) from e
    missing = [n for n, d in graph.nodes(data=True) if "x" not in d or "y" not in d]
    if missing:
        raise OsmImportError(f"{len(missing)} node(s) lack x/y coordinates, e.g. node {missing[0]}", path)
    if graph.number_of_edges() == 0:
        raise OsmImportError("no drivable roads: the graph has no edges", path)
    return graph


def _read_pbf(path: Path) -> tuple[nx.MultiDiGraph, list[dict[str, Any]]]:
    import pyrosm

    try:
        osm = pyrosm.OSM(str(path))
        nodes, edges = osm.get_network(network_type="driving", nodes=True)
    except Exception as e:  # pyrosm raises bare Exceptions and OSErrors on files that are not PBF
        raise OsmImportError(f"not an OpenStreetMap PBF file ({type(e).__name__}: {e})", path) from e
    if edges is None or len(edges) == 0:
        raise OsmImportError("no drivable roads: the extract has no roads open to cars", path)
    graph = osm.to_graph(nodes, edges, graph_type="networkx")
    _clean_pyrosm_graph(graph)
    places = osm.get_data_by_custom_criteria(
        custom_filter={"place": list(_PLACE_KINDS)},
        filter_type="keep",
        keep_nodes=True,
        keep_ways=False,
        keep_relations=False,
    )
    rows = []
    if places is not None:
        for row in places.itertuples():
            tags = json.loads(row.tags) if isinstance(row.tags, str) else {}
            tags["place"] = row.place
            if tags.get("name"):
                rows.append(_place_row({"id": row.id, "lon": row.lon, "lat": row.lat, "tags": tags}))
    return graph, rows


def _clean_pyrosm_graph(graph: nx.MultiDiGraph) -> None:
    """Make a pyrosm graph look like an osmnx one: x/y nodes, osmnx edge attributes, crs."""
    graph.graph = {"crs": "EPSG:4326", "created_with": "pyrosm", "simplified": True}
    for _, data in graph.nodes(data=True):
        for key in list(data):
            if key not in _NODE_ATTRS:
                del data[key]
    for _, _, data in graph.edges(data=True):
        for key in list(data):
            value = data[key]
            if key in _DROP_EDGE_ATTRS or value is None or (isinstance(value, float) and math.isnan(value)):
                del data[key]
        if "id" in data:
            data["osmid"] = data.pop("id")


def _graph_from_place(place: str) -> nx.MultiDiGraph:
    import osmnx as ox
    import requests
    from osmnx._errors import InsufficientResponseError

    try:
        return ox.graph_from_place(place, network_type="drive", simplify=True, retain_all=False)
    except (requests.ConnectionError, requests.Timeout) as e:
        raise NoInternetError(NO_INTERNET) from e
    except InsufficientResponseError as e:
        raise OsmImportError(f"place {place!r}: OpenStreetMap has no drivable roads for it ({e})") from e
    except TypeError as e:  # osmnx: the geocoder returned a point, not an area
        raise OsmImportError(f"place {place!r}: not an area OpenStreetMap can outline ({e})") from e


def _place_row(node: dict[str, Any]) -> dict[str, Any]:
    from geodata.gazetteer import pinyin_of

    tags = node["tags"]
    name = tags["name"]
    kind = _PLACE_KINDS[tags["place"]]
    pinyin = next((tags[t] for t in _PINYIN_TAGS if tags.get(t)), "")
    if not pinyin and any("\u4e00" <= c <= "\u9fff" for c in name):
        pinyin = pinyin_of(name)
    return {
        "id": f"osm-{node['id']}",
        "name": name,
        "name_pinyin": pinyin,
        "kind": kind,
        "township": name if kind == "town" else tags.get("is_in:township", ""),
        "lon": float(node["lon"]),
        "lat": float(node["lat"]),
        "ur_code": "",
        "urban": 1 if kind == "town" else 0,
        "demand_weight": 0.0,
        "source": "osm",
    }


# --- writing --------------------------------------------------------------------------------


def _check_out_dir(out_dir: Path) -> None:
    if out_dir.exists():
        if not out_dir.is_dir():
            raise OsmImportError("--out must be a directory, and this is a file", out_dir)
        if any(out_dir.iterdir()) and not (out_dir / "county.toml").exists():
            raise OsmImportError(
                "the output directory is not empty and holds no county; choose a new directory", out_dir
            )


def _hull(graph: nx.MultiDiGraph) -> Any:
    import shapely

    xy = [(d["x"], d["y"]) for _, d in graph.nodes(data=True)]
    for _, _, geometry in graph.edges(data="geometry"):
        if geometry is not None:  # simplified edges keep their bends here
            xy.extend(geometry.coords)
    hull = shapely.MultiPoint(xy).convex_hull.buffer(_HULL_MARGIN_DEG)
    return shapely.Polygon(hull.exterior)


def _inside(places: list[dict[str, Any]], boundary: Any) -> tuple[list[dict[str, Any]], int]:
    import shapely

    if not places:
        return [], 0
    ok = shapely.contains_xy(boundary, [p["lon"] for p in places], [p["lat"] for p in places])
    kept = [p for p, inside in zip(places, ok, strict=True) if inside]
    # Without a demand model, every place draws the same share of calls.
    for p in kept:
        p["demand_weight"] = round(1.0 / len(kept), 9)
    return kept, len(places) - len(kept)


def _write(
    out_dir: Path,
    graph: nx.MultiDiGraph,
    boundary: Any,
    places: list[dict[str, Any]],
    name: str,
    description: str,
) -> None:
    import osmnx as ox
    import shapely

    try:
        (out_dir / "layouts").mkdir(parents=True, exist_ok=True)
        ox.save_graphml(graph, out_dir / "roads.graphml")
        imported = datetime.now(UTC).strftime("%Y-%m-%d")
        (out_dir / "county.toml").write_text(
            "# Written by `ems geodata import`; edit the names and notes freely.\n"
            f"name = {_toml_str(name)}\n"
            f"name_en = {_toml_str(name if name.isascii() else '')}\n"
            'crs = "EPSG:4326"\n'
            'roads = "roads.graphml"\n'
            f"source = {_toml_str(f'{description}, imported {imported}')}\n"
            f"attribution = {_toml_str(ATTRIBUTION)}\n"
            'notes = "Boundary: convex hull of the roads. Places: OSM place nodes, equal demand weights."\n',
            encoding="utf-8",
        )
        (out_dir / "boundary.geojson").write_text(
            json.dumps(shapely.geometry.mapping(boundary)), encoding="utf-8"
        )
        with (out_dir / "places.csv").open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=PLACES_COLUMNS)
            writer.writeheader()
            writer.writerows(places)
        (out_dir / "facilities.toml").write_text(
            "# Hospitals and ambulance stations: see docs/county-format.md.\n"
            "# [[hospital]]\n# id = \"...\"\n# name = \"...\"\n# lon = 0.0\n# lat = 0.0\n"
            "# capabilities = [\"ed\"]\n\n"
            "# [[station]]\n# id = \"...\"\n# name = \"...\"\n# kind = \"centre\"\n"
            "# lon = 0.0\n# lat = 0.0\n",
            encoding="utf-8",
        )
    except OSError as e:
        raise OsmImportError(f"cannot write the county ({e})", out_dir) from e


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in sorted(XML_SUFFIXES + PBF_SUFFIXES + GRAPHML_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)] or name
    return path.stem


__all__ = ["ImportReport", "import_county", "road_length_m"]
