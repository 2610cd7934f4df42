"""The websocket wire: how a console's messages reach its socket (the hub is `dispatch.ws`).

The hub hands a client's messages (JSON text, encoded once for every client) to the client's
`Wire`. Two writers share the interface:

- `RawWire` frames the messages itself (RFC 6455 section 5.2: unmasked text frames) and writes a
  whole batch to the connection's transport in one call, synchronously, so the hub's position tick
  can write to an idle console without waking its sender. `open_wire` chooses it only when what it
  relies on holds: no compression negotiated (permessage-deflate would make its frames invalid),
  the transport is the connection's own socket, and aiohttp is in `RAW_AIOHTTP`, the versions whose
  server websocket writes its frames straight to that transport (pinned by
  tests/dispatch/test_ws_wire.py, and in pyproject.toml).
- `SendWire` sends each message through aiohttp's own ``WebSocketResponse.send_frame``.

Both keep a room in the kernel for a closing frame. The socket's send buffer is fixed
(`SEND_BUFFER_BYTES`) and `buffered_bytes` counts the kernel's queue (Linux ``TIOCOUTQ``) with the
transport's, so a sender that waits while `buffered_bytes` is above the hub's high-water mark never
fills the kernel: however stalled the peer, a close frame written then goes to the kernel at once,
and the kernel delivers it after what it already holds when the peer reads again, even once the
connection is dropped (a plain close sends FIN after the queued bytes). Only a single message
larger than that room can leave bytes in the transport when the peer stalls.
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
import termios
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

#: The aiohttp versions (from, before) whose server websocket writes straight to the connection's
#: transport, as `RawWire` does beside it; the same range as pyproject.toml's dependency (3.11
#: added ``WebSocketResponse.send_frame``, which `SendWire` uses).
RAW_AIOHTTP = ((3, 11), (4, 0))

#: The send buffer asked of each websocket's socket (the kernel doubles it for its bookkeeping):
#: fixed, so the room left above the hub's high-water mark is known (autotuning would grow it to
#: megabytes, a slow console's backlog of stale messages).
SEND_BUFFER_BYTES = 256 * 1024


def aiohttp_version(text: str = aiohttp.__version__) -> tuple[int, int]:
    """Return aiohttp's (major, minor) version from its version text."""
    major, minor = (text.split(".") + ["0"])[:2]
    return int(major), int("".join(c for c in minor if c.isdigit()) or 0)


def text_frame_head(n: int) -> bytes:
    """Return the head of an unmasked, final websocket text frame with an ``n``-byte payload."""
    if n < 126:
        return bytes((0x81, n))
    if n < 65536:
        return bytes((0x81, 126)) + n.to_bytes(2, "big")
    return bytes((0x81, 127)) + n.to_bytes(8, "big")


def text_frames(payloads: Sequence[bytes]) -> bytes:
    """Return ``payloads`` (UTF-8 text) as consecutive unmasked websocket text frames."""
    parts: list[bytes] = []
    for payload in payloads:
        parts.append(text_frame_head(len(payload)))
        parts.append(payload)
    return b"".join(parts)


_OUTQ = struct.Struct("i")


class _Socket:
    """The kernel side of a transport: its fixed send buffer and the bytes queued in it."""

    def __init__(self, transport: Any) -> None:
        self.fd: int | None = None
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None:
            return
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, _OUTQ.pack(0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        except OSError as e:  # not Linux: the kernel's queue cannot be read, autotuning stays
            log.debug("websocket socket: kernel send queue unreadable (%s)", e)
            return
        self.fd = sock.fileno()

    def queued(self) -> int:
        if self.fd is None:
            return 0
        try:
            return _OUTQ.unpack(fcntl.ioctl(self.fd, termios.TIOCOUTQ, _OUTQ.pack(0)))[0]
        except OSError:  # closed under us
            self.fd = None
            return 0


class Wire:
    """What a hub client writes through (see the module docstring); the base holds the transport."""

    #: Whether `write_now` writes (else the caller must await `write`).
    synchronous = False

    def __init__(self, ws: web.WebSocketResponse, transport: Any) -> None:
        self.ws, self.transport = ws, transport
        self._socket = _Socket(transport)

    def buffered_bytes(self) -> int:
        """Return the bytes written but not yet acknowledged by the peer (transport and kernel)."""
        transport = self.transport
        if transport is None:
            return 0
        return transport.get_write_buffer_size() + self._socket.queued()

    def unwritten_bytes(self) -> int:
        """Return the bytes still in the transport's buffer (not yet handed to the kernel)."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def is_closing(self) -> bool:
        """Return whether the connection is closed or closing."""
        return self.ws.closed or self.transport is None or self.transport.is_closing()

    def abort(self) -> None:
        """Drop the connection now; what the kernel holds still goes out ahead of its FIN."""
        if self.transport is not None:
            self.transport.abort()

    async def write(self, payloads: Sequence[bytes]) -> None:
        """Send ``payloads`` as text messages, in order."""
        raise NotImplementedError

    def write_now(self, payloads: Sequence[bytes]) -> None:
        """Send ``payloads`` as text messages without yielding (only when `synchronous`)."""
        raise NotImplementedError(f"{type(self).__name__} cannot write synchronously")


class RawWire(Wire):
    """Frames built here, a batch written to the transport in one call."""

    synchronous = True

    async def write(self, payloads: Sequence[bytes]) -> None:
        self.write_now(payloads)

    def write_now(self, payloads: Sequence[bytes]) -> None:
        self.transport.write(text_frames(payloads))


class SendWire(Wire):
    """aiohttp's own send path, one message at a time."""

    async def write(self, payloads: Sequence[bytes]) -> None:
        send = self.ws.send_frame
        for payload in payloads:
            await send(payload, WSMsgType.TEXT)


def raw_refusal(ws: web.WebSocketResponse, transport: Any, version: tuple[int, int] | None = None) -> str | None:
    """Return why `RawWire` may not write to this connection, or None when it may."""
    version = version or aiohttp_version()
    if not RAW_AIOHTTP[0] <= version < RAW_AIOHTTP[1]:
        return f"aiohttp {version[0]}.{version[1]} is outside {RAW_AIOHTTP[0]}-{RAW_AIOHTTP[1]} (exclusive)"
    if ws.compress:
        return f"compression negotiated (window bits {ws.compress})"
    if transport is None or transport.is_closing():
        return "no open transport"
    if transport.get_extra_info("socket") is None:
        return "the transport is not a socket's"
    return None


def open_wire(ws: web.WebSocketResponse, request: web.BaseRequest, *, raw: bool = True) -> Wire:
    """Return the wire of a prepared websocket: `RawWire` when ``raw`` and its preconditions hold."""
    transport = request.transport
    refusal = raw_refusal(ws, transport) if raw else "not asked for"
    if refusal is None:
        return RawWire(ws, transport)
    log.debug("websocket wire: aiohttp's send path (%s)", refusal)
    return SendWire(ws, transport)
