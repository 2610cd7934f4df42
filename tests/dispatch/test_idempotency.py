"""Idempotency-Key on POST /api/calls: a retry gets the first answer, on SQLite and PostgreSQL, across a restart."""

from __future__ import annotations

import warnings

import pytest

from dispatch.app import create_app
from tests.dispatch.service_fixtures import auth, make_config

CALL = {"location": {"lon": 112.121, "lat": 28.001}, "complaint": "chest_pain", "priority": 1}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request):
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else ""


async def _post(client, body, key):
    r = await client.post("/api/calls", json=body, headers=auth("dispatcher") | {"Idempotency-Key": key})
    return r.status, await r.read()


async def test_a_retried_call_gets_the_first_answer_and_is_recorded_once(db_url, aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    config = make_config(tmp_path, db=db_url)
    client = await aiohttp_client(create_app(config))
    first = await _post(client, CALL, "k-1")
    again = await _post(client, CALL, "k-1")
    assert first[0] == 201 and again == first
    calls = (await (await client.get("/api/calls", headers=auth("dispatcher"))).json())["calls"]
    assert len(calls) == 1
    await client.close()
    # after a restart the key is still known: same answer, still one call
    restarted = await aiohttp_client(create_app(config))
    assert await _post(restarted, CALL, "k-1") == first
    calls = (await (await restarted.get("/api/calls", headers=auth("dispatcher"))).json())["calls"]
    assert len(calls) == 1


async def test_the_same_key_on_another_request_is_refused_naming_the_header(db_url, aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(make_config(tmp_path, db=db_url)))
    assert (await _post(client, CALL, "k-2"))[0] == 201
    r = await client.post("/api/calls", json=CALL | {"priority": 2},
                          headers=auth("dispatcher") | {"Idempotency-Key": "k-2"})
    assert r.status == 422, await r.text()
    assert "Idempotency-Key" in (await r.json())["message"] or "k-2" in (await r.json())["message"]


async def test_a_key_that_is_not_usable_is_a_400_not_a_503(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(make_config(tmp_path)))
    r = await client.post("/api/calls", json=CALL, headers=auth("dispatcher") | {"Idempotency-Key": "k" * 201})
    assert r.status == 400, await r.text()
    assert (await r.json())["message"].startswith("Idempotency-Key")


async def test_without_a_key_two_posts_are_two_calls(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(make_config(tmp_path)))
    for _ in range(2):
        r = await client.post("/api/calls", json=CALL, headers=auth("dispatcher"))
        assert r.status == 201
    calls = (await (await client.get("/api/calls", headers=auth("dispatcher"))).json())["calls"]
    assert len(calls) == 2


async def test_openapi_documents_the_header_and_the_422(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(make_config(tmp_path)))
    doc = await (await client.get("/api/openapi.json", headers=auth("dispatcher"))).json()
    op = doc["paths"]["/api/calls"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op["parameters"])
    assert "422" in op["responses"]
