"""Validation (c): on the embedded county, 1+5+N against centralized against the seed's figures.

The seed (宁乡市：构建立体化急诊急救体系, copied in docs/simulation.md) reports that 龙田 is reached
from the 流沙河 substation in about 28 min against about 120 min from the People's Hospital
before the reform, and the arrivals after it at the far north-west, west, south and south-east
of the county and at its centre. Tolerance ±25 %. The reading of those figures (the extreme real
settlement in each direction, from the nearest station with an ambulance) is
`simulation.coverage`'s.
"""

from __future__ import annotations

import numpy as np
import pytest

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from simulation.coverage import DEFAULT_REGIONS, Direction, extreme_place, regions_from_config, worst_arrivals
from simulation.errors import SimulationConfigError
from simulation.scenario import station_sites

# Seed 000 (also geodata/data/ningxiang/published_figures.toml), minutes.
LONGTIAN_FROM_LIUSHAHE_MIN = 28.0
LONGTIAN_FROM_CENTRE_MIN = 120.0
WORST_ARRIVAL_MIN = {"northwest": 28.0, "west": 23.0, "south": 11.0, "southeast": 17.0, "central": 11.0}
TOLERANCE = 0.25


@pytest.fixture(scope="module")
def county_scenarios():
    from ems.config import load_config
    from geodata.county import load_county
    from simulation.scenario import build_scenarios

    try:
        county = load_county("ningxiang")
    except Exception as e:  # noqa: BLE001 - the embedded county is built by another command
        pytest.skip(f"embedded county not available: {e}")
    layouts = [county.layout("centralized"), county.layout("1+5+N")]
    return county, {s.name: s for s in build_scenarios(county, layouts, config=load_config(environ={}))}


def _worst(county, scenario):
    travel = scenario.travel
    ids = list(travel.points.ids)
    places = [p for p in county.places if p.id in set(ids)]
    cols = [ids.index(p.id) for p in places]
    centre = county.boundary.centroid
    return worst_arrivals(
        places, travel.site_to_point_s[station_sites(scenario)][:, cols], DEFAULT_REGIONS,
        centre_lonlat=(centre.x, centre.y),
    )  # fmt: skip


@pytest.mark.slow
def test_longtian_from_liushahe_and_from_the_centre(county_scenarios) -> None:
    county, scenarios = county_scenarios
    travel = scenarios["1+5+N"].travel
    longtian = next(p for p in county.places if p.name == "龙田镇")
    j = list(travel.points.ids).index(longtian.id)
    from_liushahe = travel.site_to_point_s[travel.site_index("station:liushahe"), j] / 60.0
    from_centre = travel.site_to_point_s[travel.site_index("station:renmin"), j] / 60.0
    assert from_liushahe == pytest.approx(LONGTIAN_FROM_LIUSHAHE_MIN, rel=TOLERANCE)
    assert from_centre == pytest.approx(LONGTIAN_FROM_CENTRE_MIN, rel=TOLERANCE)


@pytest.mark.slow
def test_1_5_n_beats_centralized_in_every_region(county_scenarios) -> None:
    county, scenarios = county_scenarios
    central = _worst(county, scenarios["centralized"])
    network = _worst(county, scenarios["1+5+N"])
    for region in DEFAULT_REGIONS:
        assert network[region].worst_min < central[region].worst_min / 2


@pytest.mark.slow
@pytest.mark.parametrize("region", list(WORST_ARRIVAL_MIN))
def test_worst_arrival_by_region_matches_the_seed(county_scenarios, region: str) -> None:
    county, scenarios = county_scenarios
    worst = _worst(county, scenarios["1+5+N"])[region].worst_min
    assert worst == pytest.approx(WORST_ARRIVAL_MIN[region], rel=TOLERANCE)


@pytest.mark.slow
def test_a_year_of_1_5_n_answers_faster_than_centralized(county_scenarios) -> None:
    from simulation.model import run_replication

    _, scenarios = county_scenarios
    means = {}
    for name, scenario in scenarios.items():
        result = run_replication(scenario, days=30.0, seed=3, replication=0)
        response = result.calls["response_s"]
        assert np.all(response >= result.calls["travel_s"])
        means[name] = float(np.nanmean(response))
    assert means["1+5+N"] < means["centralized"]


# --- fast: the reading of the seed's figures (simulation.coverage) ------------------------------


@dataclass(frozen=True)
class _Place:
    id: str
    name: str
    kind: str
    lon: float
    lat: float


# A plus-shaped county around (112.3, 28.1): a village at each tip, one near the middle, and a
# generated hamlet beyond the western tip that must not count.
_PLACES = [
    _Place("n", "north", "village", 112.30, 28.30),
    _Place("e", "east", "town", 112.50, 28.10),
    _Place("s", "south", "village", 112.30, 27.90),
    _Place("w", "west", "village", 112.10, 28.10),
    _Place("se", "south-east", "village", 112.42, 27.98),
    _Place("c", "middle", "village", 112.31, 28.11),
    _Place("h", "hamlet", "generated", 111.90, 28.10),
]
_CENTRE = (112.30, 28.10)


def test_each_direction_picks_the_extreme_real_settlement() -> None:
    times = np.tile(np.arange(len(_PLACES), dtype=float) * 60.0, (1, 1))
    regions = {"nw": Direction.NORTH_WEST, "w": Direction.WEST, "s": Direction.SOUTH,
               "se": Direction.SOUTH_EAST, "c": Direction.CENTRE, "e": Direction.EAST}  # fmt: skip
    got = worst_arrivals(_PLACES, times, regions, centre_lonlat=_CENTRE)
    assert {k: v.place_id for k, v in got.items()} == {"nw": "n", "w": "w", "s": "s", "se": "se", "c": "c", "e": "e"}
    assert got["s"].worst_min == pytest.approx(2.0)  # the south village's column, in minutes
    assert all(v.settlements == 6 for v in got.values())


def test_the_arrival_is_from_the_nearest_station() -> None:
    times = np.array([[600.0] * len(_PLACES), [60.0 * (i + 1) for i in range(len(_PLACES))]])
    got = worst_arrivals(_PLACES, times, {"w": Direction.WEST}, centre_lonlat=_CENTRE)
    assert got["w"].worst_min == pytest.approx(4.0)


@given(st.lists(st.tuples(st.floats(111.9, 112.8), st.floats(27.9, 28.5)), min_size=1, max_size=30),
       st.sampled_from(list(Direction)))  # fmt: skip
def test_no_point_lies_farther_in_the_direction(points, direction) -> None:
    lon = [p[0] for p in points]
    lat = [p[1] for p in points]
    k = extreme_place(lon, lat, direction, _CENTRE)
    if direction is Direction.SOUTH:
        assert lat[k] == min(lat)
    elif direction is Direction.WEST:
        assert lon[k] == min(lon)
    elif direction is Direction.CENTRE:
        d = np.hypot((np.array(lon) - _CENTRE[0]) * np.cos(np.radians(_CENTRE[1])), np.array(lat) - _CENTRE[1])
        assert d[k] == pytest.approx(d.min(), abs=1e-12)
    else:
        assert 0 <= k < len(points)


def test_regions_from_config_reads_directions_and_names_a_bad_one() -> None:
    assert regions_from_config({}) is DEFAULT_REGIONS
    assert regions_from_config({"simulation": {"regions": {"far": "north-east"}}}) == {"far": Direction.NORTH_EAST}
    with pytest.raises(SimulationConfigError, match="simulation.regions.west"):
        regions_from_config({"simulation": {"regions": {"west": ["龙田镇"]}}})


def test_config_toml_regions_are_the_seed_s_five() -> None:
    from ems.config import load_config

    assert dict(regions_from_config(load_config(environ={}))) == dict(DEFAULT_REGIONS)
