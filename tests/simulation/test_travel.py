"""Travel tables on the routing engine, and units' positions and estimates on their way back."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.simulation.simhelpers import grid_graph, grid_points, grid_sites, tiny_travel

from routing.engine import Router
from routing.network import compile_graph
from simulation.travel import network_travel


@pytest.fixture(scope="module")
def grid_travel():
    router = Router(compile_graph(grid_graph()))
    return router, network_travel(router, grid_points(), grid_sites(), return_sites=[0, 1])


def test_site_to_point_is_the_routers_eta(grid_travel) -> None:
    router, travel = grid_travel
    for j in range(travel.points.n):
        target = (travel.points.lon[j], travel.points.lat[j])
        etas = router.eta_to(target, [(s.lon, s.lat) for s in travel.sites], max_eta_s=1e9)
        np.testing.assert_allclose(travel.site_to_point_s[:, j], [e.eta_s for e in etas], rtol=1e-9)


def test_return_path_ends_at_the_base(grid_travel) -> None:
    _, travel = grid_travel
    nodes, neg_left = travel.path(int(travel.site_node[0][2]), 0)
    assert neg_left == sorted(neg_left)
    assert -neg_left[-1] <= travel.node_to_site_s[0].min() + 120.0  # next to the station


@settings(max_examples=60, deadline=None)
@given(point=st.integers(0, 11), base=st.integers(0, 1), share=st.floats(0.0, 1.0), from_hospital=st.booleans())
def test_estimate_from_the_way_back_is_a_drivable_time(grid_travel, point, base, share, from_hospital) -> None:
    router, travel = grid_travel
    origin_site, origin_point = (2, None) if from_hospital else (None, (point + 5) % 12)
    total = travel.trip_time_s(origin_site, origin_point, base)
    elapsed = share * total
    estimate = travel.returning_to_point_s(origin_site, origin_point, base, elapsed, point)
    origin = travel.sites[2] if from_hospital else None
    origin_xy = (origin.lon, origin.lat) if origin else (travel.points.lon[origin_point], travel.points.lat[origin_point])
    target = (travel.points.lon[point], travel.points.lat[point])
    from_origin = router.eta_to(target, [origin_xy], max_eta_s=1e9)[0].eta_s
    # Never below what the triangle inequality allows from where the unit started ...
    assert estimate >= from_origin - elapsed - 1e-3  # float32 tables
    # ... never above carrying on via the base.
    assert estimate <= (total - elapsed) + travel.site_to_point_s[base, point] + 1e-6
    # At the base it is exact.
    at_base = travel.returning_to_point_s(origin_site, origin_point, base, total, point)
    assert at_base == pytest.approx(travel.site_to_point_s[base, point])


def test_estimate_at_a_node_is_never_below_the_routers_time(grid_travel) -> None:
    router, travel = grid_travel
    nodes, neg_left = travel.path(int(travel.site_node[0][2]), 0)
    total = travel.trip_time_s(2, None, 0)
    for node, neg in zip(nodes, neg_left):
        elapsed = total + neg  # the moment the unit passes the node
        xy = (float(travel.node_lon[node]), float(travel.node_lat[node]))
        for point in range(travel.points.n):
            target = (travel.points.lon[point], travel.points.lat[point])
            exact = router.eta_to(target, [xy], max_eta_s=1e9)[0].eta_s
            # float32 tables: a few microseconds of rounding.
            assert travel.returning_to_point_s(2, None, 0, elapsed, point) >= exact - 1e-3


@settings(max_examples=120, deadline=None)
@given(point=st.integers(0, 11), base=st.integers(0, 1), share=st.floats(0.0, 1.0), from_hospital=st.booleans(),
       limit=st.floats(0.0, 2000.0))
def test_estimate_is_the_best_of_three_ways_and_a_limit_drops_only_what_is_beyond(
    grid_travel, point, base, share, from_hospital, limit
) -> None:
    _, travel = grid_travel
    origin_site, origin_point = (2, None) if from_hospital else (None, (point + 5) % 12)
    total = travel.trip_time_s(origin_site, origin_point, base)
    elapsed = share * total
    estimate = travel.returning_to_point_s(origin_site, origin_point, base, elapsed, point)
    # The module docstring's three ways, every site and landmark tried (no shortcut).
    carry_on = (total - elapsed) + travel.site_to_point_s[base, point]
    if origin_site is not None:
        back = elapsed + travel.site_to_point_s[origin_site, point]
    else:
        back = elapsed + travel.point_to_point_s(origin_point, point)
    expected = min(carry_on, back)
    ahead = travel._node_at(origin_site, origin_point, base, elapsed)
    if ahead is not None:
        node, to_node_s = ahead
        via = np.concatenate([
            travel.node_to_site_s[:, node].astype(float) + travel.site_to_point_s[:, point],
            travel.node_to_landmark_s[:, node].astype(float) + travel.landmark_to_point_s[:, point],
        ])  # fmt: skip
        expected = min(expected, to_node_s + float(via.min()))
    assert estimate == expected
    limited = travel.returning_to_point_s(origin_site, origin_point, base, elapsed, point, limit_s=limit)
    assert limited == estimate or (limited == math.inf and estimate > limit)


def test_matrix_model_turns_around_or_carries_on() -> None:
    travel = tiny_travel()
    travel.point_rows()
    # From H (site 2) back to A (site 0), 200 s; 50 s in, to p2: carry on 150 + 900, back 50 + 1000.
    assert travel.returning_to_point_s(2, None, 0, 50.0, 2) == 1050.0
    assert travel.returning_to_point_s(2, None, 0, 0.0, 1) == 600.0
    assert travel.returning_to_point_s(2, None, 0, 50.0, 2, limit_s=10.0) == 1050.0  # no search to skip
    lon, lat = travel.returning_position(2, None, 0, 100.0)
    assert math.isclose(lon, 112.0) and math.isclose(lat, 28.005)


def test_bad_matrix_shape_is_refused() -> None:
    from simulation.errors import ScenarioError
    from simulation.travel import TravelModel

    travel = tiny_travel()
    with pytest.raises(ScenarioError, match="site_to_point_s must have shape"):
        TravelModel(travel.sites, travel.points, np.zeros((2, 3)), travel.point_to_site_s, travel.site_to_site_s)
