"""The websocket hub: every console's live stream (protocol: docs/protocol.md).

A client gets a snapshot (or, reconnecting with ``since=N``, the events it missed), then the log's
tail as ``event`` messages in seq order, and positions. Each client has its own bounded queue and its
own sender task, so a stalled console never delays the others:

- events (and any message published without a coalescing key) are queued in order, sent at once and
  never dropped; a client with more than ``max_events`` of them waiting is closed with 4008 and
  resyncs with ``since=N``;
- positions are coalesced per unit (latest wins) and go out batched: every ``position_interval_s``
  (`Hub.flush_positions`) a client's waiting positions leave as ONE ``positions`` frame, so a
  console gets at most 1 / ``position_interval_s`` position writes a second however many fixes
  arrive (500 fixes/s to 100 consoles would otherwise be 50,000 socket writes a second);
- stale notices are coalesced per unit too, and replace the unit's waiting position.

Messages are encoded once for all their clients and sent through aiohttp; a client's
`dispatch.ws_wire.Wire` bounds what waits below the hub so that a client closed for falling behind
reads its 4008 close frame, with the seq to resync from, right after the last message written.

What a client sees depends on its role (`Audience`). Other modules publish their own typed messages
with `Hub.publish(message, audience)`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from dispatch.auth import Principal, Role, Tokens
from dispatch.service import DispatchService
from dispatch.ws_wire import Wire

log = logging.getLogger(__name__)

#: Close codes of the protocol.
CLOSE_UNAUTHORIZED = 4001
CLOSE_TOO_SLOW = 4008
CLOSE_BAD_MESSAGE = int(WSCloseCode.UNSUPPORTED_DATA)  # 1003

#: Roles that see everything.
DISPATCH_ROLES = frozenset({Role.DISPATCHER, Role.ADMIN, Role.PLANNER})


class ClientState(enum.Enum):
    OPEN = "open"
    BEHIND = "behind"   # fell behind: being closed with 4008
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Audience:
    """Who receives a message.

    Dispatch roles (dispatcher, admin, planner) receive every message. A crew receives it when its
    unit is in ``units`` or the call its unit holds is in ``calls``; a center when its hospital is
    in ``hospitals``; every connected client when ``all_roles``.
    """

    calls: frozenset[str] = frozenset()
    units: frozenset[str] = frozenset()
    hospitals: frozenset[str] = frozenset()
    all_roles: bool = False

    @classmethod
    def of(cls, *, calls: Iterable[str | None] = (), units: Iterable[str | None] = (),
           hospitals: Iterable[str | None] = (), all_roles: bool = False) -> Audience:
        """Build an audience, ignoring None entries."""
        return cls(frozenset(c for c in calls if c), frozenset(u for u in units if u),
                   frozenset(h for h in hospitals if h), all_roles)


#: Only the dispatch roles.
DISPATCH_ONLY = Audience()


def destination_hospital(call: Mapping[str, Any] | None) -> str | None:
    """Return the hospital a call's patient is taken to, as the call's JSON view names it.

    The contract for the module that sets destinations: ``call["destination"]`` is a hospital id,
    or an object with ``hospital_id`` (or ``id``); ``call["destination_hospital_id"]`` is also read.
    """
    if not call:
        return None
    direct = call.get("destination_hospital_id")
    if isinstance(direct, str):
        return direct
    dest = call.get("destination")
    if isinstance(dest, str):
        return dest
    if isinstance(dest, Mapping):
        value = dest.get("hospital_id") or dest.get("id")
        return value if isinstance(value, str) else None
    return None


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()


def message_payload(message: Mapping[str, Any]) -> bytes:
    """Return a message as the orjson text of one websocket message."""
    return orjson.dumps(message, option=orjson.OPT_NON_STR_KEYS)


_POSITIONS_HEAD = b'{"type":"positions","positions":['


def positions_payload(items: Iterable[bytes]) -> bytes:
    """Return one ``positions`` message holding position objects already encoded as JSON."""
    return _POSITIONS_HEAD + b",".join(items) + b"]}"


def resync_reason(text: str, since: int) -> str:
    """Return a 4008 close reason: ``text``, then ``; reconnect with since=N``.

    The reason of a close frame holds at most 123 bytes (RFC 6455 section 5.5); ``text`` is cut to
    fit, the since never.
    """
    tail = f"; reconnect with since={since}"
    return text.encode()[:123 - len(tail)].decode(errors="ignore") + tail


#: Default interval between a client's ``positions`` frames (seconds): at most 20 a second, and a
#: position waits at most this long for its frame (well inside the 100 ms delivery goal).
POSITION_INTERVAL_S = 0.05


#: A client with more than this many bytes written but not yet taken by its peer (in the transport
#: and the kernel: `Wire.buffered_bytes`) waits, and is timed by the watchdog. Well under the
#: kernel's fixed send buffer (`dispatch.ws_wire.SEND_BUFFER_BYTES`), so a close frame always fits.
HIGH_WATER_BYTES = 128 * 1024
#: Most bytes written to a socket in one go before the sender lets other tasks run.
WRITE_CHUNK_BYTES = 64 * 1024


class Client:
    """One connected console: its queues and the task that sends them.

    Falling behind (`offer` beyond ``max_events``, or no progress for ``send_timeout_s``) is a
    decision taken at once: the queues are emptied and nothing more is queued; a write already
    under way goes out whole, then a close frame with 4008 and ``since=`` the last event seq
    written, then the connection is dropped, at most ``send_timeout_s`` after the decision.
    """

    def __init__(self, hub: Hub, ws: web.WebSocketResponse, who: Principal, wire: Wire | None = None) -> None:
        self.hub, self.ws, self.who, self.wire = hub, ws, who, wire
        self.events: deque[tuple[int | None, bytes]] = deque()
        self.coalesced: dict[Any, bytes] = {}
        self.positions: dict[str, bytes] = {}   # unit id -> its latest position object (JSON)
        self.positions_due = False              # set by the hub's tick: send the positions now
        self.sees_all = who.role in DISPATCH_ROLES
        self.wake = asyncio.Event()
        self.written = asyncio.Event()          # clear while a write is under way
        self.written.set()
        self.state = ClientState.OPEN
        self.last_seq = 0          # the last event seq queued for this client (what since= should be)
        self.sent_seq = 0          # the last event seq written
        self.close_reason = ""
        self._closing: asyncio.Task[None] | None = None
        self.sending_since: float | None = None

    @property
    def depth(self) -> int:
        return len(self.events) + len(self.coalesced) + len(self.positions)

    def offer(self, payload: bytes, seq: int | None = None) -> None:
        """Queue a never-dropped message; close the client when its queue is full."""
        if self.state is not ClientState.OPEN:
            return
        if len(self.events) >= self.hub.max_events:
            self._fail("behind", f"fell behind: more than {self.hub.max_events} events queued")
            return
        self.events.append((seq, payload))
        if seq is not None:
            self.last_seq = seq
        self.wake.set()

    def offer_latest(self, key: Any, payload: bytes) -> None:
        """Queue a coalesced message: it replaces any waiting one with the same key."""
        if self.state is not ClientState.OPEN:
            return
        self.coalesced.pop(key, None)
        self.coalesced[key] = payload
        self.wake.set()

    def offer_position(self, unit_id: str, item: bytes) -> None:
        """Hold a unit's position for the next ``positions`` frame (it replaces the unit's waiting one).

        No wake-up: the hub's tick (`Hub.flush_positions`) sends them all at once.
        """
        if self.state is not ClientState.OPEN:
            return
        if self.coalesced:
            self.coalesced.pop(("unit", unit_id), None)  # a waiting stale notice is superseded
        self.positions[unit_id] = item

    def offer_unit_notice(self, unit_id: str, payload: bytes) -> None:
        """Queue a unit's notice (``stale``) coalesced per unit; it replaces the unit's waiting position."""
        if self.state is not ClientState.OPEN:
            return
        self.positions.pop(unit_id, None)
        self.offer_latest(("unit", unit_id), payload)

    def _stop(self, state: ClientState) -> None:
        """Take nothing more and drop what waits: none of it is sent."""
        self.state = state
        self.events.clear()
        self.coalesced.clear()
        self.positions.clear()
        self.positions_due = False
        self.wake.set()

    def _fail(self, why: str, text: str) -> None:
        """Close with 4008 now, not when the sender (perhaps waiting on a full socket) gets round to it."""
        self._stop(ClientState.BEHIND)
        self.hub.metrics_closed(self, why)
        self._closing = asyncio.get_running_loop().create_task(self._drop(CLOSE_TOO_SLOW, text, resync=True))

    def _take(self) -> list[bytes]:
        """Take the next batch to write (about `WRITE_CHUNK_BYTES`), events first."""
        batch: list[bytes] = []
        size = 0
        while self.events and size < WRITE_CHUNK_BYTES:
            seq, payload = self.events.popleft()
            batch.append(payload)
            size += len(payload)
            if seq is not None:
                self.sent_seq = seq
        while self.coalesced and size < WRITE_CHUNK_BYTES:
            payload = self.coalesced.pop(next(iter(self.coalesced)))
            batch.append(payload)
            size += len(payload)
        if self.positions_due and size < WRITE_CHUNK_BYTES:
            # taken as late as possible: while the socket was full they kept coalescing
            items, self.positions, self.positions_due = self.positions, {}, False
            batch.append(positions_payload(items.values()))
            self.hub.positions_sent.inc(amount=len(items))
        return batch

    async def run(self) -> None:
        """Write queued messages until the socket closes; ping when idle."""
        hub, wire = self.hub, self.wire
        loop = asyncio.get_running_loop()
        try:
            while self.state is ClientState.OPEN and not wire.is_closing():
                if self.positions_due and not self.positions:
                    self.positions_due = False
                if self.events or self.coalesced or self.positions_due:
                    if wire.buffered_bytes() > HIGH_WATER_BYTES:
                        # the peer reads slowly: positions pile up coalesced, events count towards
                        # max_events, and the watchdog closes it if this lasts send_timeout_s
                        if self.sending_since is None:
                            self.sending_since = loop.time()
                        await asyncio.sleep(0.01)
                        continue
                    self.sending_since = None
                    batch = self._take()
                    self.written.clear()
                    try:
                        await wire.write(batch)
                    finally:
                        self.written.set()
                    hub.sent.inc(amount=len(batch))
                    await asyncio.sleep(0)  # one write per turn: other clients and requests go on
                    continue
                self.wake.clear()
                try:
                    async with asyncio.timeout(hub.ping_interval_s):  # no task per wait, as wait_for makes
                        await self.wake.wait()
                except TimeoutError:
                    # an idle client has everything up to the log's head that it may see
                    self.offer_latest("ping", message_payload({"type": "ping", "server_time": now_iso(),
                                                                "seq": hub.service.last_seq}))
        finally:
            if self.state is ClientState.OPEN:
                self.state = ClientState.CLOSED

    def check_send(self, now: float) -> None:
        """Close the client when it has been unable to take more data for the hub's send timeout."""
        if self.sending_since is not None and now - self.sending_since > self.hub.send_timeout_s \
                and self.state is ClientState.OPEN:
            self._fail("send_timeout", f"too slow: no progress for {self.hub.send_timeout_s:g} s")

    async def close(self, code: int, reason: str) -> None:
        """Close with ``code`` and ``reason``: nothing waiting is sent; dropped within the send timeout."""
        if self._closing is None:
            self._stop(ClientState.CLOSED)
            self._closing = asyncio.get_running_loop().create_task(self._drop(code, reason))
        await self._closing

    async def _drop(self, code: int, reason: str, resync: bool = False) -> None:
        """Write the close frame after the write under way, then drop the connection (bounded)."""
        try:
            async with asyncio.timeout(self.hub.send_timeout_s):
                await self.written.wait()  # a batch taken before the decision goes out whole
                if resync:
                    reason = resync_reason(reason, self.sent_seq)
                self.close_reason = reason
                await self.ws.close(code=code, message=reason.encode())
                while self.wire.unwritten_bytes():  # the close frame waits for the kernel to take it
                    await asyncio.sleep(0.01)
        except (TimeoutError, ConnectionError):
            pass  # still not in the kernel: the peer never gets it, drop the connection regardless
        finally:
            # A stalled peer never reads what is buffered, so a graceful close could wait for ever;
            # what the kernel holds (the close frame last) still goes out before the FIN.
            self.wire.abort()


class Hub:
    """The websocket hub of one service instance.

    Parameters
    ----------
    service
        The dispatch service (its listeners feed the hub with events).
    unit_view
        ``unit_view(unit_id) -> dict``: a unit as ``GET /api/units`` shows it.
    max_events
        Never-dropped messages a client may have waiting before it is closed with 4008.
    replay_events
        Recent events kept for ``since=N`` replays.
    ping_interval_s, send_timeout_s
        Keepalive interval; longest one send may take before the client is closed as too slow,
        and longest a client being closed is kept before its connection is dropped.
    position_interval_s
        How often `flush_positions` should run (the application's tick does it): the longest a
        position waits for its ``positions`` frame.
    """

    def __init__(self, service: DispatchService, unit_view: Callable[[str], dict[str, Any]], *,
                 max_events: int = 1000, replay_events: int = 5000, ping_interval_s: float = 15.0,
                 send_timeout_s: float = 10.0, auth_timeout_s: float = 5.0,
                 position_interval_s: float = POSITION_INTERVAL_S, metrics: Any = None) -> None:
        from dispatch.metrics import Registry

        self.service, self.unit_view = service, unit_view
        self.position_interval_s = position_interval_s
        self.max_events, self.ping_interval_s = max_events, ping_interval_s
        self.send_timeout_s, self.auth_timeout_s = send_timeout_s, auth_timeout_s
        self.clients: set[Client] = set()
        self.ring: deque[tuple[int, Audience, bytes]] = deque(maxlen=replay_events)
        registry = metrics if metrics is not None else Registry()
        self.sent = registry.counter("ems_ws_messages_sent_total", "Websocket messages (frames) sent to consoles")
        self.positions_sent = registry.counter("ems_ws_positions_sent_total",
                                               "Unit positions sent to consoles (several per positions frame)")
        self.closed = registry.counter("ems_ws_closed_total", "Websocket clients closed by the server, by reason",
                                       ["reason"])
        self.events_published = registry.counter("ems_events_published_total",
                                                 "Dispatch events streamed to consoles")
        registry.gauge("ems_ws_clients", "Connected websocket clients, by role",
                       lambda: self._count_by_role(), ["role"])
        registry.gauge("ems_ws_queue_depth", "Messages waiting in websocket client queues (max and total)",
                       lambda: {("max",): max((c.depth for c in self.clients), default=0),
                                ("total",): sum(c.depth for c in self.clients)}, ["stat"])
        self._unsubscribe = service.subscribe(lambda seq, event, origin: self.on_event(seq, event))

    def _count_by_role(self) -> dict[tuple[str, ...], float]:
        counts = {(r.value,): 0.0 for r in Role}
        for c in self.clients:
            counts[(c.who.role.value,)] += 1
        return counts

    def metrics_closed(self, client: Client, reason: str) -> None:
        self.closed.inc(reason)

    def close(self) -> None:
        self._unsubscribe()

    # -- who sees what ------------------------------------------------------------------------

    def visible(self, who: Principal, audience: Audience) -> bool:
        """Return whether a client of this principal receives a message for ``audience``."""
        if who.role in DISPATCH_ROLES or audience.all_roles:
            return True
        if who.role is Role.CREW:
            if who.unit in audience.units:
                return True
            unit = self.service.state.units.get(who.unit or "")
            return unit is not None and unit.current_call is not None and unit.current_call in audience.calls
        if who.role is Role.CENTER:
            return who.hospital in audience.hospitals
        return False

    def call_audience(self, call_id: str | None) -> Audience:
        """Return the audience of a call: its current unit, its destination hospital."""
        state = self.service.state
        if not call_id or call_id not in state.calls:
            return Audience()
        current = state.current_assignment(call_id)
        return Audience.of(calls=[call_id], units=[current.unit_id if current else None],
                           hospitals=[destination_hospital(self.service.call_extras(call_id))])

    def unit_audience(self, unit_id: str) -> Audience:
        """Return the audience of a unit's position: its crew, the center its patient goes to."""
        state = self.service.state
        unit = state.units.get(unit_id)
        hospital = None
        if unit is not None and unit.current_call in state.calls:
            hospital = destination_hospital(self.service.call_extras(unit.current_call))
        return Audience.of(units=[unit_id], hospitals=[hospital])

    # -- publishing ---------------------------------------------------------------------------

    def on_event(self, seq: int, event: dict[str, Any]) -> None:
        """Stream one durable event (a `DispatchService` listener)."""
        state = self.service.state
        call_id, unit_id = event.get("call_id"), event.get("unit_id")
        call = self.service.call_view(state.calls[call_id]) if call_id in state.calls else None
        unit = self.unit_view(unit_id) if unit_id in state.units else None
        audience = self.call_audience(call_id)
        audience = Audience(audience.calls, audience.units | ({unit_id} if unit_id else set()),
                            audience.hospitals)
        payload = message_payload({"type": "event", "seq": seq, "event": event, "call": call, "unit": unit})
        self.ring.append((seq, audience, payload))
        self.events_published.inc()
        for client in list(self.clients):
            if self.visible(client.who, audience):
                client.offer(payload, seq)

    def publish(self, message: Mapping[str, Any], audience: Audience = DISPATCH_ONLY, *,
                coalesce_key: Any = None) -> int:
        """Send a typed message (a dict with ``type``) to the clients of ``audience``.

        Without ``coalesce_key`` the message is never dropped (queued in order with the events);
        with one, a waiting message of the same key is replaced (latest wins). Messages published
        here carry no seq and are not replayed on reconnection. Returns the number of recipients.
        """
        if "type" not in message:
            raise ValueError(f"message must have a 'type', got keys {sorted(message)}")
        payload = message_payload(message)
        n = 0
        for client in list(self.clients):
            if self.visible(client.who, audience):
                if coalesce_key is None:
                    client.offer(payload)
                else:
                    client.offer_latest(coalesce_key, payload)
                n += 1
        return n

    def publish_position(self, unit_id: str, position: Mapping[str, Any]) -> int:
        """Hold a unit's position for the next ``positions`` frame of each client that may see it.

        ``position`` is one object of the frame's ``positions`` list (``unit_id``, ``lon``, ``lat``,
        ``at``…: docs/protocol.md); it is encoded once for every client and replaces the unit's
        waiting one (latest wins). Returns the number of recipients.
        """
        if not self.clients:
            return 0
        item = orjson.dumps(position, option=orjson.OPT_NON_STR_KEYS)
        audience: Audience | None = None
        n = 0
        for client in self.clients:
            if not client.sees_all:
                if audience is None:  # computed only when a crew or a center is connected
                    audience = self.unit_audience(unit_id)
                if not self.visible(client.who, audience):
                    continue
            client.offer_position(unit_id, item)
            n += 1
        return n

    def flush_positions(self) -> int:
        """Send every client's waiting positions as one ``positions`` frame; return how many clients.

        Run every ``position_interval_s`` by the application. Each client's sender sends them
        after what it has queued; while its socket is full they keep coalescing.
        """
        n = 0
        for client in self.clients:
            if client.positions and client.state is ClientState.OPEN:
                client.positions_due = True
                client.wake.set()
                n += 1
        return n

    def publish_unit(self, unit_id: str, message: Mapping[str, Any]) -> int:
        """Send a unit's ``stale`` notice (coalesced per unit), or batch its ``position`` message.

        A ``position`` message goes to `publish_position` without its ``type``.
        """
        if not self.clients:
            return 0
        if message.get("type") == "position":
            return self.publish_position(unit_id, {k: v for k, v in message.items() if k != "type"})
        payload = message_payload(message)
        audience = self.unit_audience(unit_id)
        n = 0
        for client in list(self.clients):
            if self.visible(client.who, audience):
                client.offer_unit_notice(unit_id, payload)
                n += 1
        return n

    # -- connecting ---------------------------------------------------------------------------

    def snapshot(self, who: Principal) -> dict[str, Any]:
        """Return the snapshot message for a principal: open calls and units it may see."""
        state = self.service.state
        calls = [c for c in state.calls.values() if c.ended_at is None]
        calls.sort(key=lambda c: c.received_at)
        call_views = [self.service.call_view(c) for c in calls]
        call_views = [v for v in call_views if self.visible(who, self.call_audience(v["id"]))]
        unit_views = [self.unit_view(u) for u in sorted(state.units)
                      if self.visible(who, self.unit_audience(u))]
        return {"type": "snapshot", "seq": self.service.last_seq, "calls": call_views, "units": unit_views,
                "server_time": now_iso()}

    def attach(self, ws: web.WebSocketResponse, who: Principal, since: int | None, wire: Wire | None = None) -> Client:
        """Register a client and queue its start: the missed events when replayable, else a snapshot.

        Synchronous on purpose: no event can slip between the snapshot (or replay) and the
        registration, so the stream has no gap and no duplicate.
        """
        client = Client(self, ws, who, wire)
        head = self.service.last_seq
        replay = self._replay(since, head)
        if replay is None:
            snap = self.snapshot(who)
            client.offer(message_payload(snap))
            client.last_seq = client.sent_seq = snap["seq"]
        else:
            client.last_seq = client.sent_seq = since or 0
            for seq, audience, payload in replay:
                if self.visible(who, audience):
                    client.events.append((seq, payload))
                    client.last_seq = seq
            client.wake.set()
        self.clients.add(client)
        return client

    def _replay(self, since: int | None, head: int) -> list[tuple[int, Audience, bytes]] | None:
        if since is None or since > head:
            return None
        if since == head:
            return []
        if not self.ring or self.ring[0][0] > since + 1:
            return None  # the oldest missed event is no longer held: a fresh snapshot
        return [entry for entry in self.ring if entry[0] > since]

    async def watchdog(self) -> None:
        """Close clients whose send hangs (run every second or so by the application)."""
        now = asyncio.get_running_loop().time()
        for client in list(self.clients):
            client.check_send(now)

    def detach(self, client: Client) -> None:
        self.clients.discard(client)

    async def handle(self, request: web.Request, tokens: Tokens) -> web.WebSocketResponse:
        """Serve one websocket connection (``GET /ws``)."""
        # No permessage-deflate: compressing every small message for every console costs more CPU
        # than the bandwidth it saves on a dispatch-room LAN.
        ws = web.WebSocketResponse(max_msg_size=65536, compress=False)
        await ws.prepare(request)
        token = request.query.get("token")
        since_raw: Any = request.query.get("since")
        if not token:
            try:
                msg = await ws.receive(timeout=self.auth_timeout_s)
            except TimeoutError:
                await ws.close(code=CLOSE_UNAUTHORIZED,
                               message=f"auth: no token within {self.auth_timeout_s:g} s".encode())
                return ws
            first = _json_message(msg)
            if not isinstance(first, dict) or first.get("type") != "auth" or not isinstance(first.get("token"), str):
                await ws.close(code=CLOSE_UNAUTHORIZED,
                               message=b'auth: the first message must be {"type": "auth", "token": ...}')
                return ws
            token, since_raw = first["token"], first.get("since", since_raw)
        who = tokens.lookup(token)
        if who is None:
            await ws.close(code=CLOSE_UNAUTHORIZED, message=b"token: not known to this service")
            return ws
        since = _since(since_raw)
        if since is False:
            await ws.close(code=CLOSE_BAD_MESSAGE, message=f"since: must be an integer >= 0, got {since_raw!r:.40}".encode())
            return ws
        client = self.attach(ws, who, since, Wire(ws, request.transport))
        sender = asyncio.create_task(client.run())
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    data = _json_message(msg)
                    kind = data.get("type") if isinstance(data, dict) else None
                    if kind in ("pong", "auth"):
                        continue
                    await ws.close(code=CLOSE_BAD_MESSAGE,
                                   message=f"bad message: expected type pong, got {str(kind)[:40]!r}".encode())
                    self.closed.inc("bad_message")
                else:
                    await ws.close(code=CLOSE_BAD_MESSAGE, message=b"bad message: JSON text frames only")
                    self.closed.inc("bad_message")
        finally:
            self.detach(client)
            sender.cancel()
            try:
                await sender
            except (asyncio.CancelledError, ConnectionError):
                pass
            except Exception:
                log.exception("websocket sender failed for %s", client.who.by)
        return ws


def _json_message(msg: Any) -> Any:
    if msg.type is not WSMsgType.TEXT:
        return None
    try:
        return orjson.loads(msg.data)
    except orjson.JSONDecodeError:
        return None


def _since(raw: Any) -> int | None | bool:
    """Return the since value: None when absent, False when malformed."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        return False
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return False
    return value if value >= 0 else False
