"""Where the ground is hilly and where junctions and hamlets are dense (Ningxiang, schematic)."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from simulation.ningxiang_build.common import FloatArray, smoothstep
from simulation.ningxiang_build.params import (
    HILL_FULL_LON,
    HILL_NORTH_LAT,
    HILL_NORTH_ZERO_LON,
    HILL_ZERO_LON,
)


def hilliness(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Return how hilly the ground is (0 flat .. 1 western hills) at WGS84 points."""
    west = 1.0 - smoothstep(HILL_FULL_LON, HILL_ZERO_LON, lon)
    north = (1.0 - smoothstep(HILL_FULL_LON + 0.05, HILL_NORTH_ZERO_LON, lon)) * smoothstep(
        HILL_NORTH_LAT - 0.03, HILL_NORTH_LAT + 0.03, lat
    )
    return np.maximum(west, north)


def junction_density(
    x: FloatArray, y: FloatArray, lon: FloatArray, lat: FloatArray,
    hospital_xy: tuple[float, float], seats_xy: np.ndarray,
) -> FloatArray:  # fmt: skip
    """Return the relative density of junctions and hamlets at points.

    Denser in the east (the plains toward Changsha) and around the county town and the seats;
    sparser in the western hills.
    """
    east = 0.55 + 1.0 * smoothstep(111.95, 112.65, lon)
    hills = 1.0 - 0.45 * hilliness(lon, lat)
    d_city = np.hypot(x - hospital_xy[0], y - hospital_xy[1])
    city = 3.0 * np.exp(-((d_city / 7000.0) ** 2))
    tree = cKDTree(seats_xy)
    d_seat, _ = tree.query(np.column_stack([x, y]))
    seat = 1.5 * np.exp(-((d_seat / 1500.0) ** 2))
    return east * hills + city + seat
