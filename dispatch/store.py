"""The dispatch store: an append-only event log plus current-state tables.

Every accepted change is an event appended to the log, durable on disk before the request that caused
it is acknowledged; state is a fold of the log and start-up replays it. Next to the log the store keeps
current-state rows (written in the same transaction as the events that produced them), the latest GPS
position of each unit with a batched, pruned history (positions are not events), and attachments such as
ECG files.

The store is generic: an event is a JSON-able dict that the dispatch core's codec produced; the store
encodes it with orjson and gives the same JSON back, never interpreting it. Values come back as JSON
types (a tuple as a list, a datetime as its ISO string), so the codec should hand over JSON values.

Appends can be made conditional on the log's last sequence number (``expected_seq``), so a writer whose
view of the log is stale (another writer, or its own commit whose reply was lost) is refused before
anything is written; a failure in which the commit may or may not have happened is a distinct error
(`StoreAmbiguousError`) telling the caller to look at the log before it writes again. The log refuses a
second ``CallReceived`` event with a call id it already holds.

Every operation runs under a deadline (`StoreDeadlines`, ``[service] store_deadline_s`` and
``store_bulk_deadline_s``): a store that does not answer in time (a stalled network link, a hung disk,
a lock held elsewhere) fails the operation with `StoreTimeout` instead of holding its caller, and so the
service's write lock and every request queued behind it, for as long as the fault lasts. An append past
its deadline may still commit, so it fails with `AppendTimeout`, a `StoreAmbiguousError`. The deadline
is applied here, once, to every backend coroutine named in `DEADLINES`; each backend makes sure that
giving up on a call leaves it usable for the next one.

Two backends share this interface and one test suite: SQLite in the data directory (the default, one
county on one machine) and PostgreSQL through asyncpg (several service instances). `open_store` picks one
from a URL.
"""

from __future__ import annotations

import abc
import asyncio
import enum
import functools
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, Self
from urllib.parse import urlsplit, urlunsplit

import orjson

from dispatch.errors import DispatchError, ValidationError
from ems.errors import EmsError

__all__ = [
    "DEADLINES",
    "AppendTimeout",
    "Blob",
    "IdempotencyConflict",
    "LoggedEvent",
    "PositionRow",
    "SeqConflict",
    "StateRow",
    "Store",
    "StoreAmbiguousError",
    "StoreError",
    "StoreDeadlines",
    "StoreTimeout",
    "StoredResponse",
    "open_store",
    "redact_url",
]

#: Version of the tables this code writes; a store written by a newer version is refused, an older one
#: is migrated on open. 2: idempotency keys hold a request fingerprint and a response; call ids unique.
SCHEMA_VERSION = 2
#: The SQLite file inside the data directory.
SQLITE_FILENAME = "ems.sqlite3"
#: Events fetched per round trip while replaying the log.
REPLAY_BATCH = 1000
#: Longest accepted idempotency key, fingerprint, kind, id, unit id or blob id (characters).
MAX_NAME_LEN = 200
#: The event type whose ``call_id`` the log holds at most once.
CALL_CREATED = "CallReceived"
#: The HTTP header an idempotency key comes from, named in the messages that refuse one.
KEY_FIELD = "Idempotency-Key"


class StoreError(EmsError):
    """The store cannot be opened or cannot do what was asked; the message names the store's URL."""


class StoreAmbiguousError(StoreError):
    """The store failed while committing: the batch may or may not be in the log.

    The caller must read the log (`Store.last_seq`, `Store.read_events`) before it writes again; a
    retry under the same idempotency key is safe.
    """


class StoreTimeout(StoreError):
    """A store operation gave no answer within its deadline; the store is slow or unreachable.

    What the operation did is unknown: a read returned nothing, a write may or may not have been made.

    Attributes
    ----------
    operation
        The store method, e.g. ``"last_seq"``.
    deadline_s
        The deadline it was given (seconds).
    retry_after_s
        Whole seconds a client should wait before it tries again: the deadline (at least 1), since a
        store that just let one deadline pass is likely to let the next one pass too.
    """

    def __init__(self, message: str, *, operation: str, deadline_s: float) -> None:
        super().__init__(message)
        self.operation = operation
        self.deadline_s = deadline_s
        self.retry_after_s = max(1, math.ceil(deadline_s))


class AppendTimeout(StoreTimeout, StoreAmbiguousError):
    """An append gave no answer within its deadline: its COMMIT may have gone through.

    Like every `StoreAmbiguousError`, the caller must read the log before it writes again.
    """


class SeqConflict(StoreError):
    """An append expected another last sequence number; nothing was written.

    Attributes
    ----------
    expected_seq
        The last sequence number the caller expected.
    last_seq
        The log's actual last sequence number.
    """

    def __init__(self, message: str, *, expected_seq: int, last_seq: int) -> None:
        super().__init__(message)
        self.expected_seq = expected_seq
        self.last_seq = last_seq


class IdempotencyConflict(DispatchError):
    """An idempotency key was reused for a request whose fingerprint differs from the first one's.

    Attributes
    ----------
    key
        The idempotency key.
    """

    def __init__(self, message: str, *, key: str) -> None:
        super().__init__(message)
        self.key = key


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


class StoredResponse(NamedTuple):
    """The answer first given to a request made under an idempotency key (HTTP status and body)."""

    status: int
    body: bytes


class Budget(enum.Enum):
    """Which deadline bounds an operation, by the ``[service]`` key that sets it."""

    #: One call's work: an append, a key, a batch of events or positions, a blob.
    OPERATION = "store_deadline_s"
    #: Work that grows with the store: opening (and migrating) it, reading a whole table.
    BULK = "store_bulk_deadline_s"
    #: `Store.read_events`: OPERATION for a batch (``limit`` given, as replay and catch-up read), BULK
    #: for the whole log.
    EVENTS = "events"


#: Every operation of a store and the deadline that bounds it. A backend's coroutine of one of these
#: names runs under that deadline (`Store.__init_subclass__`); a store method that is not listed here is
#: a fault (tests/dispatch/test_store.py checks every backend).
DEADLINES: Mapping[str, Budget] = {
    "open": Budget.BULK,
    "close": Budget.OPERATION,
    "append": Budget.OPERATION,
    "save_response": Budget.OPERATION,
    "response_for": Budget.OPERATION,
    "read_events": Budget.EVENTS,
    "events_at": Budget.OPERATION,
    "last_seq": Budget.OPERATION,
    "load_state": Budget.BULK,
    "upsert_positions": Budget.OPERATION,
    "latest_positions": Budget.OPERATION,
    "append_position_history": Budget.OPERATION,
    "position_history": Budget.BULK,
    "prune_position_history": Budget.BULK,
    "put_blob": Budget.OPERATION,
    "get_blob": Budget.OPERATION,
}


@dataclass(frozen=True, slots=True)
class StoreDeadlines:
    """How long a store operation may take before it fails with `StoreTimeout`.

    Attributes
    ----------
    operation_s
        ``[service] store_deadline_s``: one call's work. A COMMIT on a healthy disk or link takes
        milliseconds, and a dispatcher taking a 120 call must hear within seconds that the write did
        not happen (and try again) rather than wait without an answer.
    bulk_s
        ``[service] store_bulk_deadline_s``: opening the store (with any migration of a long log) and
        reads of a whole table, which grow with the store.
    """

    operation_s: float = 3.0
    bulk_s: float = 30.0

    def __post_init__(self) -> None:
        for key, value in ((Budget.OPERATION.value, self.operation_s), (Budget.BULK.value, self.bulk_s)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
                raise StoreError(f"service.{key}: expected a number of seconds > 0, got {value!r}")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Self:
        """Return the deadlines of a loaded configuration's ``[service]`` table (the defaults where unset)."""
        service, default = config.get("service", {}), cls()
        return cls(operation_s=service.get(Budget.OPERATION.value, default.operation_s),
                   bulk_s=service.get(Budget.BULK.value, default.bulk_s))

    def seconds(self, budget: Budget) -> float:
        """Return the deadline of ``budget`` (OPERATION or BULK)."""
        return self.bulk_s if budget is Budget.BULK else self.operation_s


def _under_deadline(name: str, budget: Budget,
                    method: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """Return ``method`` run under the store's deadline for ``budget``, raising `StoreTimeout` past it."""

    @functools.wraps(method)
    async def bounded(self: Store, *args: Any, **kwargs: Any) -> Any:
        chosen = budget
        if budget is Budget.EVENTS:
            limit = kwargs["limit"] if "limit" in kwargs else args[1] if len(args) > 1 else None
            chosen = Budget.BULK if limit is None else Budget.OPERATION
        deadline_s = self.deadlines.seconds(chosen)
        timer = asyncio.timeout(deadline_s)
        try:
            async with timer:
                return await method(self, *args, **kwargs)
        except Exception as e:
            # Past the deadline the backend was cancelled; whatever it raised while it gave up (the
            # timer's TimeoutError, or a driver error from the call it abandoned) means the same.
            if not timer.expired():
                raise
            message = (f"{self.url}: {name} gave no answer within {deadline_s:g} s (service.{chosen.value});"
                       " the store is slow or unreachable")
            if name == "append":
                raise AppendTimeout(message + "; the append may still be committed: read the log before"
                                    " writing again", operation=name, deadline_s=deadline_s) from e
            raise StoreTimeout(message, operation=name, deadline_s=deadline_s) from e

    return bounded


class Store(abc.ABC):
    """The abstract store; see `open_store` for the backends.

    Use ``await store.open()`` (or ``async with store:``) before anything else and ``await
    store.close()`` at the end. Every method is a coroutine: the event loop never blocks on disk or
    network I/O. Every operation runs under a deadline (`deadlines`): a backend's coroutines named in
    `DEADLINES` are wrapped when its class is defined, so no backend can leave one out; each backend
    must stay usable after a call of it was cancelled at its deadline.
    """

    #: The store's URL with any password removed, for messages.
    url: str
    #: The deadlines of its operations (`open_store` sets those of the configuration).
    deadlines: StoreDeadlines = StoreDeadlines()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, budget in DEADLINES.items():
            method = cls.__dict__.get(name)
            if method is not None:
                setattr(cls, name, _under_deadline(name, budget, method))

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
        fingerprint: str | None = None,
        expected_seq: int | None = None,
    ) -> list[int]:
        """Append events and write state rows in one transaction, durable on return.

        Parameters
        ----------
        events
            JSON-able dicts, appended in this order. A ``CallReceived`` event whose ``call_id`` the
            log already holds is refused.
        state
            Current-state rows to upsert (or delete, when ``body`` is None), applied in order.
        key
            An idempotency key for the request (at most `MAX_NAME_LEN` characters, no NUL): a batch
            appended again under the same key and fingerprint (a retried request) is not appended
            again; the sequence numbers first given are returned, whatever ``expected_seq`` is.
        fingerprint
            What identifies the request behind ``key`` (the HTTP edge hashes its method, path,
            principal and body); None when the key alone does. Kept with the key.
        expected_seq
            Append only if the log's last sequence number is this one (checked in the transaction
            that appends); None appends after whatever is there.

        Returns
        -------
        list[int]
            The events' sequence numbers: consecutive, and larger than every earlier one.

        Raises
        ------
        StoreError
            An event or row is not JSON-able, a call id is already in the log, or the store failed;
            nothing of the batch was written.
        StoreAmbiguousError
            The store failed while committing: the batch may be in the log.
        SeqConflict
            The log's last sequence number is not ``expected_seq``; nothing was written.
        ValidationError
            ``key`` is empty, too long or holds NUL (the field is ``Idempotency-Key``).
        IdempotencyConflict
            ``key`` was already used with another fingerprint.
        """

    @abc.abstractmethod
    async def save_response(self, key: str, status: int, body: bytes) -> StoredResponse:
        """Keep the answer to the request appended under ``key``; the first answer kept stays.

        Returns
        -------
        StoredResponse
            The answer now held for ``key``: this one, or the one an earlier call kept.

        Raises
        ------
        ValidationError
            ``key`` is not a usable idempotency key.
        StoreError
            No append was made under ``key``, ``status`` is not 100-599 or ``body`` is not bytes.
        """

    @abc.abstractmethod
    async def response_for(self, key: str, *, fingerprint: str | None = None) -> StoredResponse | None:
        """Return the answer kept for ``key``, or None when there is none (yet).

        Parameters
        ----------
        fingerprint
            When given, the request's fingerprint: one that differs from the key's raises
            `IdempotencyConflict`.
        """

    @abc.abstractmethod
    async def read_events(self, since: int = 0, limit: int | None = None) -> list[LoggedEvent]:
        """Return the events with a sequence number above ``since``, in order, at most ``limit``."""

    @abc.abstractmethod
    async def events_at(self, seqs: Sequence[int]) -> list[LoggedEvent]:
        """Return the events with these sequence numbers, in sequence order (unknown ones are skipped)."""

    async def iter_events(self, since: int = 0, batch_size: int = REPLAY_BATCH) -> AsyncIterator[LoggedEvent]:
        """Yield every event after ``since`` in order, fetching ``batch_size`` at a time (for replay).

        Each batch is read under the operation deadline (``[service] store_deadline_s``).
        """
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


def open_store(url: str | None, data_dir: Path, *, deadlines: StoreDeadlines | None = None) -> Store:
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
    deadlines
        The deadlines of its operations (`StoreDeadlines.from_config`); None: the defaults.

    Raises
    ------
    StoreError
        The URL names no supported backend or an in-memory database (which would lose calls).
    """
    store = _backend_for(url, data_dir)
    if deadlines is not None:
        store.deadlines = deadlines
    return store


def _backend_for(url: str | None, data_dir: Path) -> Store:
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
    fingerprint: str | None
    expected_seq: int | None
    #: (index in ``events``, call id) of each ``CallReceived`` event.
    call_ids: list[tuple[int, str]]

    @property
    def empty(self) -> bool:
        """Nothing to write: no events, no rows, no key."""
        return not self.events and not self.state and self.key is None


def encode_batch(
    url: str,
    events: Sequence[Mapping[str, Any]],
    state: Sequence[StateRow],
    key: str | None,
    fingerprint: str | None = None,
    expected_seq: int | None = None,
) -> EncodedBatch:
    """Validate and encode an append batch; raise StoreError naming the first bad item."""
    if isinstance(events, Mapping) or not isinstance(events, Sequence):
        raise StoreError(f"{url}: events must be a sequence of dicts, got {type(events).__name__}")
    encoded_events = [encode_json(url, f"events[{i}]", e).decode() for i, e in enumerate(events)]
    call_ids = call_ids_of(url, events)
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
        check_key(key)
    if fingerprint is not None:
        check_name(url, "fingerprint", fingerprint)
    if expected_seq is not None and (
        isinstance(expected_seq, bool) or not isinstance(expected_seq, int) or expected_seq < 0
    ):
        raise StoreError(f"{url}: expected_seq must be None or an integer >= 0, got {expected_seq!r}")
    return EncodedBatch(
        events=encoded_events,
        state=[(kind, id_, body) for (kind, id_), body in final.items()],
        key=key,
        fingerprint=fingerprint,
        expected_seq=expected_seq,
        call_ids=call_ids,
    )


def call_ids_of(url: str, events: Sequence[Mapping[str, Any]]) -> list[tuple[int, str]]:
    """Return (index, call id) of each ``CallReceived`` event; refuse one call id given twice."""
    seen: dict[str, int] = {}
    for i, event in enumerate(events):
        call_id = event.get("type") == CALL_CREATED and event.get("call_id")
        if not isinstance(call_id, str):
            continue
        if call_id in seen:
            raise StoreError(
                f"{url}: events[{i}].call_id {call_id!r} is already created by events[{seen[call_id]}];"
                " a call id is created once"
            )
        seen[call_id] = i
    return [(i, call_id) for call_id, i in seen.items()]


def check_key(key: object) -> str:
    """Return ``key`` if it is a usable idempotency key, else raise a ValidationError naming the header."""
    if not isinstance(key, str) or not key or len(key) > MAX_NAME_LEN or "\x00" in key:
        raise ValidationError(
            KEY_FIELD,
            f"{KEY_FIELD}: expected 1 to {MAX_NAME_LEN} characters without NUL, got {key!r:.80}"
            + (f" ({len(key)} characters)" if isinstance(key, str) and len(key) > MAX_NAME_LEN else ""),
        )
    return key


def check_expected_seq(url: str, batch: EncodedBatch, last_seq: int) -> None:
    """Raise SeqConflict when the batch expects another last sequence number than the log's."""
    if batch.expected_seq is not None and batch.expected_seq != last_seq:
        raise SeqConflict(
            f"{url}: expected_seq: the log's last seq is {last_seq}, expected {batch.expected_seq};"
            " nothing was written (read the log, then append again)",
            expected_seq=batch.expected_seq,
            last_seq=last_seq,
        )


def check_fingerprint(url: str, key: str, held: str | None, given: str | None) -> None:
    """Raise IdempotencyConflict when a key's stored fingerprint differs from the request's."""
    if held != given:
        raise IdempotencyConflict(
            f"{url}: {KEY_FIELD} {key!r} was already used for another request (fingerprint"
            f" {held!r:.20}, this request's {given!r:.20}); use a new key for a new request",
            key=key,
        )


def duplicate_call(url: str, batch: EncodedBatch, call_id: str, held_seq: int | None) -> StoreError:
    """Return the error refusing a batch whose ``CallReceived`` reuses a call id of the log."""
    index = next(i for i, c in batch.call_ids if c == call_id)
    return StoreError(
        f"{url}: events[{index}].call_id {call_id!r} is already in the log (seq {held_seq});"
        " nothing was written"
    )


def check_response(url: str, key: str, status: int, body: bytes) -> bytes:
    """Validate a response to keep for an idempotency key and return its body as bytes."""
    check_key(key)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise StoreError(f"{url}: status must be an HTTP status 100-599, got {status!r}")
    if not isinstance(body, (bytes, bytearray, memoryview)):
        raise StoreError(f"{url}: body must be bytes, got {type(body).__name__}")
    return bytes(body)


def no_append_under(url: str, key: str) -> StoreError:
    """Return the error refusing a response for a key no append was made under."""
    return StoreError(f"{url}: {KEY_FIELD} {key!r}: no append was made under this key; append first")


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
