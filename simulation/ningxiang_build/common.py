"""Shared pieces of the builder: its error, the local metric projection, small helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from geodata.errors import GeodataError

FloatArray = NDArray[np.float64]

# Mean earth radius osmnx uses for great-circle lengths (osmnx.distance.great_circle), so that
# lengths measured here equal the lengths osmnx computes when it loads roads.osm.bz2.
EARTH_RADIUS_M = 6_371_009.0


class BuildError(GeodataError):
    """The embedded county cannot be built as specified (bad raw data, failed calibration)."""


@dataclass(frozen=True, slots=True)
class LocalProjection:
    """An equirectangular projection to metres around a reference point.

    Over a county (< 1 degree) its scale error is under 0.5 %, enough for generating geometry;
    every length written or reported is measured on the sphere with `haversine_m`.
    """

    lon0: float
    lat0: float

    def to_xy(self, lon: ArrayLike, lat: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Project WGS84 degrees to local metres (x east, y north)."""
        k = EARTH_RADIUS_M * math.pi / 180.0
        x = (np.asarray(lon, dtype=np.float64) - self.lon0) * k * math.cos(math.radians(self.lat0))
        y = (np.asarray(lat, dtype=np.float64) - self.lat0) * k
        return x, y

    def to_lonlat(self, x: ArrayLike, y: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """Unproject local metres to WGS84 degrees."""
        k = EARTH_RADIUS_M * math.pi / 180.0
        lon = np.asarray(x, dtype=np.float64) / (k * math.cos(math.radians(self.lat0))) + self.lon0
        lat = np.asarray(y, dtype=np.float64) / k + self.lat0
        return lon, lat


def haversine_m(lon1: ArrayLike, lat1: ArrayLike, lon2: ArrayLike, lat2: ArrayLike) -> FloatArray:
    """Return great-circle distances in metres, as osmnx computes edge lengths."""
    p1 = np.radians(np.asarray(lat1, dtype=np.float64))
    p2 = np.radians(np.asarray(lat2, dtype=np.float64))
    dphi = p2 - p1
    dlmb = np.radians(np.asarray(lon2, dtype=np.float64) - np.asarray(lon1, dtype=np.float64))
    h = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def fmt_coord(value: float) -> str:
    """Format a degree coordinate with 7 decimals (about 1 cm), the OSM convention."""
    return f"{value:.7f}"


def smoothstep(edge0: float, edge1: float, x: ArrayLike) -> FloatArray:
    """Return the cubic smoothstep of x between edge0 (0) and edge1 (1)."""
    t = np.clip((np.asarray(x, dtype=np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)
