"""GPS parsing (JSON, OsmAnd query/form, Traccar Client JSON) and the filter chain, pure and offline."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from urllib.parse import parse_qsl, urlencode

from dispatch.gps import (KNOT_MPS, Decision, Fix, GpsError, Limits, Reject, Track, check_fix, decide, distance_m,
                          parse_json_fixes, parse_osmand, parse_osmand_json, parse_query, parse_time)

NOW = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
LIMITS = Limits(max_accuracy_m=100.0, max_speed_kph=250.0, max_future_s=60.0)


def fix(lon=112.55, lat=28.25, at=NOW, **kw) -> Fix:
    return Fix(lon=lon, lat=lat, at=at, **kw)


# -- parsing -----------------------------------------------------------------------------------

def test_traccar_client_query_string_is_parsed_with_knots():
    # as Traccar Client (Android) sends it: POST /?id=...&timestamp=<epoch s>&lat&lon&speed&bearing&...
    params = {"id": "861234567890123", "timestamp": "1740816000", "lat": "28.2501", "lon": "112.5502",
              "speed": "10.0", "bearing": "271.5", "altitude": "61.0", "accuracy": "8.0", "batt": "85.0",
              "charge": "true"}
    f = parse_osmand(params, NOW)
    assert f.device_id == "861234567890123"
    assert (f.lon, f.lat) == (112.5502, 28.2501)
    assert f.at == datetime.fromtimestamp(1740816000, timezone.utc)
    assert f.speed_mps == pytest.approx(10.0 * 1852 / 3600)
    assert f.heading_deg == 271.5 and f.altitude_m == 61.0 and f.accuracy_m == 8.0
    assert f.battery_pct == 85.0 and f.charging is True and f.valid


@pytest.mark.parametrize(("raw", "expected"), [
    ("1740816000", datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)),
    ("1740816000123", datetime(2025, 3, 1, 8, 0, 0, 123000, tzinfo=timezone.utc)),
    ("2025-03-01T16:00:00+08:00", datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)),
    ("2025-03-01T08:00:00Z", datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)),
    ("2025-03-01 08:00:00", datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)),
])
def test_osmand_timestamps_in_every_form(raw, expected):
    assert parse_osmand({"deviceid": "d1", "lat": "28.2", "lon": "112.5", "timestamp": raw}, NOW).at == expected


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, values), max_size=8))
def test_parse_query_decodes_as_forms_are_and_keeps_the_first_of_a_name(pairs):
    raw = urlencode(pairs)
    expected: dict[str, str] = {}
    for name, value in parse_qsl(raw, keep_blank_values=True):
        expected.setdefault(name, value)
    assert parse_query(raw) == expected


def test_parse_query_of_a_traccar_request():
    raw = "id=861234567890123&timestamp=1740816000&lat=28.2501&lon=112.5502&speed=0.0&valid&note=a+b%26c"
    assert parse_query(raw) == {"id": "861234567890123", "timestamp": "1740816000", "lat": "28.2501",
                                "lon": "112.5502", "speed": "0.0", "valid": "", "note": "a b&c"}
    assert parse_query("") == {} and parse_query("&&id=1&id=2") == {"id": "1"}


def test_osmand_location_pair_heading_hdop_and_valid():
    f = parse_osmand({"id": "d1", "location": "28.25,112.55", "heading": "90", "hdop": "2", "valid": "false"}, NOW)
    assert (f.lon, f.lat) == (112.55, 28.25)
    assert f.heading_deg == 90.0 and f.accuracy_m == 10.0 and f.valid is False
    assert f.at == NOW  # no timestamp: the server's time


@pytest.mark.parametrize(("params", "field"), [
    ({"lat": "28", "lon": "112"}, "id"),
    ({"id": "d", "lat": "x", "lon": "112"}, "lat"),
    ({"id": "d", "lon": "112"}, "lat"),
    ({"id": "d", "location": "28.2"}, "location"),
    ({"id": "d", "lat": "28", "lon": "112", "timestamp": "yesterday"}, "timestamp"),
    ({"id": "d", "lat": "28", "lon": "112", "charge": "maybe"}, "charge"),
])
def test_osmand_errors_name_the_field(params, field):
    with pytest.raises(GpsError) as e:
        parse_osmand(params, NOW)
    assert e.value.field == field and str(e.value).startswith(field + ":")


def test_traccar_client_json_body():
    body = {"location": {"timestamp": "2025-03-01T08:00:00.000Z", "is_moving": True, "odometer": 1234.5,
                         "event": "motionchange",
                         "coords": {"latitude": 28.25, "longitude": 112.55, "accuracy": 4.9, "speed": 12.5,
                                    "heading": 180.0, "altitude": 55.0},
                         "battery": {"level": 0.62, "is_charging": False}, "activity": {"type": "in_vehicle"}},
            "device_id": "861234567890123"}
    f = parse_osmand_json(body)
    assert f.device_id == "861234567890123" and f.at == NOW
    assert f.speed_mps == 12.5 and f.heading_deg == 180.0 and f.accuracy_m == 4.9 and f.altitude_m == 55.0
    assert f.battery_pct == pytest.approx(62.0) and f.charging is False


def test_traccar_client_json_unknown_speed_is_none():
    body = {"device_id": "d", "location": {"timestamp": "2025-03-01T08:00:00Z",
                                           "coords": {"latitude": 28.2, "longitude": 112.5, "speed": -1,
                                                      "heading": -1}}}
    f = parse_osmand_json(body)
    assert f.speed_mps is None and f.heading_deg is None


@pytest.mark.parametrize(("body", "field"), [
    ({"location": {}}, "device_id"),
    ({"device_id": "d"}, "location"),
    ({"device_id": "d", "location": {"timestamp": "2025-03-01T08:00:00Z"}}, "location.coords"),
    ({"device_id": "d", "location": {"coords": {"latitude": 1, "longitude": 2}}}, "location.timestamp"),
])
def test_traccar_json_errors_name_the_field(body, field):
    with pytest.raises(GpsError) as e:
        parse_osmand_json(body)
    assert e.value.field == field


def test_json_intake_one_fix_a_list_and_a_batch():
    one = {"lon": 112.5, "lat": 28.2, "timestamp": "2025-03-01T08:00:00Z", "speed_mps": 3.0, "battery": 50}
    assert len(parse_json_fixes(one)) == 1
    assert parse_json_fixes(one)[0].battery_pct == 50
    assert len(parse_json_fixes([one, one])) == 2
    assert len(parse_json_fixes({"fixes": [one, one, one]})) == 3
    assert parse_json_fixes(one | {"timestamp": 1740816000})[0].at == NOW


@pytest.mark.parametrize(("body", "words"), [
    ({"lon": 112.5, "timestamp": "2025-03-01T08:00:00Z"}, "lat: is required"),
    ({"fixes": [{"lon": 112.5, "lat": "n", "timestamp": "2025-03-01T08:00:00Z"}]}, "fixes[0].lat: must be a number"),
    ({"lon": 112.5, "lat": 28.2, "timestamp": "2025-03-01T08:00:00"}, "timestamp: must carry a time zone"),
    ({"lon": 112.5, "lat": 28.2, "timestamp": "2025-03-01T08:00:00Z", "spd": 1}, "spd: unknown field"),
    ({"lon": 112.5, "lat": 28.2, "timestamp": "2025-03-01T08:00:00Z", "battery": 150}, "battery: must be a percentage"),
    ({"fixes": []}, "fixes: must be a non-empty list"),
    ("text", "body: must be a fix object"),
])
def test_json_intake_errors_name_the_field(body, words):
    with pytest.raises(GpsError, match=None) as e:
        parse_json_fixes(body)
    assert words in str(e.value)


def test_parse_time_refuses_naive_unless_asked():
    with pytest.raises(GpsError):
        parse_time("t", "2025-03-01 08:00:00")
    assert parse_time("t", "2025-03-01 08:00:00", naive_utc=True) == NOW


# -- filters -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("candidate", "last", "reason"), [
    (fix(lon=200.0), None, Reject.INVALID),
    (fix(lat=float("nan")), None, Reject.INVALID),
    (fix(valid=False), None, Reject.INVALID),
    (fix(lon=0.0, lat=0.0), None, Reject.NULL_ISLAND),
    (fix(accuracy_m=150.0), None, Reject.INACCURATE),
    (fix(at=NOW + timedelta(seconds=61)), None, Reject.FUTURE),
    (fix(), fix(), Reject.DUPLICATE),
    (fix(at=NOW - timedelta(seconds=1)), fix(), Reject.OUT_OF_ORDER),
    # 1 km in 10 s is 360 km/h: a jump
    (fix(lat=28.25 + 0.009, at=NOW + timedelta(seconds=10)), fix(), Reject.JUMP),
])
def test_each_filter_rejects_with_its_reason(candidate, last, reason):
    assert check_fix(candidate, last, NOW, LIMITS) is reason


@pytest.mark.parametrize(("candidate", "last"), [
    (fix(at=NOW + timedelta(seconds=59)), fix(at=NOW - timedelta(seconds=30))),
    (fix(accuracy_m=100.0), fix(at=NOW - timedelta(seconds=30))),
    (fix(lat=28.25 + 0.009), fix(at=NOW - timedelta(seconds=20))),  # 1 km in 20 s: 180 km/h
    (fix(at=NOW - timedelta(seconds=600)), None),                   # as old as max_age_s
])
def test_fixes_within_the_limits_pass(candidate, last):
    assert check_fix(candidate, last, NOW, LIMITS) is None


def test_the_same_time_elsewhere_is_a_jump_not_a_duplicate():
    assert check_fix(fix(lat=28.251), fix(), NOW, LIMITS) is Reject.JUMP


def test_limits_from_config_refuse_nonsense():
    assert Limits.from_config({"gps": {"max_accuracy_m": 50}}).max_accuracy_m == 50.0
    with pytest.raises(GpsError, match="gps.max_speed_kph: must be > 0"):
        Limits.from_config({"gps": {"max_speed_kph": 0}})
    with pytest.raises(GpsError, match="gps.max_age_s: must be > 0, got -1.0"):
        Limits.from_config({"gps": {"max_age_s": -1}})
    for bad in (1, 2.5, True, "3"):
        with pytest.raises(GpsError, match=f"gps.reanchor_fixes: must be a whole number of fixes >= 2, got {bad!r}"):
            Limits.from_config({"gps": {"reanchor_fixes": bad}})
    with pytest.raises(GpsError, match=r"gps.clock_skew_s: must be from 0 to gps.max_future_s \(60.0\), got 61.0"):
        Limits.from_config({"gps": {"clock_skew_s": 61}})
    assert Limits.from_config({"gps": {"reanchor_fixes": 4, "max_age_s": 300}}) == Limits(reanchor_fixes=4,
                                                                                        max_age_s=300.0)


# -- the track: re-anchoring, the server clock, outdated fixes ---------------------------------

def feed(fixes: list[tuple[Fix, datetime]], limits: Limits = LIMITS, track: Track = Track()) -> list[Decision]:
    """Decide each (fix, arrival time) in turn, carrying the track along as `Live` does."""
    out = []
    for f, now in fixes:
        decision = decide(f, track, now, limits)
        track = decision.track
        out.append(decision)
    return out


def along(start: datetime, n: int, step_s: float = 15.0, kph: float = 60.0) -> list[tuple[Fix, datetime]]:
    """A unit driving north at ``kph``: ``n`` fixes ``step_s`` apart, each arriving 1 s after it was taken."""
    dlat = kph / 3.6 * step_s / 111_195.0
    return [(fix(lat=28.25 + k * dlat, at=start + timedelta(seconds=k * step_s)),
             start + timedelta(seconds=k * step_s + 1)) for k in range(n)]


def test_one_bad_first_fix_is_dropped_for_the_real_track_after_reanchor_fixes():
    bad = fix(lon=113.55, at=NOW - timedelta(seconds=5))  # 100 km east
    real = along(NOW, 5)
    decisions = feed([(bad, NOW)] + real)
    assert [d.reason for d in decisions] == [None, Reject.JUMP, Reject.JUMP, None, None, None]
    assert [d.reanchored for d in decisions] == [False, False, False, True, False, False]
    assert decisions[3].fix == real[2][0] and decisions[3].track == Track(real[2][0])


def test_a_bad_fix_after_real_ones_is_refused_and_forgotten():
    real = along(NOW, 6)
    bad = (fix(lon=113.55, at=NOW + timedelta(seconds=40)), NOW + timedelta(seconds=41))
    decisions = feed(real[:3] + [bad] + real[3:])
    assert [d.reason for d in decisions] == [None, None, None, Reject.JUMP, None, None, None]
    assert decisions[3].track.candidates == (bad[0],) and decisions[4].track == Track(real[3][0])


def test_candidates_that_disagree_with_each_other_never_reanchor():
    """Scattered bad fixes (multipath in a city) each start a new chain: the unit stays put."""
    start = fix(at=NOW)
    scattered = [(fix(lon=112.55 + (-1) ** k * 0.5, at=NOW + timedelta(seconds=10 * k)), NOW + timedelta(seconds=10 * k))
                 for k in range(1, 8)]
    decisions = feed([(start, NOW)] + scattered)
    assert all(d.reason is Reject.JUMP and not d.reanchored for d in decisions[1:])
    assert decisions[-1].track.last == start


def test_a_candidate_sent_again_counts_once():
    bad = fix(lon=113.55, at=NOW - timedelta(seconds=5))
    real = along(NOW, 3)
    decisions = feed([(bad, NOW), real[0], real[1], real[1], real[2]])
    assert [d.reason for d in decisions] == [None, Reject.JUMP, Reject.JUMP, Reject.JUMP, None]
    assert decisions[-1].reanchored


def test_a_fix_stamped_ahead_of_the_clock_is_taken_at_it_and_locks_nothing_out():
    """+55 s passed max_future_s (60 s) and, kept at its time, made real fixes out_of_order for 55 s."""
    ahead = fix(at=NOW + timedelta(seconds=55))
    real = along(NOW + timedelta(seconds=10), 3)
    decisions = feed([(ahead, NOW)] + real)
    assert decisions[0].clamped and decisions[0].fix.at == NOW + timedelta(seconds=LIMITS.clock_skew_s)
    assert [d.reason for d in decisions] == [None, None, None, None]
    skew = feed([(fix(at=NOW + timedelta(seconds=3)), NOW)])[0]
    assert skew.fix.at == NOW + timedelta(seconds=3) and not skew.clamped  # within clock_skew_s: its own time


def test_an_outdated_fix_goes_to_the_history_only():
    day_old = fix(at=NOW - timedelta(days=1))
    first = decide(day_old, Track(), NOW, LIMITS)
    assert first.reason is Reject.OUTDATED and first.fix == day_old and first.track == Track(day_old)
    # a backlog sent after a time offline: history in order, the fresh fix is the position
    position = fix(at=NOW - timedelta(hours=1))
    backlog = [(fix(lat=28.25 + k * 1e-3, at=NOW - timedelta(seconds=1800 - 60 * k)), NOW) for k in range(30)]
    fresh = (fix(lat=28.25 + 0.03, at=NOW - timedelta(seconds=5)), NOW)
    decisions = feed(backlog + [fresh], track=Track(position))
    assert [d.reason for d in decisions[:20]] == [Reject.OUTDATED] * 20  # older than max_age_s
    assert all(d.reason is None for d in decisions[20:]) and all(d.fix is not None for d in decisions)
    # the same queue sent again is out of order: never twice in the history
    again = feed(backlog[:3], track=decisions[-1].track)
    assert all(d.fix is None for d in again)


real_track = st.lists(st.tuples(st.floats(10.0, 60.0),                  # seconds to the next fix
                                st.floats(0.0, 0.9 * LIMITS.max_speed_kph),  # speed on the way
                                st.floats(0.0, 360.0),                  # heading
                                st.floats(0.0, 3.0)),                   # seconds on the network
                      min_size=LIMITS.reanchor_fixes + 2, max_size=25)
bad_fix = st.tuples(st.integers(0, 25),                                     # real fixes before it
                    st.floats(-3.0, 3.0), st.floats(-3.0, 3.0),             # degrees off the track
                    st.floats(-2 * 86_400.0, 120.0),                        # stamped, from its arrival
                    st.floats(0.0, 1.0))                                    # arrival, between two fixes


@settings(max_examples=300, deadline=None)
@given(real_track, bad_fix)
def test_after_one_bad_fix_the_position_follows_the_real_track_within_reanchor_fixes(legs, bad):
    """Whatever one bad fix is and whenever it comes, at most reanchor_fixes real fixes later the
    unit's position is the real one again, and stays so."""
    lon, lat, at = 112.55, 28.25, NOW
    real: list[tuple[Fix, datetime]] = []
    for gap_s, kph, heading, latency_s in legs:
        real.append((fix(lon=lon, lat=lat, at=at), at + timedelta(seconds=latency_s)))
        step_m = kph / 3.6 * gap_s
        lat += step_m * math.cos(math.radians(heading)) / 111_195.0
        lon += step_m * math.sin(math.radians(heading)) / (111_195.0 * math.cos(math.radians(lat)))
        at += timedelta(seconds=gap_s)
    index, dlon, dlat, stamped_s, between = bad
    index = min(index, len(real) - 1)
    after = real[index - 1][1] if index else NOW - timedelta(seconds=30)
    arrives = after + (real[index][1] - after) * between
    wrong = (fix(lon=real[index][0].lon + dlon, lat=real[index][0].lat + dlat,
                 at=arrives + timedelta(seconds=stamped_s)), arrives)
    position = None
    track = Track()
    for k, (f, now) in enumerate(real[:index] + [wrong] + real[index:]):
        decision = decide(f, track, now, LIMITS)
        track = decision.track
        if decision.reason is None:
            position = decision.fix
        if k < index:
            assert position == f  # before the bad fix: the real track, every fix
        elif k - index >= LIMITS.reanchor_fixes:
            assert position == f, f"real fix {k - index} after the bad one: the unit is at {position}"


fixes_strategy = st.lists(
    st.tuples(st.floats(-2.0, 2.0), st.floats(-2.0, 2.0), st.integers(-120, 600),
              st.one_of(st.none(), st.floats(0, 400))),
    min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(fixes_strategy)
def test_accepted_fixes_are_in_time_order_and_never_jump(raw):
    """Whatever arrives, the accepted track moves forward in time at a plausible speed."""
    last = None
    accepted = []
    for dlon_km, dlat_km, dt_s, accuracy in raw:
        f = fix(lon=112.55 + dlon_km / 100, lat=28.25 + dlat_km / 100, at=NOW + timedelta(seconds=dt_s),
                accuracy_m=accuracy)
        if check_fix(f, last, NOW + timedelta(seconds=600), LIMITS) is None:
            accepted.append(f)
            last = f
    for a, b in zip(accepted, accepted[1:]):
        dt = (b.at - a.at).total_seconds()
        assert dt > 0
        assert distance_m(a.lon, a.lat, b.lon, b.lat) / dt * 3.6 <= LIMITS.max_speed_kph
    assert all(f.accuracy_m is None or f.accuracy_m <= LIMITS.max_accuracy_m for f in accepted)


def test_knot_is_the_nautical_mile_per_hour():
    assert KNOT_MPS * 3600 == pytest.approx(1852.0)
