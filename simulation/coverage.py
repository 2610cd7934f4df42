"""Static coverage: the arrival at the county's extreme settlements from the nearest station.

The seed (宁乡市：构建立体化急诊急救体系) gives the arrivals after the 1+5+N reform as
"到达宁乡最西北只需要28分钟、最西23分钟、最南11分钟、最东南17分钟、中部11分钟": reaching the far
north-west of Ningxiang takes 28 minutes, the far west 23, the far south 11, the far south-east
17, the centre 11. Read literally, each figure is the travel time to **one place**: the county's
most north-western (western, southern, south-eastern) settlement, and its central one.

Here a region is a direction (``DEFAULT_REGIONS``, overridable in ``[simulation.regions]``):
- a compass direction picks the real settlement (township seat or village of places.csv, kinds
  ``town`` and ``village``) that lies farthest that way: the largest projection of its position
  (local metres east and north of the county centre) on the direction's unit vector, so "south"
  is the southernmost settlement and "south-east" the one farthest along the south-east diagonal;
- ``centre`` picks the real settlement nearest the county's centre (the centroid of its
  boundary when the caller gives it).

The generated hamlets between the real places are left out: their positions are synthetic, so
an extreme hamlet would be a property of the generator, not of the county. The figure is the
travel time from the nearest station of the layout that holds an ambulance; travel only, no call
processing or turnout.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType
from typing import Any

import numpy as np

from simulation.errors import SimulationConfigError

REAL_PLACE_KINDS = frozenset({"town", "village"})
_EARTH_RADIUS_M = 6_371_008.8


class Direction(Enum):
    """Where a region's place lies: a compass direction from the county centre, or the centre."""

    NORTH = "north"
    NORTH_EAST = "north-east"
    EAST = "east"
    SOUTH_EAST = "south-east"
    SOUTH = "south"
    SOUTH_WEST = "south-west"
    WEST = "west"
    NORTH_WEST = "north-west"
    CENTRE = "centre"

    @property
    def unit_en(self) -> tuple[float, float] | None:
        """Return the unit vector (east, north) of a compass direction; None for the centre."""
        if self is Direction.CENTRE:
            return None
        bearing_deg = 45.0 * list(Direction).index(self)  # north = 0, clockwise
        b = math.radians(bearing_deg)
        return (math.sin(b), math.cos(b))


# The seed's five figures: north-west 28, west 23, south 11, south-east 17, centre 11 minutes.
DEFAULT_REGIONS: Mapping[str, Direction] = MappingProxyType(
    {
        "northwest": Direction.NORTH_WEST,
        "west": Direction.WEST,
        "south": Direction.SOUTH,
        "southeast": Direction.SOUTH_EAST,
        "central": Direction.CENTRE,
    }
)


@dataclass(frozen=True, slots=True)
class RegionArrival:
    """A region's place and its arrival from the nearest station."""

    region: str
    worst_min: float  # travel time (min) to the region's place from the nearest station
    place_id: str
    place_name: str
    settlements: int  # real settlements the place was chosen among
    direction: Direction = Direction.CENTRE


def regions_from_config(config: Mapping[str, Any] | None) -> Mapping[str, Direction]:
    """Return ``[simulation.regions]`` (region -> direction), or the defaults.

    Raises
    ------
    SimulationConfigError
        The section is not a table of direction names.
    """
    raw = ((config or {}).get("simulation") or {}).get("regions")
    if raw is None:
        return DEFAULT_REGIONS
    names = ", ".join(d.value for d in Direction)
    if not isinstance(raw, Mapping) or not raw:
        raise SimulationConfigError(f"simulation.regions must map a region to a direction ({names}), got {raw!r}")
    out = {}
    for region, value in raw.items():
        try:
            out[str(region)] = Direction(value)
        except ValueError as e:
            raise SimulationConfigError(
                f"simulation.regions.{region} must be one of {names}, got {value!r}"
            ) from e
    return MappingProxyType(out)


def extreme_place(
    lon: Sequence[float] | np.ndarray, lat: Sequence[float] | np.ndarray, direction: Direction,
    centre_lonlat: tuple[float, float],
) -> int:  # fmt: skip
    """Return the index of the point farthest in `direction` (or nearest the centre).

    Positions are projected to local metres (equirectangular about `centre_lonlat`, ample for a
    county); a compass direction maximises the projection on its unit vector, ``CENTRE``
    minimises the distance to `centre_lonlat`. Ties go to the lowest index.

    Raises
    ------
    SimulationConfigError
        No points.
    """
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.size == 0 or lon_a.shape != lat_a.shape:
        raise SimulationConfigError(
            f"extreme_place: lon and lat must have the same non-empty shape, got {lon_a.shape} and {lat_a.shape}"
        )
    lon0, lat0 = centre_lonlat
    east_m = np.radians(lon_a - lon0) * math.cos(math.radians(lat0)) * _EARTH_RADIUS_M
    north_m = np.radians(lat_a - lat0) * _EARTH_RADIUS_M
    unit = direction.unit_en
    if unit is None:
        return int(np.argmin(np.hypot(east_m, north_m)))
    return int(np.argmax(east_m * unit[0] + north_m * unit[1]))


def worst_arrivals(
    places: Sequence[Any],
    station_to_place_s: np.ndarray,
    regions: Mapping[str, Direction] = DEFAULT_REGIONS,
    *,
    centre_lonlat: tuple[float, float] | None = None,
) -> dict[str, RegionArrival]:
    """Return, per region, the travel time from the nearest station to the region's place.

    Parameters
    ----------
    places
        ``geodata.county.Place`` rows (``id``, ``name``, ``kind``, ``lon``, ``lat``).
    station_to_place_s
        ``(n_stations, n_places)`` travel times from each station of the layout that holds an
        ambulance to each place.
    regions
        Region -> direction.
    centre_lonlat
        The county centre, WGS84 (the centroid of its boundary). Default: the centroid of the
        convex hull of `places`.

    Raises
    ------
    SimulationConfigError
        No town or village among `places`, or the matrix does not match them.
    """
    times = np.asarray(station_to_place_s, dtype=float)
    if times.ndim != 2 or times.shape[1] != len(places) or times.shape[0] == 0:
        raise SimulationConfigError(
            f"station_to_place_s must be (n_stations >= 1, {len(places)}), got shape {times.shape}"
        )
    idx = [i for i, p in enumerate(places) if str(getattr(p.kind, "value", p.kind)) in REAL_PLACE_KINDS]
    if not idx:
        raise SimulationConfigError("places: no town or village to take the regions' places from")
    if centre_lonlat is None:
        centre_lonlat = _hull_centroid([p.lon for p in places], [p.lat for p in places])
    nearest = np.min(times, axis=0)
    lon = [places[i].lon for i in idx]
    lat = [places[i].lat for i in idx]
    out = {}
    for region, direction in regions.items():
        j = idx[extreme_place(lon, lat, direction, centre_lonlat)]
        place = places[j]
        out[region] = RegionArrival(region, float(nearest[j]) / 60.0, place.id, place.name, len(idx), direction)
    return out


def _hull_centroid(lon: Sequence[float], lat: Sequence[float]) -> tuple[float, float]:
    import shapely

    c = shapely.MultiPoint(np.column_stack([lon, lat])).convex_hull.centroid
    return (float(c.x), float(c.y))


__all__ = [
    "DEFAULT_REGIONS",
    "Direction",
    "RegionArrival",
    "extreme_place",
    "regions_from_config",
    "worst_arrivals",
]
