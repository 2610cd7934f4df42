"""The dispatch store: an append-only event log plus current-state tables.

Every accepted change is an event appended to the log, durable on disk before the request that caused
it is acknowledged; state is a fold of the log and start-up replays it. Next to the log the store keeps
current-state rows (written in the same transaction as the events that produced them), the latest GPS
position of each unit with a batched, pruned history (positions are not events), and attachments such as
ECG files.

The store is generic: an event is a JSON-able dict that the dispatch core's codec produced; the store
encodes it with orjson and gives the same JSON back, never interpreting it. Values come back as JSON
types (a tuple as a list, a datetime as its ISO string), so the codec should hand over JSON values.

Two backends share this interface and one test suite: SQLite in the data directory (the default, one
county on one machine) and PostgreSQL through asyncpg (several service instances). `open_store` picks one
from a URL.
"""

from __future__ import annotations

import abc
import hashlib
import math
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit, urlunsplit

import orjson

from ems.errors import EmsError

__all__ = [
    "Blob",
    "IdempotencyConflict",
    "LoggedEvent",
    "PositionRow",
    "StateRow",
    "Store",
    "StoreError",
    "open_store",
    "redact_url",
]

#: Version of the tables this code writes; a store written by a newer version is refused.
SCHEMA_VERSION = 1
#: The SQLite file inside the data directory.
SQLITE_FILENAME = "ems.sqlite3"
#: Events fetched per round trip while replaying the log.
REPLAY_BATCH = 1000
#: Longest accepted idempotency key, kind, id, unit id or blob id (characters).
MAX_NAME_LEN = 200


class StoreError(EmsError):
    """The store cannot be opened or cannot do what was asked; the message names the store's URL."""


class IdempotencyConflict(StoreError):
    """An idempotency key was reused for a batch that differs from the one first stored under it."""


@dataclass(frozen=True, slots=True)
class StateRow:
    """One current-state row to write with a batch of events.

    Attributes
    ----------
    kind
        The table-like family of the row, e.g. ``"call"`` or ``"unit"``.
    id
        The row's id within its kind.
    body
        The row's JSON-able content; None deletes the row.
    """

    kind: str
    id: str
    body: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class PositionRow:
    """One GPS fix of a unit: WGS84 ``(lon, lat)``, a tz-aware time and optional motion data.

    Attributes
    ----------
    unit_id
        The unit that reported the fix.
    at
        When the fix was taken, tz-aware (stored and returned as UTC).
    lon, lat
        WGS84 degrees.
    speed_mps, heading_deg, accuracy_m, altitude_m
        What the device reported, None when it did not.
    """

    unit_id: str
    at: datetime
    lon: float
    lat: float
    speed_mps: float | None = None
    heading_deg: float | None = None
    accuracy_m: float | None = None
    altitude_m: float | None = None


@dataclass(frozen=True, slots=True)
class Blob:
    """An attachment (an ECG file, a photo) with its MIME content type."""

    id: str
    content_type: str
    data: bytes


class LoggedEvent(NamedTuple):
    """An event as read back from the log, with the sequence number the store gave it."""

    seq: int
    event: dict[str, Any]


class Store(abc.ABC):
    """The abstract store; see `open_store` for the backends.

    Use ``await store.open()`` (or ``async with store:``) before anything else and ``await
    store.close()`` at the end. Every method is a coroutine: the event loop never blocks on disk or
    network I/O.
    """

    #: The store's URL with any password removed, for messages.
    url: str

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create the schema when missing and check its version.

        Raises
        ------
        StoreError
            The store is unreachable, refuses the credentials, is not an ems store or was written by a
            newer version of ems.
        """

    @abc.abstractmethod
    async def close(self) -> None:
        """Release connections and threads; the store cannot be used afterwards."""

    @abc.abstractmethod
    async def append(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        state: Sequence[StateRow] = (),
        key: str | None = None,
    ) -> list[int]:
        """Append events and write state rows in one transaction, durable on return.

        Parameters
        ----------
        events
            JSON-able dicts, appended in this order.
        state
            Current-state rows to upsert (or delete, when ``body`` is None), applied in order.
        key
            An idempotency key for the batch: a batch appended again under the same key (a retried
            request) is not appended twice; the sequence numbers first given are returned.

        Returns
        -------
        list[int]
            The events' sequence numbers: consecutive, and larger than every earlier one.

        Raises
        ------
        StoreError
            An event or row is not JSON-able, or the store failed; nothing of the batch was written.
        IdempotencyConflict
            ``key`` was already used for a different batch.
        """

    @abc.abstractmethod
    async def read_events(self, since: int = 0, limit: int | None = None) -> list[LoggedEvent]:
        """Return the events with a sequence number above ``since``, in order, at most ``limit``."""

    @abc.abstractmethod
    async def events_at(self, seqs: Sequence[int]) -> list[LoggedEvent]:
        """Return the events with these sequence numbers, in sequence order (unknown ones are skipped)."""

    async def iter_events(self, since: int = 0, batch_size: int = REPLAY_BATCH) -> AsyncIterator[LoggedEvent]:
        """Yield every event after ``since`` in order, fetching ``batch_size`` at a time (for replay)."""
        if batch_size < 1:
            raise StoreError(f"{self.url}: batch_size must be at least 1, got {batch_size}")
        while True:
            batch = await self.read_events(since, batch_size)
            for logged in batch:
                yield logged
            if len(batch) < batch_size:
                return
            since = batch[-1].seq

    @abc.abstractmethod
    async def last_seq(self) -> int:
        """Return the sequence number of the last event (0 when the log is empty)."""

    @abc.abstractmethod
    async def load_state(self, kind: str) -> dict[str, dict[str, Any]]:
        """Return every current-state row of ``kind`` as ``{id: body}``."""

    @abc.abstractmethod
    async def upsert_positions(self, rows: Iterable[PositionRow]) -> None:
        """Record each unit's latest position; a fix older than the one stored is ignored."""

    @abc.abstractmethod
    async def latest_positions(self) -> dict[str, PositionRow]:
        """Return the latest position of every unit as ``{unit_id: row}``."""

    @abc.abstractmethod
    async def append_position_history(self, rows: Iterable[PositionRow]) -> None:
        """Insert a batch of fixes into the position history."""

    @abc.abstractmethod
    async def position_history(
        self,
        unit_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[PositionRow]:
        """Return history fixes, optionally of one unit and within ``[since, until)``, by time."""

    @abc.abstractmethod
    async def prune_position_history(self, older_than: datetime) -> int:
        """Delete history fixes taken before ``older_than``; return how many were deleted."""

    @abc.abstractmethod
    async def put_blob(self, id: str, content_type: str, data: bytes) -> None:
        """Store an attachment under ``id``; storing the same content again is a no-op.

        Raises
        ------
        StoreError
            A different attachment is already stored under ``id`` (attachments are never overwritten).
        """

    @abc.abstractmethod
    async def get_blob(self, id: str) -> Blob | None:
        """Return the attachment stored under ``id``, or None when there is none."""


def open_store(url: str | None, data_dir: Path) -> Store:
    """Return an unopened store for a URL; ``await store.open()`` next.

    Parameters
    ----------
    url
        None or ``""``: SQLite at ``<data_dir>/ems.sqlite3``. ``sqlite:///relative/path`` or
        ``sqlite:////absolute/path``: SQLite at that file. ``postgresql://user:password@host:port/db``
        (or ``postgres://``): PostgreSQL; extra query parameters are server settings, e.g.
        ``?search_path=county_a`` to keep several stores in one database.
    data_dir
        The service's data directory, created when missing.

    Raises
    ------
    StoreError
        The URL names no supported backend or an in-memory database (which would lose calls).
    """
    if not url:
        from dispatch.store_sqlite import SqliteStore

        return SqliteStore(Path(data_dir) / SQLITE_FILENAME)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    if scheme == "sqlite":
        if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
            raise StoreError(
                f"store URL {redact_url(url)!r}: expected sqlite:///relative/path or sqlite:////absolute/path"
                " (an in-memory database would lose accepted calls)"
            )
        from dispatch.store_sqlite import SqliteStore

        return SqliteStore(Path(url[len("sqlite:///"):]))
    if scheme in ("postgresql", "postgres"):
        from dispatch.store_pg import PostgresStore

        return PostgresStore(url)
    raise StoreError(
        f"store URL {redact_url(url)!r}: expected empty (SQLite in the data directory), sqlite:///path"
        " or postgresql://user@host:port/database"
    )


def redact_url(url: str) -> str:
    """Return ``url`` with any password replaced by ``***`` (for messages and logs)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = f"{parts.username or ''}:***@{host}"
        if parts.port is not None:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        # An unparsable URL may still hold a password: show only its scheme.
        return url.split(":", 1)[0] + "://…"


# --- validation and encoding shared by the backends -------------------------------------------


def check_name(url: str, field: str, value: object) -> str:
    """Return ``value`` if it is a usable key/id string, else raise a StoreError naming ``field``."""
    if not isinstance(value, str) or not value or len(value) > MAX_NAME_LEN or "\x00" in value:
        raise StoreError(
            f"{url}: {field} must be a non-empty string of at most {MAX_NAME_LEN} characters"
            f" without NUL, got {value!r:.80}"
        )
    return value


def encode_json(url: str, field: str, value: object) -> bytes:
    """Encode ``value`` with orjson, raising a StoreError that names ``field`` when it cannot."""
    if not isinstance(value, Mapping):
        raise StoreError(f"{url}: {field} must be a dict, got {type(value).__name__}")
    try:
        return orjson.dumps(value)
    except TypeError as e:  # orjson.JSONEncodeError is a TypeError
        raise StoreError(f"{url}: {field} is not JSON-able ({e})") from e


def decode_json(text: str | bytes) -> dict[str, Any]:
    """Decode one stored JSON document."""
    return orjson.loads(text)


@dataclass(frozen=True, slots=True)
class EncodedBatch:
    """A validated append batch, encoded once before any transaction starts."""

    events: list[str]
    #: Final (kind, id, body JSON or None) of each row touched: the net effect of applying the rows
    #: in order, so backends may write the upserts and the deletes in one statement each.
    state: list[tuple[str, str, str | None]]
    key: str | None
    digest: str


def encode_batch(
    url: str,
    events: Sequence[Mapping[str, Any]],
    state: Sequence[StateRow],
    key: str | None,
) -> EncodedBatch:
    """Validate and encode an append batch; raise StoreError naming the first bad item."""
    if isinstance(events, Mapping) or not isinstance(events, Sequence):
        raise StoreError(f"{url}: events must be a sequence of dicts, got {type(events).__name__}")
    encoded_events = [encode_json(url, f"events[{i}]", e).decode() for i, e in enumerate(events)]
    final: dict[tuple[str, str], str | None] = {}
    for i, row in enumerate(state):
        if not isinstance(row, StateRow):
            raise StoreError(f"{url}: state[{i}] must be a StateRow, got {type(row).__name__}")
        check_name(url, f"state[{i}].kind", row.kind)
        check_name(url, f"state[{i}].id", row.id)
        body = None
        if row.body is not None:
            raw = encode_json(url, f"state[{i}].body", row.body)
            if b"\\u0000" in raw:
                # PostgreSQL's jsonb cannot hold NUL; refuse it on every backend alike.
                raise StoreError(
                    f"{url}: state[{i}].body contains a NUL character (\\u0000), which is not storable"
                )
            body = raw.decode()
        final.pop((row.kind, row.id), None)
        final[(row.kind, row.id)] = body
    if key is not None:
        check_name(url, "key", key)
    digest = hashlib.sha256()
    for text in encoded_events:
        digest.update(b"e%d:" % len(text))
        digest.update(text.encode())
    for (kind, id_), body in final.items():
        row = [kind, id_, None if body is None else orjson.loads(body)]
        digest.update(orjson.dumps(row, option=orjson.OPT_SORT_KEYS))
    return EncodedBatch(
        events=encoded_events,
        state=[(kind, id_, body) for (kind, id_), body in final.items()],
        key=key,
        digest=digest.hexdigest(),
    )


def check_position(url: str, field: str, row: object) -> PositionRow:
    """Return ``row`` if it is a storable PositionRow, else raise a StoreError naming ``field``."""
    if not isinstance(row, PositionRow):
        raise StoreError(f"{url}: {field} must be a PositionRow, got {type(row).__name__}")
    check_name(url, f"{field}.unit_id", row.unit_id)
    check_time(url, f"{field}.at", row.at)
    for name in ("lon", "lat", "speed_mps", "heading_deg", "accuracy_m", "altitude_m"):
        value = getattr(row, name)
        if value is None and name not in ("lon", "lat"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise StoreError(f"{url}: {field}.{name} must be a finite number, got {value!r}")
    if not (-180.0 <= row.lon <= 180.0 and -90.0 <= row.lat <= 90.0):
        raise StoreError(
            f"{url}: {field} must be WGS84 (lon in [-180, 180], lat in [-90, 90]), got ({row.lon}, {row.lat})"
        )
    return row


def check_time(url: str, field: str, value: object) -> datetime:
    """Return ``value`` if it is a tz-aware datetime, else raise a StoreError naming ``field``."""
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise StoreError(f"{url}: {field} must be a tz-aware datetime, got {value!r}")
    return value


def latest_per_unit(rows: Iterable[PositionRow]) -> list[PositionRow]:
    """Keep the newest fix of each unit (the last one given when times tie)."""
    latest: dict[str, PositionRow] = {}
    for row in rows:
        held = latest.get(row.unit_id)
        if held is None or row.at >= held.at:
            latest[row.unit_id] = row
    return list(latest.values())


def check_blob(url: str, id: str, content_type: str, data: bytes) -> bytes:
    """Validate a blob's fields and return its bytes."""
    check_name(url, "blob id", id)
    check_name(url, "content_type", content_type)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise StoreError(f"{url}: blob data must be bytes, got {type(data).__name__}")
    return bytes(data)


def check_since_limit(url: str, since: int, limit: int | None) -> None:
    """Raise a StoreError for a negative ``since`` or a ``limit`` below 1."""
    if isinstance(since, bool) or not isinstance(since, int) or since < 0:
        raise StoreError(f"{url}: since must be an integer >= 0, got {since!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise StoreError(f"{url}: limit must be None or an integer >= 1, got {limit!r}")


def check_seqs(url: str, seqs: Sequence[int]) -> list[int]:
    """Return ``seqs`` as a sorted list of distinct integers >= 1, or raise a StoreError naming the bad one."""
    for i, seq in enumerate(seqs):
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1:
            raise StoreError(f"{url}: seqs[{i}] must be an integer >= 1, got {seq!r}")
    return sorted(set(seqs))


def seqs_of(first_seq: int, count: int) -> list[int]:
    """Return the ``count`` consecutive sequence numbers starting at ``first_seq``."""
    return list(range(first_seq, first_seq + count))


#: Zero of the SQLite backend's microsecond timestamps.
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_epoch_us(value: datetime) -> int:
    """Return a tz-aware datetime as integer microseconds since the Unix epoch (exact)."""
    return (value - EPOCH) // timedelta(microseconds=1)


def from_epoch_us(value: int) -> datetime:
    """Return integer microseconds since the Unix epoch as a UTC datetime (exact)."""
    return EPOCH + timedelta(microseconds=value)
