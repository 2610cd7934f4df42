"""The twin: its pure parts, and a bounded run against the real service on the tiny county."""

from __future__ import annotations

import math
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.auth import write_demo_tokens
from dispatch.gps import KNOT_MPS, distance_m, parse_osmand
from simulation.demand import county_demand
from simulation.twin import (Track, TwinError, TwinOptions, bearing_deg, call_stream, ecg_png, osmand_params,
                             read_tokens, service_config_for_twin, twin_sim_config)

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "geodata" / "tiny"

lon = st.floats(112.0, 112.3)
lat = st.floats(27.9, 28.1)
polyline = st.lists(st.tuples(lon, lat), min_size=1, max_size=8)


# -- the track a unit drives ------------------------------------------------------------------------

@given(polyline, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_track_positions_stay_on_the_line_and_advance(coords, f1, f2):
    track = Track.of(coords)
    start, end = track.at(-5.0), track.at(track.length_m + 5.0)
    assert (start[0], start[1]) == pytest.approx(coords[0])
    assert (end[0], end[1]) == pytest.approx(coords[-1])
    a, b = sorted((f1, f2))
    pa, pb = track.at(a * track.length_m), track.at(b * track.length_m)
    # the straight distance between two positions is at most the distance driven between them
    # (interpolation is linear in degrees, not along the great circle: 0.1 % on these 30 km segments;
    # road segments are tens of metres)
    assert distance_m(pa[0], pa[1], pb[0], pb[1]) <= (b - a) * track.length_m * (1 + 1e-3) + 1e-3
    assert 0.0 <= pa[2] < 360.0


@given(st.tuples(lon, lat), st.tuples(lon, lat))
def test_bearing_is_a_compass_angle_and_reverses(a, b):
    if distance_m(*a, *b) < 1.0:
        return
    there, back = bearing_deg(a, b), bearing_deg(b, a)
    assert 0.0 <= there < 360.0
    # over a few kilometres the bearing back is the opposite one within a fraction of a degree
    assert abs(((there - back) % 360.0) - 180.0) < 0.5


def test_bearing_of_the_cardinal_directions():
    assert bearing_deg((112.0, 28.0), (112.0, 28.1)) == pytest.approx(0.0, abs=1e-6)
    assert bearing_deg((112.0, 28.0), (112.1, 28.0)) == pytest.approx(90.0, abs=0.1)
    assert bearing_deg((112.0, 28.0), (112.0, 27.9)) == pytest.approx(180.0, abs=1e-6)


def test_a_track_refuses_bad_coordinates():
    with pytest.raises(TwinError, match="at least one"):
        Track.of([])
    with pytest.raises(TwinError, match=r"coordinates\[1\]"):
        Track.of([(112.0, 28.0), (math.nan, 28.0)])


# -- the wire: Traccar Client's OsmAnd fields ------------------------------------------------------------

@given(st.floats(0.0, 60.0), st.floats(0.0, 359.9), lon, lat)
def test_osmand_fields_parse_back_as_the_service_reads_them(speed_mps, heading, x, y):
    params = osmand_params("centre-1", x, y, 1_700_000_000, speed_mps=speed_mps, bearing=heading)
    assert set(params) >= {"id", "lat", "lon", "timestamp", "speed", "bearing", "accuracy", "batt"}
    fix = parse_osmand(params, datetime.now(timezone.utc))
    assert fix.device_id == "centre-1"
    assert (fix.lon, fix.lat) == pytest.approx((x, y), abs=1e-6)
    assert fix.at == datetime.fromtimestamp(1_700_000_000, timezone.utc)
    assert fix.speed_mps == pytest.approx(speed_mps, abs=0.01 * KNOT_MPS)  # sent in knots, 2 decimals
    assert fix.heading_deg == pytest.approx(heading, abs=0.05 + 1e-9)  # 1 decimal: a tie (1.75) is off by 0.05


def test_the_ecg_is_a_png_the_centers_accept():
    from centers.prenotify import check_ecg_attachment

    data = ecg_png()
    attachment = check_ecg_attachment(data, "image/png", attachment_id="ecg-test")
    assert attachment.content_type == "image/png" and attachment.size_bytes == len(data)


# -- tokens, calls and settings ---------------------------------------------------------------------------

def test_tokens_of_the_demo_file(tmp_path):
    path = tmp_path / "tokens.toml"
    write_demo_tokens(path, ["centre-1", "centre-2"], ["renmin"])
    tokens = read_tokens(path)
    assert set(tokens.crews) == {"centre-1", "centre-2"}
    assert len({tokens.dispatcher, *tokens.crews.values()}) == 3


def test_a_token_file_without_a_dispatcher_is_refused(tmp_path):
    path = tmp_path / "tokens.toml"
    path.write_text('[[token]]\nvalue = "crew-token-0123456789"\nrole = "crew"\nunit = "centre-1"\n')
    with pytest.raises(TwinError, match="dispatcher"):
        read_tokens(path)
    with pytest.raises(TwinError, match="not found"):
        read_tokens(tmp_path / "missing.toml")


@pytest.fixture(scope="module")
def tiny_points():
    from geodata.county import load_county

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return county_demand(load_county(str(TINY)).places)


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 10_000), st.floats(0.0, 86_399.0))
def test_calls_come_in_time_order_from_the_demand_points(tiny_points, seed, start_s):
    sim = twin_sim_config({}, calls_per_hour=30.0)
    calls = [c for _, c in zip(range(40), call_stream(sim, tiny_points, seed=seed, start_of_day_s=start_s))]
    times = [c.t_s for c in calls]
    assert times[0] == 0.0 and times == sorted(times)
    spots = set(zip(tiny_points.lon.tolist(), tiny_points.lat.tolist()))
    assert all(c.location in spots and 1 <= c.priority <= 4 and c.on_scene_s >= 0 for c in calls)
    again = [c for _, c in zip(range(40), call_stream(sim, tiny_points, seed=seed, start_of_day_s=start_s))]
    assert again == calls


def test_a_flat_rate_replaces_the_daily_profile():
    sim = twin_sim_config({}, calls_per_hour=12.0)
    assert sim.calls_per_day == 288.0 and set(sim.hourly_profile) == {1.0}
    assert twin_sim_config({}).calls_per_day == 80.0
    with pytest.raises(TwinError, match="calls_per_hour"):
        twin_sim_config({}, calls_per_hour=0.0)


def test_the_gps_jump_limit_scales_with_the_speed():
    assert service_config_for_twin({"gps": {"max_speed_kph": 250.0}}, 10.0)["gps"]["max_speed_kph"] == 2500.0
    assert service_config_for_twin({"gps": {"max_speed_kph": 250.0}}, 0.5)["gps"]["max_speed_kph"] == 250.0


@pytest.mark.parametrize("field, value", [("speed", 0.0), ("fix_interval_s", -1.0), ("duration_s", 0.0),
                                          ("calls", -2)])
def test_options_are_checked(field, value):
    with pytest.raises(TwinError, match=field):
        TwinOptions(url="http://127.0.0.1:1", token_file=Path("t.toml"), **{field: value})


# -- a bounded run against the real service ------------------------------------------------------------------

SPEED = 400.0
CALLS = 6


def twin_config(tmp_path: Path) -> dict[str, Any]:
    """The tiny county served with SQLite and a generated demo token file; most calls chest pain or stroke."""
    from tests.dispatch.service_fixtures import make_config

    config = make_config(tmp_path)
    config["service"]["token_file"] = ""  # the demo file, as `ems serve --twin` uses it
    config = service_config_for_twin(config, SPEED)
    config["simulation"] = dict(config.get("simulation", {}))
    config["simulation"]["complaints"] = {
        "chest_pain": {"share": 0.45, "priority": [1, 0, 0, 0], "transport": 1.0, "stemi": 0.7,
                       "cathlab_from_field": 0.7},
        "stroke": {"share": 0.35, "priority": [1, 0, 0, 0], "transport": 1.0, "lvo": 0.5, "lkw_in_window": 0.5},
        "trauma": {"share": 0.2, "priority": [0, 1, 0, 0], "transport": 0.5},
    }
    return config


@pytest.mark.slow
async def test_a_bounded_run_cycles_calls_units_fixes_and_milestones(tmp_path):
    import aiohttp
    from aiohttp import web

    from dispatch.app import create_app
    from dispatch.http import SERVICE
    from dispatch.runtime import RUNTIME
    from simulation.twin import run_twin

    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    config = twin_config(tmp_path)
    app = create_app(config)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    url = f"http://{host}:{port}"
    events: list[dict[str, Any]] = []
    try:
        rt = app[RUNTIME]
        app[SERVICE].subscribe(lambda seq, event, origin: events.append(event))
        options = TwinOptions(url=url, token_file=rt.token_file.path, speed=SPEED, calls_per_hour=20.0,
                              calls=CALLS, duration_s=120.0, seed=3)
        report = await run_twin(options, config=config, county=rt.county, router=rt.router)
        dispatcher = {"Authorization": f"Bearer {read_tokens(rt.token_file.path).dispatcher}"}
        async with aiohttp.ClientSession(headers=dispatcher) as http:
            async def get(path: str) -> Any:
                async with http.get(url + path) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            calls = (await get("/api/calls?status=all"))["calls"]
            units = (await get("/api/units"))["units"]
            metrics = await (await http.get(url + "/metrics")).text()
            patients = {c["id"]: await get(f"/api/calls/{c['id']}/patient") for c in calls
                        if c["complaint"] in ("chest_pain", "stroke")}
    finally:
        await runner.cleanup()

    assert report.errors == 0 and report.calls_placed == CALLS, report
    accepted = [e for e in events if e["type"] == "AssignmentAccepted"]
    assert len(accepted) >= CALLS and all(e["by"] == f"crew:{e['unit_id']}" for e in accepted)
    # every call was taken, served and finished
    assert len(calls) == CALLS
    assert all(c["status"] == "closed" and c["end_reason"] == "finished" for c in calls), \
        [(c["id"], c["status"], c.get("end_reason")) for c in calls]
    # the units moved: their fixes came through the OsmAnd endpoint, none was rejected
    assert _metric(metrics, 'ems_gps_fixes_accepted_total{source="osmand"}') >= report.fixes_posted > len(units)
    assert _metric(metrics, "ems_gps_fixes_rejected_total") == 0
    assert report.legs_with_fixes_not_taken == 0
    # statuses cycled back: every unit is at its station where it started
    assert {u["status"] for u in units} == {"available_at_station"}
    for u in units:
        assert distance_m(u["position"]["lon"], u["position"]["lat"], u["station_location"]["lon"],
                          u["station_location"]["lat"]) < 300.0
    # the crews reported the statuses themselves, with their own tokens
    statuses = [e for e in events if e["type"] == "UnitStatusChanged"]
    assert {e["status"] for e in statuses} >= {"on_scene", "transporting", "at_hospital", "returning",
                                               "available_at_station"}
    assert all(e["by"] == f"crew:{e['unit_id']}" for e in statuses)
    # chest pain and stroke patients have the crews' milestones besides the automatic ones
    assert patients, "the mix should have given chest pain or stroke calls"
    for call_id, p in patients.items():
        kinds = {m["kind"] for m in p["milestones"]}
        complaint = next(c["complaint"] for c in calls if c["id"] == call_id)
        assert {"call_120", "dispatch_order", "first_medical_contact", "door_in"} <= kinds, (call_id, kinds)
        assert ("first_ecg" if complaint == "chest_pain" else "last_known_well") in kinds, (call_id, kinds)
        assert p["destination"] is not None
    assert report.milestones_posted >= len(patients)


def _metric(text: str, name: str) -> float:
    """Sum the samples of a Prometheus metric (a name, or a name with its labels)."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name.split("{")[0]):
            continue
        key, _, value = line.rpartition(" ")
        if key == name or ("{" not in name and key.split("{")[0] == name):
            total += float(value)
    return total
