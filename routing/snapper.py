"""The router's snapping: input checks, the snap cache, the boundary and the snap distance limit.

:class:`~routing.snap.SnapIndex` finds where a point lies on the network; :class:`Snapper` decides
which points are accepted and keeps the answers. Snaps are kept in a cache keyed by the exact
input point (stations and hospitals never move); a few points are handled in plain Python floats
rather than numpy (whose per-call cost exceeds the arithmetic), many at once with numpy. Errors
name the point by its place in the list it came in (``sources[3]``) and say how far off it is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import shapely

from routing.errors import RoutingError, SnapError
from routing.geometry import PolygonMask
from routing.model import Point
from routing.snap import Placed, Snap, SnapCache, SnapIndex, SnapResult

# Up to this many points not in the snap cache are snapped one by one rather than vectorised.
_ONE_BY_ONE = 16


class Snapper:
    """Place the router's points on the network, through a cache, within a boundary and a distance.

    Parameters
    ----------
    index
        The network's snap index (its projection gives the local metres).
    cache
        Where snaps are kept, by exact input ``(lon, lat)``.
    edges
        ``(n_edges, 4)`` rows, per edge: travel time (s) under the profile with no time-of-day
        factor, tail node, head node, twin edge (itself on a one-way road).
    max_snap_distance_m
        Points farther than this from any road are refused.
    boundary
        Points outside this WGS84 polygon are refused; none are when None.
    """

    def __init__(
        self,
        index: SnapIndex,
        cache: SnapCache,
        edges: np.ndarray,
        *,
        max_snap_distance_m: float,
        boundary: Any = None,
    ) -> None:
        self.index = index
        self.cache = cache
        self.projection = index.projection
        self.max_snap_distance_m = max_snap_distance_m
        self._edges = edges
        self._boundary_m = None
        self._inside: PolygonMask | None = None  # the boundary, answered from a raster
        if boundary is not None:
            self._inside = PolygonMask(boundary)
            self._boundary_m = shapely.transform(
                boundary, lambda xy: np.column_stack(self.projection.forward(xy[:, 0], xy[:, 1])))

    def snap(self, lon: float, lat: float) -> Snap:
        """Place ``(lon, lat)`` on the nearest position of the nearest road, through the cache.

        Raises
        ------
        RoutingError
            ``lon`` or ``lat`` is not a finite number.
        SnapError
            The point is outside the boundary, or farther than ``max_snap_distance_m`` from any
            road; the message gives the distance.
        """
        try:
            lon, lat = float(lon), float(lat)
        except (TypeError, ValueError) as e:
            raise RoutingError(f"point must be (lon, lat) numbers, got ({lon!r}, {lat!r})") from e
        key = (lon, lat)
        placed = self.cache.get(key)
        if isinstance(placed, Snap):
            return placed
        if placed is not None:  # placed by a batch: keep the Snap built now instead
            snap = self._make_snaps([placed], [key])[0]
            self.cache.put(key, snap)
            return snap
        if not (math.isfinite(lon) and math.isfinite(lat)):
            raise RoutingError(f"point must be finite (lon, lat), got ({lon}, {lat})")
        if self._inside is not None and not self._inside.contains(lon, lat):
            self._snap_arrays(np.array([lon]), np.array([lat]), "point")  # raises with the distance
        placed = self.index.query_one(lon, lat)
        if placed[4] > self.max_snap_distance_m:
            self._snap_arrays(np.array([lon]), np.array([lat]), "point")  # raises with the distance
        snap = self._make_snaps([placed], [key])[0]
        self.cache.put(key, snap)
        return snap

    def snap_many(self, points: Sequence[tuple[float, float]]) -> list[Snap]:
        """Snap many ``(lon, lat)`` points at once (vectorised); see :meth:`snap`."""
        placed = self.place(points, "points")  # a Snap where one was kept
        fresh = [i for i, p in enumerate(placed) if not isinstance(p, Snap)]
        snaps = self._make_snaps([placed[i] for i in fresh],  # type: ignore[misc]
                                 [(float(points[i][0]), float(points[i][1])) for i in fresh])
        out = list(placed)
        for i, snap in zip(fresh, snaps):
            out[i] = snap
        return out  # type: ignore[return-value]

    def place(self, points: Sequence[Point], name: str) -> list[Placed | Snap]:
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
        known = self.cache.get_many([k for k in keys if k is not None])
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
        keep = len(missing) <= self.cache.maxsize // 4
        put = self.cache.put
        for i, placed in zip(missing, found):
            snaps[i] = placed
            if keep:
                put(keys[i], placed)  # type: ignore[arg-type]
        return snaps  # type: ignore[return-value]

    def snaps(self, points: Sequence[Point], name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(edge, fraction)`` arrays for points given as tuples or :class:`Snap`."""
        places = [edge_fraction(p) for p in self.place(points, name)]
        return (np.array([p[0] for p in places], dtype=np.int64), np.array([p[1] for p in places], dtype=float))

    def snap_one(self, point: Point, name: str) -> Snap:
        """Return the snap of one point given as ``(lon, lat)`` or :class:`Snap`; errors name ``name``."""
        if isinstance(point, Snap):
            return point
        try:
            lon, lat = point
        except (TypeError, ValueError) as e:
            raise RoutingError(f"{name} must be (lon, lat) or a Snap, got {point!r:.80}") from e
        return self.snap(lon, lat)

    def one(self, point: Point, name: str) -> tuple[int, float]:
        """Return the ``(edge, fraction)`` of one point given as ``(lon, lat)`` or :class:`Snap`."""
        snap = self.snap_one(point, name)
        return snap.edge, snap.fraction

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
        rows = self._edges.take([f[0] for f in found], axis=0).tolist()
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


def edge_fraction(place: Placed | Snap) -> tuple[int, float]:
    """Return the ``(edge, fraction)`` of a placement or a :class:`Snap`."""
    if isinstance(place, Snap):
        return place.edge, place.fraction
    return place[0], place[1]
