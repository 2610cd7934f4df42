"""Read a county's road network into a routable osmnx graph: classes, speeds, travel times.

Reading a whole county takes tens of seconds; the routing engine caches what it compiles from
the graph, so nothing here caches it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import Polygon

from geodata.errors import DisconnectedRoadsWarning, GeodataError

if TYPE_CHECKING:
    import networkx as nx

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


def hull_of_roads(roads_path: Path) -> Polygon:
    """Return the convex hull of a road file's nodes and edge bends (a county without a boundary).

    Raises
    ------
    GeodataError
        The road file cannot be read (see `read_roads`), or its roads are too few for a polygon.
    """
    graph = read_roads(roads_path)
    xy = [(d["x"], d["y"]) for _, d in graph.nodes(data=True)]
    for _, _, geometry in graph.edges(data="geometry"):
        if geometry is not None:  # simplified edges keep their bends here
            xy.extend(geometry.coords)
    hull = shapely.MultiPoint(xy).convex_hull
    if not isinstance(hull, Polygon):
        raise GeodataError("no boundary.geojson and the roads are too few to draw a hull", roads_path)
    return hull
