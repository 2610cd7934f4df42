"""A stalled PostgreSQL link: every request answers within the store's deadline, and nothing is lost.

The store reaches PostgreSQL through `Staller`, a TCP proxy that on command stops forwarding in both
directions and holds the bytes (no reset, no close: a link whose packets are held, as when a switch,
a firewall's state table or a VM's network stalls), for longer than the store's deadline. Before every
store operation had a deadline, the first write hung for the whole stall inside the service's write
lock, and every request queued behind it hung too.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import pytest_asyncio

from dispatch.app import create_app
from dispatch.runtime import RUNTIME
from dispatch.store import open_store
from tests.dispatch.service_fixtures import auth, make_config
from tests.faults.test_lost_commit import INSIDE, through

pytestmark = pytest.mark.integration

#: ``[service] store_deadline_s`` in this test (seconds).
DEADLINE_S = 1.0
#: What an answer may take beyond the deadline on two busy shared cores (seconds).
SLACK_S = 2.0


class Staller:
    """Listen on 127.0.0.1 (a free port) and forward to ``host:port``, until `stall` holds every byte.

    While stalled, no byte goes through in either direction on any connection, new ones included, and
    none is dropped; `resume` delivers what was held, in order, and forwards again. A side that closed
    during the stall is closed on the other side once its bytes are delivered.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.upstream_port = host, port
        self.port = 0
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._links = 0

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stall(self) -> None:
        """Hold every byte from now on."""
        self._flowing.clear()

    def resume(self) -> None:
        """Deliver the held bytes and forward again."""
        self._flowing.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self.resume()
        for writer in list(self._writers):
            writer.transport.abort()  # each connection's pumps then end on their own
        while self._links:
            await asyncio.sleep(0.01)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._links += 1
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
            except OSError:
                writer.transport.abort()
                return
            self._writers.update((writer, up_writer))
            pumps = [asyncio.create_task(self._pump(reader, up_writer)),
                     asyncio.create_task(self._pump(up_reader, writer))]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            # one side closed and its bytes went through (or a socket failed): the other side's bytes
            # were delivered up to its own close; end both
            await asyncio.wait(pumps, timeout=1.0)
            for task in pumps:
                task.cancel()
            for w in (writer, up_writer):
                w.transport.abort()
                self._writers.discard(w)
        finally:
            self._links -= 1

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            data = await reader.read(65536)
            await self._flowing.wait()
            if not data:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()


@pytest_asyncio.fixture
async def stalling(pg_url: str, aiohttp_client, tmp_path: Path):
    """The real application on PostgreSQL through a `Staller`; its store's deadline is `DEADLINE_S`."""
    parts = urlsplit(pg_url)
    proxy = Staller(parts.hostname, parts.port or 5432)
    await proxy.start()
    config = make_config(tmp_path, db=through(pg_url, proxy.port))
    config["service"]["store_deadline_s"] = DEADLINE_S
    client = await aiohttp_client(create_app(config))
    try:
        yield proxy, client
    finally:
        proxy.resume()
        await client.close()
        await proxy.close()


async def post_call(client, within_s: float, key: str | None = None):
    """POST /api/calls (under ``key`` when given); return (status, headers, body, seconds), failing past ``within_s``."""
    started = time.monotonic()
    try:
        response = await asyncio.wait_for(
            client.post("/api/calls", headers={**auth("dispatcher"), **({"Idempotency-Key": key} if key else {})},
                        json={"location": {"lon": INSIDE[0], "lat": INSIDE[1]}, "complaint": "chest_pain",
                              "priority": 1}),
            within_s)
        body = await response.json()
    except TimeoutError:
        pytest.fail(f"POST /api/calls gave no answer within {within_s:g} s", pytrace=False)
    return response.status, response.headers, body, time.monotonic() - started


async def test_a_stalled_link_answers_503_within_the_deadline_and_loses_nothing(stalling, pg_url: str,
                                                                                tmp_path: Path) -> None:
    proxy, client = stalling
    # DEADLINE_S once the configuration reaches the store (dispatch.bootstrap), else the default
    deadline_s = client.server.app[RUNTIME].service.store.deadlines.operation_s
    status, _, body, _ = await post_call(client, 30.0)
    assert status == 201, body
    acknowledged = [body["id"]]

    proxy.stall()
    stalled_at = time.monotonic()
    # the append, under the service's write lock
    first = await post_call(client, deadline_s + SLACK_S)
    assert "append gave no answer" in first[2]["message"] and "may still be committed" in first[2]["message"]
    # the service now reads the log before its next write: that read has a deadline too
    second = await post_call(client, deadline_s + SLACK_S)
    # two at once: the second waits for the write lock while the first uses its deadline
    both = await asyncio.gather(post_call(client, 2 * deadline_s + SLACK_S),
                                post_call(client, 2 * deadline_s + SLACK_S))
    keyed = await post_call(client, deadline_s + SLACK_S, key="during")  # its key is looked up first
    for status, headers, body, _ in (first, second, *both, keyed):
        assert status == 503, body
        assert body["error"] == "store_unavailable" and "service.store_deadline_s" in body["message"]
        assert int(headers["Retry-After"]) >= deadline_s
    # the stall outlasts every answer above by a deadline: none of them waited for its end
    await asyncio.sleep(deadline_s)
    proxy.resume()
    assert time.monotonic() - stalled_at > 5 * deadline_s

    for key in ("during", None):  # the refused keyed request again, then one without a key
        status, _, body, _ = await post_call(client, 10 * deadline_s, key=key)
        assert status == 201, body
        acknowledged.append(body["id"])
    health = await (await client.get("/api/health")).json()
    served = await (await client.get("/api/calls?status=all", headers=auth("dispatcher"))).json()

    async with open_store(pg_url, tmp_path) as store:  # the log itself, not through the proxy
        log = await store.read_events()
    received = [e.event["call_id"] for e in log if e.event["type"] == "CallReceived"]
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert health["seq"] == len(log)
    assert len(set(received)) == len(received) and set(acknowledged) <= set(received)
    assert sorted(c["id"] for c in served["calls"]) == sorted(received)
