"""Travel times for the simulator: array lookups between sites and demand points.

Everything spatial is computed once, before a run: demand points are snapped once, and the
routing engine's site tables give the time from every site (station, hospital) to every road
node and back; the time between a site and a demand point is then one element of a matrix.

A unit driving back to its base can be sent again from where it is. Its position at time ``t``
is the node reached on the fastest path to the base after ``t`` seconds of driving (the path
follows the shortest-path tree towards the base, read from the site table, so no search is run
during a simulation). Its time from there to a call is estimated as the best of:

- carry on: the time left to the base plus the base's time to the call;
- turn around: the time driven so far back to where it came from plus that place's time to the call;
- via a site: on to the next node of its path, from there to any site (exact, site tables),
  then from that site to the call.

All three are routes the unit could drive, so the estimate is never below the true fastest time;
it equals it whenever the fastest route passes a station or hospital, and is exact when the unit
is at the base or still at the hospital it left. ``bench/simulation.py`` measures its error against the router.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from simulation.errors import ScenarioError

if TYPE_CHECKING:
    from routing.engine import Router


@dataclass(frozen=True, slots=True)
class Site:
    """A fixed place units leave from or go to: a station or a hospital (WGS84)."""

    id: str
    kind: str  # "station" or "hospital"
    lon: float
    lat: float


@dataclass(frozen=True, eq=False)
class DemandPoints:
    """Where calls come from: settlements with their demand weights.

    Attributes
    ----------
    ids, names, townships
        Per point.
    lon, lat
        WGS84 coordinates.
    urban
        True where the 10-minute urban target applies (else the 30-minute rural one).
    weight
        Probability of each point being a call's location (sums to 1).
    """

    ids: tuple[str, ...]
    names: tuple[str, ...]
    townships: tuple[str, ...]
    lon: np.ndarray
    lat: np.ndarray
    urban: np.ndarray
    weight: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.ids)
        if n == 0:
            raise ScenarioError("demand points: at least one point is needed, got none")
        for name in ("names", "townships", "lon", "lat", "urban", "weight"):
            if len(getattr(self, name)) != n:
                raise ScenarioError(f"demand points: {name} has {len(getattr(self, name))} entries for {n} ids")
        w = np.asarray(self.weight, dtype=float)
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ScenarioError("demand points: weights must be finite, >= 0 and not all zero")
        object.__setattr__(self, "weight", w / w.sum())
        object.__setattr__(self, "urban", np.asarray(self.urban, dtype=bool))
        object.__setattr__(self, "lon", np.asarray(self.lon, dtype=float))
        object.__setattr__(self, "lat", np.asarray(self.lat, dtype=float))

    @property
    def n(self) -> int:
        """Number of points."""
        return len(self.ids)


@dataclass(eq=False)
class TravelModel:
    """Travel times (s) between sites and demand points, and units' positions on return trips.

    Build it with :func:`network_travel` (routing engine) or directly from matrices (tests, a
    hand-computable network). ``inf`` marks an unreachable pair.

    Attributes
    ----------
    sites
        Stations and hospitals, indexed as in the matrices.
    points
        The demand points.
    site_to_point_s, point_to_site_s, site_to_site_s
        ``(S, P)``, ``(P, S)``, ``(S, S)``.
    """

    sites: tuple[Site, ...]
    points: DemandPoints
    site_to_point_s: np.ndarray
    point_to_site_s: np.ndarray
    site_to_site_s: np.ndarray

    def __post_init__(self) -> None:
        s, p = len(self.sites), self.points.n
        for name, shape in (("site_to_point_s", (s, p)), ("point_to_site_s", (p, s)), ("site_to_site_s", (s, s))):
            arr = np.asarray(getattr(self, name), dtype=float)
            if arr.shape != shape:
                raise ScenarioError(f"travel model: {name} must have shape {shape}, got {arr.shape}")
            if np.any(np.isnan(arr)) or np.any(arr < 0):
                raise ScenarioError(f"travel model: {name} must hold times >= 0 (inf when unreachable)")
            setattr(self, name, arr)
        self._index = {site.id: i for i, site in enumerate(self.sites)}
        if len(self._index) != s:
            raise ScenarioError("travel model: site ids must be unique")
        self._point_to_point_cache: dict[tuple[int, int], float] = {}
        self._point_rows: list[list[float]] | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_point_rows"] = None
        state["_point_to_point_cache"] = {}
        return state

    def point_rows(self) -> list[list[float]]:
        """Return, per demand point, the list of times from every site to it (for fast lookups)."""
        if self._point_rows is None:
            self._point_rows = self.site_to_point_s.T.tolist()
            self._to_point_t = np.ascontiguousarray(self.site_to_point_s.T)
            self._p2s_rows = self.point_to_site_s.tolist()
            self._s2s_rows = self.site_to_site_s.tolist()
        return self._point_rows

    def site_index(self, site_id: str) -> int:
        """Return the index of the site called ``site_id``."""
        try:
            return self._index[site_id]
        except KeyError:
            raise ScenarioError(f"site {site_id!r}: not a site of this travel model") from None

    def point_to_point_s(self, a: int, b: int) -> float:
        """Return an upper bound of the time from point ``a`` to point ``b``: via the best site."""
        if a == b:
            return 0.0
        key = (a, b)
        t = self._point_to_point_cache.get(key)
        if t is None:
            if self._point_rows is None:
                self.point_rows()
            t = float((self.point_to_site_s[a] + self._to_point_t[b]).min())  # row b: contiguous
            self._point_to_point_cache[key] = t
        return t

    # ---------------------------------------------------------------- return trips

    def trip_time_s(self, origin_site: int | None, origin_point: int | None, base: int) -> float:
        """Return the time of a return trip to site ``base`` from a site or a demand point."""
        if self._point_rows is None:
            self.point_rows()
        if origin_site is not None:
            return self._s2s_rows[origin_site][base]
        assert origin_point is not None
        return self._p2s_rows[origin_point][base]

    def returning_to_point_s(
        self,
        origin_site: int | None,
        origin_point: int | None,
        base: int,
        elapsed_s: float,
        point: int,
        *,
        limit_s: float | None = None,
    ) -> float:
        """Estimate the time from a unit ``elapsed_s`` into its return trip to demand ``point``.

        The best of "carry on via the base" and "turn around via the origin" (see the module
        docstring); subclasses with a road network also try every site from the unit's node.

        Parameters
        ----------
        origin_site, origin_point
            Where the trip started (one of the two is None).
        base
            The site the unit drives back to.
        elapsed_s
            Time driven so far.
        point
            The demand point.
        limit_s
            When given, an estimate that is surely above it may be answered with ``inf`` (the
            caller needs no more than that it is too far): this saves the search via sites.
        """
        if self._point_rows is None:
            self.point_rows()
        if origin_site is not None:
            total = self._s2s_rows[origin_site][base]
        else:
            total = self._p2s_rows[origin_point][base]  # type: ignore[index]
        elapsed = min(max(elapsed_s, 0.0), total)
        row = self._point_rows[point]  # type: ignore[index]
        carry_on = (total - elapsed) + row[base]
        if origin_site is not None:
            back = elapsed + row[origin_site]
        else:
            back = elapsed + self.point_to_point_s(origin_point, point)  # type: ignore[arg-type]
        return back if back < carry_on else carry_on

    def returning_position(
        self, origin_site: int | None, origin_point: int | None, base: int, elapsed_s: float
    ) -> tuple[float, float]:
        """Return the ``(lon, lat)`` of a unit ``elapsed_s`` into its return trip.

        Without a road network: interpolated on the straight line from the origin to the base.
        """
        total = self.trip_time_s(origin_site, origin_point, base)
        f = 1.0 if total <= 0 or not np.isfinite(total) else min(max(elapsed_s / total, 0.0), 1.0)
        if origin_site is not None:
            lon0, lat0 = self.sites[origin_site].lon, self.sites[origin_site].lat
        else:
            lon0, lat0 = float(self.points.lon[origin_point]), float(self.points.lat[origin_point])
        b = self.sites[base]
        return (lon0 + f * (b.lon - lon0), lat0 + f * (b.lat - lat0))


@dataclass(eq=False)
class NetworkTravelModel(TravelModel):
    """A :class:`TravelModel` that also knows the road network, for positions on return trips.

    Attributes
    ----------
    node_lon, node_lat
        Road node coordinates.
    node_to_site_s
        ``(S, N)`` float32: the time from every node to each site (the site tables, reversed).
    next_hop
        ``(S, N)`` int32: the next node on the fastest path from each node to each site; the node
        itself where the site is reached directly from it (only rows of sites units return to
        are filled; others are None).
    point_node, site_node
        Per base site, the node a trip from each point or site to it starts from (the end of its
        edge on the fastest way).
    node_to_landmark_s, landmark_to_point_s
        ``(L, N)`` float32 and ``(L, P)``: times from every node to each landmark (demand points
        spread over the county) and from each landmark to every demand point. More places to
        pass through for a unit sent again on its way back: exact when the call is at a landmark.
    """

    node_lon: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    node_lat: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    node_to_site_s: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    next_hop: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    point_node: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    site_node: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    node_to_landmark_s: np.ndarray | None = field(default=None, repr=False)
    landmark_to_point_s: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._paths: dict[tuple[int, int], tuple[list[int], list[float]]] = {}
        self._node_major()

    def _node_major(self) -> None:
        # Node-major copies: one node's times to every site (landmark) are contiguous.
        self._node_rows = np.ascontiguousarray(np.asarray(self.node_to_site_s, dtype=np.float64).T)
        if self.node_to_landmark_s is not None and self.landmark_to_point_s is not None and len(self.node_to_landmark_s):
            both = np.concatenate([self.node_to_site_s, self.node_to_landmark_s]).astype(np.float64)
            self._node_rows = np.ascontiguousarray(both.T)
            self._via_to_point = np.ascontiguousarray(np.concatenate([self.site_to_point_s, self.landmark_to_point_s]).T)
        else:
            self._via_to_point = np.ascontiguousarray(self.site_to_point_s.T)
        # Floors of the way via a site or landmark: from a node to the nearest, from the nearest
        # to a point. Their sum bounds every way via from below, so most estimates need no search.
        self._node_floor = self._node_rows.min(axis=1).tolist() if self._node_rows.shape[1] else []
        self._point_floor = self._via_to_point.min(axis=1).tolist() if self._via_to_point.shape[1] else []
        # Per return trip ``(origin_site, origin_point, base)``: its time, path and times left.
        self._trips: dict[tuple[int | None, int | None, int], tuple[float, list[int], list[float]]] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_paths"] = {}
        for name in ("_node_rows", "_via_to_point", "_node_floor", "_point_floor", "_trips"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._node_major()

    def path(self, start_node: int, base: int) -> tuple[list[int], list[float]]:
        """Return the nodes of the fastest path from ``start_node`` to site ``base`` and minus the time left at each.

        The negated times increase along the path (for bisection).
        """
        key = (start_node, base)
        cached = self._paths.get(key)
        if cached is not None:
            return cached
        hop = self.next_hop.get(base)
        if hop is None:
            raise ScenarioError(f"site {self.sites[base].id!r}: no return paths were prepared for it")
        nodes = [start_node]
        u = start_node
        for _ in range(hop.size):
            v = int(hop[u])
            if v == u:
                break
            nodes.append(v)
            u = v
        neg_left = (-self.node_to_site_s[base, np.array(nodes)].astype(float)).tolist()
        self._paths[key] = (nodes, neg_left)
        return nodes, neg_left

    def _trip(
        self, origin_site: int | None, origin_point: int | None, base: int
    ) -> tuple[float, list[int], list[float]]:
        """Return the time of a return trip, the nodes of its path and minus the time left at each."""
        key = (origin_site, origin_point, base)
        trip = self._trips.get(key)
        if trip is None:
            if base not in self.site_node:
                raise ScenarioError(f"site {self.sites[base].id!r}: no return paths were prepared for it")
            start = self.site_node[base][origin_site] if origin_site is not None else self.point_node[base][origin_point]
            nodes, neg_left = self.path(int(start), base)
            trip = self._trips[key] = (self.trip_time_s(origin_site, origin_point, base), nodes, neg_left)
        return trip

    def _node_at(
        self, origin_site: int | None, origin_point: int | None, base: int, elapsed_s: float
    ) -> tuple[int, float] | None:
        """Return the next node the unit reaches on its way back and the time until it gets there.

        None once the unit is past the last node (on the final stretch to the base).
        """
        total, nodes, neg_left = self._trip(origin_site, origin_point, base)
        remaining = total - elapsed_s
        # The time left decreases along the path: the first node with no more than ``remaining`` left.
        i = bisect.bisect_left(neg_left, -remaining)
        if i >= len(nodes):
            return None
        return nodes[i], max(remaining + neg_left[i], 0.0)

    def returning_to_point_s(
        self,
        origin_site: int | None,
        origin_point: int | None,
        base: int,
        elapsed_s: float,
        point: int,
        *,
        limit_s: float | None = None,
    ) -> float:
        """Estimate as :meth:`TravelModel.returning_to_point_s`, also on to the next node, then via any site or landmark."""
        bound = super().returning_to_point_s(origin_site, origin_point, base, elapsed_s, point)
        ahead = self._node_at(origin_site, origin_point, base, elapsed_s)
        if ahead is None:
            return bound
        node, to_node_s = ahead
        # No way via a site or landmark is shorter than via the nearest of each (float rounding
        # is monotonic, so this holds for the computed sums too): skip the search when it cannot help.
        floor = to_node_s + (self._node_floor[node] + self._point_floor[point])
        if floor >= bound:
            return bound
        if limit_s is not None and floor > limit_s and bound > limit_s:
            return math.inf
        via = to_node_s + float((self._node_rows[node] + self._via_to_point[point]).min())
        return via if via < bound else bound

    def returning_position(
        self, origin_site: int | None, origin_point: int | None, base: int, elapsed_s: float
    ) -> tuple[float, float]:
        """Return the ``(lon, lat)`` of the next road node the unit reaches on its way back (the base past the last)."""
        ahead = self._node_at(origin_site, origin_point, base, elapsed_s)
        if ahead is None:
            site = self.sites[base]
            return (site.lon, site.lat)
        return (float(self.node_lon[ahead[0]]), float(self.node_lat[ahead[0]]))


def network_travel(
    router: Router,
    points: DemandPoints,
    sites: Sequence[Site],
    *,
    return_sites: Sequence[int] = (),
    landmarks: int = 150,
    hour: int | None = None,
) -> NetworkTravelModel:
    """Precompute every travel time a simulation needs, on the routing engine.

    Parameters
    ----------
    router
        The routing engine (its profile gives the times).
    points
        Demand points; each is snapped once.
    sites
        Stations and hospitals.
    return_sites
        Indices of the sites units return to (stations): their shortest-path trees are prepared
        for positions on return trips.
    landmarks
        How many demand points, spread over the county (farthest-point sampling from the
        busiest), also serve as places to pass through for units sent again on their way back.
    hour
        Local hour 0-23 whose time-of-day factor the times carry (``Router.site_table``); none
        applied when None. `simulation.travel_hours` builds one model per distinct factor.

    Raises
    ------
    SnapError
        A point or a site is too far from any road.
    ProfileError
        ``hour`` is not an integer 0-23.
    """
    site_xy = [(s.lon, s.lat) for s in sites]
    point_snaps = router.snap_many(list(zip(points.lon.tolist(), points.lat.tolist())))
    site_snaps = router.snap_many(site_xy)
    table = router.site_table(site_snaps, hour=hour)
    s, p = len(sites), points.n
    site_to_point = np.empty((s, p))
    point_to_site = np.empty((p, s))
    for j, snap in enumerate(point_snaps):
        site_to_point[:, j] = table.to_point_all(snap)
        point_to_site[j, :] = table.from_point_all(snap)
    site_to_site = np.empty((s, s))
    for j, snap in enumerate(site_snaps):
        site_to_site[:, j] = table.to_point_all(snap)
    np.fill_diagonal(site_to_site, 0.0)

    net = router.network
    weights = table.weights
    to_site = table.times_to_s
    tail, head = net.edge_tail, net.indices
    next_hop: dict[int, np.ndarray] = {}
    for b in sorted(set(int(i) for i in return_sites)):
        next_hop[b] = _next_hop(to_site[b], weights, tail, head, net.n_nodes)

    def start_nodes(snaps: Sequence[Any], base: int) -> np.ndarray:
        # Leave a snapped point by the end of its edge on the fastest way to the base; the
        # partial edges are timed on the table's weights (the snap's own are at factor 1.0).
        u = np.array([sn.u for sn in snaps])
        v = np.array([sn.v for sn in snaps])
        fraction = np.array([sn.fraction for sn in snaps])
        w_edge = weights[np.array([sn.edge for sn in snaps], dtype=np.int64)]
        via_v = (1.0 - fraction) * w_edge + to_site[base, v]
        via_u = np.where([sn.twin is not None for sn in snaps], fraction * w_edge + to_site[base, u], np.inf)
        return np.where(via_v <= via_u, v, u).astype(np.int64)

    chosen = _spread(points, min(max(int(landmarks), 0), p))
    node_to_landmark = np.zeros((0, net.n_nodes), dtype=np.float32)
    landmark_to_point = np.zeros((0, p))
    if chosen:
        lm_table = router.site_table([point_snaps[i] for i in chosen], hour=hour)
        node_to_landmark = lm_table.times_to_s.astype(np.float32)
        landmark_to_point = np.column_stack([lm_table.to_point_all(sn) for sn in point_snaps])
        landmark_to_point[np.arange(len(chosen)), chosen] = 0.0

    point_node = {b: start_nodes(point_snaps, b) for b in next_hop}
    site_node = {b: start_nodes(site_snaps, b) for b in next_hop}
    return NetworkTravelModel(
        sites=tuple(sites),
        points=points,
        site_to_point_s=site_to_point,
        point_to_site_s=point_to_site,
        site_to_site_s=site_to_site,
        node_lon=np.asarray(net.node_lon),
        node_lat=np.asarray(net.node_lat),
        node_to_site_s=to_site.astype(np.float32),
        next_hop=next_hop,
        point_node=point_node,
        site_node=site_node,
        node_to_landmark_s=node_to_landmark,
        landmark_to_point_s=landmark_to_point,
    )


def _spread(points: DemandPoints, k: int) -> list[int]:
    """Return ``k`` point indices spread over the area: the busiest, then farthest-point sampling."""
    if k <= 0:
        return []
    kx = np.cos(np.radians(float(points.lat.mean())))
    xy = np.column_stack([points.lon * kx, points.lat])
    chosen = [int(np.argmax(points.weight))]
    dist = np.hypot(*(xy - xy[chosen[0]]).T)
    while len(chosen) < k:
        i = int(np.argmax(dist))
        if dist[i] <= 0:
            break
        chosen.append(i)
        dist = np.minimum(dist, np.hypot(*(xy - xy[i]).T))
    return chosen


def _next_hop(to_site: np.ndarray, weights: np.ndarray, tail: np.ndarray, head: np.ndarray, n: int) -> np.ndarray:
    """Return, per node, the next node on its fastest path to the site (itself at the last node)."""
    via = weights + to_site[head]
    order = np.lexsort((via, tail))
    first = np.ones(order.size, dtype=bool)
    first[1:] = tail[order][1:] != tail[order][:-1]
    best_edge = order[first]
    hop = np.arange(n, dtype=np.int32)
    nodes = tail[best_edge]
    # A node whose best way is the partial edge to the site itself (its time is below every
    # neighbour's route) keeps itself: the path ends there.
    better = (via[best_edge] <= to_site[nodes] + 1e-6) & (to_site[head[best_edge]] < to_site[nodes])
    hop[nodes[better]] = head[best_edge[better]].astype(np.int32)
    unreachable = ~np.isfinite(to_site)
    hop[unreachable] = np.arange(n, dtype=np.int32)[unreachable]
    return hop
