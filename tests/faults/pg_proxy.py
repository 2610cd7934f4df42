"""A TCP proxy in front of PostgreSQL that can lose the server's reply to one COMMIT.

It forwards both directions unchanged and reads the client's stream as PostgreSQL wire-protocol
messages (startup, then one type byte and an int32 length each). Once `arm` is called, the next
simple-protocol Query ``'Q'`` whose text is a COMMIT (asyncpg commits a transaction with
``COMMIT;`` on the simple protocol) is forwarded, the server's reply is awaited up to its
CommandComplete ``COMMIT`` tag and dropped, and both sockets of that connection are cut: the
transaction is committed on the server, and the client never hears so.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass, field

#: The untyped requests a client may send before its StartupMessage (the server answers each).
PRE_STARTUP_CODES = {80877103, 80877104}  # SSLRequest, GSSENCRequest
#: CommandComplete carrying the tag "COMMIT": the server has committed.
COMMIT_COMPLETE = b"C" + struct.pack("!i", 4 + len(b"COMMIT\x00")) + b"COMMIT\x00"


@dataclass(eq=False)
class _Link:
    """One client connection and its upstream connection."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter
    cutting: bool = False
    held: bytearray = field(default_factory=bytearray)

    def cut(self) -> None:
        for writer in (self.client, self.server):
            writer.transport.abort()


class CommitCutter:
    """Listen on 127.0.0.1 (a free port) and forward to ``host:port``.

    Attributes
    ----------
    port
        The port the proxy listens on (after `start`).
    cuts
        How many connections were cut after a COMMIT's reply.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.upstream_port = host, port
        self.port = 0
        self.cuts = 0
        self._armed = False
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for link in list(self._links):
            link.cut()  # each connection's pumps then end on their own
        while self._links:
            await asyncio.sleep(0.01)

    def arm(self) -> None:
        """Lose the reply to the next COMMIT any client sends."""
        self._armed = True

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.host, self.upstream_port)
        except OSError:
            writer.transport.abort()
            return
        link = _Link(writer, up_writer)
        self._links.add(link)
        try:
            await asyncio.gather(self._client_to_server(reader, link), self._server_to_client(up_reader, link))
        except (OSError, asyncio.IncompleteReadError):
            link.cut()
        finally:
            for w in (writer, up_writer):
                w.close()
            self._links.discard(link)

    async def _client_to_server(self, reader: asyncio.StreamReader, link: _Link) -> None:
        # the startup phase: untyped messages (int32 length, int32 code, rest)
        while True:
            head = await reader.readexactly(8)
            length, code = struct.unpack("!ii", head)
            link.server.write(head + await reader.readexactly(length - 8))
            if code not in PRE_STARTUP_CODES:
                break
        while True:
            head = await reader.readexactly(5)
            kind, length = head[:1], struct.unpack("!i", head[1:])[0]
            body = await reader.readexactly(length - 4)
            if self._armed and kind == b"Q" and body.rstrip(b"\x00; \n").strip().upper() == b"COMMIT":
                self._armed = False
                link.cutting = True
            link.server.write(head + body)
            await link.server.drain()

    async def _server_to_client(self, reader: asyncio.StreamReader, link: _Link) -> None:
        while data := await reader.read(65536):
            if not link.cutting:
                link.client.write(data)
                await link.client.drain()
                continue
            link.held += data
            if COMMIT_COMPLETE in link.held:
                self.cuts += 1
                link.cut()
                return
        link.client.transport.abort()
