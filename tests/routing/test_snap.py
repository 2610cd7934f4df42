"""The snap grid, the snap cache and the boundary raster against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.engine import Router
from routing.errors import RoutingError, SnapError
from routing.geometry import LocalProjection, PolygonMask
from routing.network import compile_graph
from routing.snap import SnapCache, SnapIndex

HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

lon_st = st.floats(112.5495, 112.5725)
lat_st = st.floats(28.2495, 28.2705)
point_st = st.tuples(lon_st, lat_st)


@pytest.fixture(scope="module")
def network(grid):
    return compile_graph(grid)


@pytest.fixture(scope="module")
def router(network, config):
    return Router(network, config=config)


def brute_force(index: SnapIndex, lon: float, lat: float) -> tuple[float, int]:
    """Return the distance to the nearest segment and the least segment at that distance."""
    x, y = index.projection.forward(np.array([lon]), np.array([lat]))
    t = np.clip(((x - index.x0) * index.dx + (y - index.y0) * index.dy) / index.len2, 0, 1)
    d = np.hypot(index.x0 + t * index.dx - x, index.y0 + t * index.dy - y)
    return float(d.min()), int(np.argmin(d))


@pytest.mark.parametrize("cell_m", [20.0, 200.0, 5000.0])
@HYPOTHESIS
@given(points=st.lists(point_st, min_size=1, max_size=40))
def test_grid_query_is_the_exact_nearest_segment_whatever_the_cell(network, cell_m, points):
    index = SnapIndex(network, LocalProjection(*network.center), cell_m=cell_m, max_ring=3)
    lon, lat = np.array(points).T
    many = index.query(lon, lat)
    for k, (x, y) in enumerate(points):
        expected, _ = brute_force(index, x, y)
        one = index.query_one(x, y)
        assert one[4] == pytest.approx(expected, abs=1e-6)
        # The vectorised and the one-point paths give the same bits, ties included.
        assert one == (int(many.edge[k]), float(many.fraction[k]), float(many.x[k]), float(many.y[k]),
                       float(many.distance_m[k]))


@pytest.mark.parametrize("point", [(112.70, 28.26), (112.40, 28.10), (112.5600, 28.40), (112.5601, 28.2600)])
def test_points_far_from_the_grid_or_past_the_rings_are_still_exact(network, point):
    index = SnapIndex(network, LocalProjection(*network.center), cell_m=50.0, max_ring=2)
    expected, _ = brute_force(index, *point)
    assert index.query_one(*point)[4] == pytest.approx(expected, abs=1e-6)
    assert float(index.query(np.array([point[0]]), np.array([point[1]])).distance_m[0]) == pytest.approx(expected)


def test_a_point_on_a_node_goes_to_the_least_segment_of_those_meeting_there(network, router):
    index = router.index
    lon, lat = float(network.node_lon[7]), float(network.node_lat[7])
    edge, fraction, _, _, d = index.query_one(lon, lat)
    assert d == pytest.approx(0.0, abs=1e-6)
    _, least = brute_force(index, lon, lat)
    assert edge == index.seg_edge[least]
    assert fraction in (0.0, 1.0)


def test_cell_size_must_be_positive(network):
    with pytest.raises(ValueError, match="cell_m must be > 0, got 0"):
        SnapIndex(network, LocalProjection(*network.center), cell_m=0)


# ---------------------------------------------------------------- cache


def test_snap_cache_keeps_the_most_recently_used():
    cache = SnapCache(2)
    cache.put((1.0, 1.0), (1, 0.1, 0.0, 0.0, 1.0))
    cache.put((2.0, 2.0), (2, 0.2, 0.0, 0.0, 2.0))
    assert cache.get((1.0, 1.0)) == (1, 0.1, 0.0, 0.0, 1.0)  # now the most recent
    cache.put((3.0, 3.0), (3, 0.3, 0.0, 0.0, 3.0))  # evicts (2, 2)
    assert cache.get_many([(2.0, 2.0), (1.0, 1.0), (3.0, 3.0)]) == [
        None, (1, 0.1, 0.0, 0.0, 1.0), (3, 0.3, 0.0, 0.0, 3.0)]
    assert len(cache) == 2
    cache.clear()
    assert cache.get((1.0, 1.0)) is None


def test_snap_cache_of_size_zero_keeps_nothing_and_sizes_are_checked():
    cache = SnapCache(0)
    cache.put((1.0, 1.0), (1, 0.1, 0.0, 0.0, 1.0))
    assert len(cache) == 0
    with pytest.raises(ValueError, match="maxsize must be an integer >= 0, got -1"):
        SnapCache(-1)


@HYPOTHESIS
@given(points=st.lists(point_st, min_size=1, max_size=30))
def test_cached_snaps_equal_fresh_ones(network, config, points):
    cached = Router(network, config=config)
    uncached = Router(network, config={"routing": {**config["routing"], "snap_cache_size": 0}})
    first = cached.snap_many(points)
    assert cached.snap_many(points) == first == uncached.snap_many(points)
    assert [cached.snap(*p) for p in points] == first == [uncached.snap(*p) for p in points]
    assert len(uncached.snap_cache) == 0


def test_refused_points_are_not_cached(router):
    for _ in range(2):
        with pytest.raises(SnapError, match="from the nearest road"):
            router.snap(112.70, 28.26)
    assert router.snap_cache.get((112.70, 28.26)) is None


def test_snap_cache_size_from_config_is_checked(network, config):
    with pytest.raises(RoutingError, match="routing.snap_cache_size must be an integer >= 0, got 'many'"):
        Router(network, config={"routing": {**config["routing"], "snap_cache_size": "many"}})
    assert Router(network, config={"routing": {"snap_cache_size": 7}}).snap_cache.maxsize == 7


# ---------------------------------------------------------------- boundary raster

county_like = shapely.Polygon(
    [(112.550, 28.250), (112.566, 28.251), (112.571, 28.262), (112.560, 28.270), (112.552, 28.262)],
    holes=[[(112.558, 28.258), (112.561, 28.258), (112.561, 28.261), (112.558, 28.261)]],
)


MASK = PolygonMask(county_like, cells=16)


@settings(max_examples=150, deadline=None)
@given(points=st.lists(st.tuples(st.floats(112.548, 112.573), st.floats(28.248, 28.272)), min_size=1, max_size=50))
def test_polygon_mask_answers_as_shapely_does(points):
    mask = MASK
    lon, lat = np.array(points).T
    expected = shapely.contains_xy(county_like, lon, lat)
    assert mask.contains_many(lon, lat).tolist() == expected.tolist()
    assert [mask.contains(x, y) for x, y in points] == expected.tolist()


def test_polygon_mask_on_the_outline_and_its_vertices_is_outside_as_in_shapely():
    mask = MASK
    assert (mask.state == PolygonMask._TEST).any() and (mask.state == PolygonMask._INSIDE).any()
    for x, y in [*county_like.exterior.coords, (112.558, 28.2595), (112.5595, 28.258)]:
        assert mask.contains(x, y) is bool(shapely.contains_xy(county_like, x, y))
    assert not mask.contains(math.nan, 28.26)


def test_a_bulk_batch_is_not_kept_so_live_snaps_stay(network, config):
    router = Router(network, config={"routing": {**config["routing"], "snap_cache_size": 8}})
    station = (112.555, 28.255)
    router.snap(*station)
    router.snap_many([(112.556, 28.256), (112.557, 28.257)])  # up to a quarter of the cache: kept
    assert len(router.snap_cache) == 3
    router.snap_many([(112.558 + k * 1e-4, 28.258) for k in range(3)])  # more: a bulk job, not kept
    assert len(router.snap_cache) == 3 and router.snap_cache.get(station) is not None
