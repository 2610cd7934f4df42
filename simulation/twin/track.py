"""The road a crew drives, and the fixes its phone sends along it (Traccar Client, OsmAnd protocol)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.gps import KNOT_MPS, distance_m
from simulation.twin.errors import TwinError

#: Reported accuracy of a fix (m): a phone's GNSS under open sky.
FIX_ACCURACY_M = 8.0


def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the initial great-circle bearing from ``a`` to ``b`` (``(lon, lat)``), degrees 0-360 from north."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    dl = lon2 - lon1
    x = math.sin(dl) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


@dataclass(frozen=True)
class Track:
    """A polyline to drive along, WGS84 ``(lon, lat)`` vertices with their distances from the start.

    Attributes
    ----------
    coords
        The vertices, at least one.
    cum_m
        Distance along the line to each vertex (m), starting at 0.
    """

    coords: tuple[tuple[float, float], ...]
    cum_m: tuple[float, ...]

    @classmethod
    def of(cls, coords: Sequence[Sequence[float]]) -> Track:
        """Build a track from ``(lon, lat)`` vertices.

        Raises
        ------
        TwinError
            ``coords`` is empty or a vertex is not a finite ``(lon, lat)`` pair.
        """
        points = []
        for i, c in enumerate(coords):
            if len(c) < 2 or not all(math.isfinite(float(v)) for v in c[:2]):
                raise TwinError(f"route coordinates[{i}]: expected a finite (lon, lat) pair, got {c!r}")
            points.append((float(c[0]), float(c[1])))
        if not points:
            raise TwinError("route coordinates: expected at least one (lon, lat) vertex, got none")
        cum = [0.0]
        for p, q in zip(points, points[1:]):
            cum.append(cum[-1] + distance_m(p[0], p[1], q[0], q[1]))
        return cls(tuple(points), tuple(cum))

    @property
    def length_m(self) -> float:
        """Return the length of the track (m)."""
        return self.cum_m[-1]

    @property
    def end(self) -> tuple[float, float]:
        """Return the last vertex."""
        return self.coords[-1]

    def at(self, along_m: float) -> tuple[float, float, float]:
        """Return ``(lon, lat, bearing_deg)`` at ``along_m`` metres from the start (clamped to the track)."""
        if len(self.coords) == 1:
            return self.coords[0][0], self.coords[0][1], 0.0
        d = min(max(along_m, 0.0), self.length_m)
        i = int(np.searchsorted(self.cum_m, d, side="right")) - 1
        i = min(max(i, 0), len(self.coords) - 2)
        # skip zero-length segments so the bearing is that of a real piece of road
        j = i
        while j < len(self.coords) - 2 and self.cum_m[j + 1] - self.cum_m[j] <= 0.0:
            j += 1
        a, b = self.coords[j], self.coords[j + 1]
        seg = self.cum_m[j + 1] - self.cum_m[j]
        f = 0.0 if seg <= 0.0 else min(max((d - self.cum_m[j]) / seg, 0.0), 1.0)
        return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, bearing_deg(a, b)


def osmand_params(device_id: str, lon: float, lat: float, at_s: int, *, speed_mps: float, bearing: float,
                  accuracy_m: float = FIX_ACCURACY_M, battery_pct: float = 100.0) -> dict[str, str]:
    """Return a fix as Traccar Client sends it over the OsmAnd protocol (query string fields).

    ``speed`` is in knots and ``timestamp`` in whole epoch seconds, as the app sends them.
    """
    return {"id": device_id, "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "timestamp": str(int(at_s)),
            "speed": f"{speed_mps / KNOT_MPS:.2f}", "bearing": f"{bearing % 360.0:.1f}",
            "altitude": "0", "accuracy": f"{accuracy_m:.1f}", "batt": f"{battery_pct:.0f}"}
