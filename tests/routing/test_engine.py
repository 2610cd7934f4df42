"""Router queries against networkx Dijkstra on the same graphs, and their properties."""

from __future__ import annotations

import math
import random

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from routing.engine import Eta, Router
from routing.errors import NoRouteError, RoutingError, SnapError
from routing.network import compile_graph
from routing.profiles import RoadClass

HYPOTHESIS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def network(grid):
    return compile_graph(grid)


@pytest.fixture(scope="module")
def router(network, config):
    return Router(network, profile="emergency", config=config)


@pytest.fixture(scope="module")
def normal_router(network, config):
    return Router(network, profile="normal", config=config)


def reference_digraph(G: nx.MultiDiGraph, config: dict, *, emergency: bool) -> nx.DiGraph:
    """Build the expected weighted DiGraph straight from the source graph (fastest parallel edge)."""
    factors = config["routing"]["emergency_speed_factor"]
    D = nx.DiGraph()
    for u, v, d in G.edges(data=True):
        if u == v:
            continue
        highway = d["highway"]
        name = min((RoadClass.from_highway(h) for h in (highway if isinstance(highway, list) else [highway])))
        factor = factors.get(name.name.lower(), factors["default"]) if emergency else 1.0
        w = d["travel_time"] / factor
        if not D.has_edge(u, v) or w < D[u][v]["weight"]:
            D.add_edge(u, v, weight=w)
    return D


def subdivided(router: Router, snaps: list) -> tuple[nx.DiGraph, list]:
    """Build the compiled graph as a DiGraph with a node inserted at every snapped point."""
    net = router.network
    w = router.weights()
    tail = net.edge_tail
    D = nx.DiGraph()
    for e in range(net.n_edges):
        D.add_edge(int(tail[e]), int(net.indices[e]), weight=float(w[e]))
    # One node per distinct position: points snapped to the same place are the same place.
    by_edge: dict[int, dict] = {}
    names = []
    for s in snaps:
        at = by_edge.setdefault(s.edge, {})
        names.append(at.setdefault(s.fraction, ("p", s.edge, s.fraction)))
    by_edge = {e: sorted((f, name) for f, name in at.items()) for e, at in by_edge.items()}
    for e, points in by_edge.items():
        points.sort()
        u, v = int(tail[e]), int(net.indices[e])
        chain = [(0.0, u), *points, (1.0, v)]
        D.remove_edge(u, v)
        for (fa, a), (fb, b) in zip(chain, chain[1:]):
            D.add_edge(a, b, weight=(fb - fa) * float(w[e]))
        if net.has_twin[e]:
            t = int(net.twin[e])
            D.remove_edge(v, u)
            for (fa, a), (fb, b) in zip(chain, chain[1:]):
                D.add_edge(b, a, weight=(fb - fa) * float(w[t]))
    return D, names


def nx_time(D: nx.DiGraph, a, b) -> float | None:
    try:
        return nx.dijkstra_path_length(D, a, b, weight="weight")
    except nx.NetworkXNoPath:
        return None


def node_point(network, i: int) -> tuple[float, float]:
    return float(network.node_lon[i]), float(network.node_lat[i])


lon_st = st.floats(112.5495, 112.5725)
lat_st = st.floats(28.2495, 28.2705)
point_st = st.tuples(lon_st, lat_st)


# ---------------------------------------------------------------- equality with networkx


@pytest.mark.parametrize("emergency", [True, False])
def test_node_to_node_times_equal_networkx(grid, network, config, emergency):
    router = Router(network, profile="emergency" if emergency else "normal", config=config)
    D = reference_digraph(grid, config, emergency=emergency)
    ids = network.node_id.tolist()
    rng = random.Random(3)
    for _ in range(40):
        a, b = rng.randrange(network.n_nodes), rng.randrange(network.n_nodes)
        expected = nx_time(D, ids[a], ids[b])
        if expected is None:
            with pytest.raises(NoRouteError):
                router.route(node_point(network, a), node_point(network, b))
            continue
        route = router.route(node_point(network, a), node_point(network, b))
        assert route.travel_time_s == pytest.approx(expected, abs=1e-6)
        [eta] = router.eta_to(node_point(network, b), [node_point(network, a)], max_eta_s=1e9)
        assert eta is not None and eta.eta_s == pytest.approx(expected, abs=1e-6)


def test_travel_times_arrays_equal_networkx(grid, network, router, config):
    D = reference_digraph(grid, config, emergency=True)
    ids = network.node_id.tolist()
    for origin in (0, 7, network.n_nodes - 1):
        forward = nx.single_source_dijkstra_path_length(D, ids[origin], weight="weight")
        backward = nx.single_source_dijkstra_path_length(D.reverse(), ids[origin], weight="weight")
        got_from = router.travel_times_from(node_point(network, origin))
        got_to = router.travel_times_to(node_point(network, origin))
        for i, node in enumerate(ids):
            assert got_from[i] == pytest.approx(forward.get(node, math.inf), abs=1e-6)
            assert got_to[i] == pytest.approx(backward.get(node, math.inf), abs=1e-6)


@HYPOTHESIS
@given(target=point_st, sources=st.lists(point_st, min_size=1, max_size=6))
def test_eta_to_between_edge_interiors_equals_networkx_on_subdivided_graph(router, target, sources):
    snaps = router.snap_many([target, *sources])
    D, names = subdivided(router, snaps)
    etas = router.eta_to(snaps[0], snaps[1:], max_eta_s=1e9)
    for name, eta in zip(names[1:], etas):
        expected = nx_time(D, name, names[0])
        if expected is None:
            assert eta is None
        else:
            assert eta is not None and eta.eta_s == pytest.approx(expected, abs=1e-6)


@HYPOTHESIS
@given(a=point_st, b=point_st)
def test_route_between_edge_interiors_equals_networkx_on_subdivided_graph(router, a, b):
    snaps = router.snap_many([a, b])
    D, names = subdivided(router, snaps)
    expected = nx_time(D, names[0], names[1])
    if expected is None:
        with pytest.raises(NoRouteError):
            router.route(snaps[0], snaps[1])
        return
    route = router.route(snaps[0], snaps[1])
    assert route.travel_time_s == pytest.approx(expected, abs=1e-6)
    [eta] = router.eta_to(snaps[1], [snaps[0]], max_eta_s=1e9)
    assert eta.eta_s == pytest.approx(route.travel_time_s, abs=1e-6)
    assert eta.distance_m == pytest.approx(route.distance_m, abs=1e-6)


# ---------------------------------------------------------------- properties


@HYPOTHESIS
@given(points=st.lists(point_st, min_size=3, max_size=3))
def test_times_are_non_negative_and_obey_the_triangle_inequality(router, points):
    a, b, c = router.snap_many(points)
    t = {}
    for x, y, key in ((a, b, "ab"), (b, c, "bc"), (a, c, "ac")):
        [eta] = router.eta_to(y, [x], max_eta_s=1e9)
        t[key] = math.inf if eta is None else eta.eta_s
        assert t[key] >= 0
    assert t["ac"] <= t["ab"] + t["bc"] + 1e-6


@HYPOTHESIS
@given(a=point_st, b=point_st)
def test_two_way_graph_gives_symmetric_times(two_way_grid, config, a, b):
    router = _two_way_router(two_way_grid, config)
    sa, sb = router.snap_many([a, b])
    ab = router.route(sa, sb)
    ba = router.route(sb, sa)
    assert ab.travel_time_s == pytest.approx(ba.travel_time_s, abs=1e-6)
    assert ab.distance_m == pytest.approx(ba.distance_m, abs=1e-6)


_TWO_WAY: dict = {}


def _two_way_router(G, config) -> Router:
    if "router" not in _TWO_WAY:
        _TWO_WAY["router"] = Router(compile_graph(G), config=config)
    return _TWO_WAY["router"]


# ---------------------------------------------------------------- snapping


def test_snap_onto_an_edge_interior_gives_partial_times(router, network):
    # Halfway along the straight eastbound edge between the first two nodes of row 0, 30 m north.
    u, v = 0, 1
    lon = (network.node_lon[u] + network.node_lon[v]) / 2
    lat = network.node_lat[u] + 30 / 111_195
    snap = router.snap(lon, lat)
    assert snap.distance_m == pytest.approx(30, abs=0.5)
    assert {snap.u, snap.v} == {u, v}
    assert 0.45 < snap.fraction < 0.55
    w = router.weights()[snap.edge]
    assert snap.time_from_u_s == pytest.approx(snap.fraction * w)
    assert snap.time_to_v_s == pytest.approx((1 - snap.fraction) * w)
    assert snap.time_from_u_s + snap.time_to_v_s == pytest.approx(w)
    assert snap.twin is not None
    assert snap.lat == pytest.approx(network.node_lat[u], abs=1e-7)


def test_snap_onto_a_curved_edge_lies_on_its_geometry(router, network):
    # Column 1's north-south edges bend east: a point at the bend snaps onto the bend.
    i = int(np.flatnonzero(network.node_lon == network.node_lon[1])[0])
    bend_lon = network.node_lon[i] + 0.3 * 0.004
    bend_lat = network.node_lat[i] + 0.002
    snap = router.snap(bend_lon + 0.0001, bend_lat)
    assert snap.distance_m < 12
    assert snap.lon == pytest.approx(bend_lon, abs=1e-4)


@HYPOTHESIS
@given(points=st.lists(point_st, min_size=1, max_size=8))
def test_snap_finds_the_nearest_segment_exactly(router, points):
    index = router.index
    for p, snap in zip(points, router.snap_many(points)):
        x, y = router.projection.forward(np.array([p[0]]), np.array([p[1]]))
        t = np.clip(((x - index.x0) * index.dx + (y - index.y0) * index.dy) / index.len2, 0, 1)
        brute = np.hypot(index.x0 + t * index.dx - x, index.y0 + t * index.dy - y).min()
        assert snap.distance_m == pytest.approx(brute, abs=1e-6)
        one = router.snap(*p)
        assert one.edge == snap.edge
        assert (one.fraction, one.distance_m) == pytest.approx((snap.fraction, snap.distance_m), abs=1e-9)


def test_a_point_too_far_from_any_road_is_refused_with_its_distance(router):
    with pytest.raises(SnapError, match=r"\d+ m from the nearest road; at most 2000 m") as info:
        router.snap(112.70, 28.26)
    assert info.value.distance_m > 2000


def test_a_point_outside_the_boundary_is_refused_with_its_distance(network, config):
    boundary = shapely.box(112.549, 28.249, 112.562, 28.262)
    router = Router(network, config=config, boundary=boundary)
    with pytest.raises(SnapError, match="outside the county boundary by") as info:
        router.snap(112.565, 28.255)
    assert info.value.distance_m == pytest.approx(0.003 * 111_195 * math.cos(math.radians(28.26)), rel=0.01)
    assert router.snap(112.555, 28.255).distance_m < 300


def test_bad_points_are_refused(router):
    with pytest.raises(RoutingError, match="finite"):
        router.snap(float("nan"), 28.25)
    with pytest.raises(RoutingError, match=r"points\[1\]"):
        router.snap_many([(112.55, 28.25), (112.55, float("inf"))])


# ---------------------------------------------------------------- eta_to


def test_eta_to_unreachable_source_is_none(router, network):
    spur = int(np.flatnonzero(network.node_id == 99)[0])  # a one-way spur nothing can leave
    etas = router.eta_to(node_point(network, 0), [node_point(network, spur), node_point(network, 5)])
    assert etas[0] is None
    assert isinstance(etas[1], Eta) and etas[1].eta_s > 0


def test_eta_to_beyond_max_eta_is_none(router, network):
    far = node_point(network, network.n_nodes - 2)
    [eta] = router.eta_to(node_point(network, 0), [far])
    assert eta is not None
    assert router.eta_to(node_point(network, 0), [far], max_eta_s=eta.eta_s * 0.99) == [None]
    assert router.eta_to(node_point(network, 0), [far], max_eta_s=eta.eta_s * 1.01)[0] == eta


def test_a_source_ahead_on_the_target_edge_gets_the_direct_time(router, network):
    # Row 3 is one-way eastbound: a unit just west of the incident on the same edge drives straight on.
    row3 = [i for i in range(network.n_nodes) if abs(network.node_lat[i] - (28.25 + 3 * 0.004)) < 1e-9]
    row3.sort(key=lambda i: network.node_lon[i])
    u, v = row3[1], row3[2]
    lat = float(network.node_lat[u])
    lon = lambda f: float(network.node_lon[u] + f * (network.node_lon[v] - network.node_lon[u]))  # noqa: E731
    target, behind, ahead = router.snap(lon(0.7), lat), router.snap(lon(0.2), lat), router.snap(lon(0.9), lat)
    assert target.twin is None and target.edge == behind.edge == ahead.edge
    w = router.weights()[target.edge]
    length = network.length_m[target.edge]
    eta_behind, eta_ahead = router.eta_to(target, [behind, ahead])
    assert eta_behind.eta_s == pytest.approx((target.fraction - behind.fraction) * w)
    assert eta_behind.distance_m == pytest.approx((target.fraction - behind.fraction) * length)
    # The unit ahead on a one-way street must go round the block.
    assert eta_ahead.eta_s > (1 - ahead.fraction) * w + target.fraction * w


def test_eta_to_distance_matches_route_distance(router, network):
    rng = np.random.default_rng(5)
    pts = [(float(x), float(y)) for x, y in zip(rng.uniform(112.55, 112.57, 12), rng.uniform(28.25, 28.27, 12))]
    etas = router.eta_to(pts[0], pts[1:])
    for p, eta in zip(pts[1:], etas):
        route = router.route(p, pts[0])
        assert eta.eta_s == pytest.approx(route.travel_time_s, abs=1e-6)
        assert eta.distance_m == pytest.approx(route.distance_m, abs=1e-6)


def test_eta_to_with_no_sources_is_empty(router):
    assert router.eta_to((112.555, 28.255), []) == []


# ---------------------------------------------------------------- profiles


def test_emergency_is_faster_than_normal_by_the_class_factor(router, normal_router, network):
    a, b = node_point(network, 0), node_point(network, 3)  # along row 0, primary, factor 1.2
    emergency = router.route(a, b)
    normal = normal_router.route(a, b)
    assert emergency.travel_time_s == pytest.approx(normal.travel_time_s / 1.2)
    assert emergency.distance_m == pytest.approx(normal.distance_m)


def test_time_of_day_factor_applies_at_listed_hours(router, network):
    a, b = node_point(network, 0), node_point(network, 20)
    base = router.route(a, b).travel_time_s
    assert router.route(a, b, hour=8).travel_time_s == pytest.approx(base * 1.25)
    assert router.route(a, b, hour=3).travel_time_s == pytest.approx(base)
    with pytest.raises(RoutingError, match="hour must be an integer 0-23, got 24"):
        router.route(a, b, hour=24)


def test_urban_area_limits_the_time_of_day_factor(network, config):
    nowhere = shapely.box(100, 20, 100.1, 20.1)
    router = Router(network, config=config, urban_area=nowhere)
    a, b = node_point(network, 0), node_point(network, 20)
    assert router.route(a, b, hour=8).travel_time_s == pytest.approx(router.route(a, b).travel_time_s)


def test_unknown_profile_is_refused(network):
    with pytest.raises(RoutingError, match="profile must be one of emergency, normal, got 'fast'"):
        Router(network, profile="fast")


# ---------------------------------------------------------------- route, site tables, isochrones


def test_route_line_and_geojson(router, network):
    a, b = (112.5512, 28.2503), (112.5688, 28.2661)
    route = router.route(a, b)
    start, end = router.snap(*a), router.snap(*b)
    assert route.line.coords[0] == pytest.approx((start.lon, start.lat))
    assert route.line.coords[-1] == pytest.approx((end.lon, end.lat))
    # The drawn line is as long as the route (projection error well under 1 %).
    x, y = router.projection.forward(*np.asarray(route.line.coords).T)
    assert np.hypot(np.diff(x), np.diff(y)).sum() == pytest.approx(route.distance_m, rel=0.01)
    feature = route.geojson()
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert feature["properties"]["distance_m"] == pytest.approx(route.distance_m, abs=0.05)
    assert len(route.node_path) >= 2


def test_site_table_agrees_with_point_queries(router):
    sites = [(112.5512, 28.2503), (112.5688, 28.2661)]
    table = router.site_table(sites)
    assert table.times_s.shape == (2, router.network.n_nodes)
    rng = np.random.default_rng(9)
    for lon, lat in zip(rng.uniform(112.55, 112.572, 15), rng.uniform(28.25, 28.27, 15)):
        p = (float(lon), float(lat))
        for i, site in enumerate(sites):
            [to_p] = router.eta_to(p, [site], max_eta_s=1e9)
            [from_p] = router.eta_to(site, [p], max_eta_s=1e9)
            assert table.time_s(i, p) == pytest.approx(None if to_p is None else to_p.eta_s, abs=1e-6)
            assert table.from_point(p, i) == pytest.approx(None if from_p is None else from_p.eta_s, abs=1e-6)
    with pytest.raises(RoutingError, match="site_index must be 0-1, got 2"):
        table.time_s(2, sites[0])


def test_site_table_unreachable_is_none(router, network):
    spur = int(np.flatnonzero(network.node_id == 99)[0])
    table = router.site_table([node_point(network, spur)])
    assert table.to_point(0, node_point(network, 0)) is None
    assert np.isinf(table.times_s[0]).sum() == network.n_nodes - 1


def test_isochrones_grow_with_time_and_contain_the_origin(router):
    origin = (112.56, 28.26)
    areas = router.isochrones([origin], [1, 2, 5])
    assert set(areas) == {1.0, 2.0, 5.0}
    assert areas[1.0].contains(shapely.Point(origin))
    assert 0 < areas[1.0].area < areas[2.0].area <= areas[5.0].area
    # A node reached in 90 s is inside the 2-minute area and outside the 1-minute one.
    times = router.travel_times_from(origin)
    i = int(np.argmin(np.abs(times - 90)))
    assert 60 < times[i] < 120 - 1
    node = shapely.Point(router.network.node_lon[i], router.network.node_lat[i])
    assert areas[2.0].contains(node)


def test_isochrones_from_several_origins_cover_each(router):
    origins = [(112.551, 28.251), (112.571, 28.269)]
    area = router.isochrones(origins, [1])[1.0]
    assert all(area.contains(shapely.Point(p)) for p in origins)


# ---------------------------------------------------------------- fast paths


def test_eta_distance_follows_the_tree_past_a_seed_reached_through_the_network(config):
    # A -> B is quick but B -> A (its twin) slow: from B the target, halfway along A -> B, is
    # reached round the triangle B -> C -> A, not back along the slow twin.
    G = nx.MultiDiGraph(crs="EPSG:4326")
    for name, x, y in (("A", 112.550, 28.250), ("B", 112.551, 28.250), ("C", 112.5505, 28.251)):
        G.add_node({"A": 1, "B": 2, "C": 3}[name], x=x, y=y)
    for u, v, t in ((1, 2, 10.0), (2, 1, 100.0), (2, 3, 5.0), (3, 2, 5.0), (3, 1, 5.0), (1, 3, 5.0)):
        G.add_edge(u, v, length=100.0, travel_time=t, highway="residential")
    router = Router(compile_graph(G), profile="normal", config=config)
    target = router.snap(112.5505, 28.2501)
    assert (target.u, target.v, target.fraction) == (0, 1, 0.5)
    [eta] = router.eta_to(target, [(112.551, 28.250)], max_eta_s=1e9)  # a unit at B
    assert eta.eta_s == pytest.approx(5.0 + 5.0 + 0.5 * 10.0)
    assert eta.distance_m == pytest.approx(100.0 + 100.0 + 0.5 * 100.0)
    route = router.route((112.551, 28.250), target)
    assert (route.travel_time_s, route.distance_m) == pytest.approx((eta.eta_s, eta.distance_m))


@HYPOTHESIS
@given(a=point_st, b=point_st)
def test_route_searches_widened_from_a_tiny_bound_give_the_same_route(router, monkeypatch_module, a, b):
    import routing.engine as engine

    try:
        expected = router.route(a, b)
    except NoRouteError:
        expected = None
    with monkeypatch_module.context() as m:
        m.setattr(engine, "_ROUTE_BOUND_FACTOR", 0.0)
        m.setattr(engine, "_ROUTE_BOUND_SLACK_S", 1.0)
        if expected is None:
            with pytest.raises(NoRouteError):
                router.route(a, b)
            return
        got = router.route(a, b)
    assert got.travel_time_s == pytest.approx(expected.travel_time_s, abs=1e-6)
    assert got.distance_m == pytest.approx(expected.distance_m, abs=1e-6)
    assert got.line.equals(expected.line)


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as m:
        yield m


def test_many_new_sources_give_what_each_gives_alone(router):
    rng = np.random.default_rng(11)
    pts = [(float(x), float(y)) for x, y in zip(rng.uniform(112.55, 112.572, 41), rng.uniform(28.25, 28.27, 41))]
    router.snap_cache.clear()
    together = router.eta_to(pts[0], pts[1:], max_eta_s=1e9)  # snapped at once, vectorised
    router.snap_cache.clear()
    for p, eta in zip(pts[1:], together):
        assert router.eta_to(pts[0], [p], max_eta_s=1e9) == [eta]


def test_a_refused_source_is_named_by_its_place_among_the_sources(router):
    good = router.snap(112.555, 28.255)
    with pytest.raises(SnapError, match=r"sources\[2\] \(112\.700000, 28\.260000\) is \d+ m from the nearest road"):
        router.eta_to((112.56, 28.26), [good, (112.556, 28.256), (112.70, 28.26)])
    with pytest.raises(RoutingError, match=r"points\[3\] must be finite"):
        router.snap_many([(112.55, 28.25)] * 3 + [(112.55, float("nan"))])
