"""Two service instances in one process sharing the real Redis (127.0.0.1:6379) and one PostgreSQL
database: a console on one instance sees what is posted to the other, with the same seqs."""

from __future__ import annotations

import asyncio
import os
import secrets
import warnings
from datetime import datetime, timezone

import pytest

from dispatch.app import create_app
from dispatch.http import SERVICE
from tests.dispatch.service_fixtures import TOKENS, auth, make_config

REDIS_URL = os.environ.get("EMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CALL = {"location": {"lon": 112.121, "lat": 28.001}, "complaint": "trauma", "priority": 1}

pytestmark = pytest.mark.integration


@pytest.fixture
async def redis_url():
    import redis.asyncio as aioredis

    client = aioredis.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception as e:  # noqa: BLE001 - any failure to reach the server means the same here
        if os.environ.get("CI"):
            pytest.fail(f"Redis unreachable at {REDIS_URL}: {e}", pytrace=False)
        pytest.skip(f"Redis unreachable at {REDIS_URL}: {e}")
    finally:
        await client.aclose()
    return REDIS_URL


@pytest.fixture
async def pair(pg_url, redis_url, aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    namespace = f"ems-test-{secrets.token_hex(4)}"
    clients = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        config = make_config(tmp_path / name, db=pg_url)
        config["service"].update({"bus": redis_url, "bus_namespace": namespace})
        config["gps"].update({"flush_interval_s": 0.05})
        config["live"].update({"catch_up_interval_s": 0.2})
        clients.append(await aiohttp_client(create_app(config)))
    return clients


async def receive(ws, kind, timeout=5.0):
    while True:
        data = await asyncio.wait_for(ws.receive_json(), timeout)
        if data["type"] == kind:
            return data


async def test_a_console_on_one_instance_sees_the_other_instance(pair):
    a, b = pair
    ws = await a.ws_connect(f"/ws?token={TOKENS['dispatcher']}")
    snap = await receive(ws, "snapshot")
    assert snap["seq"] == 4  # the fleet was registered once, by the first instance
    # a fix posted to B reaches A's console
    at = datetime.now(timezone.utc).replace(microsecond=0)
    r = await b.get("/osmand", params={"id": "centre-1", "lat": "28.001", "lon": "112.121",
                                       "timestamp": str(int(at.timestamp()))})
    assert r.status == 200
    frame = await receive(ws, "positions")
    assert [(p["unit_id"], p["lon"], p["lat"], p["at"]) for p in frame["positions"]] == [
        ("centre-1", 112.121, 28.001, at.isoformat())]
    # a call taken on B reaches A's console with B's seq, and A's state has it
    r = await b.post("/api/calls", json=CALL, headers=auth("dispatcher"))
    call_id = (await r.json())["id"]
    event = await receive(ws, "event")
    assert event["seq"] == 5 and event["event"]["call_id"] == call_id and event["call"]["id"] == call_id
    assert a.server.app[SERVICE].state.calls[call_id].priority == 1
    # A writes next: it checks against the whole log and B's console sees the same seq
    ws_b = await b.ws_connect(f"/ws?token={TOKENS['dispatcher']}&since=5")
    r = await a.post(f"/api/calls/{call_id}/assign", json={"unit_id": "centre-1", "reason": "test"},
                     headers=auth("dispatcher"))
    assert r.status == 200
    on_b = await receive(ws_b, "event")
    assert on_b["seq"] == 6 and on_b["event"]["type"] == "UnitAssigned"
    assert on_b["unit"]["current_call"] == call_id
    assert (await receive(ws, "event"))["seq"] == 6
    for w in (ws, ws_b):
        await w.close()


async def test_both_instances_cannot_send_one_unit_twice(pair):
    a, b = pair
    ids = []
    for client in (a, b):
        r = await client.post("/api/calls", json=CALL, headers=auth("dispatcher"))
        ids.append((await r.json())["id"])
    assert ids[0] != ids[1]  # call ids are taken under the writer lock, from the whole log
    results = await asyncio.gather(
        a.post(f"/api/calls/{ids[0]}/assign", json={"unit_id": "liushahe-1", "reason": "test"},
               headers=auth("dispatcher")),
        b.post(f"/api/calls/{ids[1]}/assign", json={"unit_id": "liushahe-1", "reason": "test"},
               headers=auth("dispatcher")))
    assert sorted(r.status for r in results) == [200, 409]
    # and both instances end with the same state
    for _ in range(50):
        sa, sb = a.server.app[SERVICE].state, b.server.app[SERVICE].state
        if sa.seq == sb.seq:
            break
        await asyncio.sleep(0.05)
    assert sa.seq == sb.seq == 7
    assert sa.units["liushahe-1"].current_call == sb.units["liushahe-1"].current_call


async def test_an_event_whose_announcement_was_lost_is_polled_from_the_log(pair):
    a, b = pair
    service_a = a.server.app[SERVICE]
    service_b = b.server.app[SERVICE]
    ws = await b.ws_connect(f"/ws?token={TOKENS['dispatcher']}")
    await receive(ws, "snapshot")
    # append through A's store directly, as if A had crashed before announcing it
    from dispatch import events as ev
    from dispatch.codec import event_to_dict

    event = ev.UnitStatusChanged(at=datetime.now(timezone.utc), by="dispatcher:test", unit_id="centre-1",
                                 status="out_of_service", reason="maintenance")
    seqs = await service_a.store.append([event_to_dict(event)])
    got = await receive(ws, "event")
    assert got["seq"] == seqs[0] and got["unit"]["status"] == "out_of_service"
    assert service_b.state.units["centre-1"].status.value == "out_of_service"
    await ws.close()
