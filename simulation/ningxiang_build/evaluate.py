"""Measure the built road network: emergency travel times, calibration trips, detours.

Works on a plain directed edge list so the same code measures the generated graph and the graph
osmnx loads back from roads.osm.bz2. Shortest paths are scipy's Dijkstra on a CSR matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from simulation.ningxiang_build.common import BuildError, FloatArray, LocalProjection, haversine_m


@dataclass(frozen=True)
class RoadGraph:
    """A directed road graph as arrays (WGS84 nodes; one row per directed edge)."""

    node_ids: np.ndarray
    lon: FloatArray
    lat: FloatArray
    src: np.ndarray  # node index
    dst: np.ndarray
    length_m: FloatArray
    travel_time_s: FloatArray  # normal driving
    highway: tuple[str, ...]

    def emergency_time_s(self, factors: Mapping[str, float]) -> FloatArray:
        """Return each edge's lights-and-sirens time: travel time over its class's factor."""
        default = float(factors.get("default", 1.0))
        f = np.array([float(factors.get(h, default)) for h in self.highway])
        return self.travel_time_s / f

    def csr(self, weight: FloatArray) -> csr_matrix:
        """Return the n x n matrix of the cheapest edge per (src, dst) pair."""
        n = len(self.lon)
        order = np.lexsort((weight, self.dst, self.src))
        s, d, w = self.src[order], self.dst[order], weight[order]
        first = np.ones(len(s), dtype=bool)
        first[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
        return csr_matrix((w[first], (s[first], d[first])), shape=(n, n))


def graph_from_osmnx(graph) -> RoadGraph:  # noqa: ANN001 - a networkx MultiDiGraph
    """Convert an osmnx graph with ``travel_time`` on its edges to a `RoadGraph`."""
    nodes = sorted(graph.nodes)
    index = {n: i for i, n in enumerate(nodes)}
    lon = np.array([graph.nodes[n]["x"] for n in nodes], dtype=np.float64)
    lat = np.array([graph.nodes[n]["y"] for n in nodes], dtype=np.float64)
    src, dst, length, tt, hw = [], [], [], [], []
    for u, v, data in graph.edges(data=True):
        src.append(index[u])
        dst.append(index[v])
        length.append(float(data["length"]))
        tt.append(float(data["travel_time"]))
        h = data.get("highway")
        hw.append(h[0] if isinstance(h, list) else str(h))
    return RoadGraph(
        np.asarray(nodes), lon, lat, np.asarray(src), np.asarray(dst), np.asarray(length),
        np.asarray(tt), tuple(hw),
    )  # fmt: skip


def load_osm(path: Path) -> tuple[RoadGraph, int, int, int]:
    """Load an OSM XML file the way users' files are loaded; return the graph and its size.

    ``osmnx.graph_from_xml(simplify=True, retain_all=False)``, then osmnx's edge speeds (from
    ``maxspeed``) and travel times.

    Returns
    -------
    tuple
        The graph, its node and edge counts, and the number of intersections (nodes where
        three or more streets meet, osmnx's ``street_count``).
    """
    import osmnx as ox

    g = ox.graph_from_xml(path, simplify=True, retain_all=False)
    g = ox.routing.add_edge_speeds(g)
    g = ox.routing.add_edge_travel_times(g)
    streets = ox.stats.count_streets_per_node(g)
    intersections = sum(1 for c in streets.values() if c >= 3)
    return graph_from_osmnx(g), g.number_of_nodes(), g.number_of_edges(), intersections


def strongly_connected_components(graph: RoadGraph) -> int:
    """Return the number of strongly connected components."""
    n, _ = connected_components(graph.csr(np.ones(len(graph.src))), directed=True, connection="strong")
    return int(n)


class Snapper:
    """Nearest graph node to WGS84 points (KD-tree in local metres)."""

    def __init__(self, graph: RoadGraph, proj: LocalProjection) -> None:
        self._proj = proj
        x, y = proj.to_xy(graph.lon, graph.lat)
        self._tree = cKDTree(np.column_stack([x, y]))

    def nodes(self, lon: Sequence[float] | FloatArray, lat: Sequence[float] | FloatArray) -> tuple[np.ndarray, FloatArray]:
        """Return the nearest node index of each point and its distance (m)."""
        x, y = self._proj.to_xy(lon, lat)
        d, i = self._tree.query(np.column_stack([np.atleast_1d(x), np.atleast_1d(y)]))
        return np.asarray(i, dtype=int), np.asarray(d)


@dataclass(frozen=True, slots=True)
class Trip:
    """A measured trip: emergency-profile fastest path, its length and time."""

    origin: str
    destination: str
    distance_m: float
    travel_time_s: float
    straight_m: float


def fastest_paths(
    graph: RoadGraph, weight: FloatArray, sources: np.ndarray
) -> tuple[FloatArray, np.ndarray]:
    """Return Dijkstra times (sources x nodes) and predecessors."""
    dist, pred = dijkstra(graph.csr(weight), directed=True, indices=sources, return_predecessors=True)
    return np.atleast_2d(dist), np.atleast_2d(pred)


class PathLengths:
    """Lengths along predecessor trees, with the cheapest edge per node pair precomputed."""

    def __init__(self, graph: RoadGraph, weight: FloatArray) -> None:
        order = np.lexsort((weight, graph.dst, graph.src))
        s, d, l_ = graph.src[order], graph.dst[order], graph.length_m[order]
        first = np.ones(len(s), dtype=bool)
        first[1:] = (s[1:] != s[:-1]) | (d[1:] != d[:-1])
        n = len(graph.lon)
        self._m = csr_matrix((l_[first], (s[first], d[first])), shape=(n, n))

    def length_m(self, pred_row: np.ndarray, target: int) -> float:
        """Return the length (m) of the path the predecessors trace back from target."""
        total = 0.0
        node = int(target)
        while pred_row[node] >= 0:
            p = int(pred_row[node])
            total += float(self._m[p, node])
            node = p
        return total


def trip(
    graph: RoadGraph, weight: FloatArray, lengths: PathLengths, snap: Snapper,
    origin: tuple[str, float, float], destination: tuple[str, float, float],
) -> Trip:  # fmt: skip
    """Measure the emergency-profile fastest trip between two named WGS84 points."""
    (o_name, o_lon, o_lat), (d_name, d_lon, d_lat) = origin, destination
    nodes, _ = snap.nodes([o_lon, d_lon], [o_lat, d_lat])
    dist, pred = fastest_paths(graph, weight, nodes[:1])
    t = float(dist[0, nodes[1]])
    if not np.isfinite(t):
        raise BuildError(f"trip {o_name} -> {d_name}: destination unreachable")
    length = lengths.length_m(pred[0], int(nodes[1]))
    straight = float(haversine_m(o_lon, o_lat, d_lon, d_lat))
    return Trip(o_name, d_name, length, t, straight)
