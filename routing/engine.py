"""The router: snapping, ETAs to an incident, routes, site tables and isochrones.

:class:`Router` answers the questions; what it is built from lives beside it:
:mod:`routing.snapper` (points checked, snapped through a cache, within the boundary and the snap
distance), :mod:`routing.search` (the compiled CSR graphs per time-of-day factor and the one-call
Dijkstra from a point on a road), :mod:`routing.site_table` (site tables for the simulator) and
:mod:`routing.model` (:class:`Eta`, :class:`Route`). Their names are importable from here too.

What surrounds the search is kept small, since on a county the bounded search itself takes well
under a millisecond: snaps are kept in a cache keyed by the exact input point (stations and
hospitals never move), a few points are handled in plain Python floats rather than numpy (whose
per-call cost exceeds the arithmetic), distances along the search tree are walked only from the
sources, and a route's search is bounded by a multiple of a lower bound of its time and widened
only when the answer is not proven within it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely

from routing.errors import NoRouteError, RoutingError, SnapError
from routing.geometry import LocalProjection, cut_polyline
from routing.model import Eta, Point, Route, describe
from routing.network import RoadNetwork
from routing.profiles import Profile, SpeedProfile
from routing.search import SearchGraph, SearchGraphs, Seeds
from routing.site_table import SiteTable
from routing.snap import Snap, SnapCache, SnapIndex
from routing.snapper import Snapper, edge_fraction

__all__ = [
    "DEFAULT_MAX_ETA_S",
    "DEFAULT_MAX_SNAP_DISTANCE_M",
    "DEFAULT_SNAP_CACHE_SIZE",
    "Eta",
    "Point",
    "Route",
    "Router",
    "SiteTable",
    "Snap",
]

DEFAULT_MAX_SNAP_DISTANCE_M = 2000.0
DEFAULT_MAX_ETA_S = 5400.0
# Snaps kept per router (see :class:`routing.snap.SnapCache`): every station, hospital and unit
# of a county many times over, in about 1 MB.
DEFAULT_SNAP_CACHE_SIZE = 4096

# A route search is first bounded by this multiple of the straight-line time at the network's top
# speed, plus the slack (s); widened by 4x when the target is not reached, unbounded at the last
# widening. On the embedded county the fastest route takes 1.3-2.6x the straight-line time
# (median 1.6x, 95th percentile 2.2x over random pairs; measured with bench/routing.py's points).
_ROUTE_BOUND_FACTOR = 2.2
_ROUTE_BOUND_SLACK_S = 60.0
_ROUTE_WIDENINGS = 2


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
    index
        The network's :class:`~routing.snap.SnapIndex`.
    max_snap_distance_m, max_eta_s
        The limits read from ``config``.

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
        max_snap_distance_m = float(routing.get("max_snap_distance_m", DEFAULT_MAX_SNAP_DISTANCE_M))
        self.max_eta_s = float(routing.get("max_eta_s", DEFAULT_MAX_ETA_S))
        cache_size = routing.get("snap_cache_size", DEFAULT_SNAP_CACHE_SIZE)
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 0:
            raise RoutingError(f"routing.snap_cache_size must be an integer >= 0, got {cache_size!r}")
        self.projection = LocalProjection(*network.center)
        base_weights = self.speed.edge_weights(network.travel_time_s, network.road_class, self.profile)
        self._graphs = graphs = SearchGraphs(network, base_weights, urban_area)
        # The edge arrays the queries read (routing.isochrones and the site tables too).
        self._tail, self._head, self._twin = graphs.tail, graphs.head, graphs.twin
        self._has_twin, self._length = graphs.has_twin, graphs.length_m
        self._keys = self._tail.astype(np.int64) * network.n_nodes + network.indices
        self._snapper = Snapper(
            SnapIndex(network, self.projection),
            SnapCache(cache_size),
            np.column_stack([base_weights, graphs.tail, graphs.head, graphs.twin]),
            max_snap_distance_m=max_snap_distance_m,
            boundary=boundary,
        )
        graphs.graph(1.0)

    @property
    def snap_cache(self) -> SnapCache:
        """The cache of recent snaps, by exact input ``(lon, lat)``."""
        return self._snapper.cache

    @property
    def index(self) -> SnapIndex:
        """The network's snap index."""
        return self._snapper.index

    @property
    def max_snap_distance_m(self) -> float:
        """Points farther than this from any road are refused (m)."""
        return self._snapper.max_snap_distance_m

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
        return self._snapper.snap(lon, lat)

    def snap_many(self, points: Sequence[tuple[float, float]]) -> list[Snap]:
        """Snap many ``(lon, lat)`` points at once (vectorised); see :meth:`snap`."""
        return self._snapper.snap_many(points)

    # ------------------------------------------------------------------ bounds and weights

    def weights(self, hour: int | None = None) -> np.ndarray:
        """Return the per-edge travel time (s) under this profile at ``hour``."""
        return self._graphs.graph(self.speed.hour_factor(hour)).weights

    def _route_bound(self, graph: SearchGraph, a: Snap, b: Snap) -> float:
        """Return the first bound of a route search: a multiple of a lower bound of its time."""
        proj = self.projection
        crow_m = math.hypot((b.lon - a.lon) * proj.kx, (b.lat - a.lat) * proj.ky)
        lower_s = crow_m / graph.top_speed_mps if graph.top_speed_mps > 0 else 0.0
        return _ROUTE_BOUND_FACTOR * lower_s + _ROUTE_BOUND_SLACK_S

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
        graph = self._graphs.graph(self.speed.hour_factor(hour))
        w, length = graph.weights, self._length
        try:  # one snap for all (through the cache); on error, again apart for a precise message
            places = [edge_fraction(p) for p in self._snapper.place([target, *sources], "points")]
        except SnapError:
            self._snapper.one(target, "target")
            self._snapper.snaps(sources, "sources")
            raise
        t_edge, t_frac = places[0]
        seeds = self._graphs.seeds(t_edge, t_frac, w, reverse=True)
        dist, pred = self._graphs.search(graph, seeds, reverse=True, limit=limit, full=True)

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
        tree = iter(self._graphs.tree_length(starts, pred, seeds, reverse=True))
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
        graph = self._graphs.graph(self.speed.hour_factor(hour))
        w, length = graph.weights, self._length
        a_snap, b_snap = self._snapper.snap_one(a, "a"), self._snapper.snap_one(b, "b")
        a_edge, a_frac = a_snap.edge, a_snap.fraction
        b_edge, b_frac = b_snap.edge, b_snap.fraction
        seeds = self._graphs.seeds(a_edge, a_frac, w, reverse=False)
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
            dist, pred = self._graphs.search(graph, seeds, reverse=False, limit=limit, full=True)
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
            raise NoRouteError(f"route: no path from {describe(a)} to {describe(b)} (one-way roads or a disconnected part)")
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
        graph = self._graphs.graph(self.speed.hour_factor(hour))
        edge, fraction = self._snapper.one(origin, "origin")
        limit = np.inf if max_eta_s is None else self._limit(max_eta_s)
        seeds = self._graphs.seeds(edge, fraction, graph.weights, reverse=False)
        return self._graphs.search(graph, seeds, reverse=False, limit=limit)[0]

    def travel_times_to(
        self, target: Point, *, hour: int | None = None, max_eta_s: float | None = None
    ) -> np.ndarray:
        """Return the travel time (s) from every node to ``target`` (inf where unreachable or beyond ``max_eta_s``)."""
        graph = self._graphs.graph(self.speed.hour_factor(hour))
        edge, fraction = self._snapper.one(target, "target")
        limit = np.inf if max_eta_s is None else self._limit(max_eta_s)
        seeds = self._graphs.seeds(edge, fraction, graph.weights, reverse=True)
        return self._graphs.search(graph, seeds, reverse=True, limit=limit)[0]

    def site_table(self, sites: Sequence[Point], *, hour: int | None = None) -> SiteTable:
        """Precompute travel times between fixed sites (stations, hospitals) and every node.

        Two searches per site (from it and to it), unbounded.
        """
        graph = self._graphs.graph(self.speed.hour_factor(hour))
        edge, fraction = self._snapper.snaps(sites, "sites")
        n = self.network.n_nodes
        times_from = np.empty((edge.size, n))
        times_to = np.empty((edge.size, n))
        for i in range(edge.size):
            for reverse, out in ((False, times_from), (True, times_to)):
                seeds = self._graphs.seeds(int(edge[i]), float(fraction[i]), graph.weights, reverse=reverse)
                out[i] = self._graphs.search(graph, seeds, reverse=reverse, limit=np.inf)[0]
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
        graph = self._graphs.graph(self.speed.hour_factor(hour))
        edge, fraction = self._snapper.snaps(origins, "origins")
        parts = [self._graphs.seeds(int(e), float(f), graph.weights, reverse=False) for e, f in zip(edge, fraction)]
        seeds = Seeds(*(np.concatenate([getattr(s, k) for s in parts]) for k in ("nodes", "time_s", "length_m")))
        dist, _ = self._graphs.search(graph, seeds, reverse=False, limit=max(minutes) * 60.0)
        return {m: reachable_area(self, dist, graph.weights, edge, fraction, m * 60.0, buffer_m) for m in minutes}
