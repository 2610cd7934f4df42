"""Liveness and readiness: /api/health answers while the process runs; /api/health/ready says why it is not ready."""

from __future__ import annotations

import secrets
import warnings
from datetime import datetime, timedelta, timezone

import pytest

from dispatch.app import create_app
from dispatch.http import SERVICE
from dispatch.store import StoreError
from tests.dispatch.service_fixtures import auth, make_config
from tests.dispatch.test_bus_redis import redis_url  # noqa: F401 - the fixture

CALL = {"location": {"lon": 112.121, "lat": 28.001}, "complaint": "trauma", "priority": 2}


async def _ready(client):
    r = await client.get("/api/health/ready")
    return r.status, await r.json(), r.headers


async def test_a_healthy_service_is_ready_and_says_so_per_check(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(make_config(tmp_path)))
    status, body, _ = await _ready(client)
    assert status == 200 and body["status"] == "ready"
    assert set(body["checks"]) == {"store", "gps_backlog"} and all(c["ok"] for c in body["checks"].values())
    metrics = await (await client.get("/metrics")).text()
    assert 'ems_ready{check="store"} 1' in metrics


async def test_a_failed_write_makes_it_not_ready_until_a_write_succeeds(aiohttp_client, tmp_path, monkeypatch):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(make_config(tmp_path)))
    store = client.server.app[SERVICE].store
    real_append = store.append

    async def full_disk(*args, **kwargs):
        raise StoreError("store: database or disk is full (injected)")

    monkeypatch.setattr(store, "append", full_disk)
    r = await client.post("/api/calls", json=CALL, headers=auth("dispatcher"))
    assert r.status == 503 and r.headers["Retry-After"]
    assert (await client.get("/api/health")).status == 200  # alive all the same
    status, body, headers = await _ready(client)
    assert status == 503 and body["status"] == "not_ready" and headers["Retry-After"]
    assert not body["checks"]["store"]["ok"] and "disk is full" in body["checks"]["store"]["reason"]
    assert 'ems_ready{check="store"} 0' in await (await client.get("/metrics")).text()
    monkeypatch.setattr(store, "append", real_append)
    assert (await client.post("/api/calls", json=CALL, headers=auth("dispatcher"))).status == 201
    assert (await _ready(client))[0] == 200


async def test_a_full_gps_backlog_makes_it_not_ready(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    config = make_config(tmp_path)
    config["gps"].update({"flush_interval_s": 3600.0, "max_backlog_rows": 3})
    client = await aiohttp_client(create_app(config))
    now = datetime.now(timezone.utc).replace(microsecond=0)
    fixes = [{"lon": 112.121 + i * 1e-4, "lat": 28.001, "timestamp": (now - timedelta(seconds=3 - i)).isoformat()}
             for i in range(3)]  # 10 m a second apart: all taken, and none written (no flush for an hour)
    r = await client.post("/api/units/centre-1/positions", json={"fixes": fixes}, headers=auth("dispatcher"))
    assert r.status == 200 and (await r.json())["accepted"] == 3
    status, body, _ = await _ready(client)
    backlog = body["checks"]["gps_backlog"]
    assert status == 503 and not backlog["ok"] and "limit 3" in backlog["reason"]

@pytest.mark.integration
async def test_with_a_bus_the_bus_is_checked(pg_url, redis_url, aiohttp_client, tmp_path):  # noqa: F811
    warnings.simplefilter("ignore")
    config = make_config(tmp_path, db=pg_url)
    config["service"].update({"bus": redis_url, "bus_namespace": f"ems-test-{secrets.token_hex(4)}"})
    client = await aiohttp_client(create_app(config))
    status, body, _ = await _ready(client)
    assert status == 200 and body["checks"]["bus"] == {"ok": True, "reason": "bus: Redis answers"}
