"""The dispatch service through its HTTP API, in process, on the tiny county with SQLite."""

from __future__ import annotations

import warnings
from datetime import datetime, timezone

import pytest

from dispatch.app import create_app
from tests.dispatch.service_fixtures import auth, make_config

# A point in the middle of the tiny county's road grid, and one outside it.
INSIDE = {"lon": 112.121, "lat": 28.001}
OUTSIDE = {"lon": 113.5, "lat": 29.5}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    """Every test runs against both stores: SQLite, and the machine's PostgreSQL."""
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else ""


@pytest.fixture
async def client(db_url, aiohttp_client, tmp_path):
    # db_url comes first, so its schema is dropped only after the app has closed its connections
    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    return await aiohttp_client(create_app(make_config(tmp_path, db=db_url)))


async def post_call(client, **body):
    body = {"location": INSIDE, "complaint": "chest_pain", "priority": 1} | body
    return await client.post("/api/calls", json=body, headers=auth("dispatcher"))


async def test_health_needs_no_token(client):
    r = await client.get("/api/health")
    assert r.status == 200
    data = await r.json()
    assert data["status"] == "ok" and data["units"] == 4


@pytest.mark.parametrize(("headers", "status", "words"), [
    ({}, 401, "Bearer"),
    ({"Authorization": "Bearer not-a-token"}, 401, "not known"),
    (auth("planner"), 403, "role planner may not POST /api/calls"),
])
async def test_auth_refusals_say_why(client, headers, status, words):
    r = await client.post("/api/calls", json={"location": INSIDE, "complaint": "stroke", "priority": 1},
                          headers=headers)
    assert r.status == status
    body = await r.json()
    assert body["error"] in ("unauthorized", "forbidden") and words in body["message"]


async def test_call_gets_ranked_recommendations(client):
    r = await post_call(client)
    assert r.status == 201
    data = await r.json()
    recs = data["recommendations"]
    assert data["id"].startswith("C") and len(recs) == 4
    etas = [x["eta_s"] for x in recs]
    assert etas == sorted(etas) and all(e > 0 for e in etas)
    assert all(x["distance_m"] >= 0 and x["route"]["geometry"]["type"] == "LineString" for x in recs)
    # the nearest station's unit is timed from the station with its turnout delay
    assert recs[0]["eta_s"] == pytest.approx(recs[0]["turnout_s"] + recs[0]["travel_s"], abs=0.2)


async def test_call_by_place_name_and_unknown_place(client):
    r = await post_call(client, location={"place": "龙田"})
    assert r.status == 201
    assert (await r.json())["call"]["place_name"] == "龙田镇"
    r = await post_call(client, location={"place": "龙天镇"})
    body = await r.json()
    assert r.status == 400 and body["error"] == "unknown_place" and "龙田镇" in body["message"]


async def test_outside_the_county_is_refused(client):
    r = await post_call(client, location=OUTSIDE)
    body = await r.json()
    assert r.status == 400 and body["error"] == "outside_county" and "location" in body["message"]


async def test_assign_override_needs_a_reason_and_is_recorded(client):
    data = await (await post_call(client)).json()
    call_id, recs = data["id"], data["recommendations"]
    other = recs[1]["unit_id"]
    r = await client.post(f"/api/calls/{call_id}/assign", json={"unit_id": other}, headers=auth("dispatcher"))
    assert r.status == 400 and (await r.json())["error"] == "reason_required"
    r = await client.post(f"/api/calls/{call_id}/assign", json={"unit_id": other, "reason": "家属要求"},
                          headers=auth("dispatcher"))
    assert r.status == 200
    a = (await r.json())["assignment"]
    assert a["unit_id"] == other and a["recommended_unit_id"] == recs[0]["unit_id"]
    assert a["override_reason"] == "家属要求"
    history = await (await client.get(f"/api/calls/{call_id}", headers=auth("dispatcher"))).json()
    dispatch_events = [e for e in history["history"] if e["type"] != "MilestoneRecorded"]
    assert [e["type"] for e in dispatch_events] == ["CallReceived", "UnitAssigned"]
    assert dispatch_events[1]["by"] == "dispatcher:alice"
    # a chest pain call's history also carries the milestones its events stamped
    assert {e["milestone"]["kind"] for e in history["history"] if e["type"] == "MilestoneRecorded"} \
        <= {"call_120", "dispatch_order"}


async def test_crew_changes_only_its_own_unit(client):
    data = await (await post_call(client)).json()
    r = await client.post(f"/api/calls/{data['id']}/assign", json={"unit_id": "centre-1", "reason": "test"},
                          headers=auth("dispatcher"))
    assert r.status == 200
    r = await client.post("/api/units/centre-1/accept", json={}, headers=auth("crew_liushahe"))
    assert r.status == 403 and "may not change unit centre-1" in (await r.json())["message"]
    r = await client.post("/api/units/centre-1/accept", json={}, headers=auth("crew_centre1"))
    assert r.status == 200 and (await r.json())["status"] == "en_route"
    r = await client.post("/api/units/centre-1/status", json={"status": "transporting"},
                          headers=auth("crew_centre1"))
    body = await r.json()
    assert r.status == 409 and body["error"] == "illegal_transition"
    assert "en_route" in body["message"] and "transporting" in body["message"]
    units = await (await client.get("/api/units", headers=auth("crew_centre1"))).json()
    assert [u["id"] for u in units["units"]] == ["centre-1"]


async def test_decline_requeues_and_offers_the_call(client):
    data = await (await post_call(client)).json()
    first = data["recommendations"][0]["unit_id"]
    await client.post(f"/api/calls/{data['id']}/assign", json={"unit_id": first}, headers=auth("dispatcher"))
    r = await client.post(f"/api/units/{first}/decline", json={"reason": "车辆故障"}, headers=auth("dispatcher"))
    assert r.status == 200
    call = await (await client.get(f"/api/calls/{data['id']}", headers=auth("dispatcher"))).json()
    # offered at once to the best free unit, by the system
    assert call["assignment"]["unit_id"] != first and call["assignment"]["assigned_by"] == "system"


async def test_calls_queue_when_every_unit_is_busy_and_go_to_the_first_freed(client):
    ids = []
    for _ in range(4):
        data = await (await post_call(client, priority=2)).json()
        best = data["recommendations"][0]["unit_id"]
        r = await client.post(f"/api/calls/{data['id']}/assign", json={"unit_id": best},
                              headers=auth("dispatcher"))
        assert r.status == 200
        ids.append((data["id"], best))
    low = await (await post_call(client, priority=3)).json()
    high = await (await post_call(client, priority=1)).json()
    assert low["recommendations"] == [] and high["recommendations"] == []
    call = await (await client.get(f"/api/calls/{high['id']}", headers=auth("dispatcher"))).json()
    assert call["queue_position"] == 1
    call_id, unit = ids[0]
    r = await client.post(f"/api/calls/{call_id}/cancel", json={"reason": "duplicate call"},
                          headers=auth("dispatcher"))
    assert r.status == 200
    high_now = await (await client.get(f"/api/calls/{high['id']}", headers=auth("dispatcher"))).json()
    low_now = await (await client.get(f"/api/calls/{low['id']}", headers=auth("dispatcher"))).json()
    assert high_now["assignment"]["unit_id"] == unit and low_now["status"] == "queued"


@pytest.mark.parametrize(("body", "code", "words"), [
    (b"{not json", "bad_json", "body: not valid JSON"),
    (b'{"location": {"lon": 112.1, "lat": 28.0}, "complaint": "chest_pain", "priority": 7}', "invalid",
     "priority: must be ≤ 4, got 7"),
    (b'{"location": {"lon": 112.1, "lat": 28.0}, "complaint": "chest_pain", "priority": 1, "x": 1}',
     "invalid", "x: unknown field"),
    (b'{"location": {"lon": "a", "lat": 28.0}, "complaint": "chest_pain", "priority": 1}', "invalid",
     "location.lon: must be number"),
    (b'{"location": {"town": "x"}, "complaint": "flu", "priority": 1}', "invalid", "location: must be {lon, lat} or {place}"),
    (b'[1, 2]', "invalid", "body: must be object"),
])
async def test_bad_bodies_are_answered_with_the_field(client, body, code, words):
    r = await client.post("/api/calls", data=body, headers=auth("dispatcher") | {"Content-Type": "application/json"})
    data = await r.json()
    assert r.status == 400 and data["error"] == code and words in data["message"]


async def test_oversized_body_and_unknown_route(client):
    r = await client.post("/api/calls", data=b"x" * 70_000, headers=auth("dispatcher"))
    assert r.status == 413 and (await r.json())["error"] == "too_large"
    r = await client.get("/api/nothing", headers=auth("dispatcher"))
    assert r.status == 404 and (await r.json())["error"] == "not_found"


async def test_openapi_describes_every_route(client):
    doc = await (await client.get("/api/openapi.json", headers=auth("planner"))).json()
    assert doc["openapi"].startswith("3.")
    for path, methods in [("/api/calls", {"post", "get"}), ("/api/calls/{call_id}/assign", {"post"}),
                          ("/api/units/{unit_id}/status", {"post"}), ("/api/health", {"get"})]:
        assert methods <= set(doc["paths"][path])
    assert doc["paths"]["/api/calls"]["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] \
        == ["location", "complaint", "priority"]


async def test_a_dispatcher_assigning_during_the_queue_offer_wins_without_an_error(client):
    """The offer is built under the write lock: a call assigned meanwhile is not offered again."""
    from dispatch import events as ev
    from dispatch.http import SERVICE

    busy = []
    for _ in range(4):
        data = await (await post_call(client, priority=2)).json()
        unit_id = data["recommendations"][0]["unit_id"]
        await client.post(f"/api/calls/{data['id']}/assign", json={"unit_id": unit_id}, headers=auth("dispatcher"))
        busy.append((data["id"], unit_id))
    waiting = (await (await post_call(client, priority=1)).json())["id"]
    service = client.server.app[SERVICE]
    original = service.recommendations
    freed_call, freed_unit = busy[0]

    async def racing(call_id):
        ranking = await original(call_id)
        if call_id == waiting and waiting in service.state.queue:
            await service.submit([ev.UnitAssigned(at=service.clock(), by="dispatcher:bob", call_id=waiting,
                                                  unit_id=freed_unit, recommended_unit_id=freed_unit)])
        return ranking

    service.recommendations = racing
    r = await client.post(f"/api/calls/{freed_call}/cancel", json={"reason": "duplicate"}, headers=auth("dispatcher"))
    assert r.status == 200, await r.text()
    call = await (await client.get(f"/api/calls/{waiting}", headers=auth("dispatcher"))).json()
    assert call["assignment"]["unit_id"] == freed_unit and call["assignment"]["assigned_by"] == "dispatcher:bob"
    assert [a["unit_id"] for a in call["assignments"]] == [freed_unit]


async def _first_eta_at(aiohttp_client, tmp_path, at: datetime) -> float:
    """The top recommendation's ETA for one call placed at ``at`` (a service whose clock is fixed there)."""
    config = make_config(tmp_path)
    client = await aiohttp_client(create_app(config, clock=lambda: at))
    r = await client.post("/api/calls", json={"location": {"lon": 112.121, "lat": 28.001}, "priority": 1,
                                               "complaint": "chest_pain"}, headers=auth("dispatcher"))
    assert r.status == 201, await r.text()
    return (await r.json())["recommendations"][0]["eta_s"]


async def test_recommendations_drive_at_the_local_hours_time_of_day_factor(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    # config.toml: 08:00 local is x1.25; the tiny county has no urban area, so every road is slowed
    peak = await _first_eta_at(aiohttp_client, tmp_path / "a", datetime(2026, 11, 27, 0, 30, tzinfo=timezone.utc))
    night = await _first_eta_at(aiohttp_client, tmp_path / "b", datetime(2026, 11, 26, 19, 0, tzinfo=timezone.utc))
    turnout = 60.0  # at the station (config.toml [dispatch.turnout_s])
    assert night > turnout and peak - turnout == pytest.approx(1.25 * (night - turnout), abs=0.1)  # 0.1 s: rounded


def test_the_county_time_zone_is_checked():
    from dispatch.errors import ValidationError
    from dispatch.service import county_timezone

    assert county_timezone({}).key == "Asia/Shanghai"
    assert county_timezone({"county": {"timezone": "Asia/Urumqi"}}).key == "Asia/Urumqi"
    with pytest.raises(ValidationError, match="county.timezone: not an IANA time zone name .*'Mars/Olympus'"):
        county_timezone({"county": {"timezone": "Mars/Olympus"}})
