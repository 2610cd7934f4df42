"""The router: snapping, ETAs to an incident, routes, site tables and isochrones.

Every search is one ``scipy.sparse.csgraph.dijkstra`` call from a *virtual node* (an extra last
row of the CSR matrix) whose two out-edges are the partial edges from a snapped point to the ends
of its edge (or into them, on the transposed graph). That makes a search from or to a point in the
middle of a road exact, in one call, with no copy of the graph: the two slots are overwritten in
place under a lock before each search.
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
from routing.geometry import LocalProjection, cut_polyline
from routing.network import RoadNetwork
from routing.profiles import Profile, SpeedProfile
from routing.snap import Snap, SnapIndex, SnapResult

DEFAULT_MAX_SNAP_DISTANCE_M = 2000.0
DEFAULT_MAX_ETA_S = 5400.0

Point = tuple[float, float] | Snap


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
    """Weights and the forward and transposed CSR matrices (virtual node last) for one factor."""

    weights: np.ndarray
    forward: csr_matrix
    reverse: csr_matrix


@dataclass(frozen=True)
class _Seeds:
    """The virtual node's out-edges: node, time and length of each partial edge."""

    nodes: np.ndarray
    time_s: np.ndarray
    length_m: np.ndarray


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
        ``max_snap_distance_m``, ``max_eta_s``, ``emergency_speed_factor`` and
        ``time_of_day_factor``. Defaults (2000 m, 5400 s, factors 1.0) when None.
    boundary
        Points outside this WGS84 polygon are refused by :meth:`snap`.
    urban_area
        Edges whose midpoint is inside this WGS84 polygon get the time-of-day factor; every edge
        does when None (see :mod:`routing.profiles`).

    Raises
    ------
    ProfileError
        Unknown profile or invalid factors in ``config``.
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
        self.projection = LocalProjection(*network.center)
        self.index = SnapIndex(network, self.projection)
        self._tail = network.edge_tail
        self._head = network.indices
        self._twin = network.twin
        self._has_twin = network.has_twin
        self._keys = self._tail.astype(np.int64) * network.n_nodes + network.indices
        self._base_weights = self.speed.edge_weights(network.travel_time_s, network.road_class, self.profile)
        self._urban = self._urban_mask(urban_area)
        self._reverse_order = np.lexsort((self._tail, self._head))
        self._graphs: dict[float, _Graph] = {}
        self._lock = threading.Lock()
        self._boundary = None
        self._boundary_m = None
        if boundary is not None:
            self._boundary = boundary
            shapely.prepare(boundary)
            self._boundary_m = shapely.transform(boundary, lambda xy: np.column_stack(self.projection.forward(xy[:, 0], xy[:, 1])))
        self._graph(1.0)

    # ------------------------------------------------------------------ snapping

    def snap(self, lon: float, lat: float) -> Snap:
        """Place ``(lon, lat)`` on the nearest position of the nearest road.

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
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise RoutingError(f"point must be finite (lon, lat), got ({lon}, {lat})")
        if self._boundary is not None and not shapely.contains_xy(self._boundary, lon, lat):
            self._snap_arrays(np.array([lon]), np.array([lat]), "point")  # raises with the distance
        edge, fraction, x, y, d = self.index.query_one(lon, lat)
        if d > self.max_snap_distance_m:
            self._snap_arrays(np.array([lon]), np.array([lat]), "point")  # raises with the distance
        w = float(self._base_weights[edge])
        twin = int(self._twin[edge])
        proj = self.projection
        return Snap(
            lon=x / proj.kx + proj.lon0,
            lat=y / proj.ky + proj.lat0,
            distance_m=d,
            edge=edge,
            u=int(self._tail[edge]),
            v=int(self._head[edge]),
            fraction=fraction,
            time_from_u_s=fraction * w,
            time_to_v_s=(1.0 - fraction) * w,
            twin=twin if twin != edge else None,
            input_lon=lon,
            input_lat=lat,
        )

    def snap_many(self, points: Sequence[tuple[float, float]]) -> list[Snap]:
        """Snap many ``(lon, lat)`` points at once (vectorised); see :meth:`snap`."""
        lon, lat = self._coords(points, "points")
        result = self._snap_arrays(lon, lat, "points")
        snap_lon, snap_lat = self.projection.inverse(result.x, result.y)
        edges, fractions = result.edge, result.fraction
        w = self._base_weights[edges]
        return [
            Snap(
                lon=float(snap_lon[i]),
                lat=float(snap_lat[i]),
                distance_m=float(result.distance_m[i]),
                edge=int(edges[i]),
                u=int(self._tail[edges[i]]),
                v=int(self._head[edges[i]]),
                fraction=float(fractions[i]),
                time_from_u_s=float(fractions[i] * w[i]),
                time_to_v_s=float((1.0 - fractions[i]) * w[i]),
                twin=int(self._twin[edges[i]]) if self._has_twin[edges[i]] else None,
                input_lon=float(lon[i]),
                input_lat=float(lat[i]),
            )
            for i in range(lon.size)
        ]

    def _coords(self, points: Sequence[Any], name: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            arr = np.asarray(points, dtype=float).reshape(-1, 2)
        except (TypeError, ValueError) as e:
            raise RoutingError(f"{name} must be (lon, lat) pairs, got {points!r:.80}") from e
        bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
        if bad.size:
            raise RoutingError(f"{name}[{bad[0]}] must be finite (lon, lat), got {tuple(arr[bad[0]])}")
        return arr[:, 0], arr[:, 1]

    def _snap_arrays(self, lon: np.ndarray, lat: np.ndarray, name: str) -> SnapResult:
        """Snap arrays of points and enforce the boundary and the distance limit."""
        if self._boundary is not None:
            outside = np.flatnonzero(~shapely.contains_xy(self._boundary, lon, lat))
            if outside.size:
                i = outside[0]
                x, y = self.projection.forward(lon[i], lat[i])
                d = float(shapely.distance(self._boundary_m, shapely.Point(x, y)))
                where = f"{name}[{i}] " if lon.size > 1 else ""
                raise SnapError(
                    f"{where}({lon[i]:.6f}, {lat[i]:.6f}) is outside the county boundary by {d:.0f} m",
                    lon=float(lon[i]), lat=float(lat[i]), distance_m=d,
                )
        result = self.index.query(lon, lat)
        far = np.flatnonzero(result.distance_m > self.max_snap_distance_m)
        if far.size:
            i = far[0]
            d = float(result.distance_m[i])
            where = f"{name}[{i}] " if lon.size > 1 else ""
            raise SnapError(
                f"{where}({lon[i]:.6f}, {lat[i]:.6f}) is {d:.0f} m from the nearest road; at most "
                f"{self.max_snap_distance_m:.0f} m expected (routing.max_snap_distance_m)",
                lon=float(lon[i]), lat=float(lat[i]), distance_m=d,
            )
        return result

    def _snaps(self, points: Sequence[Point], name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(edge, fraction)`` arrays for points given as tuples or :class:`Snap`."""
        n = len(points)
        edge = np.empty(n, dtype=np.int64)
        fraction = np.empty(n)
        raw = [i for i, p in enumerate(points) if not isinstance(p, Snap)]
        for i, p in enumerate(points):
            if isinstance(p, Snap):
                edge[i], fraction[i] = p.edge, p.fraction
        if raw:
            lon, lat = self._coords([points[i] for i in raw], name)
            result = self._snap_arrays(lon, lat, name)
            edge[raw], fraction[raw] = result.edge, result.fraction
        return edge, fraction

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
            graph = _Graph(w, forward, reverse)
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
        """Partial edges between a point on ``edge`` and the ends it can reach (or be reached from)."""
        length = self.network.length_m
        # Forward: point -> head along the edge, point -> tail against it.
        # Reverse: tail -> point along the edge, head -> point against it.
        along, back = (fraction, 1.0 - fraction) if reverse else (1.0 - fraction, fraction)
        end_edge, end_back = (self._tail[edge], self._head[edge]) if reverse else (self._head[edge], self._tail[edge])
        back_time, back_length = self._back(edge, back, w)
        if not np.isfinite(back_time):
            return _Seeds(np.array([end_edge]), np.array([along * w[edge]]), np.array([along * length[edge]]))
        return _Seeds(
            np.array([end_edge, end_back]),
            np.array([along * w[edge], float(back_time)]),
            np.array([along * length[edge], float(back_length)]),
        )

    def _search(self, graph: _Graph, seeds: _Seeds, *, reverse: bool, limit: float) -> tuple[np.ndarray, np.ndarray]:
        """Run one Dijkstra from the virtual node; return times and predecessors over real nodes."""
        n = self.network.n_nodes
        matrix = graph.reverse if reverse else graph.forward
        if seeds.nodes.size <= 2:
            nodes = np.resize(seeds.nodes, 2)
            times = np.resize(seeds.time_s, 2)
            with self._lock:
                matrix.indices[-2:] = nodes
                matrix.data[-2:] = times
                dist, pred = dijkstra(matrix, indices=n, limit=limit, return_predecessors=True)
        else:
            k = seeds.nodes.size
            indptr = matrix.indptr.copy()
            indptr[-1] = indptr[-2] + k
            matrix = csr_matrix(
                (np.concatenate([matrix.data[:-2], seeds.time_s]),
                 np.concatenate([matrix.indices[:-2], seeds.nodes]).astype(np.int32), indptr),
                shape=(n + 1, n + 1),
            )
            dist, pred = dijkstra(matrix, indices=n, limit=limit, return_predecessors=True)
        return dist[:n], pred[:n]

    def _tree_length(self, starts: np.ndarray, pred: np.ndarray, seeds: _Seeds, *, reverse: bool) -> np.ndarray:
        """Length (m) along the search tree from each start node to the virtual node.

        All paths are walked at once, one cheap step per tree level, collecting the nodes; the
        edges and their lengths are then looked up in one vectorised pass.
        """
        n = self.network.n_nodes
        if starts.size == 0:
            return np.zeros(0)
        parent = np.append(pred, n).astype(np.int64)  # the virtual node is its own parent
        parent[parent < 0] = n
        cur = starts.astype(np.int64)
        levels = [cur]
        while True:
            for _ in range(4):
                cur = parent[cur]
                levels.append(cur)
            if (cur == n).all():
                break
        path = np.stack(levels)
        child, par = path[:-1], path[1:]
        real = par != n
        c, p = child[real], par[real]
        # Reverse tree: the parent p of c is the next node towards the target (edge c -> p).
        edge = np.searchsorted(self._keys, c * n + p) if reverse else np.searchsorted(self._keys, p * n + c)
        step = np.zeros(child.shape)
        step[real] = self.network.length_m[edge]
        # The last real node of each path is a seed: add its partial edge to the snapped point.
        last = (~real) & (child != n)
        seed_len = np.zeros(n + 1)
        seed_len[seeds.nodes] = seeds.length_m
        step[last] = seed_len[child[last]]
        return step.sum(axis=0)

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
        target's own edge, behind it in a direction of travel, gets the direct time.

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
        w, length = graph.weights, self.network.length_m
        try:  # one vectorised snap for all; on error, again one by one for a precise message
            edges, fractions = self._snaps([target, *sources], "points")
        except SnapError:
            self._one(target, "target")
            self._snaps(sources, "sources")
            raise
        t_edge, t_frac = int(edges[0]), float(fractions[0])
        s_edge, s_frac = edges[1:], fractions[1:]
        seeds = self._seeds(t_edge, t_frac, w, reverse=True)
        dist, pred = self._search(graph, seeds, reverse=True, limit=limit)

        t_twin, t_has = self._twin[t_edge], self._has_twin[t_edge]
        inf = np.inf
        options = np.full((4, s_edge.size), inf)
        options[0] = (1.0 - s_frac) * w[s_edge] + dist[self._head[s_edge]]
        back_time, back_length = self._back(s_edge, s_frac, w)
        options[1] = back_time + dist[self._tail[s_edge]]
        same = s_edge == t_edge
        options[2] = np.where(same & (s_frac <= t_frac), (t_frac - s_frac) * w[t_edge], inf)
        options[3] = np.where(same & t_has & (s_frac >= t_frac), (s_frac - t_frac) * w[t_twin], inf)
        choice = np.argmin(options, axis=0)
        cols = np.arange(s_edge.size)
        eta = options[choice, cols]
        reached = eta <= limit

        partial = np.select(
            [choice == 0, choice == 1, choice == 2],
            [(1.0 - s_frac) * length[s_edge], back_length, (t_frac - s_frac) * length[t_edge]],
            (s_frac - t_frac) * length[t_twin],
        )
        via_net = reached & (choice <= 1)
        starts = np.where(choice == 0, self._head[s_edge], self._tail[s_edge])[via_net]
        distance = partial.copy()
        distance[via_net] += self._tree_length(starts, pred, seeds, reverse=True)
        return [Eta(float(eta[i]), float(distance[i])) if reached[i] else None for i in range(s_edge.size)]

    def route(self, a: Point, b: Point, *, hour: int | None = None) -> Route:
        """Return the fastest route from ``a`` to ``b``.

        Raises
        ------
        SnapError
            A point cannot be snapped.
        NoRouteError
            ``b`` cannot be reached from ``a``.
        """
        graph = self._graph(self.speed.hour_factor(hour))
        w, length = graph.weights, self.network.length_m
        a_edge, a_frac = self._one(a, "a")
        b_edge, b_frac = self._one(b, "b")
        seeds = self._seeds(a_edge, a_frac, w, reverse=False)
        dist, pred = self._search(graph, seeds, reverse=False, limit=np.inf)
        a_twin, b_twin = int(self._twin[a_edge]), int(self._twin[b_edge])
        inf = np.inf
        same = a_edge == b_edge
        options = [
            dist[self._tail[b_edge]] + b_frac * w[b_edge],
            dist[self._head[b_edge]] + float(self._back(b_edge, 1.0 - b_frac, w)[0]),
            (b_frac - a_frac) * w[a_edge] if same and b_frac >= a_frac else inf,
            (a_frac - b_frac) * w[a_twin] if same and self._has_twin[a_edge] and b_frac <= a_frac else inf,
        ]
        choice = int(np.argmin(options))
        time_s = float(options[choice])
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
            while pred[nodes[-1]] != net.n_nodes:
                nodes.append(int(pred[nodes[-1]]))
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
            edges = net.edge_index(np.array(nodes[:-1]), np.array(nodes[1:])) if len(nodes) > 1 else []
            for e in edges:
                pieces.append(net.edge_coords(int(e)))
                dist_m += length[e]
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


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _describe(point: Point) -> str:
    if isinstance(point, Snap):
        return f"({point.input_lon:.6f}, {point.input_lat:.6f})"
    return f"({float(point[0]):.6f}, {float(point[1]):.6f})"
