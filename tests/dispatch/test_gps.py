"""GPS parsing (JSON, OsmAnd query/form, Traccar Client JSON) and the filter chain, pure and offline."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from urllib.parse import parse_qsl, urlencode

from dispatch.gps import (KNOT_MPS, Fix, GpsError, Limits, Reject, check_fix, distance_m, parse_json_fixes,
                          parse_osmand, parse_osmand_json, parse_query, parse_time)

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


@pytest.mark.parametrize("candidate", [
    fix(at=NOW + timedelta(seconds=59)),
    fix(accuracy_m=100.0),
    fix(lat=28.25 + 0.009, at=NOW + timedelta(seconds=20)),  # 1 km in 20 s: 180 km/h
])
def test_fixes_within_the_limits_pass(candidate):
    last = fix(at=NOW - timedelta(seconds=30)) if candidate.lat == 28.25 else fix()
    assert check_fix(candidate, last, NOW, LIMITS) is None


def test_limits_from_config_refuse_nonsense():
    assert Limits.from_config({"gps": {"max_accuracy_m": 50}}).max_accuracy_m == 50.0
    with pytest.raises(GpsError, match="gps.max_speed_kph: must be > 0"):
        Limits.from_config({"gps": {"max_speed_kph": 0}})


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
