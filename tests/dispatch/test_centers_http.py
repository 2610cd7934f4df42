"""Chest pain and stroke centers through the service, on the tiny county with SQLite."""

from __future__ import annotations

import asyncio
import warnings

import pytest

from dispatch.app import create_app
from tests.dispatch.service_fixtures import auth, make_config

INSIDE = {"lon": 112.121, "lat": 28.001}
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


@pytest.fixture
def config(tmp_path):
    warnings.simplefilter("ignore")
    return make_config(tmp_path)


@pytest.fixture
async def client(aiohttp_client, config):
    return await aiohttp_client(create_app(config))


async def patient(client, call_id, token="dispatcher"):
    r = await client.get(f"/api/calls/{call_id}/patient", headers=auth(token))
    assert r.status == 200, await r.text()
    return await r.json()


async def kinds_of(client, call_id, wanted, token="dispatcher"):
    """The patient's current milestone kinds, once the automatic ones have been stamped."""
    for _ in range(100):
        kinds = [m["kind"] for m in (await patient(client, call_id, token))["milestones"]]
        if set(wanted) <= set(kinds):
            return kinds
        await asyncio.sleep(0.02)
    return kinds


async def stemi_on_scene(client):
    """A chest pain call, assigned to centre-1, accepted, on scene."""
    r = await client.post("/api/calls", json={"location": INSIDE, "complaint": "chest_pain", "priority": 1},
                          headers=auth("dispatcher"))
    call_id = (await r.json())["id"]
    await client.post(f"/api/calls/{call_id}/assign", json={"unit_id": "centre-1", "reason": "test"},
                      headers=auth("dispatcher"))
    await client.post("/api/units/centre-1/accept", json={}, headers=auth("crew_centre1"))
    await client.post("/api/units/centre-1/status", json={"status": "on_scene"}, headers=auth("crew_centre1"))
    return call_id


async def test_dispatch_events_stamp_the_prehospital_milestones(client):
    call_id = await stemi_on_scene(client)
    kinds = await kinds_of(client, call_id, ["call_120", "dispatch_order", "unit_departed", "first_medical_contact"])
    assert kinds[:4] == ["call_120", "dispatch_order", "unit_departed", "first_medical_contact"]
    history = (await patient(client, call_id))["history"]
    assert all(m["recorded_by"]["role"] == "system" for m in history)


async def test_stemi_suspected_chooses_the_pci_center_and_it_sees_the_patient(client):
    call_id = await stemi_on_scene(client)
    await kinds_of(client, call_id, ["first_medical_contact"])
    r = await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "first_ecg"}, headers=auth("crew_centre1"))
    assert r.status == 201
    r = await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "stemi_suspected"},
                          headers=auth("crew_centre1"))
    assert r.status == 201
    dest = (await patient(client, call_id))["destination"]
    assert dest["hospital_id"] == "renmin" and dest["reason_code"]
    r = await client.get("/api/centers/renmin/incoming", headers=auth("center_renmin"))
    data = await r.json()
    assert r.status == 200 and [p["call_id"] for p in data["patients"]] == [call_id]
    incoming = data["patients"][0]
    assert incoming["eta_s"] is not None and incoming["eta_s"] >= 0
    assert {"first_ecg", "stemi_suspected"} <= {m["kind"] for m in incoming["milestones"]}
    r = await client.post(f"/api/centers/renmin/acknowledge/{call_id}", json={}, headers=auth("center_renmin"))
    assert r.status == 201
    assert "center_acknowledged" in await kinds_of(client, call_id, ["center_acknowledged"], "center_renmin")


async def test_ecg_upload_is_type_and_size_checked_and_downloadable(client):
    call_id = await stemi_on_scene(client)
    r = await client.post(f"/api/calls/{call_id}/ecg", data=b"not an image",
                          headers=auth("crew_centre1") | {"Content-Type": "image/png"})
    assert r.status == 415 and "body" in (await r.json())["message"]
    r = await client.post(f"/api/calls/{call_id}/ecg", data=PNG + b"\x00" * (5 * 1024 * 1024),
                          headers=auth("crew_centre1") | {"Content-Type": "image/png"})
    assert r.status == 413
    r = await client.post(f"/api/calls/{call_id}/ecg", data=PNG,
                          headers=auth("crew_centre1") | {"Content-Type": "image/png"})
    assert r.status == 201
    attachment = (await r.json())["attachment"]
    # an ECG transmission pre-notifies: the destination is chosen (no STEMI yet: the nearest ED)
    assert (await patient(client, call_id))["destination"]["hospital_id"] == "liushahe-hc"
    r = await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "stemi_suspected"},
                          headers=auth("crew_centre1"))
    assert r.status == 201
    r = await client.post(f"/api/calls/{call_id}/destination", json={"stemi": True}, headers=auth("crew_centre1"))
    assert (await r.json())["destination"]["hospital_id"] == "renmin"
    r = await client.get(f"/api/attachments/{attachment['id']}", headers=auth("center_renmin"))
    assert r.status == 200 and await r.read() == PNG and r.content_type == "image/png"
    assert "ecg_transmitted" in await kinds_of(client, call_id, ["ecg_transmitted"])


async def test_order_is_checked_and_corrections_keep_the_trail(client):
    call_id = await stemi_on_scene(client)
    await kinds_of(client, call_id, ["first_medical_contact"])
    r = await client.post(f"/api/calls/{call_id}/milestones",
                          json={"kind": "balloon", "at": "2000-01-01T00:00:00Z"}, headers=auth("dispatcher"))
    body = await r.json()
    assert r.status in (400, 409) and "balloon" in body["message"]
    r = await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "first_ecg"}, headers=auth("dispatcher"))
    first = (await r.json())["milestone"]
    r = await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "first_ecg"}, headers=auth("dispatcher"))
    assert r.status in (400, 409)
    r = await client.post(f"/api/calls/{call_id}/milestones",
                          json={"kind": "first_ecg", "corrects": first["id"], "note": "clock of the monitor"},
                          headers=auth("dispatcher"))
    assert r.status == 201
    p = await patient(client, call_id)
    assert [m["kind"] for m in p["history"]].count("first_ecg") == 2
    assert [m["kind"] for m in p["milestones"]].count("first_ecg") == 1


async def test_patients_choice_needs_a_reason_and_is_recorded(client):
    call_id = await stemi_on_scene(client)
    r = await client.post(f"/api/calls/{call_id}/destination", json={"patient_choice": "liushahe-hc"},
                          headers=auth("dispatcher"))
    assert r.status == 400 and "choice_reason" in (await r.json())["message"]
    r = await client.post(f"/api/calls/{call_id}/destination",
                          json={"stemi": True, "patient_choice": "liushahe-hc", "choice_reason": "家属要求就近"},
                          headers=auth("dispatcher"))
    assert r.status == 200
    dest = (await r.json())["destination"]
    assert dest["hospital_id"] == "liushahe-hc" and dest["patient_choice_reason"] == "家属要求就近"
    assert dest["policy_hospital_id"] == "renmin"


async def test_who_may_see_and_record(client):
    call_id = await stemi_on_scene(client)
    r = await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "first_ecg"},
                          headers=auth("crew_liushahe"))
    assert r.status == 403
    r = await client.get(f"/api/calls/{call_id}/patient", headers=auth("center_renmin"))
    assert r.status == 403  # not (yet) coming to this center
    r = await client.get("/api/centers/liushahe-hc/incoming", headers=auth("center_renmin"))
    assert r.status == 403


async def test_report_through_the_api(client):
    call_id = await stemi_on_scene(client)
    await kinds_of(client, call_id, ["first_medical_contact"])
    await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "first_ecg"}, headers=auth("dispatcher"))
    r = await client.get("/api/centers/renmin/report?format=json", headers=auth("center_renmin"))
    assert r.status == 200
    data = await r.json()
    codes = {iv["code"] for iv in data["intervals"]}
    assert "door_to_balloon" in codes or any("balloon" in c for c in codes)
    r = await client.get("/api/centers/renmin/report?format=pdf", headers=auth("center_renmin"))
    assert r.status == 400


async def test_milestones_survive_a_restart(aiohttp_client, config):
    first = await aiohttp_client(create_app(config))
    call_id = await stemi_on_scene(first)
    kinds = await kinds_of(first, call_id, ["first_medical_contact"])
    await first.close()
    second = await aiohttp_client(create_app(config))
    assert [m["kind"] for m in (await patient(second, call_id))["milestones"]] == kinds


async def test_a_center_lists_only_the_calls_coming_to_it(client):
    call_id = await stemi_on_scene(client)
    r = await client.get("/api/calls", headers=auth("center_renmin"))
    assert r.status == 200 and (await r.json())["calls"] == []
    assert (await client.get(f"/api/calls/{call_id}", headers=auth("center_renmin"))).status == 403
    r = await client.post(f"/api/calls/{call_id}/destination", json={"stemi": True}, headers=auth("dispatcher"))
    assert (await r.json())["destination"]["hospital_id"] == "renmin"
    calls = (await (await client.get("/api/calls", headers=auth("center_renmin"))).json())["calls"]
    assert [c["id"] for c in calls] == [call_id] and calls[0]["destination_hospital_id"] == "renmin"
    assert (await client.get(f"/api/calls/{call_id}", headers=auth("center_renmin"))).status == 200


async def test_the_center_is_prenotified_over_its_websocket(client):
    """STEMI suspected: the PCI center's board gets the incoming patient with ETA and milestones, live."""
    from tests.dispatch.service_fixtures import TOKENS

    call_id = await stemi_on_scene(client)
    await kinds_of(client, call_id, ["first_medical_contact"])
    ws = await client.ws_connect(f"/ws?token={TOKENS['center_renmin']}")
    first = await ws.receive_json(timeout=5)
    assert first["type"] == "snapshot" and first["calls"] == []  # nothing is coming to it yet
    r = await client.post(f"/api/calls/{call_id}/milestones", json={"kind": "stemi_suspected"},
                          headers=auth("crew_centre1"))
    assert r.status == 201
    for _ in range(50):
        message = await ws.receive_json(timeout=5)
        if message["type"] == "incoming_patient":
            break
    assert message["type"] == "incoming_patient" and message["call_id"] == call_id
    assert message["hospital_id"] == "renmin" and message["eta_s"] >= 0 and message["unit_id"] == "centre-1"
    assert "stemi_suspected" in {m["kind"] for m in message["milestones"]}
    await ws.close()


async def test_an_ecg_is_found_by_its_id_after_a_restart(aiohttp_client, config):
    first = await aiohttp_client(create_app(config))
    call_id = await stemi_on_scene(first)
    r = await first.post(f"/api/calls/{call_id}/ecg", data=PNG,
                         headers=auth("crew_centre1") | {"Content-Type": "image/png"})
    attachment_id = (await r.json())["attachment"]["id"]
    await first.close()
    again = await aiohttp_client(create_app(config))  # the index is rebuilt from the log
    r = await again.get(f"/api/attachments/{attachment_id}", headers=auth("dispatcher"))
    assert r.status == 200 and await r.read() == PNG
    r = await again.get("/api/attachments/no-such-ecg", headers=auth("dispatcher"))
    assert r.status == 404 and "no-such-ecg" in (await r.json())["message"]
