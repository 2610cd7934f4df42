"""Recommendation and queue policy, with a straight-line fake router."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.errors import PolicyError, UnitBusyError, UnknownIdError, ValidationError
from dispatch.events import CallReceived, UnitAssigned, UnitRegistered, UnitStatusChanged
from dispatch.model import Call, Capability, Unit, UnitStatus
from dispatch.policy import (
    PREFERRED_CAPABILITY,
    Candidate,
    DispatchConfig,
    UnroutableReason,
    call_for_freed_unit,
    candidates_for,
    next_call_for,
    rank_units,
    recommend,
)
from dispatch.state import apply, fold
from ems.config import load_config

NOW = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
INCIDENT = (112.55, 28.25)
S = UnitStatus


@dataclass(frozen=True)
class FakeEta:
    eta_s: float
    distance_m: float


@dataclass(frozen=True)
class FakeRoute:
    a: tuple[float, float]
    b: tuple[float, float]
    distance_m: float
    travel_time_s: float

    def geojson(self) -> dict:
        return {"type": "LineString", "coordinates": [list(self.a), list(self.b)]}


@dataclass
class FakeRouter:
    """Straight-line distance at a fixed speed; `blocked` sources are unreachable."""

    speed_m_s: float = 12.5
    blocked: frozenset = frozenset()
    eta_calls: list = field(default_factory=list)
    route_calls: list = field(default_factory=list)

    @staticmethod
    def distance_m(a, b) -> float:
        mean_lat = math.radians((a[1] + b[1]) / 2)
        return math.hypot((b[0] - a[0]) * 111_320 * math.cos(mean_lat), (b[1] - a[1]) * 110_540)

    def eta_to(self, target, sources, *, max_eta_s=None, hour=None):
        self.eta_calls.append((target, list(sources), max_eta_s))
        out = []
        for s in sources:
            d = self.distance_m(s, target)
            eta = d / self.speed_m_s
            out.append(None if s in self.blocked or (max_eta_s is not None and eta > max_eta_s) else FakeEta(eta, d))
        return out

    def route(self, a, b, *, hour=None):
        self.route_calls.append((a, b))
        d = self.distance_m(a, b)
        return FakeRoute(a, b, d, d / self.speed_m_s)


def unit(uid: str, station, *, cap: str = "als", status: UnitStatus = S.AVAILABLE_AT_STATION, position=None,
         age_s: float = 30.0, call_id: str | None = None) -> Unit:
    return Unit(
        id=uid, station_id=uid.rsplit("-", 1)[0], station_location=station, capability=cap, status=status,
        position=position, position_at=None if position is None else NOW - timedelta(seconds=age_s),
        current_call=call_id,
    )


def a_call(priority: int = 2, location=INCIDENT) -> Call:
    return Call(id="c1", location=location, complaint="trauma", priority=priority, received_at=NOW)


def travel_s(point, target=INCIDENT) -> float:
    return FakeRouter.distance_m(point, target) / FakeRouter.speed_m_s


def north(km: float):
    """A point `km` north of the incident."""
    return (INCIDENT[0], INCIDENT[1] + km / 110.54)


CONFIG = DispatchConfig(turnout_s={"available_at_station": 60, "available_mobile": 15, "returning": 15})


def test_ranks_by_travel_plus_turnout_with_one_eta_call() -> None:
    units = [
        unit("near-1", north(3.0)),  # at station: 60 s turnout
        unit("far-1", north(3.5), status=S.AVAILABLE_MOBILE),  # mobile, no fix: from its station, 15 s
        unit("mid-1", north(3.3)),
        unit("busy-1", north(0.5), status=S.EN_ROUTE, call_id="c0"),
        unit("off-1", north(0.5), status=S.OUT_OF_SERVICE),
    ]
    router = FakeRouter()
    ranking = recommend(a_call(), units, router, now=NOW, config=CONFIG)
    expected = sorted(
        (travel_s(u.station_location) + CONFIG.turnout_s[u.status], u.id) for u in units[:3]
    )
    assert [r.unit_id for r in ranking] == [uid for _, uid in expected]
    assert [r.eta_s for r in ranking] == pytest.approx([eta for eta, _ in expected])
    for r in ranking:
        assert r.eta_s == pytest.approx(r.turnout_s + r.travel_s)
        assert r.source == "station"
        assert r.route is not None and r.route.distance_m == pytest.approx(r.distance_m)
    assert len(router.eta_calls) == 1
    target, sources, max_eta_s = router.eta_calls[0]
    assert (target, len(sources), max_eta_s) == (INCIDENT, 3, CONFIG.max_eta_s)
    assert ranking.considered == 3 and ranking.unreachable == ()


def test_a_mobile_unit_is_timed_from_its_fresh_gps_fix() -> None:
    fix = north(1.0)
    units = [
        unit("mobile-1", north(20.0), status=S.AVAILABLE_MOBILE, position=fix, age_s=60),
        unit("back-1", north(20.0), status=S.RETURNING, position=fix, age_s=60),
        unit("stale-1", north(20.0), status=S.AVAILABLE_MOBILE, position=fix, age_s=601),
        unit("home-1", north(20.0), position=fix, age_s=60),  # at station: the station counts
    ]
    ranking = recommend(a_call(), units, FakeRouter(), now=NOW, config=CONFIG)
    by_id = {r.unit_id: r for r in ranking}
    assert (by_id["mobile-1"].source, by_id["back-1"].source) == ("gps", "gps")
    assert by_id["mobile-1"].travel_s == pytest.approx(travel_s(fix))
    assert (by_id["stale-1"].source, by_id["home-1"].source) == ("station", "station")
    assert by_id["stale-1"].travel_s == pytest.approx(travel_s(north(20.0)))
    assert [r.unit_id for r in ranking][:2] == ["back-1", "mobile-1"]  # equal ETA: unit id breaks the tie


def test_positions_from_the_service_override_the_unit() -> None:
    units = [unit("mobile-1", north(20.0), status=S.AVAILABLE_MOBILE)]
    fix = north(2.0)
    ranking = recommend(a_call(), units, FakeRouter(), now=NOW, config=CONFIG,
                        positions={"mobile-1": (fix, NOW - timedelta(seconds=5))})
    assert ranking.best.source == "gps"
    assert ranking.best.travel_s == pytest.approx(travel_s(fix))


def test_unreachable_units_are_left_out_and_counted() -> None:
    cut_off = north(2.0)
    units = [unit("island-1", cut_off), unit("ok-1", north(5.0)), unit("far-1", north(80.0))]
    router = FakeRouter(blocked=frozenset({cut_off}))
    config = DispatchConfig(max_eta_s=3600.0)  # 80 km at 12.5 m/s is 6400 s
    ranking = recommend(a_call(), units, router, now=NOW, config=config)
    assert [r.unit_id for r in ranking] == ["ok-1"]
    assert set(ranking.unreachable) == {"island-1", "far-1"}
    assert ranking.considered == 3


def test_no_free_unit_gives_an_empty_ranking_and_no_router_call() -> None:
    router = FakeRouter()
    ranking = recommend(a_call(), [unit("busy-1", north(1), status=S.ON_SCENE, call_id="c0")], router, now=NOW)
    assert (list(ranking), ranking.best, router.eta_calls) == ([], None, [])


def test_top_n_limits_the_options_and_the_routes() -> None:
    units = [unit(f"u{i:02d}-1", north(1.0 + i)) for i in range(8)]
    router = FakeRouter()
    ranking = recommend(a_call(), units, router, now=NOW, config=CONFIG, top_n=3)
    assert [r.unit_id for r in ranking] == ["u00-1", "u01-1", "u02-1"]
    assert len(router.route_calls) == 3
    assert all(b == INCIDENT for _, b in router.route_calls)
    assert len(recommend(a_call(), units, FakeRouter(), now=NOW, config=DispatchConfig(top_n=2))) == 2
    with pytest.raises(PolicyError, match="top_n must be an integer >= 1, got 0"):
        recommend(a_call(), units, router, now=NOW, top_n=0)


def test_priority_1_prefers_als_within_the_margin() -> None:
    config = DispatchConfig(preference_margin_s=300.0)
    bls = unit("bls-1", north(1.0), cap="bls")
    als_close_enough = unit("als-1", north(1.0 + 12.5 * 200 / 1000))  # 200 s later
    ranking = recommend(a_call(priority=1), [bls, als_close_enough], FakeRouter(), now=NOW, config=config)
    assert [r.unit_id for r in ranking] == ["als-1", "bls-1"]
    assert ranking[0].preferred and not ranking[1].preferred
    assert ranking[0].eta_s > ranking[1].eta_s


def test_priority_1_falls_back_to_bls_when_no_als_is_within_the_margin() -> None:
    config = DispatchConfig(preference_margin_s=300.0)
    bls = unit("bls-1", north(1.0), cap="bls")
    als_too_far = unit("als-1", north(1.0 + 12.5 * 400 / 1000))  # 400 s later
    ranking = recommend(a_call(priority=1), [bls, als_too_far], FakeRouter(), now=NOW, config=config)
    assert [r.unit_id for r in ranking] == ["bls-1", "als-1"]
    assert not any(r.preferred for r in ranking)


def test_priority_2_takes_the_fastest_and_3_4_prefer_bls() -> None:
    als = unit("als-1", north(1.0))
    bls = unit("bls-1", north(3.0), cap="bls")  # 160 s later
    for priority, first in [(2, "als-1"), (3, "bls-1"), (4, "bls-1")]:
        ranking = recommend(a_call(priority=priority), [als, bls], FakeRouter(), now=NOW)
        assert ranking.best.unit_id == first, priority
    assert PREFERRED_CAPABILITY[1] is Capability.ALS and PREFERRED_CAPABILITY[2] is None


_candidates = st.lists(
    st.tuples(
        st.sampled_from([Capability.ALS, Capability.BLS]),
        st.sampled_from([S.AVAILABLE_AT_STATION, S.AVAILABLE_MOBILE, S.RETURNING]),
        st.one_of(st.none(), st.floats(0, 5000)),
    ),
    max_size=12,
)


@given(st.integers(1, 4), _candidates, st.floats(0, 900), st.integers(1, 15))
@settings(max_examples=120)
def test_rank_units_orders_preferred_tier_then_eta_then_id(priority, rows, margin, top_n) -> None:
    cands = [Candidate(f"u{i}", cap, status, INCIDENT, "station") for i, (cap, status, _) in enumerate(rows)]
    etas = [None if t is None else FakeEta(t, t * 12.5) for _, _, t in rows]
    config = DispatchConfig(preference_margin_s=margin)
    ranking = rank_units(priority, cands, etas, config, top_n=top_n)
    reachable = [c for c, e in zip(cands, etas) if e is not None]
    assert len(ranking) == min(top_n, len(reachable))
    assert set(ranking.unreachable) == {c.unit_id for c, e in zip(cands, etas) if e is None}
    keys = [(not r.preferred, r.eta_s, r.unit_id) for r in ranking]
    assert keys == sorted(keys)
    if ranking.options:
        fastest = min(e.eta_s + config.turnout_s[c.status] for c, e in zip(cands, etas) if e is not None)
        pref = PREFERRED_CAPABILITY[priority]
        for r in ranking:
            assert r.preferred == (pref is not None and r.capability is pref and r.eta_s <= fastest + margin)
        if not ranking[0].preferred:
            assert ranking[0].eta_s == fastest


def test_rank_units_refuses_misaligned_etas() -> None:
    with pytest.raises(PolicyError, match="etas must match candidates one to one: 0 etas for 1 candidates"):
        rank_units(1, [Candidate("a-1", Capability.ALS, S.RETURNING, INCIDENT, "gps")], [])


def test_candidates_for_needs_an_aware_time() -> None:
    with pytest.raises(ValidationError, match="now must be tz-aware"):
        candidates_for([], now=datetime(2024, 5, 1))


def test_config_from_config_toml() -> None:
    raw = load_config(environ={})
    config = DispatchConfig.from_config(raw)
    assert config.top_n == raw["dispatch"]["top_n"]
    assert config.turnout_s[S.AVAILABLE_AT_STATION] == raw["dispatch"]["turnout_s"]["available_at_station"]
    assert config.gps_stale_after_s == raw["gps"]["stale_after_s"]
    assert config.max_eta_s == raw["routing"]["max_eta_s"]


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"top_n": 0}, "dispatch.top_n must be an integer >= 1, got 0"),
        ({"turnout_s": {"available_at_station": 60, "available_mobile": 15}}, "missing a value for returning"),
        ({"turnout_s": {"on_scene": 1}}, "key 'on_scene' is not an assignable status"),
        ({"turnout_s": {"available_at_station": -1, "available_mobile": 15, "returning": 15}},
         "dispatch.turnout_s.available_at_station must be a finite number >= 0, got -1"),
        ({"preference_margin_s": float("nan")}, "dispatch.preference_margin_s must be a finite number"),
        ({"max_eta_s": 0}, "routing.max_eta_s must be > 0"),
    ],
)
def test_bad_config_is_refused(kwargs, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        DispatchConfig(**kwargs)


# -- override, end to end with the state ------------------------------------------------------


def test_the_dispatcher_overrides_the_recommendation_and_the_reason_is_recorded() -> None:
    register = [
        UnitRegistered(at=NOW, by="system", unit_id=uid, station_id=uid[:-2], station_location=north(km),
                       capability="als")
        for uid, km in [("near-1", 1.0), ("next-1", 4.0)]
    ]
    received = CallReceived(at=NOW, by="dispatcher:alice", call_id="c1", location=INCIDENT, complaint="stroke",
                            priority=1, received_at=NOW)
    state = fold(register + [received])
    ranking = recommend(state.calls["c1"], state.units.values(), FakeRouter(), now=NOW)
    chosen = ranking[1].unit_id
    state = apply(state, UnitAssigned(
        at=NOW, by="dispatcher:alice", call_id="c1", unit_id=chosen, recommended_unit_id=ranking.best.unit_id,
        override_reason="near-1 crew reported a road closure"))
    a = state.current_assignment("c1")
    assert (a.unit_id, a.recommended_unit_id, a.overridden) == ("next-1", "near-1", True)
    assert a.override_reason == "near-1 crew reported a road closure"


# -- the queue ---------------------------------------------------------------------------------

_arrivals = st.lists(
    st.tuples(st.integers(1, 4), st.integers(0, 3600)), min_size=1, max_size=25
).flatmap(lambda calls: st.permutations(list(enumerate(calls))))


@given(_arrivals)
@settings(max_examples=80)
def test_queue_serves_by_priority_then_age_whatever_the_arrival_order(arrivals) -> None:
    events = [
        CallReceived(at=NOW + timedelta(hours=2), by="dispatcher:alice", call_id=f"c{i}", location=INCIDENT,
                     complaint="other", priority=p, received_at=NOW + timedelta(seconds=age))
        for i, (p, age) in arrivals
    ]
    state = fold(events)
    served = []
    for k in range(len(arrivals)):
        head = next_call_for(state)
        served.append(head)
        unit_id = f"u-{k}"
        state = fold([
            UnitRegistered(at=NOW, by="system", unit_id=unit_id, station_id="s", station_location=INCIDENT,
                           capability="bls"),
            UnitAssigned(at=NOW, by="dispatcher:alice", call_id=head.id, unit_id=unit_id),
        ], state)
    assert next_call_for(state) is None
    assert [(c.priority, c.received_at) for c in served] == sorted((c.priority, c.received_at) for c in served)
    assert {c.id for c in served} == {f"c{i}" for i, _ in arrivals}


def test_a_freed_unit_is_offered_the_head_of_the_queue() -> None:
    base = [
        UnitRegistered(at=NOW, by="system", unit_id="a-1", station_id="a", station_location=INCIDENT,
                       capability="bls", status="out_of_service"),
        CallReceived(at=NOW, by="dispatcher:alice", call_id="p3", location=INCIDENT, complaint="other",
                     priority=3, received_at=NOW),
        CallReceived(at=NOW, by="dispatcher:alice", call_id="p1", location=INCIDENT, complaint="stroke",
                     priority=1, received_at=NOW + timedelta(minutes=2)),
    ]
    state = fold(base)
    with pytest.raises(UnitBusyError, match="unit a-1 is out_of_service, not available"):
        call_for_freed_unit(state, "a-1")
    with pytest.raises(UnknownIdError, match="unit_id 'b-1'"):
        call_for_freed_unit(state, "b-1")
    state = apply(state, UnitStatusChanged(at=NOW, by="crew:a-1", unit_id="a-1", status="available_at_station"))
    assert call_for_freed_unit(state, "a-1").id == "p1"
    state = apply(state, UnitAssigned(at=NOW, by="system", call_id="p1", unit_id="a-1"))
    assert next_call_for(state).id == "p3"


# -- units whose position cannot be routed, on the tiny county's real router ---------------------

# The tiny county (tests/fixtures/geodata/tiny): a road grid over lon 112.10-112.14, lat 27.98-28.02,
# its boundary lon 112.09-112.16, lat 27.97-28.03; the call on the grid, the stations of its layout.
TINY_CALL = (112.121, 28.001)
CENTRE, LIUSHAHE, LONGTIAN = (112.119, 27.999), (112.122, 28.002), (112.139, 28.019)
STALE_S = 601.0


@pytest.fixture(scope="module")
def tiny_routers(tmp_path_factory):
    """The tiny county's router without a boundary (as the service builds it) and with one (as `ems route`)."""
    import shutil
    import warnings

    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network
    from tests.dispatch.service_fixtures import TINY

    copy = shutil.copytree(TINY, tmp_path_factory.mktemp("county") / "tiny",
                           ignore=shutil.ignore_patterns(".ems-cache"))  # loading it writes a cache beside it
    config = load_config(environ={})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
        county = load_county(str(copy))
        network = load_network(county)
    return {"service": Router(network, config=config, boundary=None),
            "bounded": Router(network, config=config, boundary=county.boundary)}


@dataclass
class CountingRouter:
    """A real router that counts its ``eta_to`` calls."""

    router: object
    eta_calls: int = 0

    def eta_to(self, target, sources, **kw):
        self.eta_calls += 1
        return self.router.eta_to(target, sources, **kw)

    def route(self, a, b, **kw):
        return self.router.route(a, b, **kw)


def tiny_fleet(odd: Unit) -> list[Unit]:
    """Four sound units of the tiny county (one mobile with a fresh fix on the grid) and `odd`."""
    return [
        unit("centre-1", CENTRE),
        unit("centre-2", CENTRE, cap="bls", status=S.AVAILABLE_MOBILE, position=(112.13, 28.0), age_s=20),
        unit("liushahe-1", LIUSHAHE, status=S.RETURNING, position=(112.12, 28.01), age_s=5),
        unit("longtian-a", LONGTIAN, cap="bls"),
        odd,
    ]


def tiny_call(priority: int = 1) -> Call:
    return a_call(priority=priority, location=TINY_CALL)


@pytest.mark.parametrize("router_kind", ["service", "bounded"])
@pytest.mark.parametrize(("fix", "age_s", "reason", "words"), [
    # one glitched first fix 0.275 degrees east: ~25 km from the nearest road (and ~23 km outside the boundary)
    ((112.396, 28.001), 30.0, "gps_off_road", "km off the road network"),
    # south-east of the network's bbox and of the boundary, 3.3 km from the nearest road
    ((112.155, 27.95), 30.0, "gps_off_road", "km off the road network"),
    # a finite but absurd position (the receiver's garbage, not a place in the county)
    ((179.9, -89.9), 30.0, "gps_off_road", "km off the road network"),
    # a fix on the grid, 10 min 1 s old (gps.stale_after_s 600 s)
    ((112.13, 28.01), STALE_S, "gps_stale", "last fix 10 min 1 s old, older than 10 min"),
    ((float("nan"), 28.0), 30.0, "gps_invalid", "not a finite (lon, lat)"),
], ids=["25km_off_road", "outside_the_bbox", "absurd", "stale", "not_finite"])
def test_a_unit_whose_fix_cannot_be_routed_is_ranked_from_its_station(tiny_routers, router_kind, fix, age_s,
                                                                      reason, words) -> None:
    router = CountingRouter(tiny_routers[router_kind])
    units = tiny_fleet(unit("odd-1", LIUSHAHE, status=S.AVAILABLE_MOBILE))
    # the fix as the service hands it over (its live positions), unchecked by `Unit`
    positions = {"odd-1": (fix, NOW - timedelta(seconds=age_s))}
    ranking = recommend(tiny_call(), units, router, now=NOW, config=CONFIG, top_n=10, positions=positions)
    assert sorted(r.unit_id for r in ranking) == sorted(u.id for u in units)  # every unit ranked
    by_id = {r.unit_id: r for r in ranking}
    assert by_id["odd-1"].source == "station" and by_id["odd-1"].route is not None
    [from_station] = tiny_routers[router_kind].eta_to(TINY_CALL, [LIUSHAHE])
    assert by_id["odd-1"].travel_s == from_station.eta_s
    assert (by_id["centre-2"].source, by_id["liushahe-1"].source) == ("gps", "gps")
    [note] = ranking.unroutable
    assert (note.unit_id, str(note.reason), note.source) == ("odd-1", reason, "station")
    assert words in note.message and note.message.endswith("; ranked from its station")
    assert ranking.unreachable == () and ranking.considered == 5
    if reason == "gps_off_road":
        assert note.distance_m > 2000.0  # routing.max_snap_distance_m
        assert router.eta_calls == 2  # refused before any search, then timed again without it
    else:
        assert note.distance_m is None and router.eta_calls == 1  # never handed to the router


def test_a_fix_outside_the_bbox_but_near_a_road_is_still_used(tiny_routers) -> None:
    near = (112.095, 27.975)  # west and south of every road, ~700 m from the grid's corner
    units = tiny_fleet(unit("odd-1", LIUSHAHE, status=S.AVAILABLE_MOBILE, position=near))
    ranking = recommend(tiny_call(), units, tiny_routers["service"], now=NOW, config=CONFIG, top_n=10)
    assert {r.unit_id: r.source for r in ranking}["odd-1"] == "gps" and ranking.unroutable == ()


def test_units_sharing_one_refused_fix_cost_one_more_eta_call(tiny_routers) -> None:
    router = CountingRouter(tiny_routers["service"])
    off = (112.396, 28.001)
    units = [unit("a-1", CENTRE, status=S.AVAILABLE_MOBILE, position=off),
             unit("b-1", LIUSHAHE, status=S.RETURNING, position=off), unit("c-1", LONGTIAN)]
    ranking = recommend(tiny_call(), units, router, now=NOW, config=CONFIG)
    assert sorted(r.unit_id for r in ranking) == ["a-1", "b-1", "c-1"]
    assert [(n.unit_id, str(n.reason)) for n in ranking.unroutable] == [("a-1", "gps_off_road"),
                                                                         ("b-1", "gps_off_road")]
    assert router.eta_calls == 2


def test_a_unit_whose_station_cannot_be_routed_is_left_out_with_why(tiny_routers) -> None:
    far_station = (112.5, 28.5)  # a station misplaced in the county data
    units = tiny_fleet(unit("odd-1", far_station))
    units.append(unit("odd-2", far_station, status=S.AVAILABLE_MOBILE, position=(179.9, -89.9)))
    ranking = recommend(tiny_call(), units, tiny_routers["service"], now=NOW, config=CONFIG, top_n=10)
    assert sorted(r.unit_id for r in ranking) == ["centre-1", "centre-2", "liushahe-1", "longtian-a"]
    assert set(ranking.unreachable) == {"odd-1", "odd-2"}
    notes = {n.unit_id: n for n in ranking.unroutable}
    assert (str(notes["odd-1"].reason), notes["odd-1"].source) == ("station_off_road", None)
    assert notes["odd-1"].message.startswith("its station is 6") and notes["odd-1"].message.endswith(": left out")
    # the fix's fault comes first; the message tells both
    assert (str(notes["odd-2"].reason), notes["odd-2"].source) == ("gps_off_road", None)
    assert "last fix is" in notes["odd-2"].message and "; its station is" in notes["odd-2"].message


def test_a_call_the_router_refuses_is_an_error_not_a_unit_fault(tiny_routers) -> None:
    from routing.errors import SnapError

    with pytest.raises(SnapError, match="from the nearest road"):
        recommend(a_call(location=(112.5, 28.5)), tiny_fleet(unit("odd-1", LIUSHAHE)), tiny_routers["service"],
                  now=NOW, config=CONFIG)


def test_units_left_out_or_timed_from_their_station_are_listed_with_why() -> None:
    config = DispatchConfig(max_eta_s=3600.0)  # 80 km at 12.5 m/s is 6400 s
    units = [unit("far-1", north(80.0)), unit("ok-1", north(5.0)),
             unit("nofix-1", north(3.0), status=S.AVAILABLE_MOBILE),
             unit("farfix-1", north(3.0), status=S.RETURNING, position=north(80.0))]
    ranking = recommend(a_call(), units, FakeRouter(), now=NOW, config=config)
    assert [r.unit_id for r in ranking] == ["nofix-1", "ok-1"]
    notes = [(n.unit_id, str(n.reason), n.source, n.message) for n in ranking.unroutable]
    assert notes == [
        ("far-1", "beyond_max_eta", None,
         "no road route from its station to the call within 60 min (routing.max_eta_s): left out"),
        ("nofix-1", "gps_missing", "station", "no GPS fix yet; ranked from its station"),
        ("farfix-1", "beyond_max_eta", None,
         "no road route from its last fix to the call within 60 min (routing.max_eta_s): left out"),
    ]
    assert set(ranking.unreachable) == {"far-1", "farfix-1"}


def test_unroutable_json_gives_the_code_the_sentence_and_the_source(tiny_routers) -> None:
    from dispatch.views import unroutable_json

    units = tiny_fleet(unit("odd-1", LIUSHAHE, status=S.AVAILABLE_MOBILE, position=(112.396, 28.001)))
    [item] = unroutable_json(recommend(tiny_call(), units, tiny_routers["service"], now=NOW, config=CONFIG))
    assert set(item) == {"unit_id", "reason", "message", "source", "distance_m"}
    assert (item["unit_id"], item["reason"], item["source"]) == ("odd-1", "gps_off_road", "station")
    assert 24_000 < item["distance_m"] < 26_000
    assert item["message"] == f"last fix is {item['distance_m'] / 1000:.1f} km off the road network; " \
                              "ranked from its station"


_anywhere = st.tuples(st.floats(-180.0, 180.0), st.floats(-90.0, 90.0))
_near_the_county = st.tuples(st.floats(112.0, 112.25), st.floats(27.9, 28.1))
_on_the_grid = st.tuples(st.floats(112.10, 112.14), st.floats(27.98, 28.02))
_tiny_units = st.lists(
    st.tuples(
        st.sampled_from([S.AVAILABLE_AT_STATION, S.AVAILABLE_MOBILE, S.RETURNING, S.EN_ROUTE]),
        st.sampled_from([CENTRE, LIUSHAHE, LONGTIAN, (112.5, 28.5)]),  # the last one off the roads
        st.one_of(st.none(), st.tuples(st.one_of(_anywhere, _near_the_county, _on_the_grid),  # the fix, its age (s)
                                       st.one_of(st.floats(-600.0, 600.0), st.floats(-600.0, 1e8)))),
        st.sampled_from(["als", "bls"]),
    ),
    min_size=1, max_size=8,
)


@given(rows=_tiny_units, router_kind=st.sampled_from(["service", "bounded"]), priority=st.integers(1, 4))
@settings(max_examples=80, deadline=None)
def test_any_unit_positions_never_break_the_ranking(tiny_routers, rows, router_kind, priority) -> None:
    units = [unit(f"u{i}-1", station, cap=cap, status=status, position=None if fix is None else fix[0],
                  age_s=0.0 if fix is None else fix[1], call_id="c0" if status is S.EN_ROUTE else None)
             for i, (status, station, fix, cap) in enumerate(rows)]
    ranking = recommend(tiny_call(priority), units, tiny_routers[router_kind], now=NOW, config=CONFIG, top_n=10)
    free = [u for u in units if u.status is not S.EN_ROUTE]
    ranked = {r.unit_id: r for r in ranking}
    notes = {n.unit_id: n for n in ranking.unroutable}
    assert len(notes) == len(ranking.unroutable) and ranking.considered == len(free)
    for u in free:
        note = notes.get(u.id)
        if u.id in ranked:  # ranked: from its fix, or from its station with why
            at_station = u.status is S.AVAILABLE_AT_STATION
            assert ranked[u.id].source == ("gps" if note is None and not at_station else "station")
            assert note is None or (note.source == "station" and not at_station)
        else:  # left out, with why
            assert note is not None and note.source is None and u.id in ranking.unreachable
        assert note is None or (isinstance(note.reason, UnroutableReason) and note.message)
    assert set(ranked) | set(ranking.unreachable) == {u.id for u in free}
