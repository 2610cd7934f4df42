"""Planar geometry in local metres (the projection snapping and isochrones work in), and a fast
point-in-polygon test for the county boundary."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import shapely

# Mean Earth radius (IUGG), m.
EARTH_RADIUS_M = 6_371_008.8


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection about ``(lon0, lat0)``, in metres.

    Over a county (~100 km) the scale error is below 0.2 %, well inside what snapping and drawing
    need; travel distances come from the graph's own ``length_m``, not from this projection.
    """

    lon0: float
    lat0: float

    @cached_property
    def kx(self) -> float:
        """Metres per degree of longitude at ``lat0``."""
        return EARTH_RADIUS_M * math.pi / 180.0 * math.cos(math.radians(self.lat0))

    @cached_property
    def ky(self) -> float:
        """Metres per degree of latitude."""
        return EARTH_RADIUS_M * math.pi / 180.0

    def forward(self, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` metres of WGS84 ``(lon, lat)``."""
        return (np.asarray(lon) - self.lon0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def inverse(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return WGS84 ``(lon, lat)`` of ``(x, y)`` metres."""
        return np.asarray(x) / self.kx + self.lon0, np.asarray(y) / self.ky + self.lat0


def cut_polyline(coords: np.ndarray, projection: LocalProjection, start: float, end: float) -> np.ndarray:
    """Return the part of a lon/lat polyline between two fractions of its (projected) length.

    ``start > end`` gives the part reversed. Fractions are clipped to [0, 1].
    """
    if start > end:
        return cut_polyline(coords, projection, end, start)[::-1]
    start, end = min(max(start, 0.0), 1.0), min(max(end, 0.0), 1.0)
    x, y = projection.forward(coords[:, 0], coords[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(x), np.diff(y)))])
    total = cum[-1]
    if total <= 0.0:
        return np.vstack([coords[0], coords[0]])
    a, b = start * total, end * total
    inner = coords[(cum > a) & (cum < b)]
    ends = np.column_stack([np.interp([a, b], cum, coords[:, 0]), np.interp([a, b], cum, coords[:, 1])])
    return np.vstack([ends[:1], inner, ends[1:]])


class PolygonMask:
    """Tell whether WGS84 points are inside a polygon, through a raster of its bounding box.

    Cells wholly inside the polygon's interior or wholly outside it answer at once; only points in
    the few cells the outline crosses are tested against the polygon itself. The answer is the
    exact ``shapely.contains_xy`` one (a point on the outline is outside), at a fraction of its
    cost for one point.

    Parameters
    ----------
    polygon
        A shapely (Multi)Polygon in WGS84.
    cells
        Raster cells along each side of the bounding box.
    """

    # Cells are tested slightly enlarged, so rounding in a point's cell number never matters.
    _PAD_DEG = 1e-9
    _OUTSIDE, _INSIDE, _TEST = 0, 1, 2

    def __init__(self, polygon: Any, *, cells: int = 128) -> None:
        self.polygon = polygon
        shapely.prepare(polygon)
        x0, y0, x1, y1 = polygon.bounds
        self.x0, self.y0, self.x1, self.y1 = float(x0), float(y0), float(x1), float(y1)
        self.n = int(cells)
        self.cw = (self.x1 - self.x0) / self.n or 1.0
        self.ch = (self.y1 - self.y0) / self.n or 1.0
        i, j = np.meshgrid(np.arange(self.n), np.arange(self.n))
        pad = self._PAD_DEG
        boxes = shapely.box(self.x0 + i * self.cw - pad, self.y0 + j * self.ch - pad,
                            self.x0 + (i + 1) * self.cw + pad, self.y0 + (j + 1) * self.ch + pad)
        state = np.full(boxes.shape, self._TEST, dtype=np.int8)
        state[shapely.contains_properly(polygon, boxes)] = self._INSIDE
        state[shapely.disjoint(polygon, boxes)] = self._OUTSIDE
        self.state = state  # [j, i]
        self._cells = memoryview(state.ravel())

    def contains(self, lon: float, lat: float) -> bool:
        """Return whether the point ``(lon, lat)`` is inside the polygon."""
        if not (self.x0 < lon < self.x1 and self.y0 < lat < self.y1):
            return False
        i = min(int((lon - self.x0) / self.cw), self.n - 1)
        j = min(int((lat - self.y0) / self.ch), self.n - 1)
        state = self._cells[j * self.n + i]
        if state == self._TEST:
            return bool(shapely.contains_xy(self.polygon, lon, lat))
        return state == self._INSIDE

    def contains_many(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Return, per point, whether it is inside the polygon (a boolean array)."""
        lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
        within = (self.x0 < lon) & (lon < self.x1) & (self.y0 < lat) & (lat < self.y1)
        i = np.clip(((lon - self.x0) / self.cw), 0, self.n - 1).astype(np.int64)
        j = np.clip(((lat - self.y0) / self.ch), 0, self.n - 1).astype(np.int64)
        state = np.where(within, self.state[j, i], self._OUTSIDE)
        out = state == self._INSIDE
        test = np.flatnonzero(state == self._TEST)
        if test.size:
            out[test] = shapely.contains_xy(self.polygon, lon[test], lat[test])
        return out
