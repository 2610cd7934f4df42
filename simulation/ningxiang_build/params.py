"""The knobs of the generated county: densities, road classes, speeds, curvature.

These are the calibration parameters: the three published ambulance trips (published_figures.toml)
are matched by choosing them, never by adding or faking edges. docs/ningxiang.md explains each.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


def _frozen(d: dict[str, float]) -> Mapping[str, float]:
    return MappingProxyType(d)


@dataclass(frozen=True, slots=True)
class RoadParams:
    """Parameters of the schematic road network (metres, km/h)."""

    # Local projection origin (WGS84), roughly the county's centre.
    lon0: float = 112.34
    lat0: float = 28.18
    # Nothing generated closer than this to the boundary (m).
    edge_margin_m: float = 120.0

    # County town street grid: spacing (m), margin around the sub-district seats (m), jitter (m).
    city_grid_spacing_m: float = 250.0
    city_margin_m: float = 1300.0
    city_grid_jitter_m: float = 18.0
    city_arterial_every: int = 4

    # Corridors (primary/secondary between township seats): junction spacing (m), meander
    # amplitude as a fraction of the length (flat, hills), mesh-free band either side (m).
    corridor_spacing_m: float = 650.0
    corridor_meander_flat: float = 0.025
    corridor_meander_hill: float = 0.05
    corridor_clear_m: float = 230.0

    # Rural mesh: number of junction points drawn before thinning, minimum spacing (m),
    # longest edge (m), share of non-RNG Gabriel edges kept (loops).
    mesh_points: int = 25000
    mesh_min_spacing_m: float = 170.0
    mesh_max_edge_m: float = 2600.0
    mesh_extra_edge_share: float = 0.30
    # Generated settlements (hamlets) chosen among mesh junctions.
    generated_settlements: int = 3000
    # A mesh edge used by at least this many settlement-to-corridor paths is a tertiary road.
    tertiary_min_paths: int = 4
    # Mesh edges within this distance of a township seat are town streets (residential).
    town_radius_m: float = 900.0
    # Extra farm-lane spurs on this share of plain degree-2 mesh junctions.
    spur_share: float = 0.35
    spur_length_m: tuple[float, float] = (80.0, 220.0)

    # Free-flow speeds (km/h) written as maxspeed, on flat ground; hills slow them by up to
    # hill_slowdown (a fraction), rounded to 5 km/h, never below min_speed_kph.
    speed_kph: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "primary": 39.0,
                "secondary": 37.0,
                "tertiary": 32.0,
                "unclassified": 25.0,
                "residential": 20.0,
                "city_arterial": 35.0,
                "city_street": 25.0,
            }
        )
    )
    hill_slowdown: float = 0.10
    min_speed_kph: float = 15.0

    # Curvature: length of an edge over its chord, on flat ground; in the hills the excess
    # (ratio - 1) is multiplied by (1 + hill_curvature * hilliness). Intermediate node spacing (m).
    wiggle_ratio: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "primary": 1.11,
                "secondary": 1.09,
                "tertiary": 1.08,
                "unclassified": 1.07,
                "residential": 1.04,
            }
        )
    )
    # 0.6: the published 流沙河 -> 龙田 road is 20 km on a 16.8 km straight line (ratio 1.19); at 1.6
    # the generated road came out at 20.7 km (1.23), and the hill roads were too slow for the
    # far-west arrival (docs/ningxiang.md, "Calibration").
    hill_curvature: float = 0.6
    wiggle_step_m: Mapping[str, float] = field(
        default_factory=lambda: _frozen(
            {
                "primary": 260.0,
                "secondary": 220.0,
                "tertiary": 170.0,
                "unclassified": 140.0,
                "residential": 120.0,
            }
        )
    )

    # Oneway couplets in the county town: pairs of adjacent grid rows made one-way in opposite
    # directions (row offsets from the grid centre row).
    city_oneway_row_pairs: tuple[int, ...] = (1, -3)


# The hilly west (Xuefeng foothills: 沩山, 龙田, 黄材, 青山桥, 巷子口, 沙田): hilliness 1 west of
# HILL_FULL_LON, fading to 0 at HILL_ZERO_LON; north of HILL_NORTH_LAT the hills reach further
# east (黄材 reservoir and 沩山 range) up to HILL_NORTH_ZERO_LON.
HILL_FULL_LON = 112.00
HILL_ZERO_LON = 112.16
HILL_NORTH_LAT = 28.10
HILL_NORTH_ZERO_LON = 112.22
