"""The websocket wire: how a console's messages reach its socket (the hub is `dispatch.ws`).

Messages go out through aiohttp's own ``WebSocketResponse.send_frame``, which frames them and
writes them straight to the connection's transport (aiohttp 3.11 to 4, pinned in pyproject.toml
and by tests/dispatch/test_ws_wire.py). A `Wire` adds what the hub needs below that: how many bytes
wait for the peer, in the transport and in the kernel, and a room kept in the kernel for a close
frame.

The socket's send buffer is fixed (`SEND_BUFFER_BYTES`) and `Wire.buffered_bytes` counts the
kernel's queue (Linux ``TIOCOUTQ``) with the transport's, so a sender that waits while it is above
the hub's high-water mark never fills the kernel: however stalled the peer, a close frame written
then goes to the kernel at once, and the kernel delivers it after what it already holds when the
peer reads again, even once the connection is dropped (a plain close sends FIN after the queued
bytes). Only a single message larger than that room can leave bytes in the transport when the
peer stalls.

(Frames built here and written to the transport in one call were measured against aiohttp's own
path with ``bench/live.py latency --ws-wire compare`` at 6c09725: within 10 % on the consoles' p99
latency and deliveries, so only aiohttp's path is kept.)
"""

from __future__ import annotations

import fcntl
import logging
import socket
import struct
import termios
from collections.abc import Sequence
from typing import Any

from aiohttp import WSMsgType, web

log = logging.getLogger(__name__)

#: The send buffer asked of each websocket's socket (the kernel doubles it for its bookkeeping):
#: fixed, so the room left above the hub's high-water mark is known (autotuning would grow it to
#: megabytes, a slow console's backlog of stale messages).
SEND_BUFFER_BYTES = 256 * 1024

_OUTQ = struct.Struct("i")


class Wire:
    """A prepared websocket's way out: aiohttp's send path, and the bytes waiting below it.

    Parameters
    ----------
    ws
        The prepared websocket.
    transport
        The connection's transport (``request.transport`` after ``ws.prepare``); None in tests
        that never write.
    """

    def __init__(self, ws: web.WebSocketResponse, transport: Any) -> None:
        self.ws, self.transport = ws, transport
        self._fd: int | None = None
        sock = transport.get_extra_info("socket") if transport is not None else None
        if sock is None:
            return
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, _OUTQ.pack(0))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
        except OSError as e:  # not Linux: the kernel's queue cannot be read, autotuning stays
            log.debug("websocket socket: kernel send queue unreadable (%s)", e)
            return
        self._fd = sock.fileno()

    async def write(self, payloads: Sequence[bytes]) -> None:
        """Send ``payloads`` (UTF-8 JSON) as text messages, in order."""
        send = self.ws.send_frame
        for payload in payloads:
            await send(payload, WSMsgType.TEXT)

    def kernel_bytes(self) -> int:
        """Return the bytes in the kernel's send queue (sent but not acknowledged, or not sent)."""
        if self._fd is None:
            return 0
        try:
            return _OUTQ.unpack(fcntl.ioctl(self._fd, termios.TIOCOUTQ, _OUTQ.pack(0)))[0]
        except OSError:  # closed under us
            self._fd = None
            return 0

    def unwritten_bytes(self) -> int:
        """Return the bytes still in the transport's buffer (not yet handed to the kernel)."""
        return self.transport.get_write_buffer_size() if self.transport is not None else 0

    def buffered_bytes(self) -> int:
        """Return the bytes written but not yet acknowledged by the peer (transport and kernel)."""
        return self.unwritten_bytes() + self.kernel_bytes()

    def is_closing(self) -> bool:
        """Return whether the connection is closed or closing."""
        return self.ws.closed or self.transport is None or self.transport.is_closing()

    def abort(self) -> None:
        """Drop the connection now; what the kernel holds still goes out ahead of its FIN."""
        if self.transport is not None:
            self.transport.abort()
