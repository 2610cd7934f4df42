"""A unit whose last GPS fix is far off the roads never stops dispatch: through the real app, in process.

Replays a fault an operator met: a unit ``available_mobile`` with a fresh fix 25 km from the nearest
road (one glitched first fix, or a plausible 60 km/h track out of the county) made ``POST /api/calls``,
``GET /api/calls/{id}/recommendations`` and ``POST /api/calls/{id}/assign`` answer 500 until the fix
was 10 minutes old. The unit is now ranked from its station and the ranking says why.
"""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta, timezone

import pytest

from dispatch.app import create_app
from dispatch.http import SERVICE
from dispatch.views import unroutable_json
from tests.dispatch.service_fixtures import auth, make_config

# A point on the tiny county's road grid, for the call.
INSIDE = {"lon": 112.121, "lat": 28.001}
# The unit whose GPS goes wrong, and where its fix ends up: 0.26 degrees of longitude (about 25.5 km)
# east of its station (112.122, 28.002), about 24 km from the nearest road of the tiny county.
UNIT = "liushahe-1"
OFF_ROAD = (112.382, 28.002)
# A track there in 26 steps, the last one now: one fix every 20 s (about 170 km/h, under the speed filter),
# so the whole track is newer than [gps] max_age_s (600 s) and every fix can become the position.
TRACK_MINUTES = 26
STEP_S = 20


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    return await aiohttp_client(create_app(make_config(tmp_path)))


def glitch(now: datetime) -> list[dict]:
    """One first fix, 25 km off the roads (no earlier fix: no jump to reject it)."""
    return [{"lon": OFF_ROAD[0], "lat": OFF_ROAD[1], "timestamp": now.isoformat(), "accuracy_m": 8.0}]


def track(now: datetime) -> list[dict]:
    """A track from the station to the off-road point, one fix every 20 s (no jump, no glitch)."""
    start = 112.122
    step = (OFF_ROAD[0] - start) / TRACK_MINUTES
    return [{"lon": start + step * k, "lat": OFF_ROAD[1], "accuracy_m": 8.0,
             "timestamp": (now - timedelta(seconds=STEP_S * (TRACK_MINUTES - k))).isoformat()}
            for k in range(TRACK_MINUTES + 1)]


@pytest.mark.parametrize("fixes", [glitch, track], ids=["one_glitched_fix", "track_out_of_the_county"])
async def test_a_unit_off_the_roads_is_ranked_from_its_station_and_dispatch_goes_on(client, fixes):
    dispatcher = auth("dispatcher")
    r = await client.post(f"/api/units/{UNIT}/status", json={"status": "available_mobile"}, headers=dispatcher)
    assert r.status == 200
    now = datetime.now(timezone.utc).replace(microsecond=0)
    sent = fixes(now)
    r = await client.post(f"/api/units/{UNIT}/positions", json={"fixes": sent}, headers=dispatcher)
    assert r.status == 200 and await r.json() == {"accepted": len(sent), "rejected": []}
    unit = await (await client.get(f"/api/units/{UNIT}", headers=dispatcher)).json()
    assert unit["position"] == {"lon": OFF_ROAD[0], "lat": OFF_ROAD[1]} and unit["status"] == "available_mobile"

    r = await client.post("/api/calls", json={"location": INSIDE, "complaint": "chest_pain", "priority": 1},
                          headers=dispatcher)
    assert r.status == 201, await r.text()
    created = await r.json()
    call_id = created["id"]
    assert call_id.startswith("C")
    ranked = {o["unit_id"]: o for o in created["recommendations"]}
    units = (await (await client.get("/api/units", headers=dispatcher)).json())["units"]
    assert set(ranked) == {u["id"] for u in units}  # every unit ranked, the off-road one included
    assert ranked[UNIT]["source"] == "station"
    [why] = created["unroutable"]  # the dispatcher is told why the unit was timed from its station
    assert why["unit_id"] == UNIT and why["reason"] == "gps_off_road" and why["source"] == "station"

    r = await client.get(f"/api/calls/{call_id}/recommendations", headers=dispatcher)
    assert r.status == 200, await r.text()
    assert [u["unit_id"] for u in (await r.json())["unroutable"]] == [UNIT]
    assert [o["unit_id"] for o in (await r.json())["recommendations"]] == [o["unit_id"] for o in
                                                                          created["recommendations"]]

    # what the HTTP answers will carry: the unit, why, and where it was timed from instead
    ranking = await client.server.app[SERVICE].recommendations(call_id)
    [note] = unroutable_json(ranking)
    assert (note["unit_id"], note["reason"], note["source"]) == (UNIT, "gps_off_road", "station")
    assert "km off the road network" in note["message"] and "ranked from its station" in note["message"]

    # assigning without a ranking id ranks again: the best unit is sent
    best = created["recommendations"][0]["unit_id"]
    r = await client.post(f"/api/calls/{call_id}/assign", json={"unit_id": best}, headers=dispatcher)
    assert r.status == 200, await r.text()
    assert (await r.json())["assignment"]["unit_id"] == best
