"""Travel tables by local hour (`simulation.travel_hours`) and their use by the simulator.

Hand computation on the tiny network of simhelpers.py (times in s) with a peak at 08:00-08:59,
factor 1.25 (``{8: 1.25}``): a drive's urban seconds are multiplied by 1.25, the rest is as
off-peak. Peak tables::

             p0     p1     p2              A      B      H
      A     350    625    900        A     0   1225    250
      B     950    625    300        B  1225      0   1025
      H     150    600   1000        H   250   1025      0

(A -> p0: 200 urban s x 1.25 + 100 = 350; H -> p0: 120 x 1.25 = 150; A -> H: 200 x 1.25 = 250.)

A call at p0 at 03:00 (10800), transported: a1 drives 300 (off-peak), on scene 11160, leaves
11760, 120 to H, free at 12180, 200 back to A: at the station at 12380.
The same call at 08:00 (28800): a1 starts driving after its 60 s turnout, at 08:01: 350, on
scene 29210, leaves 29810, 150 to H (29960), free at 30260 (08:24:20), 250 back: at A at 30510.

The hour is the one the unit starts driving in: a call at p0 at 28739 starts at 28799 (07:59:59,
300); at 28740 it starts at 08:00:00 (350); at 32339 at 08:59:59 (350); at 32340 at 09:00 (300).

A unit sent again on its way back (a1 alone): a call at p0 at 27320 (07:35:20), transported:
300 + 60 turnout, on scene 27680, leaves 28280, at H 28400, free at 28700 (07:58:20) and drives
back to A on the off-peak table: 200 s, at the station at 28900 (the trip keeps its table into
08:00). A call at p1 at 28800 finds a1 100 s (half) into its trip; it starts driving after 15 s,
at peak, where the trip takes 250: half-way is 125 s in. Carry on: 125 + A -> p1 625 = 750;
turn around: 125 + H -> p1 600 (no urban part) = 725. Travel 725.
"""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.simulation.simhelpers import (
    grid_graph,
    grid_points,
    grid_sites,
    hospital,
    plan,
    service,
    tiny_hourly_travel,
    tiny_scenario,
    tiny_travel,
)

from dispatch.model import Capability, UnitStatus
from dispatch.moveup import MoveUpConfig
from routing.engine import Router
from routing.network import compile_graph
from simulation.config import SimulationConfig
from simulation.errors import ScenarioError
from simulation.model import STATUS_CODES, ReplicationResult, Scenario, UnitSpec, run_replication
from simulation.travel import network_travel
from simulation.travel_hours import HourlyTravel, factor_hours, hourly_network_travel

PEAK = {8: 1.25}
CONFIG_FACTORS = {7: 1.15, 8: 1.25, 17: 1.25, 18: 1.15}  # config.toml's


def _log(scenario: Scenario, times: list[float], points: list[int], transport: list[bool]) -> tuple[dict, list]:
    log: list[tuple[float, str, str]] = []
    result = run_replication(scenario, days=1.0, seed=0, replication=0, plan=plan(times, points, transport=transport), log=log)
    return result.calls, log


# ------------------------------------------------------------------ the hours and their tables


def test_hours_are_grouped_by_factor_off_peak_first() -> None:
    groups = factor_hours(CONFIG_FACTORS)
    assert list(groups) == [1.0, 1.15, 1.25]
    assert groups[1.15] == (7, 18) and groups[1.25] == (8, 17)
    assert groups[1.0] == tuple(h for h in range(24) if h not in CONFIG_FACTORS)
    assert factor_hours({}) == {1.0: tuple(range(24))}
    assert list(factor_hours({3: 1.0, 8: 0.9})) == [1.0, 0.9]  # a listed 1.0 is off-peak
    assert factor_hours({h: 1.2 for h in range(24)}) == {1.0: (), 1.2: tuple(range(24))}


@pytest.mark.parametrize("bad", [{24: 1.2}, {"8": 1.2}, {8: 0.0}, {8: float("nan")}])
def test_a_bad_hour_or_factor_is_named(bad) -> None:
    with pytest.raises(ScenarioError, match="hour"):
        factor_hours(bad)


def test_the_table_of_a_time_is_the_one_of_its_local_hour() -> None:
    hourly = tiny_hourly_travel(CONFIG_FACTORS)
    assert hourly.factors == (1.0, 1.15, 1.25)
    assert [hourly.table_at(h * 3600.0) for h in (3, 7, 8, 9, 17, 18)] == [0, 1, 2, 0, 2, 1]
    assert hourly.table_at(8 * 3600.0 - 0.001) == 1 and hourly.table_at(9 * 3600.0 - 0.001) == 2
    assert hourly.table_at(86_400.0 * 3 + 8.5 * 3600.0) == 2  # the hour of the day, not of the run


def test_tables_must_cover_the_factors_and_share_the_sites() -> None:
    base = tiny_travel()
    with pytest.raises(ScenarioError, match=r"factors \[1.0, 1.25\]"):
        HourlyTravel.from_tables({1.0: base}, PEAK)
    other = tiny_travel()
    other_sites = type(base)(other.sites[::-1], other.points, other.site_to_point_s[::-1], other.point_to_site_s[:, ::-1],
                             other.site_to_site_s)  # fmt: skip
    with pytest.raises(ScenarioError, match="sites and demand points"):
        HourlyTravel((base, other_sites), (1.0, 1.25), (0,) * 24)
    with pytest.raises(ScenarioError, match="1.0 first"):
        HourlyTravel((base, other), (1.25, 1.0), (0,) * 24)
    with pytest.raises(ScenarioError, match="24 table indices"):
        HourlyTravel((base,), (1.0,), (0,) * 23)


def test_a_scenario_needs_its_travel_model_as_the_off_peak_table() -> None:
    hourly = tiny_hourly_travel(PEAK)
    units = (UnitSpec("a1", "A", 0, Capability.ALS),)
    with pytest.raises(ScenarioError, match="hourly_travel must have the scenario's travel model"):
        Scenario("tiny", units, tiny_travel(), (hospital(),), hourly_travel=hourly)


# ------------------------------------------------------------------ the hand computation


def test_a_peak_hour_call_takes_the_factor_on_the_urban_part() -> None:
    calls, log = _log(tiny_scenario(time_of_day_factor=PEAK), [10_800.0, 28_800.0], [0, 0], [True, True])
    assert [int(u) for u in calls["unit"]] == [0, 0]
    np.testing.assert_allclose(calls["travel_s"], [300.0, 350.0])
    np.testing.assert_allclose(calls["transport_s"], [120.0, 150.0])
    np.testing.assert_allclose(calls["response_s"], [360.0, 410.0])
    a1 = [(t, what) for t, who, what in log if who == "a1"]
    assert a1 == [
        (10_800.0, "alerted for call0 (available_at_station, travel 300.0)"),
        (11_160.0, "on scene call0"),
        (11_760.0, "transporting call0 to h"),
        (12_180.0, "free, returning"),
        (12_380.0, "at station"),
        (28_800.0, "alerted for call1 (available_at_station, travel 350.0)"),
        (29_210.0, "on scene call1"),
        (29_810.0, "transporting call1 to h"),
        (30_260.0, "free, returning"),
        (30_510.0, "at station"),
    ]


def test_without_factors_the_peak_call_is_driven_as_off_peak() -> None:
    calls, _ = _log(tiny_scenario(), [10_800.0, 28_800.0], [0, 0], [True, True])
    np.testing.assert_allclose(calls["travel_s"], [300.0, 300.0])
    np.testing.assert_allclose(calls["transport_s"], [120.0, 120.0])


@pytest.mark.parametrize(
    ("t_s", "travel_s"),
    [(28_739.0, 300.0), (28_740.0, 350.0), (32_339.0, 350.0), (32_340.0, 300.0), (86_400.0 + 28_740.0, 350.0)],
)
def test_the_hour_is_the_one_the_unit_starts_driving_in(t_s: float, travel_s: float) -> None:
    calls, _ = _log(tiny_scenario(time_of_day_factor=PEAK), [t_s], [0], [False])
    assert calls["turnout_s"][0] == 60.0
    assert calls["travel_s"][0] == travel_s


def test_a_unit_sent_again_at_peak_is_placed_on_its_off_peak_trip() -> None:
    scenario = tiny_scenario(units=(UnitSpec("a1", "A", 0, Capability.ALS),), time_of_day_factor=PEAK)
    _, log = _log(scenario, [27_320.0], [0], [True])
    assert [(t, what) for t, _, what in log][-2:] == [(28_700.0, "free, returning"), (28_900.0, "at station")]
    calls, log = _log(scenario, [27_320.0, 28_800.0], [0, 1], [True, False])
    assert (28_800.0, "a1", "alerted for call1 (returning, travel 725.0)") in log
    assert STATUS_CODES[calls["status_at_alert"][1]] is UnitStatus.RETURNING
    assert calls["travel_s"][1] == 725.0


@settings(max_examples=40, deadline=None)
@given(
    calls=st.lists(st.tuples(st.floats(0.0, 2 * 86_400.0), st.integers(0, 2), st.booleans()), min_size=1, max_size=25),
)
def test_a_unit_at_its_station_drives_the_table_of_the_hour_it_starts(calls) -> None:
    calls = sorted(calls)
    svc = service(processing=30.0)
    scenario = tiny_scenario(svc=svc, time_of_day_factor=CONFIG_FACTORS)
    p = plan([c[0] for c in calls], [c[1] for c in calls], transport=[c[2] for c in calls], svc=svc)
    c = run_replication(scenario, days=2.0, seed=0, replication=0, plan=p).calls
    parts = c["call_processing_s"] + c["queue_wait_s"] + c["turnout_s"] + c["travel_s"]
    np.testing.assert_allclose(c["response_s"], parts, atol=1e-6)
    hourly = scenario.hourly_travel
    start = c["t_s"] + c["call_processing_s"] + c["queue_wait_s"] + c["turnout_s"]
    tables = np.array([hourly.table_at(t) for t in start])
    at_station = c["status_at_alert"] == STATUS_CODES.index(UnitStatus.AVAILABLE_AT_STATION)
    bases = np.array([u.base_site for u in scenario.units])[c["unit"]]
    expected = np.array([hourly.tables[k].site_to_point_s[b, q] for k, b, q in zip(tables, bases, c["point"])])
    np.testing.assert_array_equal(c["travel_s"][at_station], expected[at_station])


# ------------------------------------------------------------------ no factor: the results as before


# Results of these runs before the simulator knew the hour (the same seeds, inputs and code
# paths): a config without time-of-day factors must reproduce them exactly.
_BEFORE = {
    "tiny": dict(n=200, travel=106318.75229506436, response=188332.1942994701, transport=112960.0, returning=81,
                 mobile=0, queued=63, moves=0, units=8859),
    "grid": dict(n=298, travel=43930.21424088288, response=98097.69830614436, transport=19567.10600252769,
                 returning=38, mobile=0, queued=16, moves=0, units=65817),
    "grid, move-up": dict(n=298, travel=42286.40085432591, response=95839.38227798516, transport=19567.10600252769,
                          returning=34, mobile=13, queued=16, moves=122, units=66704),
}  # fmt: skip


def _summary(r: ReplicationResult) -> dict:
    c = r.calls
    status = c["status_at_alert"]
    return dict(
        n=r.n_calls, travel=float(np.nansum(c["travel_s"])), response=float(np.nansum(c["response_s"])),
        transport=float(np.nansum(c["transport_s"])), returning=int((status == 2).sum()), mobile=int((status == 1).sum()),
        queued=int((c["queue_wait_s"] > 0).sum()), moves=r.moves, units=int((c["unit"] * np.arange(1, r.n_calls + 1)).sum()),
    )  # fmt: skip


def _grid_units() -> tuple[UnitSpec, ...]:
    return (UnitSpec("a1", "a", 0, Capability.ALS), UnitSpec("a2", "a", 0, Capability.ALS),
            UnitSpec("b1", "b", 1, Capability.BLS), UnitSpec("b2", "b", 1, Capability.BLS))  # fmt: skip


def test_no_factor_reproduces_the_tiny_network_results_for_a_fixed_seed() -> None:
    scenario = tiny_scenario(time_of_day_factor={})
    assert len(scenario.hourly_travel.tables) == 1
    scenario = Scenario("tiny", scenario.units, scenario.travel, scenario.hospitals,
                        config=scenario.config.with_(calls_per_day=40.0), hourly_travel=scenario.hourly_travel)  # fmt: skip
    assert _summary(run_replication(scenario, days=5.0, seed=11, replication=0)) == _BEFORE["tiny"]


@pytest.mark.parametrize("move_up", [False, True], ids=["grid", "grid, move-up"])
def test_no_factor_reproduces_the_road_network_results_for_a_fixed_seed(move_up: bool) -> None:
    router = Router(compile_graph(grid_graph()), config={"routing": {"time_of_day_factor": {}}})
    hourly = hourly_network_travel(router, grid_points(), grid_sites(), return_sites=[0, 1], landmarks=4)
    assert hourly.factors == (1.0,)
    config = SimulationConfig(calls_per_day=60.0, move_up=MoveUpConfig() if move_up else None)
    scenario = Scenario("grid", _grid_units(), hourly.base, (hospital(),), config=config, hourly_travel=hourly)
    result = run_replication(scenario, days=5.0, seed=11, replication=0)
    assert _summary(result) == _BEFORE["grid, move-up" if move_up else "grid"]


# ------------------------------------------------------------------ on the routing engine


@pytest.fixture(scope="module")
def grid_hourly():
    # The town: the western half of the grid (edges whose midpoint lies west of the middle column).
    town = shapely.box(112.0, 28.0, 112.50 + 1.9 * 0.004, 28.5)
    config = {"routing": {"time_of_day_factor": {str(h): f for h, f in CONFIG_FACTORS.items()}}}
    router = Router(compile_graph(grid_graph()), config=config, urban_area=town)
    return router, hourly_network_travel(router, grid_points(), grid_sites(), return_sites=[0, 1], landmarks=4)


def test_the_network_tables_are_the_routers_times_at_each_factor(grid_hourly) -> None:
    router, hourly = grid_hourly
    assert hourly.factors == (1.0, 1.15, 1.25)
    assert [hourly.hour_table[h] for h in (3, 7, 8, 17, 18)] == [0, 1, 2, 2, 1]
    points, sites = grid_points(), [(s.lon, s.lat) for s in grid_sites()]
    for k, hour in ((0, None), (1, 7), (2, 8)):
        for j in range(points.n):
            etas = router.eta_to((points.lon[j], points.lat[j]), sites, max_eta_s=1e9, hour=hour)
            np.testing.assert_allclose(hourly.tables[k].site_to_point_s[:, j], [e.eta_s for e in etas], rtol=1e-9)
    # Off peak: the tables the simulator had before it knew the hour.
    before = network_travel(router, points, grid_sites(), return_sites=[0, 1], landmarks=4)
    np.testing.assert_array_equal(hourly.base.site_to_point_s, before.site_to_point_s)
    np.testing.assert_array_equal(hourly.base.node_to_site_s, before.node_to_site_s)
    # Only the urban part of a drive is slower: between 1 and 1.25 times, both ends reached.
    ratio = hourly.tables[2].site_to_point_s / hourly.base.site_to_point_s
    assert np.all(ratio >= 1.0 - 1e-12) and np.all(ratio <= 1.25 + 1e-12)
    assert np.any((ratio > 1.0 + 1e-9) & (ratio < 1.25 - 1e-9))


def test_a_grid_call_at_peak_takes_the_peak_tables_time(grid_hourly) -> None:
    _, hourly = grid_hourly
    units = (UnitSpec("a1", "a", 0, Capability.ALS),)
    scenario = Scenario("grid", units, hourly.base, (hospital(),), config=tiny_scenario().config, hourly_travel=hourly)
    for t_s, k in ((3 * 3600.0, 0), (8 * 3600.0, 2), (18 * 3600.0, 1)):
        result = run_replication(scenario, days=1.0, seed=0, replication=0, plan=plan([t_s], [5], transport=[True]))
        assert result.calls["travel_s"][0] == hourly.tables[k].site_to_point_s[0, 5]
        assert result.calls["transport_s"][0] == hourly.tables[k].point_to_site_s[5, 2]


def test_a_scenario_with_tables_by_hour_survives_pickling(grid_hourly) -> None:
    _, hourly = grid_hourly
    scenario = Scenario("grid", _grid_units(), hourly.base, (hospital(),), config=SimulationConfig(calls_per_day=60.0),
                        hourly_travel=hourly)  # fmt: skip
    copy = pickle.loads(pickle.dumps(scenario))
    assert copy.hourly_travel.base is copy.travel and len(copy.hourly_travel.tables) == 3
    a = run_replication(scenario, days=2.0, seed=4, replication=0)
    b = run_replication(copy, days=2.0, seed=4, replication=0)
    assert _summary(a) == _summary(b)
