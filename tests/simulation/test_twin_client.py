"""The twin's HTTP client: one Idempotency-Key per action, the same one when the connection failed
and the action is sent again."""

from __future__ import annotations

import uuid

import pytest
from aiohttp import web

from simulation.twin import client as twin_client
from simulation.twin.client import ServiceClient


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(twin_client, "NETWORK_RETRY_S", 0.0)


async def test_an_action_sent_again_after_a_dropped_connection_keeps_its_key(aiohttp_server, no_wait):
    seen: list[tuple[str, str | None]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.method, request.headers.get("Idempotency-Key")))
        if request.method == "POST" and len(seen) == 1:
            request.transport.close()  # the service got it; its answer is lost
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_route("*", "/api/x", handler)
    server = await aiohttp_server(app)
    client = ServiceClient(str(server.make_url("")))
    async with client.connect(timeout_s=10):
        assert await client.request("POST", "/api/x", "t", json={"a": 1}) == {"ok": True}
        assert await client.request("POST", "/api/x", "t", json={"a": 1}) == {"ok": True}
        assert await client.request("GET", "/api/x", "t") == {"ok": True}
    (m1, k1), (m2, k2), (m3, k3), (m4, k4) = seen
    assert (m1, m2, m3, m4) == ("POST", "POST", "POST", "GET")
    assert k1 == k2 and uuid.UUID(k1).version == 4  # the same action sent again
    assert k3 not in (None, k1)  # the next action
    assert k4 is None  # a read changes nothing


async def test_the_last_failed_attempt_is_raised(aiohttp_server, no_wait):
    import aiohttp

    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("Idempotency-Key"))
        request.transport.close()
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/x", handler)
    server = await aiohttp_server(app)
    client = ServiceClient(str(server.make_url("")))
    async with client.connect(timeout_s=10):
        with pytest.raises(aiohttp.ClientConnectionError):
            await client.request("POST", "/api/x", "t", json={})
    assert len(seen) == twin_client.NETWORK_ATTEMPTS and len(set(seen)) == 1
