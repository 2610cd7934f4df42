"""What the router takes and answers: points, ETAs and routes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import shapely

from routing.profiles import Profile
from routing.snap import Snap

# A point given to the router: ``(lon, lat)``, or a :class:`~routing.snap.Snap` already placed.
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


def describe(point: Point) -> str:
    """Return ``point`` as ``(lon, lat)`` text for messages (a snap's input point)."""
    if isinstance(point, Snap):
        return f"({point.input_lon:.6f}, {point.input_lat:.6f})"
    return f"({float(point[0]):.6f}, {float(point[1]):.6f})"
