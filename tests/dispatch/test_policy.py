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
