"""The websocket protocol (docs/protocol.md) through aiohttp's test server: snapshot, ordered deltas,
since=N resync, roles, auth and close codes, backpressure, batched positions."""

from __future__ import annotations

import asyncio
import socket
import warnings
from datetime import datetime, timezone

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.auth import Principal, Role
from dispatch.app import create_app
from dispatch.runtime import RUNTIME
from dispatch.ws import Audience, Client, positions_payload, resync_reason
from tests.dispatch.service_fixtures import TOKENS, auth, make_config

CALL = {"location": {"lon": 112.121, "lat": 28.001}, "complaint": "trauma", "priority": 1}


def ws_config(tmp_path, **live):
    config = make_config(tmp_path)
    config["gps"].update({"flush_interval_s": 0.05})
    config["live"].update({"ws_ping_interval_s": 30.0} | live)
    return config


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    return await aiohttp_client(create_app(ws_config(tmp_path)))


async def connect(client, who="dispatcher", since=None):
    url = f"/ws?token={TOKENS[who]}" + (f"&since={since}" if since is not None else "")
    return await client.ws_connect(url)


async def receive(ws, kind=None, timeout=5.0):
    """Return the next message (of ``kind`` when given, skipping positions and pings)."""
    while True:
        msg = await asyncio.wait_for(ws.receive(), timeout)
        assert msg.type is aiohttp.WSMsgType.TEXT, msg
        data = msg.json()
        if kind is None or data["type"] == kind:
            return data


async def new_call(client) -> str:
    r = await client.post("/api/calls", json=CALL, headers=auth("dispatcher"))
    assert r.status == 201
    return (await r.json())["id"]


async def test_snapshot_then_ordered_deltas_with_views(client):
    ws = await connect(client)
    snap = await receive(ws)
    assert snap["type"] == "snapshot" and snap["seq"] == 4  # the tiny fleet's registrations
    assert snap["calls"] == [] and [u["id"] for u in snap["units"]] == sorted(u["id"] for u in snap["units"])
    assert {"position", "position_at", "stale", "speed_mps", "heading_deg", "eta_s"} <= set(snap["units"][0])
    datetime.fromisoformat(snap["server_time"])
    call_id = await new_call(client)
    await client.post(f"/api/calls/{call_id}/assign", json={"unit_id": "centre-1", "reason": "test"},
                      headers=auth("dispatcher"))
    first, second = await receive(ws, "event"), await receive(ws, "event")
    assert (first["seq"], second["seq"]) == (5, 6)
    assert first["event"]["type"] == "CallReceived" and first["call"]["id"] == call_id and first["unit"] is None
    assert second["event"]["type"] == "UnitAssigned" and second["unit"]["current_call"] == call_id
    assert second["call"]["assignment"]["unit_id"] == "centre-1"
    # the views equal what the REST API shows
    rest = await (await client.get("/api/units/centre-1", headers=auth("dispatcher"))).json()
    assert second["unit"] == rest
    await ws.close()


async def test_reconnect_with_since_replays_exactly_what_was_missed(client):
    ws = await connect(client)
    await receive(ws, "snapshot")
    await new_call(client)
    seen = (await receive(ws, "event"))["seq"]
    await ws.close()  # the console drops off
    missed = [await new_call(client) for _ in range(3)]
    ws = await connect(client, since=seen)
    replayed = [await receive(ws) for _ in range(3)]
    assert [m["type"] for m in replayed] == ["event"] * 3
    assert [m["seq"] for m in replayed] == [seen + 1, seen + 2, seen + 3]
    assert [m["event"]["call_id"] for m in replayed] == missed
    later = await new_call(client)  # then live, no gap and no duplicate
    live = await receive(ws, "event")
    assert live["seq"] == seen + 4 and live["event"]["call_id"] == later
    await ws.close()


async def test_since_at_the_head_sends_nothing_and_a_lost_gap_gets_a_snapshot(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(ws_config(tmp_path, ws_replay_events=2)))
    for _ in range(4):
        await new_call(client)  # seqs 5..8; only 7 and 8 are still held
    ws = await connect(client, since=8)
    await client.post("/api/units/centre-1/positions",
                      json={"lon": 112.121, "lat": 28.001, "timestamp": datetime.now(timezone.utc).isoformat()},
                      headers=auth("dispatcher"))
    assert (await receive(ws))["type"] == "positions"  # no snapshot, no replay before it
    await ws.close()
    for since in (3, 99):  # too old to replay; ahead of the log (another database)
        ws = await connect(client, since=since)
        snap = await receive(ws)
        assert snap["type"] == "snapshot" and snap["seq"] == 8 and len(snap["calls"]) == 4
        await ws.close()
    ws = await connect(client, since=6)
    assert [(await receive(ws))["seq"] for _ in range(2)] == [7, 8]
    await ws.close()


async def test_token_in_the_first_message(client):
    ws = await client.ws_connect("/ws")
    await ws.send_json({"type": "auth", "token": TOKENS["planner"]})
    assert (await receive(ws))["type"] == "snapshot"
    await ws.send_json({"type": "pong"})
    await new_call(client)
    assert (await receive(ws, "event"))["event"]["type"] == "CallReceived"
    await ws.close()


@pytest.mark.parametrize(("first", "words"), [
    ({"type": "auth", "token": "wrong"}, "token: not known"),
    ({"type": "hello"}, "first message must be"),
])
async def test_bad_auth_closes_4001_with_the_reason(client, first, words):
    ws = await client.ws_connect("/ws")
    await ws.send_json(first)
    msg = await ws.receive()
    assert msg.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 4001 and words in msg.extra


async def test_no_token_in_time_closes_4001(client):
    client.server.app[RUNTIME].live.hub.auth_timeout_s = 0.1
    ws = await client.ws_connect("/ws")
    msg = await ws.receive()
    assert ws.close_code == 4001 and "no token within" in msg.extra


async def test_bad_message_closes_1003(client):
    ws = await connect(client)
    await receive(ws, "snapshot")
    await ws.send_str('{"type": "subscribe"}')
    msg = await ws.receive()
    assert ws.close_code == 1003 and "bad message" in msg.extra
    ws = await client.ws_connect(f"/ws?token={TOKENS['dispatcher']}&since=minus")
    await ws.receive()
    assert ws.close_code == 1003


async def test_roles_decide_what_a_client_sees(client):
    crew = await connect(client, "crew_centre1")
    center = await connect(client, "center_renmin")
    disp = await connect(client)
    crew_snap, center_snap = await receive(crew), await receive(center)
    await receive(disp)
    assert [u["id"] for u in crew_snap["units"]] == ["centre-1"]
    assert center_snap["calls"] == [] and center_snap["units"] == []
    other = await new_call(client)  # not the crew's
    mine = await new_call(client)
    await client.post(f"/api/calls/{mine}/assign", json={"unit_id": "centre-1", "reason": "test"},
                      headers=auth("dispatcher"))
    got = await receive(crew, "event")
    assert got["event"]["type"] == "UnitAssigned" and got["event"]["call_id"] == mine
    await client.post("/api/units/liushahe-1/positions",
                      json={"lon": 112.122, "lat": 28.002, "timestamp": datetime.now(timezone.utc).isoformat()},
                      headers=auth("dispatcher"))
    await client.post("/api/units/centre-1/positions",
                      json={"lon": 112.121, "lat": 28.001, "timestamp": datetime.now(timezone.utc).isoformat()},
                      headers=auth("dispatcher"))
    pos = await receive(crew, "positions")
    assert [p["unit_id"] for p in pos["positions"]] == ["centre-1"]  # not liushahe-1's, posted first
    # a typed message for a hospital reaches its center only (the centers module's path)
    live = client.server.app[RUNTIME].live
    live.hub.publish({"type": "prenotification", "call_id": mine}, Audience.of(hospitals=["renmin"]))
    assert (await receive(center))["type"] == "prenotification"
    seqs = [(await receive(disp, "event"))["seq"] for _ in range(3)]
    assert seqs == sorted(seqs) and other in [c["id"] for c in (await (await client.get(
        "/api/calls", headers=auth("dispatcher"))).json())["calls"]]
    for ws in (crew, center, disp):
        await ws.close()


def stalled_socket(port: int, token: str) -> socket.socket:
    """Open a websocket that never reads, with a tiny receive window (a console whose tab froze)."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(("127.0.0.1", port))
    s.sendall(f"GET /ws?token={token} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              "Sec-WebSocket-Version: 13\r\n\r\n".encode())
    return s


async def until(condition, tries: int = 1000) -> bool:
    """Return whether ``condition()`` came true, polling it every 10 ms up to ``tries`` times."""
    for _ in range(tries):
        if condition():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_stalled_client_does_not_delay_a_fast_one_and_is_closed_4008(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(ws_config(tmp_path, ws_max_events=20, ws_send_timeout_s=30.0)))
    hub = client.server.app[RUNTIME].live.hub
    fast = await connect(client)
    await receive(fast, "snapshot")
    stalled = stalled_socket(client.server.port, TOKENS["dispatcher"])
    try:
        assert await until(lambda: len(hub.clients) == 2)
        blob = "x" * 20_000
        got: list[int] = []

        async def read_fast() -> None:
            while len(got) < 300:
                got.append((await receive(fast, "bulletin"))["n"])

        reader = asyncio.create_task(read_fast())
        for i in range(300):  # ~6 MB, paced: far more than the stalled socket's buffers hold
            hub.publish({"type": "bulletin", "n": i, "text": blob})
            await asyncio.sleep(0.002)
        await asyncio.wait_for(reader, 10)
        assert got == list(range(300))  # every one, in order, while the other one is stuck
        assert await until(lambda: len(hub.clients) == 1), [(c.state, c.depth) for c in hub.clients]
        assert hub.closed.get("behind") == 1
        call_id = await new_call(client)
        assert (await receive(fast, "event"))["event"]["call_id"] == call_id
    finally:
        stalled.close()
        await fast.close()


async def test_positions_are_coalesced_latest_wins_in_one_frame(client):
    live = client.server.app[RUNTIME].live
    ws = await connect(client)
    await receive(ws, "snapshot")
    hub_client = next(iter(live.hub.clients))
    for i in range(50):  # queued without yielding to the sender: only the last per unit stays
        live.hub.publish_position("centre-1", {"unit_id": "centre-1", "n": i})
        live.hub.publish_position("liushahe-1", {"unit_id": "liushahe-1", "n": i})
    assert hub_client.depth == 2
    frame = await receive(ws)
    assert frame["type"] == "positions"
    assert sorted((p["unit_id"], p["n"]) for p in frame["positions"]) == [("centre-1", 49), ("liushahe-1", 49)]
    await ws.close()


async def test_events_go_at_once_while_positions_wait_for_the_tick(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    # a tick far away: positions wait for an explicit flush, events must not
    client = await aiohttp_client(create_app(ws_config(tmp_path, ws_position_interval_s=3600.0)))
    hub = client.server.app[RUNTIME].live.hub
    ws = await connect(client)
    await receive(ws, "snapshot")
    at = datetime.now(timezone.utc).replace(microsecond=0)
    for k, unit_id in enumerate(("centre-1", "liushahe-1", "centre-1")):
        fix = {"lon": 112.121 + k * 1e-4, "lat": 28.001, "timestamp": (at.timestamp() + k)}
        r = await client.post(f"/api/units/{unit_id}/positions", json=fix, headers=auth("dispatcher"))
        assert (await r.json())["accepted"] == 1
    call_id = await new_call(client)
    first = await receive(ws)
    assert first["type"] == "event" and first["event"]["call_id"] == call_id
    assert hub.flush_positions() == 1
    frame = await receive(ws)
    assert frame["type"] == "positions"
    latest = {p["unit_id"]: p for p in frame["positions"]}
    assert len(frame["positions"]) == 2 and latest["centre-1"]["lon"] == 112.121 + 2e-4
    assert latest["centre-1"]["at"] == datetime.fromtimestamp(at.timestamp() + 2, timezone.utc).isoformat()
    assert {"unit_id", "lon", "lat", "at", "speed_mps", "heading_deg", "accuracy_m", "stale", "eta_s",
            "eta_target", "road"} == set(latest["liushahe-1"])
    assert hub.flush_positions() == 0  # nothing waits any more
    await ws.close()


async def test_a_stale_notice_replaces_the_waiting_position(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(ws_config(tmp_path, ws_position_interval_s=3600.0)))
    hub = client.server.app[RUNTIME].live.hub
    ws = await connect(client)
    await receive(ws, "snapshot")
    hub.publish_position("centre-1", {"unit_id": "centre-1", "n": 1})
    hub.publish_position("liushahe-1", {"unit_id": "liushahe-1", "n": 1})
    hub.publish_unit("centre-1", {"type": "stale", "unit_id": "centre-1", "since": "x"})
    stale = await receive(ws)
    assert stale == {"type": "stale", "unit_id": "centre-1", "since": "x"}
    hub.flush_positions()
    assert [p["unit_id"] for p in (await receive(ws))["positions"]] == ["liushahe-1"]
    await ws.close()


def client_of(role: Role = Role.DISPATCHER) -> Client:
    """A hub client with no socket: enough to look at what it holds."""
    return Client(None, None, Principal(role, "test"))  # type: ignore[arg-type]


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.booleans()), min_size=1, max_size=40))
def test_a_positions_frame_holds_the_latest_of_each_unit_once(ops):
    """Whatever the mix of positions and stale notices, each unit is in the frame at most once, with
    its last position, and only when no stale notice came after that position."""
    client = client_of()
    expected: dict[str, int] = {}
    last_stale: dict[str, bool] = {}
    for n, (unit_id, stale) in enumerate(ops):
        last_stale[unit_id] = stale
        if stale:
            client.offer_unit_notice(unit_id, b"stale")
            expected.pop(unit_id, None)
        else:
            client.offer_position(unit_id, orjson.dumps({"unit_id": unit_id, "n": n}))
            expected[unit_id] = n
    payload = orjson.loads(positions_payload(client.positions.values()))
    assert payload["type"] == "positions"
    assert {p["unit_id"]: p["n"] for p in payload["positions"]} == expected
    assert len(payload["positions"]) == len(expected)
    assert set(client.coalesced) == {("unit", u) for u, stale in last_stale.items() if stale}


async def test_a_client_that_stops_reading_is_closed_after_the_send_timeout(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(ws_config(tmp_path, ws_max_events=100_000, ws_send_timeout_s=0.3)))
    hub = client.server.app[RUNTIME].live.hub
    stalled = stalled_socket(client.server.port, TOKENS["dispatcher"])
    try:
        assert await until(lambda: hub.clients)
        for i in range(300):  # 6 MB: more than the socket buffers and the high-water mark hold
            hub.publish({"type": "bulletin", "n": i, "text": "x" * 20_000})
            await asyncio.sleep(0)
        assert await until(lambda: not hub.clients)
        assert hub.closed.get("send_timeout") == 1 and hub.closed.get("behind") == 0
    finally:
        stalled.close()


def read_to_end(sock: socket.socket, timeout_s: float = 10.0) -> bytes:
    """Read what a socket holds until the peer's end of stream (or a reset, or ``timeout_s`` of silence)."""
    sock.settimeout(timeout_s)
    data = bytearray()
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return bytes(data)


def server_frames(data: bytes) -> list[tuple[int, bytes]]:
    """Return the (opcode, payload) of every complete server frame after the HTTP upgrade answer."""
    pos = data.index(b"\r\n\r\n") + 4
    frames = []
    while len(data) - pos >= 2:
        opcode, n, head = data[pos] & 0x0F, data[pos + 1] & 0x7F, 2
        if n == 126:
            n, head = int.from_bytes(data[pos + 2:pos + 4], "big"), 4
        elif n == 127:
            n, head = int.from_bytes(data[pos + 2:pos + 10], "big"), 10
        if len(data) - pos < head + n:
            break
        frames.append((opcode, data[pos + head:pos + head + n]))
        pos += head + n
    return frames


@pytest.mark.parametrize(("why", "live"), [("behind", {"ws_max_events": 20, "ws_send_timeout_s": 2.0}),
                                           ("send_timeout", {"ws_max_events": 100_000, "ws_send_timeout_s": 0.3})])
async def test_a_console_that_falls_behind_reads_4008_and_its_seq_before_the_drop(aiohttp_client, tmp_path, why,
                                                                                  live):
    """A reader that stops, then reads what it was sent once the server has given up on it: the
    events up to the decision, then the close frame with 4008 and the seq to resync from."""
    warnings.simplefilter("ignore")
    client = await aiohttp_client(create_app(ws_config(tmp_path, **live)))
    hub = client.server.app[RUNTIME].live.hub
    stalled = stalled_socket(client.server.port, TOKENS["dispatcher"])
    try:
        assert await until(lambda: hub.clients)
        console = next(iter(hub.clients))
        blob = "x" * 20_000
        for i in range(300):  # calls (events with a seq) between big bulletins, until it is too far behind
            await new_call(client)
            hub.publish({"type": "bulletin", "n": i, "text": blob})
            await asyncio.sleep(0)
            if hub.closed.get(why):
                break
        assert hub.closed.get(why) == 1
        later = {await new_call(client) for _ in range(3)}  # after the decision: never sent
        assert await until(lambda: console not in hub.clients)  # the server gave up on it; now it reads
        frames = server_frames(await asyncio.to_thread(read_to_end, stalled))
    finally:
        stalled.close()
    opcode, payload = frames[-1]
    assert opcode == 0x8, [op for op, _ in frames[-3:]]
    code, reason = int.from_bytes(payload[:2], "big"), payload[2:].decode()
    messages = [orjson.loads(p) for op, p in frames[:-1]]
    seqs = [m["seq"] for m in messages if m["type"] == "event"]
    assert code == 4008 and reason.endswith(f"since={seqs[-1]}"), (code, reason, seqs[-3:])
    assert seqs == list(range(seqs[0], seqs[-1] + 1))
    assert not later & {m["event"]["call_id"] for m in messages if m["type"] == "event"}


def test_a_4008_reason_keeps_its_since_within_the_123_bytes_of_a_close_frame():
    reason = resync_reason("fell behind: " + "\u6162" * 100, 123456789)
    assert len(reason.encode()) <= 123 and reason.startswith("fell behind: ")
    assert reason.endswith("; reconnect with since=123456789")
