"""Compile a road graph into arrays once, and cache them beside the road file.

A :class:`RoadNetwork` is what every query runs on: CSR adjacency (edges sorted by tail node, then
head node) with ``travel_time_s`` (normal driving), ``length_m`` and a ``road_class`` code per
edge, node coordinates, and each edge's drawing geometry as a flat coordinate array plus offsets.
Parallel edges keep the fastest; self-loops are dropped (they never shorten a path). A two-way
road is two directed edges that are each other's ``twin`` (same ends, swapped, same length).

:func:`load_network` keys the cache by a hash of the road file's content and
:data:`COMPILE_FORMAT_VERSION`, so editing the source (or this compiler) rebuilds it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from routing.errors import NetworkError
from routing.profiles import RoadClass

# Bump when the arrays or their meaning change: every cached network is rebuilt.
COMPILE_FORMAT_VERSION = 1
CACHE_DIR_NAME = ".ems-cache"

_ARRAYS = (
    "node_lon", "node_lat", "node_id", "indptr", "indices", "travel_time_s", "length_m",
    "road_class", "twin", "geom_offsets", "geom_coords",
)


class CountyLike(Protocol):
    """What :func:`load_network` needs of a county (``geodata.county.County`` provides it)."""

    path: Path
    roads_path: Path

    def load_graph(self) -> Any: ...


@dataclass(frozen=True, eq=False)
class RoadNetwork:
    """A road graph compiled to arrays.

    Attributes
    ----------
    node_lon, node_lat
        WGS84 coordinates of each node (float64, ``n_nodes``).
    node_id
        The graph's node id of each node (OSM ids: int64).
    indptr, indices
        CSR adjacency: the edges leaving node ``i`` are ``indptr[i]:indptr[i + 1]``, their heads
        ``indices[...]`` (sorted within a row).
    travel_time_s, length_m
        Per edge, normal driving time (s) and length (m).
    road_class
        Per edge, a :class:`~routing.profiles.RoadClass` code (uint8).
    twin
        Per edge, the index of the opposite edge of the same two-way road, or the edge itself
        when the road is one-way (see :attr:`has_twin`).
    geom_offsets, geom_coords
        Edge ``e`` is drawn by ``geom_coords[geom_offsets[e]:geom_offsets[e + 1]]`` (lon, lat
        rows, from tail to head).
    source_hash
        Hash of the source and compile format the network was built from ("" when in memory).
    """

    node_lon: np.ndarray
    node_lat: np.ndarray
    node_id: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    travel_time_s: np.ndarray
    length_m: np.ndarray
    road_class: np.ndarray
    twin: np.ndarray
    geom_offsets: np.ndarray
    geom_coords: np.ndarray
    source_hash: str = ""

    @property
    def n_nodes(self) -> int:
        """Number of nodes."""
        return int(self.node_lon.size)

    @property
    def n_edges(self) -> int:
        """Number of directed edges."""
        return int(self.indices.size)

    @property
    def edge_tail(self) -> np.ndarray:
        """Tail node of each edge (the ``u`` of ``u -> v``)."""
        return np.repeat(np.arange(self.n_nodes), np.diff(self.indptr))

    @property
    def has_twin(self) -> np.ndarray:
        """Whether each edge belongs to a two-way road."""
        return self.twin != np.arange(self.n_edges)

    @property
    def n_components(self) -> int:
        """Number of strongly connected components."""
        return int(connected_components(self.csr(self.travel_time_s), directed=True, connection="strong")[0])

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(min_lon, min_lat, max_lon, max_lat)`` of the nodes and geometries."""
        lon, lat = self.geom_coords[:, 0], self.geom_coords[:, 1]
        return (float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max()))

    @property
    def road_km(self) -> float:
        """Length of road in km, a two-way road counted once."""
        edges = np.arange(self.n_edges)
        once = ~self.has_twin | (edges < self.twin)
        return float(self.length_m[once].sum() / 1000.0)

    @property
    def center(self) -> tuple[float, float]:
        """``(lon, lat)`` centre of the bounding box."""
        x0, y0, x1, y1 = self.bbox
        return ((x0 + x1) / 2.0, (y0 + y1) / 2.0)

    def csr(self, weights: np.ndarray) -> csr_matrix:
        """Return the adjacency as a scipy CSR matrix with ``weights`` as data."""
        n = self.n_nodes
        return csr_matrix((weights, self.indices, self.indptr), shape=(n, n))

    def edge_coords(self, edge: int) -> np.ndarray:
        """Return the ``(k, 2)`` lon/lat coordinates drawing ``edge``, tail to head."""
        return self.geom_coords[self.geom_offsets[edge]:self.geom_offsets[edge + 1]]

    def to_npz(self, path: Path) -> None:
        """Write the arrays to ``path`` (uncompressed: loading is a few memory copies)."""
        np.savez(path, source_hash=np.array(self.source_hash), **{k: getattr(self, k) for k in _ARRAYS})

    @classmethod
    def from_npz(cls, path: Path) -> RoadNetwork:
        """Read a network written by :meth:`to_npz`."""
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in _ARRAYS}
            return cls(**arrays, source_hash=str(data["source_hash"]))


def compile_graph(G: Any, *, source_hash: str = "") -> RoadNetwork:
    """Compile an osmnx-style ``networkx.MultiDiGraph`` into a :class:`RoadNetwork`.

    Parameters
    ----------
    G
        Nodes with ``x`` (lon) and ``y`` (lat); edges with ``length`` (m), ``travel_time`` (s),
        ``highway`` (str or list) and optionally ``geometry`` (shapely LineString, lon/lat).
    source_hash
        Recorded on the result (the cache key of the file it came from).

    Raises
    ------
    NetworkError
        The graph has no edges, or a node or an edge lacks a required attribute.
    """
    nodes = list(G.nodes)
    if not nodes or G.number_of_edges() == 0:
        raise NetworkError(f"road graph: needs at least one edge, got {len(nodes)} nodes and no edges")
    position = {node: i for i, node in enumerate(nodes)}
    try:
        lon = np.array([G.nodes[n]["x"] for n in nodes], dtype=float)
        lat = np.array([G.nodes[n]["y"] for n in nodes], dtype=float)
    except KeyError as e:
        raise NetworkError(f"road graph node: missing attribute {e.args[0]!r} (x = lon, y = lat expected)") from e
    node_id = np.asarray(nodes)
    if node_id.dtype.kind not in "iu":
        node_id = np.arange(len(nodes), dtype=np.int64)

    tails, heads, times, lengths, classes, geoms = [], [], [], [], [], []
    for u, v, data in G.edges(data=True):
        if u == v:
            continue
        try:
            time_s, length = float(data["travel_time"]), float(data["length"])
        except KeyError as e:
            raise NetworkError(
                f"road graph edge {u} -> {v}: missing attribute {e.args[0]!r} (run osmnx.add_edge_travel_times)"
            ) from e
        if not (np.isfinite(time_s) and time_s >= 0 and np.isfinite(length) and length >= 0):
            raise NetworkError(f"road graph edge {u} -> {v}: travel_time {time_s} and length {length} must be >= 0")
        tails.append(position[u])
        heads.append(position[v])
        times.append(time_s)
        lengths.append(length)
        classes.append(RoadClass.from_highway(data.get("highway")))
        geoms.append(data.get("geometry"))
    if not tails:
        raise NetworkError("road graph: every edge is a self-loop")
    u_arr, v_arr = np.array(tails, dtype=np.int64), np.array(heads, dtype=np.int64)
    t_arr = np.array(times)
    # Sort by (u, v, travel time): the first of each (u, v) run is the fastest parallel edge.
    order = np.lexsort((t_arr, v_arr, u_arr))
    keys = u_arr[order] * len(nodes) + v_arr[order]
    first = np.ones(order.size, dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    keep = order[first]
    u_arr, v_arr = u_arr[keep], v_arr[keep]
    n_nodes, n_edges = len(nodes), keep.size
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(u_arr, minlength=n_nodes), out=indptr[1:])

    coords, counts = [], np.empty(n_edges, dtype=np.int64)
    for i, e in enumerate(keep):
        c = _edge_geometry(geoms[e], lon, lat, tails[e], heads[e])
        coords.append(c)
        counts[i] = len(c)
    geom_offsets = np.zeros(n_edges + 1, dtype=np.int64)
    np.cumsum(counts, out=geom_offsets[1:])
    length_m = np.array(lengths)[keep]
    return RoadNetwork(
        node_lon=lon,
        node_lat=lat,
        node_id=node_id,
        indptr=indptr,
        indices=v_arr,
        travel_time_s=t_arr[keep],
        length_m=length_m,
        road_class=np.array(classes, dtype=np.uint8)[keep],
        twin=_twins(u_arr, v_arr, length_m, n_nodes),
        geom_offsets=geom_offsets,
        geom_coords=np.concatenate(coords),
        source_hash=source_hash,
    )


def _edge_geometry(geometry: Any, lon: np.ndarray, lat: np.ndarray, u: int, v: int) -> np.ndarray:
    """Return an edge's coordinates, oriented from ``u`` to ``v``, ends pinned on the nodes."""
    if geometry is None:
        return np.array([[lon[u], lat[u]], [lon[v], lat[v]]])
    c = np.asarray(geometry.coords, dtype=float)[:, :2].copy()
    if len(c) < 2:
        return np.array([[lon[u], lat[u]], [lon[v], lat[v]]])
    to_u_first = np.hypot(c[0, 0] - lon[u], c[0, 1] - lat[u])
    to_u_last = np.hypot(c[-1, 0] - lon[u], c[-1, 1] - lat[u])
    if to_u_last < to_u_first:
        c = c[::-1].copy()
    c[0], c[-1] = (lon[u], lat[u]), (lon[v], lat[v])
    return c


def _twins(u: np.ndarray, v: np.ndarray, length_m: np.ndarray, n_nodes: int) -> np.ndarray:
    """Pair each edge with the reverse edge of the same road (same length), else itself."""
    keys = u * n_nodes + v
    rev = v * n_nodes + u
    pos = np.minimum(np.searchsorted(keys, rev), keys.size - 1)
    found = keys[pos] == rev
    same_road = np.abs(length_m[pos] - length_m) <= np.maximum(0.5, 1e-3 * length_m)
    edges = np.arange(keys.size)
    return np.where(found & same_road, pos, edges)


def file_hash(path: Path) -> str:
    """Return the hex SHA-256 of a file's content and the compile format version."""
    h = hashlib.sha256(f"ems-routing-network-v{COMPILE_FORMAT_VERSION}\n".encode())
    with Path(path).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _user_cache_dir(county_path: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    tag = hashlib.sha256(str(Path(county_path).resolve()).encode()).hexdigest()[:12]
    return base / "ems" / f"{Path(county_path).name}-{tag}"


def _writable_dir(path: Path) -> bool:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)


def cache_path(county: CountyLike, *, cache_dir: Path | None = None) -> Path:
    """Return where the compiled network of ``county`` is (or will be) cached."""
    digest = file_hash(county.roads_path)
    directory = Path(cache_dir) if cache_dir is not None else Path(county.path) / CACHE_DIR_NAME
    if not _writable_dir(directory):
        directory = _user_cache_dir(Path(county.path))
    return directory / f"network-{digest[:24]}.npz"


def load_network(county: CountyLike, *, progress: bool = False, cache_dir: Path | None = None) -> RoadNetwork:
    """Return the compiled road network of ``county``, from the cache when it is current.

    The cache lives in ``county.path / ".ems-cache"`` (a user cache directory when that is not
    writable), keyed by a hash of ``county.roads_path``'s content and the compile format.

    Parameters
    ----------
    county
        Anything with ``path``, ``roads_path`` and ``load_graph()`` (see ``geodata.county``).
    progress
        Print what is being done and how long it took (building takes tens of seconds).
    cache_dir
        Use this directory instead of ``county.path / ".ems-cache"``.

    Raises
    ------
    NetworkError
        The road file is missing or its graph cannot be compiled.
    """
    roads = Path(county.roads_path)
    if not roads.is_file():
        raise NetworkError(f"county roads file {roads}: not found")
    path = cache_path(county, cache_dir=cache_dir)
    if path.is_file():
        try:
            return RoadNetwork.from_npz(path)
        except (OSError, ValueError, KeyError) as e:
            if progress:
                print(f"routing: cache {path} unreadable ({e}); rebuilding")
    started = time.perf_counter()
    if progress:
        print(f"routing: compiling {roads} (first use, or the file changed) ...", flush=True)
    network = compile_graph(county.load_graph(), source_hash=path.stem.removeprefix("network-"))
    for stale in path.parent.glob("network-*.npz"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".network-", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            network.to_npz(f)  # type: ignore[arg-type]
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    if progress:
        print(
            f"routing: {network.n_nodes} nodes, {network.n_edges} edges, {network.road_km:.0f} km "
            f"compiled in {time.perf_counter() - started:.1f} s -> {path}"
        )
    return network

