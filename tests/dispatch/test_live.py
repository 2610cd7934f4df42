"""GPS intake through the service's HTTP API: the three Traccar/OsmAnd shapes, the filters, the store,
stale units, live ETAs, the OsmAnd port and /metrics. In process, tiny county, SQLite."""

from __future__ import annotations

import asyncio
import socket
import warnings
from datetime import datetime, timedelta, timezone

import aiohttp
import pytest

from dispatch import gps
from dispatch.errors import ValidationError
from dispatch.app import create_app
from dispatch.http import SERVICE
from dispatch.live import LiveConfig
from dispatch.runtime import RUNTIME
from dispatch.store import StoreError
from tests.dispatch.service_fixtures import TOKENS, auth, make_config

# On the tiny county's road grid, ~30 m apart.
A = (112.121, 28.001)
B = (112.1213, 28.0011)


def live_config(tmp_path, **gps):
    config = make_config(tmp_path)
    config["gps"].update({"flush_interval_s": 0.05, "eta_interval_s": 0.05} | gps)
    config["live"].update({"ws_ping_interval_s": 30.0})
    return config


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    return await aiohttp_client(create_app(live_config(tmp_path)))


def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


async def unit(client, unit_id="centre-1"):
    r = await client.get(f"/api/units/{unit_id}", headers=auth("dispatcher"))
    assert r.status == 200
    return await r.json()


async def metric(client, series: str) -> float:
    """Return the value of one series (name with its labels) from /metrics."""
    text = await (await client.get("/metrics")).text()
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        if key == series:
            return float(value)
    raise AssertionError(f"{series} not in /metrics:\n{text}")


async def test_traccar_client_osmand_post_with_query_string(client):
    # Traccar Client (Android) POSTs its fields in the query string with an empty body.
    t = int(now().timestamp())
    r = await client.post(f"/osmand?id=centre-1&timestamp={t}&lat={A[1]}&lon={A[0]}&speed=20.0&bearing=45.0"
                          "&altitude=60.0&accuracy=6.0&batt=77.0&charge=false", data=b"")
    assert r.status == 200 and await r.text() == ""
    u = await unit(client)
    assert u["position"] == {"lon": A[0], "lat": A[1]} and u["position_at"] == datetime.fromtimestamp(t, timezone.utc).isoformat()
    assert u["speed_mps"] == pytest.approx(20.0 * 1852 / 3600) and u["heading_deg"] == 45.0
    assert u["battery_pct"] == 77.0 and u["stale"] is False
    assert await metric(client, 'ems_gps_fixes_accepted_total{source="osmand"}') == 1


async def test_osmand_get_and_form_post_with_deviceid_and_location(client):
    t = now() - timedelta(seconds=30)
    r = await client.get("/osmand", params={"deviceid": "liushahe-1", "location": f"{A[1]},{A[0]}",
                                            "timestamp": t.strftime("%Y-%m-%d %H:%M:%S")})
    assert r.status == 200
    r = await client.post("/osmand", data={"id": "liushahe-1", "lat": str(B[1]), "lon": str(B[0]),
                                           "timestamp": str(int(t.timestamp() * 1000) + 10_000), "hdop": "1.2"})
    assert r.status == 200
    u = await unit(client, "liushahe-1")
    assert u["position"] == {"lon": B[0], "lat": B[1]}
    assert u["position_at"] == (t + timedelta(seconds=10)).isoformat()


async def test_traccar_client_json_variant(client):
    body = {"location": {"timestamp": now().isoformat().replace("+00:00", ".000Z"), "is_moving": True,
                         "odometer": 0, "event": "motionchange",
                         "coords": {"latitude": A[1], "longitude": A[0], "accuracy": 5, "speed": 11.0,
                                    "heading": 90, "altitude": 50},
                         "battery": {"level": 0.5, "is_charging": True}, "activity": {"type": "in_vehicle"}},
            "device_id": "centre-1"}
    r = await client.post("/osmand", json=body)
    assert r.status == 200
    u = await unit(client)
    assert u["speed_mps"] == 11.0 and u["battery_pct"] == 50.0
    assert await metric(client, 'ems_gps_fixes_accepted_total{source="osmand_json"}') == 1


async def test_unknown_device_is_refused_and_counted(client):
    r = await client.get("/osmand", params={"id": "no-such-phone", "lat": "28.0", "lon": "112.1"})
    body = await r.json()
    assert r.status == 400 and body["error"] == "unknown_device" and "no-such-phone" in body["message"]
    assert await metric(client, 'ems_gps_fixes_rejected_total{reason="unknown_device"}') == 1
    r = await client.get("/osmand", params={"id": "centre-1", "lat": "north", "lon": "112.1"})
    assert r.status == 400 and (await r.json())["message"].startswith("lat:")


async def test_device_ids_from_config_map_to_units(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    config = live_config(tmp_path, devices={"861234567890123": "centre-1"})
    client = await aiohttp_client(create_app(config))
    units = {u["id"]: u for u in (await (await client.get("/api/units", headers=auth("dispatcher"))).json())["units"]}
    assert units["centre-1"]["device_id"] == "861234567890123" and units["liushahe-1"]["device_id"] == "liushahe-1"
    r = await client.get("/osmand", params={"id": "861234567890123", "lat": str(A[1]), "lon": str(A[0])})
    assert r.status == 200
    assert (await unit(client))["position"] == {"lon": A[0], "lat": A[1]}


async def test_json_intake_applies_every_filter_and_counts_each_reason(client):
    t = now() - timedelta(seconds=120)
    first = {"lon": A[0], "lat": A[1], "timestamp": t.isoformat()}
    r = await client.post("/api/units/centre-1/positions", json=first, headers=auth("dispatcher"))
    assert (await r.json()) == {"accepted": 1, "rejected": []}
    batch = [
        {"lon": 200.0, "lat": 28.0, "timestamp": (t + timedelta(seconds=1)).isoformat()},           # invalid
        {"lon": 0, "lat": 0, "timestamp": (t + timedelta(seconds=2)).isoformat()},                   # 0,0
        first,                                                                                       # duplicate
        {"lon": A[0], "lat": A[1], "timestamp": (t - timedelta(seconds=5)).isoformat()},             # older
        {"lon": A[0], "lat": A[1], "timestamp": (now() + timedelta(seconds=300)).isoformat()},       # future
        {"lon": A[0], "lat": A[1] + 0.05, "timestamp": (t + timedelta(seconds=3)).isoformat()},      # 5.5 km in 3 s
        {"lon": B[0], "lat": B[1], "timestamp": (t + timedelta(seconds=4)).isoformat(), "accuracy_m": 5000},
        {"lon": B[0], "lat": B[1], "timestamp": (t + timedelta(seconds=10)).isoformat(), "accuracy_m": 8},
    ]
    r = await client.post("/api/units/centre-1/positions", json={"fixes": batch}, headers=auth("dispatcher"))
    data = await r.json()
    assert r.status == 200 and data["accepted"] == 1
    reasons = {x["index"]: x["reason"] for x in data["rejected"]}
    assert reasons == {0: "invalid", 1: "null_island", 2: "duplicate", 3: "out_of_order", 4: "future",
                       5: "jump", 6: "inaccurate"}
    for reason in set(reasons.values()):
        assert await metric(client, f'ems_gps_fixes_rejected_total{{reason="{reason}"}}') == 1
    assert (await unit(client))["position"] == {"lon": B[0], "lat": B[1]}


async def test_crew_reports_only_its_own_unit(client):
    fix = {"lon": A[0], "lat": A[1], "timestamp": now().isoformat()}
    r = await client.post("/api/units/centre-1/positions", json=fix, headers=auth("crew_liushahe"))
    assert r.status == 403
    r = await client.post("/api/units/centre-1/positions", json=fix, headers=auth("crew_centre1"))
    assert r.status == 200 and (await r.json())["accepted"] == 1
    r = await client.post("/api/units/centre-1/positions", json={"lon": A[0]}, headers=auth("crew_centre1"))
    assert r.status == 400 and "lat: is required" in (await r.json())["message"]


async def test_history_is_written_in_batches_and_latest_kept(client):
    t = now() - timedelta(seconds=60)
    fixes = [{"lon": A[0] + i * 1e-5, "lat": A[1], "timestamp": (t + timedelta(seconds=i)).isoformat()}
             for i in range(20)]
    r = await client.post("/api/units/centre-1/positions", json=fixes, headers=auth("dispatcher"))
    assert (await r.json())["accepted"] == 20
    store = client.server.app[SERVICE].store
    for _ in range(100):
        if len(await store.position_history("centre-1")) == 20:
            break
        await asyncio.sleep(0.02)
    history = await store.position_history("centre-1")
    assert [h.at for h in history] == [t + timedelta(seconds=i) for i in range(20)]
    latest = (await store.latest_positions())["centre-1"]
    assert latest.at == t + timedelta(seconds=19) and latest.lon == pytest.approx(A[0] + 19e-5)


async def test_stale_unit_is_announced_to_consoles(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(live_config(tmp_path, stale_after_s=0.4)))
    ws = await client.ws_connect(f"/ws?token={TOKENS['dispatcher']}")
    assert (await ws.receive_json())["type"] == "snapshot"
    at = now()
    await client.post("/api/units/centre-1/positions", json={"lon": A[0], "lat": A[1], "timestamp": at.isoformat()},
                      headers=auth("dispatcher"))
    kinds = []
    while "stale" not in kinds:
        msg = await asyncio.wait_for(ws.receive_json(), 5)
        kinds.append(msg["type"])
    assert msg == {"type": "stale", "unit_id": "centre-1", "since": at.isoformat()}
    assert (await unit(client))["stale"] is True
    await ws.close()


async def test_live_eta_to_the_call_follows_the_fixes(client):
    ws = await client.ws_connect(f"/ws?token={TOKENS['dispatcher']}")
    await ws.receive_json()
    r = await client.post("/api/calls", json={"location": {"lon": 112.125, "lat": 28.004}, "complaint": "stroke",
                                              "priority": 1}, headers=auth("dispatcher"))
    call_id = (await r.json())["id"]
    r = await client.post(f"/api/calls/{call_id}/assign", json={"unit_id": "centre-1", "reason": "test"},
                          headers=auth("dispatcher"))
    assert r.status == 200
    await client.post("/api/units/centre-1/positions", json={"lon": A[0], "lat": A[1], "timestamp": now().isoformat()},
                      headers=auth("dispatcher"))
    msg = None
    while msg is None:
        frame = await asyncio.wait_for(ws.receive_json(), 5)
        if frame["type"] == "positions":
            msg = next((p for p in frame["positions"] if p["eta_s"] is not None), None)
    assert msg["unit_id"] == "centre-1" and msg["eta_target"] == "call" and msg["eta_s"] > 0
    assert msg["road"]["distance_m"] < 200
    assert (await unit(client))["eta_s"] == msg["eta_s"]
    await ws.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_osmand_on_its_own_port_at_the_root_path(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    port = free_port()
    client = await aiohttp_client(create_app(live_config(tmp_path, osmand_port=port)))
    async with aiohttp.ClientSession() as session:
        async with session.post(f"http://127.0.0.1:{port}/?id=centre-1&lat={A[1]}&lon={A[0]}"
                                f"&timestamp={int(now().timestamp())}&speed=0") as r:
            assert r.status == 200
        async with session.get(f"http://127.0.0.1:{port}/?id=nobody&lat=28&lon=112") as r:
            assert r.status == 400
    assert (await unit(client))["position"] == {"lon": A[0], "lat": A[1]}


async def test_metrics_are_prometheus_text(client):
    ws = await client.ws_connect(f"/ws?token={TOKENS['dispatcher']}")
    await ws.receive_json()
    await client.get("/api/health")
    r = await client.get("/metrics")
    text = await r.text()
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert "# TYPE ems_http_request_duration_seconds histogram" in text
    assert 'ems_http_request_duration_seconds_bucket{method="GET",route="/api/health",status="200",le="+Inf"} 1' in text
    assert 'ems_ws_clients{role="dispatcher"} 1' in text
    assert 'ems_ws_queue_depth{stat="max"}' in text and "ems_events_published_total" in text
    assert 'ems_gps_fixes_rejected_total{reason="jump"} 0' in text
    assert 'ems_gps_fixes_rejected_total{reason="outdated"} 0' in text
    assert "ems_gps_fixes_reanchored_total 0" in text and "ems_gps_fixes_clamped_total 0" in text
    assert "ems_ws_positions_sent_total 0" in text
    assert isinstance(client.server.app[RUNTIME].live.hub.clients, set)
    await ws.close()


async def test_a_failed_store_write_keeps_the_rows_not_yet_in_the_history(aiohttp_client, tmp_path, monkeypatch):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(live_config(tmp_path, flush_interval_s=3600.0)))  # flushed here only
    live = client.server.app[RUNTIME].live
    store = client.server.app[SERVICE].store
    t = now() - timedelta(seconds=60)
    fixes = [{"lon": A[0] + i * 1e-5, "lat": A[1], "timestamp": (t + timedelta(seconds=i)).isoformat()}
             for i in range(5)]
    monkeypatch.setattr("dispatch.positions.FLUSH_SLICE_ROWS", 2)
    real = store.append_position_history
    calls = []

    async def fail_second_slice(rows):
        calls.append(len(rows))
        if len(calls) == 2:
            raise StoreError("sqlite: disk I/O error")
        await real(rows)

    monkeypatch.setattr(store, "append_position_history", fail_second_slice)
    live.pending.clear()
    r = await client.post("/api/units/centre-1/positions", json=fixes, headers=auth("dispatcher"))
    assert (await r.json())["accepted"] == 5
    assert await live.flush() == 2 and len(live.pending) == 3  # the first slice is in the history
    assert await live.flush() == 3 and not live.pending
    history = await store.position_history("centre-1")
    assert [h.at for h in history] == [t + timedelta(seconds=i) for i in range(5)]  # each row once
    assert (await store.latest_positions())["centre-1"].at == t + timedelta(seconds=4)


def test_the_position_interval_must_be_positive():
    assert LiveConfig.from_config({"live": {"ws_position_interval_s": 0.2}}).ws_position_interval_s == 0.2
    for bad in (0, -1.0, "soon"):
        with pytest.raises(ValidationError, match=f"live.ws_position_interval_s: must be a number of seconds > 0, "
                                                  f"got {bad!r}"):
            LiveConfig.from_config({"live": {"ws_position_interval_s": bad}})


async def test_a_full_history_backlog_is_answered_503_and_nothing_taken_is_dropped(aiohttp_client, tmp_path,
                                                                                     monkeypatch):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(live_config(tmp_path, flush_interval_s=3600.0, max_backlog_rows=3)))
    live = client.server.app[RUNTIME].live
    store = client.server.app[SERVICE].store
    live.pending.clear()
    t = now() - timedelta(seconds=60)

    def osmand(i):
        return client.get(f"/osmand?id=centre-1&lat={A[1]}&lon={A[0] + i * 1e-5}"
                          f"&timestamp={int((t + timedelta(seconds=i)).timestamp())}")

    real = store.append_position_history

    async def store_down(rows):
        raise StoreError("sqlite: database is locked")

    monkeypatch.setattr(store, "append_position_history", store_down)
    for i in range(3):
        assert (await osmand(i)).status == 200
    assert await live.flush() == 0 and len(live.pending) == 3  # the store is down: kept
    refused = await osmand(3)
    assert refused.status == 503 and refused.headers["Retry-After"] == "60"  # the flush interval, at most 60 s
    body = await refused.json()
    assert body["error"] == "backlog" and body["message"].startswith("history: 3 fixes wait for the store")
    batch = [{"lon": A[0], "lat": A[1], "timestamp": (t + timedelta(seconds=10 + i)).isoformat()} for i in range(2)]
    r = await client.post("/api/units/centre-1/positions", json=batch, headers=auth("dispatcher"))
    assert r.status == 503 and (await r.json())["error"] == "backlog"
    assert (await unit(client))["position"] == {"lon": A[0] + 2e-5, "lat": A[1]}  # a refused fix is not taken
    text = await (await client.get("/metrics")).text()
    assert 'ems_gps_fixes_deferred_total{source="osmand"} 1' in text
    assert 'ems_gps_fixes_deferred_total{source="json"} 2' in text

    monkeypatch.setattr(store, "append_position_history", real)  # the store is back
    assert await live.flush() == 3 and not live.pending
    assert (await osmand(3)).status == 200  # the phone's resend is taken
    assert await live.flush() == 1
    history = await store.position_history("centre-1")
    assert [h.at for h in history] == [t + timedelta(seconds=i) for i in range(4)]


def test_the_backlog_limit_must_be_a_whole_number_of_rows_the_intake_can_hold():
    assert LiveConfig.from_config({"gps": {"max_backlog_rows": 10}}).max_backlog_rows == 10
    for bad in (0, -5, 2.5, "many", True, 10**9):
        with pytest.raises(ValidationError, match=f"gps.max_backlog_rows: must be a whole number of rows from 1 to "
                                                  f"199000, got {bad!r}"):
            LiveConfig.from_config({"gps": {"max_backlog_rows": bad}})


# -- faults that locked a unit out --------------------------------------------------------------

def json_fix(lon: float, lat: float, at: datetime) -> dict:
    return {"lon": lon, "lat": lat, "timestamp": at.isoformat()}


async def post(client, *fixes: dict, unit_id: str = "centre-1") -> dict:
    r = await client.post(f"/api/units/{unit_id}/positions", json={"fixes": list(fixes)}, headers=auth("dispatcher"))
    assert r.status == 200
    return await r.json()


async def test_one_bad_fix_100_km_off_locks_the_unit_out_for_reanchor_fixes_real_ones_only(client):
    """Was: the next 10 real fixes rejected as jumps (~24 min at 250 km/h)."""
    t = now() - timedelta(seconds=90)
    assert await post(client, json_fix(A[0] + 1.0, A[1], t)) == {"accepted": 1, "rejected": []}  # 100 km east
    answers = [await post(client, json_fix(A[0], A[1] + k * 1e-4, t + timedelta(seconds=15 * k))) for k in (1, 2, 3)]
    assert [a["rejected"] for a in answers] == [[{"index": 0, "reason": "jump"}]] * 2 + [[]]
    assert (await unit(client))["position"] == {"lon": A[0], "lat": A[1] + 3e-4}
    assert await metric(client, "ems_gps_fixes_reanchored_total") == 1
    assert await metric(client, 'ems_gps_fixes_rejected_total{reason="jump"}') == 2
    await post(client, json_fix(A[0], A[1] + 4e-4, t + timedelta(seconds=60)))
    assert (await unit(client))["position"] == {"lon": A[0], "lat": A[1] + 4e-4}  # and it follows on


async def test_a_fix_stamped_55_s_ahead_does_not_make_the_real_ones_out_of_order(client):
    """Was: 55 s passed max_future_s (60 s), and real fixes were out_of_order until the clock caught up."""
    live = client.server.app[RUNTIME].live
    t = now() - timedelta(seconds=60)
    assert live.ingest("centre-1", [gps.Fix(A[0], A[1], t + timedelta(seconds=55))], "json", now=t) == [None]
    assert (await unit(client))["position_at"] == (t + timedelta(seconds=5)).isoformat()  # clock_skew_s ahead
    assert await metric(client, "ems_gps_fixes_clamped_total") == 1
    real = [gps.Fix(B[0], B[1] + k * 1e-4, t + timedelta(seconds=10 * k)) for k in (1, 2)]
    assert [live.ingest("centre-1", [f], "json", now=f.at) for f in real] == [[None], [None]]
    assert (await unit(client))["position"] == {"lon": B[0], "lat": B[1] + 2e-4}


async def test_a_backlog_after_a_time_offline_goes_to_the_history_and_the_fresh_fix_is_the_position(client):
    t = now()
    backlog = [json_fix(A[0] + k * 1e-5, A[1], t - timedelta(seconds=1770 - 60 * k)) for k in range(30)]
    answer = await post(client, *backlog)
    assert answer["accepted"] == 10  # the last 10 minutes
    assert answer["rejected"] == [{"index": i, "reason": "outdated"} for i in range(20)]
    assert (await unit(client))["position_at"] == backlog[-1]["timestamp"]
    assert await metric(client, 'ems_gps_fixes_rejected_total{reason="outdated"}') == 20
    store = client.server.app[SERVICE].store
    await client.server.app[RUNTIME].live.flush()
    assert len(await store.position_history("centre-1")) == 30  # every fix, the outdated ones too


async def test_a_day_old_first_fix_is_history_not_a_position(client):
    day_old = json_fix(A[0], A[1], now() - timedelta(days=1))
    assert await post(client, day_old) == {"accepted": 0, "rejected": [{"index": 0, "reason": "outdated"}]}
    view = await unit(client)
    assert view["position"] is None and view["stale"] is True
    await client.server.app[RUNTIME].live.flush()
    store = client.server.app[SERVICE].store
    assert "centre-1" not in await store.latest_positions()
    assert len(await store.position_history("centre-1")) == 1


async def test_the_stored_latest_position_is_never_a_history_only_fix(aiohttp_client, tmp_path):
    """Outdated fixes newer than the position go to the history; the latest-position table keeps the position."""
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(live_config(tmp_path, flush_interval_s=3600.0)))  # flushed here only
    live = client.server.app[RUNTIME].live
    store = client.server.app[SERVICE].store
    t = now() - timedelta(hours=2)
    assert live.ingest("centre-1", [gps.Fix(A[0], A[1], t)], "json", now=t) == [None]
    later = [gps.Fix(A[0] + k * 1e-5, A[1], t + timedelta(minutes=k)) for k in range(1, 6)]
    assert live.ingest("centre-1", later, "json", now=t + timedelta(minutes=30)) == [gps.Reject.OUTDATED] * 5
    assert await live.flush() == 6
    assert (await store.latest_positions())["centre-1"].at == t
    assert [h.at for h in await store.position_history("centre-1")] == [t] + [f.at for f in later]


def test_the_flush_interval_must_be_positive():
    assert LiveConfig.from_config({"gps": {"flush_interval_s": 0.5}}).flush_interval_s == 0.5
    with pytest.raises(ValidationError, match="gps.flush_interval_s: must be a number of seconds > 0, got 0"):
        LiveConfig.from_config({"gps": {"flush_interval_s": 0}})
