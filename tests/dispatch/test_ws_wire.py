"""The websocket wire (dispatch/ws_wire.py) against aiohttp on a real socket: what `RawWire` relies on
(the transport after ``prepare`` is the connection's, frames written to it are read by real clients
as the exact messages, aiohttp writes its own frames to the same transport in order), when
aiohttp's own send path is chosen instead, and the room kept in the kernel for a close frame."""

from __future__ import annotations

import asyncio
import socket
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import connect as websockets_connect

from dispatch.ws import HIGH_WATER_BYTES
from dispatch.ws_wire import RAW_AIOHTTP, RawWire, SendWire, aiohttp_version, open_wire, raw_refusal

ROOT = Path(__file__).resolve().parents[2]

#: Every head length of RFC 6455 (7-bit, 16-bit, 64-bit), with text that is not ASCII.
PAYLOADS = [b"", b'{"type":"ping"}', ("\u5b81\u4e61" * 20 + "\u5b81ok").encode(), b"a" * 126, b"b" * 65535,
            b"c" * 65536, ('{"text":"' + "\u6025\u6551" * 40_000 + '"}').encode()]
AFTER = "written by aiohttp after the raw frames"


def app_writing(payloads: list[bytes], *, compress: bool = False, raw: bool = True) -> tuple[web.Application, dict]:
    """Return an application whose ``/ws`` writes ``payloads`` through `open_wire`, then AFTER with aiohttp."""
    seen: dict = {}

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=compress)
        await ws.prepare(request)
        sock = request.transport.get_extra_info("socket")
        seen.update(peer=sock.getpeername(), transport=request.transport, compress=ws.compress)
        wire = open_wire(ws, request, raw=raw)
        seen["wire"] = type(wire)
        await wire.write(payloads)
        await ws.send_str(AFTER)
        await ws.receive()  # the client's close
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    return app, seen


async def read_aiohttp(url: str, n: int, compress: bool) -> tuple[list[str], tuple]:
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, compress=15 if compress else 0, max_msg_size=0) as ws:
            got = []
            for _ in range(n):
                msg = await asyncio.wait_for(ws.receive(), 10)
                assert msg.type is aiohttp.WSMsgType.TEXT, msg
                got.append(msg.data)
            return got, ws.get_extra_info("sockname")


async def read_websockets(url: str, n: int, compress: bool) -> tuple[list[str], tuple]:
    async with websockets_connect(url.replace("http://", "ws://", 1), compression="deflate" if compress else None, proxy=None,
                                  max_size=None) as ws:
        got = []
        for _ in range(n):
            message = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(message, str), type(message)
            got.append(message)
        return got, ws.local_address


READERS = {"aiohttp": read_aiohttp, "websockets": read_websockets}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("client_offers_compression", [False, True])
async def test_raw_frames_reach_real_clients_as_the_exact_messages(aiohttp_server, reader,
                                                                   client_offers_compression):
    app, seen = app_writing(PAYLOADS)
    server = await aiohttp_server(app)
    got, local = await READERS[reader](str(server.make_url("/ws")), len(PAYLOADS) + 1, client_offers_compression)
    assert seen["compress"] == 0 and seen["wire"] is RawWire  # the hub's sockets never negotiate it
    # after prepare(), request.transport is the transport of this very connection's socket
    assert seen["peer"][:2] == local[:2]
    assert got == [p.decode() for p in PAYLOADS] + [AFTER]  # aiohttp's own frame comes after, in order


@pytest.mark.parametrize("reader", sorted(READERS))
async def test_compression_negotiated_takes_aiohttps_send_path(aiohttp_server, reader):
    app, seen = app_writing(PAYLOADS, compress=True)
    server = await aiohttp_server(app)
    got, _ = await READERS[reader](str(server.make_url("/ws")), len(PAYLOADS) + 1, True)
    assert seen["compress"] and seen["wire"] is SendWire
    assert got == [p.decode() for p in PAYLOADS] + [AFTER]


async def test_the_send_path_when_asked_for(aiohttp_server):
    app, seen = app_writing(PAYLOADS[:3], raw=False)
    server = await aiohttp_server(app)
    got, _ = await read_aiohttp(str(server.make_url("/ws")), 4, False)
    assert seen["wire"] is SendWire and got == [p.decode() for p in PAYLOADS[:3]] + [AFTER]


async def test_raw_is_refused_outside_the_pinned_aiohttp_range_and_without_a_transport(aiohttp_server):
    refusals: dict = {}

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        refusals["now"] = raw_refusal(ws, request.transport)
        refusals["4.0"] = raw_refusal(ws, request.transport, (4, 0))
        refusals["3.10"] = raw_refusal(ws, request.transport, (3, 10))
        refusals["none"] = raw_refusal(ws, None)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    server = await aiohttp_server(app)
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(server.make_url("/ws")) as ws:
            await ws.receive()
    assert refusals["now"] is None
    assert "aiohttp 4.0 is outside" in refusals["4.0"] and "aiohttp 3.10 is outside" in refusals["3.10"]
    assert refusals["none"] == "no open transport"


def test_pyproject_pins_aiohttp_to_the_raw_range():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (line,) = [d for d in deps if d.startswith("aiohttp")]
    low, high = RAW_AIOHTTP
    assert line == f"aiohttp>={low[0]}.{low[1]},<{high[0]}", line
    assert low <= aiohttp_version() < high
    assert aiohttp_version("3.14.5") == (3, 14) and aiohttp_version("4.0.0a1") == (4, 0)


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's send queue is read with Linux TIOCOUTQ")
@pytest.mark.parametrize("raw", [True, False])
async def test_a_stalled_peer_leaves_room_in_the_kernel_for_the_close_frame(aiohttp_server, raw):
    """Writing while buffered_bytes() is under the hub's high-water mark, as the hub's sender does,
    never leaves bytes in the transport: the close frame goes to the kernel at once."""
    seen: dict = {}
    done = asyncio.Event()

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        wire = open_wire(ws, request, raw=raw)
        for _ in range(500):
            if wire.buffered_bytes() > HIGH_WATER_BYTES:
                break
            await wire.write([b"x" * 20_000] * 3)  # a batch: about the sender's chunk
            await asyncio.sleep(0.005)
        seen.update(buffered=wire.buffered_bytes(), unwritten=wire.unwritten_bytes())
        closing = asyncio.create_task(ws.close(code=4008, message=b"since=7"))  # it then waits for a reply
        for _ in range(3):
            await asyncio.sleep(0)
        seen["unwritten_after_close"] = wire.unwritten_bytes()
        wire.abort()
        closing.cancel()
        done.set()
        return ws

    app = web.Application()
    app.router.add_get("/ws", handle)
    server = await aiohttp_server(app)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    s.connect(("127.0.0.1", server.port))
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        s.close()
    # all of it in the kernel, counted by buffered_bytes(); nothing waits in the transport
    assert seen["buffered"] > HIGH_WATER_BYTES and seen["unwritten"] == 0, seen
    assert seen["unwritten_after_close"] == 0, seen

