"""The websocket wire (dispatch/ws_wire.py) against aiohttp on a real socket: what it relies on
(after ``prepare`` the request's transport is the connection's socket, and aiohttp's send path
writes to it at once, so what waits is counted), the messages real clients read, the room kept in
the kernel for a close frame, and the pinned aiohttp range."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
import tomllib
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from websockets.asyncio.client import connect as websockets_connect

from dispatch.ws import HIGH_WATER_BYTES
from dispatch.ws_wire import Wire

ROOT = Path(__file__).resolve().parents[2]

#: Every head length of RFC 6455 (7-bit, 16-bit, 64-bit), with text that is not ASCII.
PAYLOADS = [b"", b'{"type":"ping"}', ("\u5b81\u4e61" * 20 + "\u5b81ok").encode(), b"a" * 126, b"b" * 65535,
            b"c" * 65536, ('{"text":"' + "\u6025\u6551" * 40_000 + '"}').encode()]


def app_writing(payloads: list[bytes]) -> tuple[web.Application, dict]:
    """Return an application whose ``/ws`` sends ``payloads`` through a `Wire`, as the hub's do."""
    seen: dict = {}

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        seen.update(peer=request.transport.get_extra_info("socket").getpeername(), compress=ws.compress)
        await Wire(ws, request.transport).write(payloads)
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
    async with websockets_connect(url.replace("http://", "ws://", 1), compression="deflate" if compress else None,
                                  proxy=None, max_size=None) as ws:
        got = []
        for _ in range(n):
            message = await asyncio.wait_for(ws.recv(), 10)
            assert isinstance(message, str), type(message)
            got.append(message)
        return got, ws.local_address


READERS = {"aiohttp": read_aiohttp, "websockets": read_websockets}


@pytest.mark.parametrize("reader", sorted(READERS))
@pytest.mark.parametrize("client_offers_compression", [False, True])
async def test_real_clients_read_the_exact_messages_on_the_connections_own_socket(aiohttp_server, reader,
                                                                                  client_offers_compression):
    app, seen = app_writing(PAYLOADS)
    server = await aiohttp_server(app)
    got, local = await READERS[reader](str(server.make_url("/ws")), len(PAYLOADS), client_offers_compression)
    assert got == [p.decode() for p in PAYLOADS]
    assert seen["compress"] == 0  # the hub's sockets never negotiate it, whatever the client offers
    # after prepare(), request.transport is the transport of this very connection's socket
    assert seen["peer"][:2] == local[:2]


@pytest.mark.skipif(sys.platform != "linux", reason="the kernel's send queue is read with Linux TIOCOUTQ")
async def test_a_stalled_peer_leaves_room_in_the_kernel_for_the_close_frame(aiohttp_server):
    """Writing while buffered_bytes() is under the hub's high-water mark, as the hub's sender does,
    never leaves bytes in the transport: the close frame goes to the kernel at once."""
    seen: dict = {}
    done = asyncio.Event()

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        wire = Wire(ws, request.transport)
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


def test_pyproject_pins_the_aiohttp_range_this_is_tested_in():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (line,) = [d for d in deps if d.startswith("aiohttp")]
    pin = re.fullmatch(r"aiohttp>=(\d+)\.(\d+),<(\d+)", line)
    assert pin, line
    low, high = (int(pin[1]), int(pin[2])), (int(pin[3]), 0)
    installed = tuple(int(x) for x in re.findall(r"\d+", aiohttp.__version__)[:2])
    # 3.11 added WebSocketResponse.send_frame; the tests above pin the rest on the installed version
    assert low == (3, 11) and high == (4, 0) and low <= installed < high, (line, aiohttp.__version__)
