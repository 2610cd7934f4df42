"""The router: snapping, ETAs to an incident, routes, site tables and isochrones.

Every search is one ``scipy.sparse.csgraph.dijkstra`` call from a *virtual node* (an extra last
row of the CSR matrix) whose two out-edges are the partial edges from a snapped point to the ends
of its edge (or into them, on the transposed graph). That makes a search from or to a point in the
middle of a road exact, in one call, with no copy of the graph: the two slots are overwritten in
place under a lock before each search.

What surrounds the search is kept small, since on a county the bounded search itself takes well
under a millisecond: snaps are kept in a cache keyed by the exact input point (stations and
hospitals never move), a few points are handled in plain Python floats rather than numpy (whose
per-call cost exceeds the arithmetic), distances along the search tree are walked only from the
sources, and a route's search is bounded by a multiple of a lower bound of its time and widened
only when the answer is not proven within it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.errors import NoRouteError, RoutingError, SnapError
from routing.geometry import LocalProjection, PolygonMask, cut_polyline
from routing.network import RoadNetwork
from routing.profiles import Profile, SpeedProfile
from routing.snap import Placed, Snap, SnapCache, SnapIndex, SnapResult

DEFAULT_MAX_SNAP_DISTANCE_M = 2000.0
DEFAULT_MAX_ETA_S = 5400.0
# Snaps kept per router (see :class:`routing.snap.SnapCache`): every station, hospital and unit
# of a county many times over, in about 1 MB.
DEFAULT_SNAP_CACHE_SIZE = 4096

Point = tuple[float, float] | Snap

# A route search is first bounded by this multiple of the straight-line time at the network's top
# speed, plus the slack (s); widened by 4x when the target is not reached, unbounded at the last
# widening. On the embedded county the fastest route takes 1.3-2.6x the straight-line time
# (median 1.6x, 95th percentile 2.2x over random pairs; measured with bench/routing.py's points).
_ROUTE_BOUND_FACTOR = 2.2
_ROUTE_BOUND_SLACK_S = 60.0
_ROUTE_WIDENINGS = 2

# Up to this many points not in the snap cache are snapped one by one rather than vectorised.
_ONE_BY_ONE = 16


@dataclass(frozen=True, slots=True)
class Eta:
    """Travel time and distance from one source to the target."""

    eta_s: float
    distance_m: float


@dataclass(frozen=True)
class Route:
    """A route between two points.

    Attributes
    ----------
    distance_m, travel_time_s
        Along the fastest path, partial edges at both ends included.
    line
        The path drawn in WGS84 ``(lon, lat)``, from the origin's snap to the destination's.
    node_path
        Indices of the network nodes passed, in order (empty when both points share an edge).
    profile
        The profile the route was computed under.
    """

    distance_m: float
    travel_time_s: float
    line: shapely.LineString
    node_path: tuple[int, ...]
    profile: Profile = Profile.EMERGENCY

    def geojson(self) -> dict[str, Any]:
        """Return the route as a GeoJSON Feature with its figures as properties."""
        return {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(self.line),
            "properties": {
                "distance_m": round(self.distance_m, 1),
                "travel_time_s": round(self.travel_time_s, 1),
                "profile": self.profile.value,
            },
        }


@dataclass(frozen=True)
class _Graph:
    """Weights and the forward and transposed CSR matrices (virtual node last) for one factor.

    ``edge_rows`` holds, per edge, what a source on it needs, so that one gather serves every
    source of a query: time, twin's time, length, twin's length, head, tail, has a twin (1.0/0.0).
    ``top_speed_mps`` is the fastest an edge is driven (length / time).
    """

    weights: np.ndarray
    forward: csr_matrix
    reverse: csr_matrix
    edge_rows: np.ndarray
    top_speed_mps: float


@dataclass(frozen=True)
class _Seeds:
    """The virtual node's out-edges: node, time and length of each partial edge."""

    nodes: Sequence[int]
    time_s: Sequence[float]
    length_m: Sequence[float]


class Router:
    """Answer travel-time questions on a :class:`RoadNetwork`.

    Parameters
    ----------
    network
        The compiled road network.
    profile
        "emergency" (lights and sirens) or "normal".
    config
        The config dict (``ems.config.load_config()``): ``[routing]`` gives
        ``max_snap_distance_m``, ``max_eta_s``, ``snap_cache_size``, ``emergency_speed_factor``
        and ``time_of_day_factor``. Defaults (2000 m, 5400 s, 4096 snaps, factors 1.0) when None.
    boundary
        Points outside this WGS84 polygon are refused by :meth:`snap`.
    urban_area
        Edges whose midpoint is inside this WGS84 polygon get the time-of-day factor; every edge
        does when None (see :mod:`routing.profiles`).

    Attributes
    ----------
    snap_cache
        The :class:`~routing.snap.SnapCache` of recent snaps, by exact input ``(lon, lat)``
        (``routing.snap_cache_size`` entries; 0 keeps none).

    Raises
    ------
    ProfileError
        Unknown profile or invalid factors in ``config``.
    RoutingError
        ``routing.snap_cache_size`` is not an integer >= 0.
    """

    def __init__(
        self,
        network: RoadNetwork,
        *,
        profile: str | Profile = Profile.EMERGENCY,
        config: Mapping[str, Any] | None = None,
        boundary: Any = None,
        urban_area: Any = None,
    ) -> None:
        self.network = network
        self.profile = Profile.parse(profile)
        self.speed = SpeedProfile.from_config(config)
        routing = (config or {}).get("routing", {}) or {}
        self.max_snap_distance_m = float(routing.get("max_snap_distance_m", DEFAULT_MAX_SNAP_DISTANCE_M))
        self.max_eta_s = float(routing.get("max_eta_s", DEFAULT_MAX_ETA_S))
        cache_size = routing.get("snap_cache_size", DEFAULT_SNAP_CACHE_SIZE)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise RoutingError(f"routing.snap_cache_size must be an integer >= 0, got {cache_size!r}")
        self.snap_cache = SnapCache(cache_size)
        self.projection = LocalProjection(*network.center)
        self.index = SnapIndex(network, self.projection)
        self._tail = network.edge_tail
        self._head = network.indices
        self._twin = network.twin
        self._has_twin = network.has_twin
        self._keys = self._tail.astype(np.int64) * network.n_nodes + network.indices
        self._length = network.length_m
        self._indptr_mv, self._heads_mv = memoryview(network.indptr), memoryview(network.indices)
        self._length_mv = memoryview(network.length_m)
        self._base_weights = self.speed.edge_weights(network.travel_time_s, network.road_class, self.profile)
        self._snap_rows = np.column_stack([self._base_weights, self._tail, self._head, self._twin])
        self._urban = self._urban_mask(urban_area)
        self._reverse_order = np.lexsort((self._tail, self._head))
        self._graphs: dict[float, _Graph] = {}
        self._lock = threading.Lock()
        self._boundary_m = None
        self._inside: PolygonMask | None = None  # the boundary, answered from a raster
        if boundary is not None:
            self._inside = PolygonMask(boundary)
            self._boundary_m = shapely.transform(
                boundary, lambda xy: np.column_stack(self.projection.forward(xy[:, 0], xy[:, 1])))
        self._graph(1.0)

    # ------------------------------------------------------------------ snapping

    def snap(self, lon: float, lat: float) -> Snap:
        """Place ``(lon, lat)`` on the nearest position of the nearest road.

        Snaps are kept in :attr:`snap_cache`, keyed by the exact ``(lon, lat)``: a fixed site
        (station, hospital) asked again costs a dictionary look-up.

        Raises
        ------
        SnapError
            The point is outside the boundary, or farther than ``max_snap_distance_m`` from any
            road; the message gives the distance.
        """
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError) as e:
            raise RoutingError(f"point must be (lon, lat) numbers, got ({lon!r}, {lat!r})") from e
        key = (lon, lat)
        placed = self.snap_cache.get(key)
        if isinstance(placed, Snap):
            return placed
        if placed is not None:  # placed by a batch: keep the Snap built now instead
            snap = self._make_snaps([placed], [key])[0]
            self.snap_cache.put(key, snap)
            return snap
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise RoutingError(f"point must be finite (lon, lat), got ({lon}, {lat})")
        if self._inside is not None and not self._inside.contains(lon, lat):
            self._snap_arrays(np.array([lon]), np.array([lat]), "point")  # raises with the distance
        placed = self.index.query_one(lon, lat)
        if placed[4] > self.max_snap_distance_m:
            self._snap_arrays(np.array([lon]), np.array([lat]), "point")  # raises with the distance
        snap = self._make_snaps([placed], [key])[0]
        self.snap_cache.put(key, snap)
        return snap

    def snap_many(self, points: Sequence[tuple[float, float]]) -> list[Snap]:
        """Snap many ``(lon, lat)`` points at once (vectorised); see :meth:`snap`."""
        placed = self._place(points, "points")  # a Snap where one was kept
        fresh = [i for i, p in enumerate(placed) if not isinstance(p, Snap)]
        snaps = self._make_snaps([placed[i] for i in fresh],  # type: ignore[misc]
                                 [(float(points[i][0]), float(points[i][1])) for i in fresh])
        out = list(placed)
        for i, snap in zip(fresh, snaps):
            out[i] = snap
        return out  # type: ignore[return-value]

    def _place(self, points: Sequence[Point], name: str) -> list[Placed | Snap]:
        """Place points given as ``(lon, lat)`` or :class:`Snap` (returned as they are).

        Placements kept in the cache first, the rest at once. Errors name ``name[i]``, ``i`` the
        point's place in ``points``.
        """
        snaps: list[Placed | Snap | None] = [None] * len(points)
        keys: list[tuple[float, float] | None] = [None] * len(points)
        for i, p in enumerate(points):
            if isinstance(p, Snap):
                snaps[i] = p
                continue
            try:
                keys[i] = (float(p[0]), float(p[1])) if len(p) == 2 else None
            except (TypeError, ValueError, IndexError, KeyError):
                pass  # not a pair of numbers: _coords says so
        known = self.snap_cache.get_many([k for k in keys if k is not None])
        missing = []
        it = iter(known)
        for i, key in enumerate(keys):
            if key is not None:
                snaps[i] = next(it)
            if snaps[i] is None:
                missing.append(i)
        if not missing:
            return snaps  # type: ignore[return-value]
        found = None
        if len(missing) <= _ONE_BY_ONE:
            found = self._query_few([keys[i] for i in missing])
        if found is None:  # many points, or a point refused: its error raised here
            at = np.array(missing)
            pairs = [keys[i] for i in missing]
            if all(k is not None and math.isfinite(k[0]) and math.isfinite(k[1]) for k in pairs):
                lon, lat = np.array(pairs).T
            else:
                lon, lat = self._coords([points[i] for i in missing], name, positions=at)  # raises
            result = self._snap_arrays(lon, lat, name, positions=at, of=len(points))
            found = list(zip(result.edge.tolist(), result.fraction.tolist(), result.x.tolist(), result.y.tolist(),
                             result.distance_m.tolist()))
        # A bulk job (a planner's thousands of demand points) is not kept: it would push the
        # stations and units of live dispatch out of the cache.
        keep = len(missing) <= self.snap_cache.maxsize // 4
        put = self.snap_cache.put
        for i, placed in zip(missing, found):
            snaps[i] = placed
            if keep:
                put(keys[i], placed)  # type: ignore[arg-type]
        return snaps  # type: ignore[return-value]

    def _query_few(self, keys: list[tuple[float, float] | None]) -> list[Placed] | None:
        """Snap a few points one by one, no numpy (its per-call cost outweighs the work).

        Returns None when a point is refused (not a finite pair, outside the boundary, too far):
        the vectorised path then raises the error that names it.
        """
        found = []
        for key in keys:
            if key is None or not (math.isfinite(key[0]) and math.isfinite(key[1])):
                return None
            if self._inside is not None and not self._inside.contains(*key):
                return None
            one = self.index.query_one(*key)
            if one[4] > self.max_snap_distance_m:
                return None
            found.append(one)
        return found

    def _make_snaps(self, found: list[Placed], keys: list[tuple[float, float]]) -> list[Snap]:
        """Build :class:`Snap` objects from placements and the input points."""
        proj = self.projection
        kx, ky, lon0, lat0 = proj.kx, proj.ky, proj.lon0, proj.lat0
        rows = self._snap_rows.take([f[0] for f in found], axis=0).tolist()
        return [
            Snap(
                lon=x / kx + lon0,
                lat=y / ky + lat0,
                distance_m=d,
                edge=int(edge),
                u=int(tail),
                v=int(head),
                fraction=fraction,
                time_from_u_s=fraction * w,
                time_to_v_s=(1.0 - fraction) * w,
                twin=int(twin) if twin != edge else None,
                input_lon=key[0],
                input_lat=key[1],
            )
            for (edge, fraction, x, y, d), (w, tail, head, twin), key in zip(found, rows, keys)
        ]

    def _coords(
        self, points: Sequence[Any], name: str, *, positions: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        try:
            arr = np.asarray(points, dtype=float).reshape(-1, 2)
            if arr.shape[0] != len(points):
                raise ValueError("not pairs")
        except (TypeError, ValueError) as e:
            raise RoutingError(f"{name} must be (lon, lat) pairs, got {points!r:.80}") from e
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if bad.size:
            at = bad[0] if positions is None else positions[bad[0]]
            raise RoutingError(f"{name}[{at}] must be finite (lon, lat), got {tuple(arr[bad[0]].tolist())}")
        return arr[:, 0], arr[:, 1]

    def _snap_arrays(
        self, lon: np.ndarray, lat: np.ndarray, name: str, *, positions: np.ndarray | None = None,
        of: int | None = None,
    ) -> SnapResult:
        """Snap arrays of points and enforce the boundary and the distance limit.

        ``positions`` are the points' places in a list of ``of`` points, for error messages.
        """
        count = lon.size if of is None else of

        def where(i: int) -> str:
            return f"{name}[{i if positions is None else int(positions[i])}] " if count > 1 else ""

        if self._inside is not None:
            if lon.size <= 64:  # a point at a time: no numpy call per step
                inside = self._inside.contains
                outside = np.array([i for i, p in enumerate(zip(lon.tolist(), lat.tolist())) if not inside(*p)])
            else:
                outside = np.flatnonzero(~self._inside.contains_many(lon, lat))
            if outside.size:
                i = outside[0]
                x, y = self.projection.forward(lon[i], lat[i])
                d = float(shapely.distance(self._boundary_m, shapely.Point(x, y)))
                raise SnapError(
                    f"{where(i)}({lon[i]:.6f}, {lat[i]:.6f}) is outside the county boundary by {d:.0f} m",
                    lon=float(lon[i]), lat=float(lat[i]), distance_m=d,
                )
        result = self.index.query(lon, lat)
        far = np.flatnonzero(result.distance_m > self.max_snap_distance_m)
        if far.size:
            i = far[0]
            d = float(result.distance_m[i])
            raise SnapError(
                f"{where(i)}({lon[i]:.6f}, {lat[i]:.6f}) is {d:.0f} m from the nearest road; at most "
                f"{self.max_snap_distance_m:.0f} m expected (routing.max_snap_distance_m)",
                lon=float(lon[i]), lat=float(lat[i]), distance_m=d,
            )
        return result

    def _snaps(self, points: Sequence[Point], name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(edge, fraction)`` arrays for points given as tuples or :class:`Snap`."""
        places = [_edge_fraction(p) for p in self._place(points, name)]
        return (np.array([p[0] for p in places], dtype=np.int64), np.array([p[1] for p in places], dtype=float))

    def _snap_one(self, point: Point, name: str) -> Snap:
        if isinstance(point, Snap):
            return point
        try:
            lon, lat = point
        except (TypeError, ValueError) as e:
            raise RoutingError(f"{name} must be (lon, lat) or a Snap, got {point!r:.80}") from e
        return self.snap(lon, lat)

    def _route_bound(self, graph: _Graph, a: Snap, b: Snap) -> float:
        """Return the first bound of a route search: a multiple of a lower bound of its time."""
        proj = self.projection
        crow_m = math.hypot((b.lon - a.lon) * proj.kx, (b.lat - a.lat) * proj.ky)
        lower_s = crow_m / graph.top_speed_mps if graph.top_speed_mps > 0 else 0.0
        return _ROUTE_BOUND_FACTOR * lower_s + _ROUTE_BOUND_SLACK_S

    def _one(self, point: Point, name: str) -> tuple[int, float]:
        if isinstance(point, Snap):
            return point.edge, point.fraction
        try:
            lon, lat = point
        except (TypeError, ValueError) as e:
            raise RoutingError(f"{name} must be (lon, lat) or a Snap, got {point!r:.80}") from e
        snap = self.snap(lon, lat)
        return snap.edge, snap.fraction

    # ------------------------------------------------------------------ graphs and searches

    def _urban_mask(self, urban_area: Any) -> np.ndarray:
        if urban_area is None:
            return np.ones(self.network.n_edges, dtype=bool)
        mid_lon = (self.network.node_lon[self._tail] + self.network.node_lon[self._head]) / 2.0
        mid_lat = (self.network.node_lat[self._tail] + self.network.node_lat[self._head]) / 2.0
        return shapely.contains_xy(urban_area, mid_lon, mid_lat)

    def weights(self, hour: int | None = None) -> np.ndarray:
        """Return the per-edge travel time (s) under this profile at ``hour``."""
        return self._graph(self.speed.hour_factor(hour)).weights

    def _graph(self, factor: float) -> _Graph:
        graph = self._graphs.get(factor)
        if graph is None:
            w = self._base_weights * np.where(self._urban, factor, 1.0)
            net = self.network
            n = net.n_nodes
            ptr = np.append(net.indptr, net.indptr[-1] + 2)
            rev_ptr = np.zeros(n + 2, dtype=np.int64)
            np.cumsum(np.bincount(self._head, minlength=n), out=rev_ptr[1:-1])
            rev_ptr[-1] = rev_ptr[-2] + 2
            order = self._reverse_order
            pad_i, pad_w = np.zeros(2, dtype=np.int32), np.zeros(2)
            forward = csr_matrix(
                (np.concatenate([w, pad_w]), np.concatenate([self._head, pad_i]).astype(np.int32),
                 ptr.astype(np.int32)), shape=(n + 1, n + 1))
            reverse = csr_matrix(
                (np.concatenate([w[order], pad_w]), np.concatenate([self._tail[order], pad_i]).astype(np.int32),
                 rev_ptr.astype(np.int32)), shape=(n + 1, n + 1))
            twin, length = self._twin, self._length
            rows = np.column_stack([w, w[twin], length, length[twin], self._head, self._tail, self._has_twin])
            with np.errstate(divide="ignore", invalid="ignore"):
                speed = np.where(w > 0, length / w, np.where(length > 0, np.inf, 0.0))
            graph = _Graph(w, forward, reverse, rows, float(speed.max()))
            self._graphs[factor] = graph
        return graph

    def _back(self, edge: Any, part: Any, w: np.ndarray) -> tuple[Any, Any]:
        """Time and length of the stretch of a point's road against the edge's direction.

        ``part`` is the share of the edge to cover (``fraction`` towards the tail, ``1 - fraction``
        from the head). On a two-way road it is driven along the twin edge; on a one-way road only
        a point exactly at the node (``part == 0``) gets there, for nothing.
        """
        has, twin = self._has_twin[edge], self._twin[edge]
        time = np.where(has, part * w[twin], np.where(part == 0, 0.0, np.inf))
        length = np.where(has, part * self.network.length_m[twin], 0.0)
        return time, length

    def _seeds(self, edge: int, fraction: float, w: np.ndarray, *, reverse: bool) -> _Seeds:
        """Partial edges between a point on ``edge`` and the ends it can reach (or be reached from).

        Scalar arithmetic in Python floats: the arrays are one or two long.
        """
        length = self._length
        # Forward: point -> head along the edge, point -> tail against it.
        # Reverse: tail -> point along the edge, head -> point against it.
        along, back = (fraction, 1.0 - fraction) if reverse else (1.0 - fraction, fraction)
        head, tail = int(self._head[edge]), int(self._tail[edge])
        end_edge, end_back = (tail, head) if reverse else (head, tail)
        along_time, along_length = along * float(w[edge]), along * float(length[edge])
        if self._has_twin[edge]:
            twin = int(self._twin[edge])
            back_time, back_length = back * float(w[twin]), back * float(length[twin])
        elif back == 0:  # a point at the node itself: no need to drive against a one-way edge
            back_time, back_length = 0.0, 0.0
        else:
            return _Seeds((end_edge,), (along_time,), (along_length,))
        return _Seeds((end_edge, end_back), (along_time, back_time), (along_length, back_length))

    def _search(
        self, graph: _Graph, seeds: _Seeds, *, reverse: bool, limit: float, full: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run one Dijkstra from the virtual node; return times and predecessors.

        Over the real nodes, or with ``full`` over all ``n + 1`` (the virtual node last).
        """
        n = self.network.n_nodes
        matrix = graph.reverse if reverse else graph.forward
        if len(seeds.nodes) <= 2:
            first, last = int(seeds.nodes[0]), int(seeds.nodes[-1])
            first_s, last_s = float(seeds.time_s[0]), float(seeds.time_s[-1])
            with self._lock:
                indices, data = matrix.indices, matrix.data
                indices[-2], indices[-1] = first, last
                data[-2], data[-1] = first_s, last_s
                dist, pred = dijkstra(matrix, indices=n, limit=limit, return_predecessors=True)
        else:
            k = len(seeds.nodes)
            indptr = matrix.indptr.copy()
            indptr[-1] = indptr[-2] + k
            matrix = csr_matrix(
                (np.concatenate([matrix.data[:-2], seeds.time_s]),
                 np.concatenate([matrix.indices[:-2], np.asarray(seeds.nodes, dtype=np.int32)]), indptr),
                shape=(n + 1, n + 1),
            )
            dist, pred = dijkstra(matrix, indices=n, limit=limit, return_predecessors=True)
        if full:
            return dist, pred
        return dist[:n], pred[:n]

    def _tree_length(self, starts: Sequence[int], pred: np.ndarray, seeds: _Seeds, *, reverse: bool) -> list[float]:
        """Length (m) along the search tree from each start node to the virtual node.

        ``pred`` is a full predecessor array (the virtual node last). Each path is walked up to a
        node already measured (paths to one target soon merge), so the work is the number of
        distinct nodes on the paths: in plain Python, since per node it is a few operations and
        numpy's per-call cost (a call per tree level) would outweigh them.
        """
        n = self.network.n_nodes
        parent = memoryview(pred)
        indptr, heads, length = self._indptr_mv, self._heads_mv, self._length_mv
        # Where every path ends: a seed reached straight from the virtual node (a seed reached
        # more cheaply through the network is an ordinary node of the tree).
        known = {node: length_m for node, length_m in zip(seeds.nodes, seeds.length_m) if parent[node] == n}
        out = []
        for start in starts:
            path = []
            x = start
            while x not in known:
                p = parent[x]
                path.append((x, p))
                x = p
            total = known[x]
            for c, p in reversed(path):
                # Reverse tree: p is the next node towards the target (edge c -> p).
                u, v = (c, p) if reverse else (p, c)
                j = indptr[u]
                while heads[j] != v:
                    j += 1
                total += length[j]
                known[c] = total
            out.append(known[start])
        return out

    def _limit(self, max_eta_s: float | None) -> float:
        limit = self.max_eta_s if max_eta_s is None else float(max_eta_s)
        if not limit > 0:
            raise RoutingError(f"max_eta_s must be > 0, got {max_eta_s!r}")
        return limit

    # ------------------------------------------------------------------ queries

    def eta_to(
        self,
        target: Point,
        sources: Sequence[Point],
        *,
        max_eta_s: float | None = None,
        hour: int | None = None,
    ) -> list[Eta | None]:
        """Return the travel time and distance from every source to ``target``.

        One reverse Dijkstra from the target's snap, bounded by ``max_eta_s``. A source on the
        target's own edge, behind it in a direction of travel, gets the direct time. Points given
        as ``(lon, lat)`` are snapped through :attr:`snap_cache` (station positions asked on
        every call are snapped once); distances are summed along the search tree from the
        sources reached only.

        Parameters
        ----------
        target
            ``(lon, lat)`` or a :class:`Snap` (the incident).
        sources
            ``(lon, lat)`` or :class:`Snap` each (unit positions).
        max_eta_s
            Sources farther than this are None; the config's ``max_eta_s`` when None.
        hour
            Local hour 0-23 for the time-of-day factor; none applied when None.

        Returns
        -------
        list of Eta or None
            One per source, None where the target cannot be reached within ``max_eta_s``.

        Raises
        ------
        SnapError
            The target or a source cannot be snapped.
        """
        limit = self._limit(max_eta_s)
        if len(sources) == 0:
            return []
        graph = self._graph(self.speed.hour_factor(hour))
        w, length = graph.weights, self._length
        try:  # one snap for all (through the cache); on error, again apart for a precise message
            places = [_edge_fraction(p) for p in self._place([target, *sources], "points")]
        except SnapError:
            self._one(target, "target")
            self._snaps(sources, "sources")
            raise
        t_edge, t_frac = places[0]
        seeds = self._seeds(t_edge, t_frac, w, reverse=True)
        dist, pred = self._search(graph, seeds, reverse=True, limit=limit, full=True)

        # Per source, in Python floats (a few dozen sources: cheaper than numpy's per-call cost).
        inf = math.inf
        t_w, t_len = float(w[t_edge]), float(length[t_edge])
        t_has, t_twin = bool(self._has_twin[t_edge]), int(self._twin[t_edge])
        t_w_twin, t_len_twin = (float(w[t_twin]), float(length[t_twin])) if t_has else (inf, 0.0)
        rows = graph.edge_rows.take([p[0] for p in places[1:]], axis=0).tolist()
        ends = dist.take([int(r[k]) for r in rows for k in (4, 5)]).tolist()
        etas: list[float | None] = []
        partials: list[float] = []
        via_net: list[bool] = []
        starts: list[int] = []  # per source reached through the network, its first node
        for k, ((s_edge, f), (w_e, w_twin, len_e, len_twin, head, tail, has)) in enumerate(zip(places[1:], rows)):
            # The options, in this order (the first least wins): on along the edge to its head;
            # back to its tail (against a one-way edge only from the node itself); straight on
            # along the target's own edge; back along the target's two-way edge.
            eta, partial, start = (1.0 - f) * w_e + ends[2 * k], (1.0 - f) * len_e, int(head)
            back_time = f * w_twin if has else (0.0 if f == 0 else inf)
            if back_time + ends[2 * k + 1] < eta:
                eta, partial, start = back_time + ends[2 * k + 1], f * len_twin if has else 0.0, int(tail)
            if s_edge == t_edge:
                if f <= t_frac and (t_frac - f) * t_w < eta:
                    eta, partial, start = (t_frac - f) * t_w, (t_frac - f) * t_len, -1
                if t_has and f >= t_frac and (f - t_frac) * t_w_twin < eta:
                    eta, partial, start = (f - t_frac) * t_w_twin, (f - t_frac) * t_len_twin, -1
            reached = eta <= limit
            etas.append(eta if reached else None)
            partials.append(partial)
            via_net.append(reached and start >= 0)
            if via_net[-1]:
                starts.append(start)
        tree = iter(self._tree_length(starts, pred, seeds, reverse=True))
        return [
            None if eta is None else Eta(eta, partial + next(tree) if net else partial)
            for eta, partial, net in zip(etas, partials, via_net)
        ]

    def route(self, a: Point, b: Point, *, hour: int | None = None) -> Route:
        """Return the fastest route from ``a`` to ``b``.

        The search stops early: it is bounded by a multiple of the straight-line time at the
        network's top speed (a lower bound of the answer) and widened when the answer is not
        proven within the bound; the answer is the same as an unbounded search's.

        Raises
        ------
        SnapError
            A point cannot be snapped.
        NoRouteError
            ``b`` cannot be reached from ``a``.
        """
        graph = self._graph(self.speed.hour_factor(hour))
        w, length = graph.weights, self._length
        a_snap, b_snap = self._snap_one(a, "a"), self._snap_one(b, "b")
        a_edge, a_frac = a_snap.edge, a_snap.fraction
        b_edge, b_frac = b_snap.edge, b_snap.fraction
        seeds = self._seeds(a_edge, a_frac, w, reverse=False)
        a_twin, b_twin = int(self._twin[a_edge]), int(self._twin[b_edge])
        inf = math.inf
        same = a_edge == b_edge
        direct = [
            (b_frac - a_frac) * w[a_edge] if same and b_frac >= a_frac else inf,
            (a_frac - b_frac) * w[a_twin] if same and self._has_twin[a_edge] and b_frac <= a_frac else inf,
        ]
        # From the head of b's edge back to b: along the twin, or nothing when b is at the head.
        b_back = (1.0 - b_frac) * float(w[b_twin]) if self._has_twin[b_edge] else (0.0 if b_frac == 1.0 else inf)
        limit = self._route_bound(graph, a_snap, b_snap)
        for attempt in range(_ROUTE_WIDENINGS + 1):
            dist, pred = self._search(graph, seeds, reverse=False, limit=limit, full=True)
            options = [
                dist[self._tail[b_edge]] + b_frac * w[b_edge],
                dist[self._head[b_edge]] + b_back,
                *direct,
            ]
            choice = int(np.argmin(options))
            time_s = float(options[choice])
            # Exact once within the bound: any path through a node beyond it takes longer.
            if time_s <= limit or limit == inf:
                break
            # A path found just past the bound proves a bound; otherwise widen, at last fully.
            limit = time_s if time_s < inf else (limit * 4.0 if attempt + 1 < _ROUTE_WIDENINGS else inf)
        if not np.isfinite(time_s):
            raise NoRouteError(f"route: no path from {_describe(a)} to {_describe(b)} (one-way roads or a disconnected part)")
        net = self.network
        if choice == 2:
            coords, nodes, dist_m = net.edge_coords(a_edge), [], (b_frac - a_frac) * length[a_edge]
            pieces = [cut_polyline(coords, self.projection, a_frac, b_frac)]
        elif choice == 3:
            coords, nodes, dist_m = net.edge_coords(a_twin), [], (a_frac - b_frac) * length[a_twin]
            pieces = [cut_polyline(coords, self.projection, 1.0 - a_frac, 1.0 - b_frac)]
        else:
            end = int(self._tail[b_edge] if choice == 0 else self._head[b_edge])
            nodes = [end]
            parent = memoryview(pred)
            while parent[nodes[-1]] != net.n_nodes:
                nodes.append(parent[nodes[-1]])
            nodes.reverse()
            first = nodes[0]
            if first == self._head[a_edge]:
                pieces = [cut_polyline(net.edge_coords(a_edge), self.projection, a_frac, 1.0)]
                dist_m = (1.0 - a_frac) * length[a_edge]
            elif self._has_twin[a_edge]:
                pieces = [cut_polyline(net.edge_coords(a_twin), self.projection, 1.0 - a_frac, 1.0)]
                dist_m = a_frac * length[a_twin]
            else:  # at the tail node of a one-way edge
                pieces, dist_m = [net.edge_coords(a_edge)[:1]], 0.0
            if len(nodes) > 1:
                path = np.array(nodes)
                edges = np.searchsorted(self._keys, path[:-1] * net.n_nodes + path[1:])
                # Every edge's drawing at once: the rows of each edge's range, concatenated.
                first = net.geom_offsets[edges]
                count = net.geom_offsets[edges + 1] - first
                rows = np.arange(int(count.sum())) + np.repeat(first - (np.cumsum(count) - count), count)
                pieces.append(net.geom_coords[rows])
                dist_m += math.fsum(length[edges].tolist())
            if choice == 0:
                pieces.append(cut_polyline(net.edge_coords(b_edge), self.projection, 0.0, b_frac))
                dist_m += b_frac * length[b_edge]
            elif self._has_twin[b_edge]:
                pieces.append(cut_polyline(net.edge_coords(b_twin), self.projection, 0.0, 1.0 - b_frac))
                dist_m += (1.0 - b_frac) * length[b_twin]
            else:  # at the head node of a one-way edge
                pieces.append(net.edge_coords(b_edge)[-1:])
        line = np.concatenate(pieces)
        keep = np.ones(len(line), dtype=bool)
        keep[1:] = np.any(np.diff(line, axis=0) != 0, axis=1)
        line = line[keep]
        if len(line) < 2:
            line = np.vstack([line[:1], line[:1]])
        return Route(float(dist_m), time_s, shapely.LineString(line), tuple(nodes), self.profile)

    def travel_times_from(
        self, origin: Point, *, hour: int | None = None, max_eta_s: float | None = None
    ) -> np.ndarray:
        """Return the travel time (s) from ``origin`` to every node (inf where unreachable or beyond ``max_eta_s``)."""
        graph = self._graph(self.speed.hour_factor(hour))
        edge, fraction = self._one(origin, "origin")
        limit = np.inf if max_eta_s is None else self._limit(max_eta_s)
        return self._search(graph, self._seeds(edge, fraction, graph.weights, reverse=False), reverse=False, limit=limit)[0]

    def travel_times_to(
        self, target: Point, *, hour: int | None = None, max_eta_s: float | None = None
    ) -> np.ndarray:
        """Return the travel time (s) from every node to ``target`` (inf where unreachable or beyond ``max_eta_s``)."""
        graph = self._graph(self.speed.hour_factor(hour))
        edge, fraction = self._one(target, "target")
        limit = np.inf if max_eta_s is None else self._limit(max_eta_s)
        return self._search(graph, self._seeds(edge, fraction, graph.weights, reverse=True), reverse=True, limit=limit)[0]

    def site_table(self, sites: Sequence[Point], *, hour: int | None = None) -> SiteTable:
        """Precompute travel times between fixed sites (stations, hospitals) and every node.

        Two searches per site (from it and to it), unbounded.
        """
        graph = self._graph(self.speed.hour_factor(hour))
        edge, fraction = self._snaps(sites, "sites")
        n = self.network.n_nodes
        times_from = np.empty((edge.size, n))
        times_to = np.empty((edge.size, n))
        for i in range(edge.size):
            for reverse, out in ((False, times_from), (True, times_to)):
                seeds = self._seeds(int(edge[i]), float(fraction[i]), graph.weights, reverse=reverse)
                out[i] = self._search(graph, seeds, reverse=reverse, limit=np.inf)[0]
        return SiteTable(self, graph.weights, edge, fraction, times_from, times_to)

    def isochrones(
        self,
        origins: Sequence[Point],
        minutes: Sequence[float],
        *,
        hour: int | None = None,
        buffer_m: float = 250.0,
    ) -> dict[float, Any]:
        """Return, per threshold, the area reachable from the nearest origin within that many minutes.

        The area is the road network reached (partial edges cut where time runs out) buffered by
        ``buffer_m``, as a WGS84 shapely (Multi)Polygon; an empty polygon when nothing is reached.
        """
        from routing.isochrones import reachable_area

        minutes = [float(m) for m in minutes]
        if not minutes or min(minutes) <= 0:
            raise RoutingError(f"minutes must be a non-empty list of numbers > 0, got {minutes!r}")
        if len(origins) == 0:
            raise RoutingError("origins must hold at least one point, got none")
        graph = self._graph(self.speed.hour_factor(hour))
        edge, fraction = self._snaps(origins, "origins")
        parts = [self._seeds(int(e), float(f), graph.weights, reverse=False) for e, f in zip(edge, fraction)]
        seeds = _Seeds(*(np.concatenate([getattr(s, k) for s in parts]) for k in ("nodes", "time_s", "length_m")))
        dist, _ = self._search(graph, seeds, reverse=False, limit=max(minutes) * 60.0)
        return {m: reachable_area(self, dist, graph.weights, edge, fraction, m * 60.0, buffer_m) for m in minutes}


@dataclass(frozen=True, eq=False)
class SiteTable:
    """Travel times between fixed sites and every node, for the simulator.

    Attributes
    ----------
    times_s
        ``(n_sites, n_nodes)``: from site ``i`` to each node (inf where unreachable).
    times_to_s
        ``(n_sites, n_nodes)``: from each node to site ``i`` (inf where unreachable).
    """

    router: Router = field(repr=False)
    weights: np.ndarray = field(repr=False)
    site_edge: np.ndarray
    site_fraction: np.ndarray
    times_s: np.ndarray = field(repr=False)
    times_to_s: np.ndarray = field(repr=False)

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.site_edge.size)

    def to_point_all(self, point: Point) -> np.ndarray:
        """Return the travel time from every site to ``point`` (inf where unreachable)."""
        r, w = self.router, self.weights
        e, f = r._one(point, "point")
        t = r._twin[e]
        best = np.minimum(self.times_s[:, r._tail[e]] + f * w[e],
                          self.times_s[:, r._head[e]] + r._back(e, 1.0 - f, w)[0])
        same = self.site_edge == e
        g = self.site_fraction
        best = np.where(same & (g <= f), np.minimum(best, (f - g) * w[e]), best)
        if r._has_twin[e]:
            best = np.where(same & (g >= f), np.minimum(best, (g - f) * w[t]), best)
        return best

    def from_point_all(self, point: Point) -> np.ndarray:
        """Return the travel time from ``point`` to every site (inf where unreachable)."""
        r, w = self.router, self.weights
        e, f = r._one(point, "point")
        t = r._twin[e]
        best = np.minimum((1.0 - f) * w[e] + self.times_to_s[:, r._head[e]],
                          r._back(e, f, w)[0] + self.times_to_s[:, r._tail[e]])
        same = self.site_edge == e
        g = self.site_fraction
        best = np.where(same & (f <= g), np.minimum(best, (g - f) * w[e]), best)
        if r._has_twin[e]:
            best = np.where(same & (f >= g), np.minimum(best, (f - g) * w[t]), best)
        return best

    def to_point(self, site_index: int, point: Point) -> float | None:
        """Return the travel time from site ``site_index`` to ``point``, None if unreachable."""
        return _finite(self.to_point_all(point)[self._site(site_index)])

    def from_point(self, point: Point, site_index: int) -> float | None:
        """Return the travel time from ``point`` to site ``site_index``, None if unreachable."""
        return _finite(self.from_point_all(point)[self._site(site_index)])

    def time_s(self, site_index: int, point: Point) -> float | None:
        """Return the travel time from site ``site_index`` to ``point``, None if unreachable."""
        return self.to_point(site_index, point)

    def _site(self, site_index: int) -> int:
        if not 0 <= site_index < self.n_sites:
            raise RoutingError(f"site_index must be 0-{self.n_sites - 1}, got {site_index!r}")
        return site_index


def _edge_fraction(place: Placed | Snap) -> tuple[int, float]:
    if isinstance(place, Snap):
        return place.edge, place.fraction
    return place[0], place[1]


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _describe(point: Point) -> str:
    if isinstance(point, Snap):
        return f"({point.input_lon:.6f}, {point.input_lat:.6f})"
    return f"({float(point[0]):.6f}, {float(point[1]):.6f})"
