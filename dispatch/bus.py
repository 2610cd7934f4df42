"""The bus between service instances: events and positions, in process or through Redis.

One instance (the default) needs no bus: `LocalBus` does nothing. Several instances behind a load
balancer share one PostgreSQL store and a Redis server (``--bus redis://…``), and this is how their
dispatch state and websocket streams stay identical:

- **Writes.** Every instance writes to the shared event log. An append happens under a writer lock
  held in Redis (``<namespace>:writer``), and the instance first folds every event the log holds
  beyond its own state (`DispatchService.submit` with a ``write_guard``), so each event is checked
  against the whole log before it is appended: a unit cannot be sent twice from two consoles on two
  instances. The PostgreSQL store numbers events gaplessly in commit order, and the service checks
  that the numbers it gets follow its state (a lock lost to a timeout is detected, not ignored).
- **Events.** After an append the writer publishes ``(seq, event)`` on ``<namespace>:events`` (the
  `announcer` listener, subscribed to the service at start-up). The
  others fold what follows their state, ignore what they already hold and fetch any gap from the
  store; a slow poll of the log's head (`catch_up_interval_s` in dispatch.positions) covers messages
  Redis pub/sub dropped (it delivers at most once). Folding goes through the same listeners as a
  local write, so every instance's websocket clients see the same events with the same seqs.
- **Positions** are not events: the instance that received a fix filters it, stores it and
  publishes it on ``<namespace>:positions``; the others update their latest positions and stream
  it. Coalesced per unit on the way out (latest wins) when Redis is slower than the intake.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import orjson

from ems.errors import EmsError

log = logging.getLogger(__name__)

EventHandler = Callable[[int, dict[str, Any]], Awaitable[Any]]
PositionHandler = Callable[[dict[str, Any]], None]


class BusError(EmsError):
    """The bus URL is not usable or the bus cannot be reached; the message names the URL."""


class Bus:
    """The in-process bus: a single instance has nobody to tell."""

    instance_id = "local"

    async def connect(self) -> None:
        """Reach the bus, so the writer lock works before the service replays and registers its fleet."""

    async def start(self, on_event: EventHandler, on_position: PositionHandler) -> None:
        """Start delivering other instances' events and positions to the handlers."""

    def publish_event(self, seq: int, event: dict[str, Any]) -> None:
        """Announce an event this instance appended (queued, sent in order)."""

    def publish_position(self, unit_id: str, message: dict[str, Any]) -> None:
        """Announce a unit's position message (queued, coalesced per unit)."""

    def write_guard(self) -> Callable[[], AbstractAsyncContextManager[Any]] | None:
        """Return the cross-instance writer lock factory, or None when this is the only writer."""
        return None

    async def close(self) -> None:
        """Stop the bus's tasks and connections."""


LocalBus = Bus


class RedisBus(Bus):
    """Events and positions shared through Redis pub/sub, appends serialised by a Redis lock.

    Parameters
    ----------
    url
        ``redis://host:port/db``.
    namespace
        Prefix of the channels and the lock: instances of one county share it.
    lock_timeout_s
        The writer lock expires after this long if its holder dies.
    """

    def __init__(self, url: str, namespace: str = "ems", *, lock_timeout_s: float = 30.0,
                 lock_wait_s: float = 10.0) -> None:
        self.url, self.namespace = url, namespace
        self.instance_id = secrets.token_hex(6)
        self.lock_timeout_s, self.lock_wait_s = lock_timeout_s, lock_wait_s
        self.events_channel = f"{namespace}:events"
        self.positions_channel = f"{namespace}:positions"
        self._events: asyncio.Queue[tuple[int, dict[str, Any]]] = asyncio.Queue()
        self._positions: dict[str, dict[str, Any]] = {}
        self._positions_ready = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self.redis: Any = None
        self.received_events = 0
        self.received_positions = 0

    async def connect(self) -> None:
        import redis.asyncio as aioredis
        from redis.exceptions import RedisError

        if self.redis is not None:
            return
        try:
            self.redis = aioredis.from_url(self.url)
            await self.redis.ping()
        except (RedisError, OSError, ValueError) as e:
            raise BusError(f"bus {self.url!r}: cannot reach Redis ({e})") from e

    async def start(self, on_event: EventHandler, on_position: PositionHandler) -> None:
        from redis.exceptions import RedisError

        await self.connect()
        try:
            self._pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(self.events_channel, self.positions_channel)
        except (RedisError, OSError, ValueError) as e:
            raise BusError(f"bus {self.url!r}: cannot reach Redis ({e})") from e
        self._tasks = [asyncio.create_task(self._read(on_event, on_position), name="bus-read"),
                       asyncio.create_task(self._send_events(), name="bus-events"),
                       asyncio.create_task(self._send_positions(), name="bus-positions")]

    def publish_event(self, seq: int, event: dict[str, Any]) -> None:
        self._events.put_nowait((seq, event))

    def publish_position(self, unit_id: str, message: dict[str, Any]) -> None:
        self._positions.pop(unit_id, None)
        self._positions[unit_id] = message
        self._positions_ready.set()

    def write_guard(self) -> Callable[[], AbstractAsyncContextManager[Any]]:
        @asynccontextmanager
        async def guard() -> AsyncIterator[None]:
            from redis.exceptions import LockError, RedisError

            from dispatch.store import StoreError

            lock = self.redis.lock(f"{self.namespace}:writer", timeout=self.lock_timeout_s,
                                   blocking_timeout=self.lock_wait_s, thread_local=False)
            try:
                acquired = await lock.acquire()
            except RedisError as e:
                raise StoreError(f"bus {self.url}: the writer lock cannot be taken ({e})") from e
            if not acquired:
                raise StoreError(f"bus {self.url}: the writer lock was not free within {self.lock_wait_s:g} s")
            try:
                yield
            finally:
                try:
                    await lock.release()
                except LockError:
                    log.error("bus %s: the writer lock expired before its holder released it", self.url)
        return guard

    async def _read(self, on_event: EventHandler, on_position: PositionHandler) -> None:
        while True:
            try:
                async for message in self._pubsub.listen():
                    data = orjson.loads(message["data"])
                    if data.get("from") == self.instance_id:
                        continue
                    channel = message["channel"].decode() if isinstance(message["channel"], bytes) \
                        else message["channel"]
                    if channel == self.events_channel:
                        self.received_events += 1
                        await on_event(int(data["seq"]), data["event"])
                    else:
                        self.received_positions += 1
                        on_position(data["message"])
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis restarted or a message could not be applied: logged loudly; the log poll
                # brings the state back in step, positions resume with the next fixes.
                log.exception("bus %s: reading failed; resubscribing in 1 s", self.url)
                await asyncio.sleep(1.0)
                try:
                    await self._pubsub.subscribe(self.events_channel, self.positions_channel)
                except Exception:  # noqa: BLE001 - retried on the next round
                    log.warning("bus %s: resubscribe failed", self.url)

    async def _send_events(self) -> None:
        while True:
            seq, event = await self._events.get()
            payload = orjson.dumps({"from": self.instance_id, "seq": seq, "event": event})
            await self._publish(self.events_channel, payload)

    async def _send_positions(self) -> None:
        while True:
            await self._positions_ready.wait()
            self._positions_ready.clear()
            batch, self._positions = self._positions, {}
            pipe = self.redis.pipeline(transaction=False)
            for message in batch.values():
                pipe.publish(self.positions_channel,
                             orjson.dumps({"from": self.instance_id, "message": message}))
            try:
                await pipe.execute()
            except Exception:  # noqa: BLE001 - positions are superseded by the next fix
                log.warning("bus %s: %d position messages not published", self.url, len(batch))

    async def _publish(self, channel: str, payload: bytes) -> None:
        for attempt in range(5):
            try:
                await self.redis.publish(channel, payload)
                return
            except Exception:  # noqa: BLE001 - retried; the log poll covers a final failure
                await asyncio.sleep(0.2 * (attempt + 1))
        log.error("bus %s: an event was not announced; other instances will poll it from the log", self.url)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001 - shutting down
                pass
        if self.redis is not None:
            try:
                await self._pubsub.aclose()
            except Exception:  # noqa: BLE001 - shutting down
                pass
            await self.redis.aclose()


def announcer(bus: Bus) -> Callable[[int, dict[str, Any], Any], None]:
    """Return the service listener that announces this instance's events on the bus.

    Events folded from other instances (origin remote) are theirs to announce, not this one's.
    """
    from dispatch.service import Origin

    def announce(seq: int, event: dict[str, Any], origin: Origin) -> None:
        if origin is Origin.LOCAL:
            bus.publish_event(seq, event)
    return announce


def open_bus(url: str | None, namespace: str = "ems") -> Bus:
    """Return the bus for a URL: none/empty or ``local`` in process, ``redis://…`` through Redis.

    Raises
    ------
    BusError
        The URL names no supported bus.
    """
    if not url or url == "local":
        return LocalBus()
    if url.startswith(("redis://", "rediss://", "unix://")):
        return RedisBus(url, namespace)
    raise BusError(f"bus URL {url!r}: expected empty (in process) or redis://host:port/db")
