"""The dispatch store: one suite run against SQLite and against PostgreSQL."""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import orjson
import pytest
import pytest_asyncio
from asyncpg.transaction import Transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import store_pg, store_sqlite
from dispatch.errors import ValidationError
from dispatch.store import (
    DEADLINES,
    MAX_NAME_LEN,
    AppendTimeout,
    Blob,
    IdempotencyConflict,
    LoggedEvent,
    PositionRow,
    SeqConflict,
    StateRow,
    Store,
    StoreAmbiguousError,
    StoreDeadlines,
    StoredResponse,
    StoreError,
    StoreTimeout,
    open_store,
    redact_url,
)
from dispatch.store_pg import PostgresStore
from dispatch.store_sqlite import SqliteStore
from ems.config import load_config

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'ems.sqlite3'}"
    return request.getfixturevalue("pg_url")


@pytest_asyncio.fixture
async def store(store_url: str, tmp_path: Path):
    store = open_store(store_url, tmp_path)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def call_event(n: int, **extra: object) -> dict:
    return {
        "type": "call_received",
        "call_id": f"c{n}",
        "address": "宁乡市玉潭街道人民中路 88 号",
        "complaint": "胸痛 2 小时，大汗",
        "location": [112.5518, 28.2774],
        **extra,
    }


async def reopened(store: Store, store_url: str, tmp_path: Path) -> Store:
    await store.close()
    again = open_store(store_url, tmp_path)
    await again.open()
    return again


# --- the log --------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_append_and_read_round_trip_unicode(store: Store) -> None:
    events = [
        call_event(1),
        {"type": "note", "text": "患者 🚑 已上车；家属：张三", "nested": {"键": [1, 2.5, None, True]}},
        {"type": "raw", "control": "x\x00y\x1f\u2028", "big": 2**63 - 1, "tiny": 5e-324},
    ]

    seqs = await store.append(events)

    assert seqs == [1, 2, 3]
    assert await store.read_events() == [LoggedEvent(seq, event) for seq, event in zip(seqs, events)]
    assert await store.last_seq() == 3


@pytest.mark.asyncio
async def test_seqs_are_gapless_and_increasing_across_batches(store: Store) -> None:
    sizes = [3, 1, 4, 1, 5]
    got = [await store.append([call_event(i) for i in range(n)]) for n in sizes]

    flat = [seq for seqs in got for seq in seqs]
    assert flat == list(range(1, sum(sizes) + 1))
    assert [len(seqs) for seqs in got] == sizes
    assert await store.append([]) == []
    assert await store.last_seq() == sum(sizes)


@pytest.mark.asyncio
async def test_concurrent_appends_stay_gapless_and_readers_never_see_a_hole(store: Store) -> None:
    tasks_n, done = 40, asyncio.Event()
    seen: list[int] = []

    async def writer(task: int) -> tuple[int, list[int]]:
        return task, await store.append([{"type": "t", "task": task, "i": i} for i in range(1 + task % 3)])

    async def reader() -> None:
        while True:
            finished = done.is_set()
            batch = await store.read_events(seen[-1] if seen else 0)
            # Each read continues exactly where the previous one stopped: no seq is ever skipped.
            assert [e.seq for e in batch] == list(range(len(seen) + 1, len(seen) + 1 + len(batch)))
            seen.extend(e.seq for e in batch)
            if finished:
                return
            await asyncio.sleep(0)

    reading = asyncio.create_task(reader())
    results = await asyncio.gather(*(writer(t) for t in range(tasks_n)))
    done.set()
    await reading

    total = sum(1 + t % 3 for t in range(tasks_n))
    assert sorted(seq for _, seqs in results for seq in seqs) == list(range(1, total + 1))
    assert seen == list(range(1, total + 1))
    log = {e.seq: e.event for e in await store.read_events()}
    for task, seqs in results:
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
        assert [log[s] for s in seqs] == [{"type": "t", "task": task, "i": i} for i in range(len(seqs))]


@pytest.mark.asyncio
async def test_read_events_since_and_limit_and_iter_events_replay(store: Store) -> None:
    events = [call_event(i) for i in range(10)]
    await store.append(events[:4])
    await store.append(events[4:])

    assert [e.seq for e in await store.read_events(since=3, limit=4)] == [4, 5, 6, 7]
    assert await store.read_events(since=10) == []
    replayed = [logged async for logged in store.iter_events(since=2, batch_size=3)]
    assert replayed == [LoggedEvent(seq, events[seq - 1]) for seq in range(3, 11)]


@pytest.mark.asyncio
async def test_events_at_returns_the_asked_events_in_log_order(store: Store) -> None:
    events = [call_event(i) for i in range(1200)]
    await store.append(events)

    asked = [7, 3, 1200, 3, 999_999] + list(range(100, 1000, 2))  # unordered, repeated, unknown; > 500
    got = await store.events_at(asked)
    assert [e.seq for e in got] == sorted({s for s in asked if s <= 1200})
    assert all(e.event == events[e.seq - 1] for e in got)
    assert await store.events_at([]) == []
    for bad in ([0], [-2], ["3"], [True]):
        with pytest.raises(StoreError, match=r"seqs\[0\] must be an integer >= 1"):
            await store.events_at(bad)


@pytest.mark.asyncio
@pytest.mark.parametrize("since, limit", [(-1, None), (0, 0), (0, -5)])
async def test_read_events_refuses_bad_bounds(store: Store, since: int, limit: int | None) -> None:
    with pytest.raises(StoreError, match="since|limit"):
        await store.read_events(since, limit)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "bad, field",
    [({1, 2}, r"events\[1\]"), ("not a dict", r"events\[1\]"), ({"t": object()}, r"events\[1\]")],
)
async def test_bad_event_is_refused_and_nothing_is_written(store: Store, bad: object, field: str) -> None:
    with pytest.raises(StoreError, match=field):
        await store.append([call_event(0), bad])  # type: ignore[list-item]

    assert await store.last_seq() == 0
    assert await store.read_events() == []


# --- current state ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_state_rows_are_upserted_and_deleted_with_the_events(store: Store) -> None:
    await store.append(
        [call_event(1), call_event(2)],
        state=[
            StateRow("call", "c1", {"status": "received", "地址": "双江口镇"}),
            StateRow("call", "c2", {"status": "received"}),
            StateRow("unit", "ningxiang-1", {"status": "available_at_station"}),
        ],
    )
    await store.append(
        [{"type": "call_closed", "call_id": "c2"}],
        state=[
            StateRow("call", "c1", {"status": "assigned"}),
            StateRow("call", "c2", None),
            StateRow("call", "c3", {"status": "draft"}),
            StateRow("call", "c3", None),
        ],
    )

    assert await store.load_state("call") == {"c1": {"status": "assigned"}}
    assert await store.load_state("unit") == {"ningxiang-1": {"status": "available_at_station"}}
    assert await store.load_state("hospital") == {}


@pytest.mark.asyncio
async def test_state_body_with_nul_is_refused_on_every_backend(store: Store) -> None:
    with pytest.raises(StoreError, match=r"state\[1\]\.body.*NUL"):
        await store.append(
            [call_event(1)], state=[StateRow("call", "c1", {}), StateRow("call", "c2", {"a": "\x00"})]
        )
    assert await store.last_seq() == 0
    assert await store.load_state("call") == {}


class Boom(RuntimeError):
    """The failure injected in the middle of an append."""


def break_state_write(store: Store, monkeypatch: pytest.MonkeyPatch, error: Exception | None = None) -> None:
    """Make the backend raise ``error`` (a Boom) after it has written events and state rows, before commit."""
    module = sys.modules[type(store).__module__]
    original = module._write_state
    error = error or Boom("disk on fire")
    if inspect.iscoroutinefunction(original):

        async def broken(conn, rows):
            await original(conn, rows)
            raise error

    else:

        def broken(conn, rows):
            original(conn, rows)
            raise error

    monkeypatch.setattr(module, "_write_state", broken)


def backend_error(store: Store) -> Exception:
    """A driver error as the backend raises it when its connection or disk fails."""
    if isinstance(store, SqliteStore):
        return sqlite3.OperationalError("disk I/O error")
    return asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")


class _ReplyLostConnection:
    """An SQLite connection whose next COMMIT commits, then fails as an I/O error after the write would."""

    def __init__(self, store: SqliteStore) -> None:
        self._store, self._conn = store, store._conn

    def __getattr__(self, name: str) -> object:
        return getattr(self._conn, name)

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        cursor = self._conn.execute(sql, *args)
        if sql == "COMMIT":
            self._store._conn = self._conn
            raise sqlite3.OperationalError("disk I/O error")
        return cursor


def lose_next_commit_reply(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the next commit take effect, then fail the way a lost reply does on this backend."""
    if isinstance(store, SqliteStore):
        monkeypatch.setattr(store, "_conn", _ReplyLostConnection(store))
        return
    original, fired = Transaction.commit, []

    async def reply_lost(self):
        await original(self)
        if not fired:
            fired.append(True)
            raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")

    monkeypatch.setattr(Transaction, "commit", reply_lost)


@pytest.mark.asyncio
async def test_failure_mid_batch_leaves_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    await store.append([call_event(1)], state=[StateRow("call", "c1", {"status": "received"})])
    with monkeypatch.context() as patch:
        break_state_write(store, patch)
        with pytest.raises(Boom):
            await store.append(
                [call_event(2), call_event(3)],
                state=[StateRow("call", "c1", None), StateRow("call", "c2", {"status": "received"})],
                key="post-42",
            )

    assert await store.last_seq() == 1
    assert [e.seq for e in await store.read_events()] == [1]
    assert await store.load_state("call") == {"c1": {"status": "received"}}
    # The key was not kept either, and the numbers were given back: the retry is appended as seq 2, 3.
    assert await store.append([call_event(2), call_event(3)], key="post-42") == [2, 3]


@pytest.mark.asyncio
async def test_driver_failure_before_commit_is_a_plain_store_error(store: Store, monkeypatch) -> None:
    with monkeypatch.context() as patch:
        break_state_write(store, patch, backend_error(store))
        with pytest.raises(StoreError) as caught:
            await store.append([call_event(1)], state=[StateRow("call", "c1", {})])

    assert not isinstance(caught.value, StoreAmbiguousError)  # it never reached the commit
    assert await store.last_seq() == 0
    assert await store.load_state("call") == {}


# --- conditional appends and lost commit replies --------------------------------------------------


@pytest.mark.asyncio
async def test_append_expecting_another_last_seq_is_refused_with_the_actual_one(store: Store) -> None:
    assert await store.append([call_event(1)], expected_seq=0) == [1]
    assert await store.append([call_event(2), call_event(3)], expected_seq=1) == [2, 3]

    with pytest.raises(SeqConflict, match="last seq is 3, expected 1") as caught:
        await store.append([call_event(4)], state=[StateRow("call", "c4", {})], key="k-4", expected_seq=1)

    assert (caught.value.expected_seq, caught.value.last_seq) == (1, 3)
    assert await store.last_seq() == 3
    assert await store.load_state("call") == {}
    assert await store.append([call_event(4)], key="k-4", expected_seq=3) == [4]  # the key was not kept
    for bad in (-1, True, "3"):
        with pytest.raises(StoreError, match="expected_seq must be None or an integer >= 0"):
            await store.append([call_event(5)], expected_seq=bad)  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_concurrent_appends_expecting_one_seq_write_once(store: Store) -> None:
    await store.append([call_event(0)])

    results = await asyncio.gather(
        *(store.append([{"type": "t", "writer": w}], expected_seq=1) for w in range(6)), return_exceptions=True
    )

    won = [r for r in results if isinstance(r, list)]
    assert won == [[2]]
    assert all(isinstance(r, SeqConflict) and r.last_seq == 2 for r in results if not isinstance(r, list))
    assert [e.seq for e in await store.read_events()] == [1, 2]


@pytest.mark.asyncio
async def test_lost_commit_reply_is_ambiguous_and_the_log_shows_the_batch(store: Store, monkeypatch) -> None:
    await store.append([call_event(1)])
    lose_next_commit_reply(store, monkeypatch)

    with pytest.raises(StoreAmbiguousError, match="outcome is unknown"):
        await store.append([call_event(2)], state=[StateRow("call", "c2", {})], key="k-2", expected_seq=1)

    # the batch is in the log once: a writer that checks sees it, one that does not is refused
    assert await store.last_seq() == 2
    assert await store.read_events(since=1) == [LoggedEvent(2, call_event(2))]
    with pytest.raises(SeqConflict) as caught:
        await store.append([call_event(2)], expected_seq=1)
    assert caught.value.last_seq == 2
    assert await store.append([call_event(2)], key="k-2", expected_seq=1) == [2]  # the retry under its key
    assert await store.append([call_event(3)], expected_seq=2) == [3]


# --- call ids ---------------------------------------------------------------------------------------


def call_received(call_id: str, at: str = "2024-05-01T08:00:00Z") -> dict:
    return {"type": "CallReceived", "at": at, "call_id": call_id, "complaint": "chest_pain"}


@pytest.mark.asyncio
async def test_a_call_id_is_received_once(store: Store) -> None:
    await store.append([call_received("C1"), {"type": "UnitAssigned", "call_id": "C1"}, call_received("C2")])

    with pytest.raises(StoreError, match=r"events\[1\]\.call_id 'C2' is already in the log \(seq 3\)"):
        await store.append([call_received("C3"), call_received("C2", at="2024-05-01T08:09:00Z")])
    with pytest.raises(StoreError, match=r"events\[1\]\.call_id 'C4' is already created by events\[0\]"):
        await store.append([call_received("C4"), call_received("C4")])

    assert await store.last_seq() == 3
    assert await store.append([call_received("C3"), {"type": "CallClosed", "call_id": "C1"}]) == [4, 5]


# --- idempotency ------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_idempotency_key_with_the_same_fingerprint_returns_the_original_seqs(store: Store) -> None:
    first = await store.append([call_received("C1")], state=[StateRow("call", "C1", {"n": 1})],
                               key="req-1", fingerprint="fp-a")
    await store.append([call_event(3)])

    # a retry builds its events anew: other timestamps, the same request
    again = await store.append([call_received("C1", at="2024-05-01T08:00:07Z")], key="req-1", fingerprint="fp-a")

    assert again == first == [1]
    assert await store.last_seq() == 2
    with pytest.raises(IdempotencyConflict, match="Idempotency-Key 'req-1' was already used") as caught:
        await store.append([call_received("C9")], key="req-1", fingerprint="fp-b")
    assert caught.value.key == "req-1"
    with pytest.raises(IdempotencyConflict, match="req-1"):
        await store.append([call_received("C9")], key="req-1")  # no fingerprint is another request too
    assert await store.last_seq() == 2


@pytest.mark.asyncio
@pytest.mark.parametrize("key", ["", "k" * (MAX_NAME_LEN + 1), "k\x00ey", 7])
async def test_unusable_idempotency_key_is_a_validation_error_naming_the_header(store: Store, key) -> None:
    with pytest.raises(ValidationError, match="Idempotency-Key: expected 1 to 200 characters without NUL") as caught:
        await store.append([call_event(1)], key=key)
    assert caught.value.field == "Idempotency-Key"
    with pytest.raises(ValidationError, match="Idempotency-Key"):
        await store.save_response(key, 201, b"{}")
    with pytest.raises(ValidationError, match="Idempotency-Key"):
        await store.response_for(key)
    assert await store.last_seq() == 0


@pytest.mark.asyncio
async def test_concurrent_retries_with_one_key_append_once(store: Store) -> None:
    batch = [call_event(1, 重试=True)]

    results = await asyncio.gather(*(store.append(batch, key="req-7") for _ in range(6)))

    assert results == [[1]] * 6
    assert await store.read_events() == [LoggedEvent(1, batch[0])]


@pytest.mark.asyncio
async def test_response_is_kept_with_its_key_and_the_first_one_stays(store: Store) -> None:
    await store.append([call_received("C1")], key="req-1", fingerprint="fp-a")
    assert await store.response_for("req-1") is None
    assert await store.response_for("req-none") is None

    kept = await store.save_response("req-1", 201, b'{"id": "C1"}')
    again = await store.save_response("req-1", 503, b"late")

    assert kept == again == StoredResponse(201, b'{"id": "C1"}')
    assert await store.response_for("req-1", fingerprint="fp-a") == kept
    with pytest.raises(IdempotencyConflict, match="req-1"):
        await store.response_for("req-1", fingerprint="fp-b")
    with pytest.raises(StoreError, match="Idempotency-Key 'req-none': no append was made under this key"):
        await store.save_response("req-none", 201, b"{}")
    for status, body, field in ((99, b"", "status"), (True, b"", "status"), (201, "text", "body")):
        with pytest.raises(StoreError, match=field):
            await store.save_response("req-1", status, body)  # type: ignore[arg-type]


# --- positions ----------------------------------------------------------------------------------------


def fix(unit: str, minutes: float, lon: float = 112.55, lat: float = 28.28, **extra: float) -> PositionRow:
    return PositionRow(unit, T0 + timedelta(minutes=minutes), lon, lat, **extra)


@pytest.mark.asyncio
async def test_latest_position_keeps_the_newest_fix(store: Store) -> None:
    newest = fix("u1", 5, 112.6, 28.3, speed_mps=13.9, heading_deg=270.0, accuracy_m=8.0, altitude_m=52.5)
    await store.upsert_positions([fix("u1", 1), newest, fix("u1", 3), fix("u2", 2)])
    await store.upsert_positions([fix("u1", 4, 0.0, 0.0)])  # late, older fix: ignored

    latest = await store.latest_positions()

    assert latest == {"u1": newest, "u2": fix("u2", 2)}
    assert latest["u1"].at.utcoffset() == timedelta(0)


@pytest.mark.asyncio
async def test_position_history_batches_filters_and_prunes(store: Store) -> None:
    batch = [fix(f"u{i % 3}", i, 112.5 + i / 1000, 28.2, speed_mps=float(i)) for i in range(12)]
    await store.append_position_history(batch[:7])
    await store.append_position_history(batch[7:])

    assert await store.position_history() == batch
    assert await store.position_history("u1") == [r for r in batch if r.unit_id == "u1"]
    # Bounds given in Shanghai time denote the same instants.
    since, until = (T0 + timedelta(minutes=3)).astimezone(SHANGHAI), T0 + timedelta(minutes=6)
    assert await store.position_history(since=since, until=until) == batch[3:6]

    assert await store.prune_position_history(T0 + timedelta(minutes=5)) == 5
    assert await store.position_history() == batch[5:]
    assert await store.prune_position_history(T0) == 0


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "row, field",
    [
        (PositionRow("u1", datetime(2024, 5, 1, 8, 0), 112.5, 28.2), r"rows\[0\]\.at"),
        (PositionRow("u1", T0, 200.0, 28.2), r"rows\[0\].*WGS84"),
        (PositionRow("u1", T0, 112.5, float("nan")), r"rows\[0\]\.lat"),
        (PositionRow("", T0, 112.5, 28.2), r"rows\[0\]\.unit_id"),
    ],
)
async def test_bad_position_is_refused(store: Store, row: PositionRow, field: str) -> None:
    with pytest.raises(StoreError, match=field):
        await store.append_position_history([row])
    with pytest.raises(StoreError, match=field):
        await store.upsert_positions([row])
    assert await store.position_history() == []


# --- blobs ----------------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_blobs_round_trip_and_are_never_overwritten(store: Store) -> None:
    ecg = bytes(range(256)) * 40

    await store.put_blob("ecg-c1", "application/pdf", ecg)
    await store.put_blob("ecg-c1", "application/pdf", ecg)  # a retried upload

    assert await store.get_blob("ecg-c1") == Blob("ecg-c1", "application/pdf", ecg)
    assert await store.get_blob("ecg-none") is None
    with pytest.raises(StoreError, match="ecg-c1"):
        await store.put_blob("ecg-c1", "application/pdf", ecg[:-1])


# --- durability -------------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_reopen_after_close_sees_everything(store: Store, store_url: str, tmp_path: Path) -> None:
    await store.append([call_event(1)], state=[StateRow("call", "c1", {"status": "received"})], key="k1")
    await store.append([call_received("C2")], key="k2", fingerprint="fp-2")
    await store.save_response("k2", 201, b"C2")
    await store.upsert_positions([fix("u1", 1)])
    await store.append_position_history([fix("u1", 1)])
    await store.put_blob("ecg", "image/png", b"\x89PNG")

    store = await reopened(store, store_url, tmp_path)
    try:
        assert await store.read_events() == [LoggedEvent(1, call_event(1)), LoggedEvent(2, call_received("C2"))]
        assert await store.load_state("call") == {"c1": {"status": "received"}}
        assert await store.latest_positions() == {"u1": fix("u1", 1)}
        assert await store.position_history() == [fix("u1", 1)]
        assert await store.get_blob("ecg") == Blob("ecg", "image/png", b"\x89PNG")
        retried = await store.append(
            [call_event(1)], state=[StateRow("call", "c1", {"status": "received"})], key="k1"
        )
        assert retried == [1]
        assert await store.append([call_received("C2", at="2024-05-01T09:00:00Z")], key="k2", fingerprint="fp-2") == [2]
        assert await store.response_for("k2") == StoredResponse(201, b"C2")
        with pytest.raises(StoreError, match="'C2' is already in the log"):
            await store.append([call_received("C2")])
        assert await store.append([call_event(3)]) == [3]
    finally:
        await store.close()


@pytest.mark.asyncio
async def test_closed_store_refuses_work(store: Store) -> None:
    await store.close()
    with pytest.raises(StoreError, match="closed"):
        await store.append([call_event(1)])
    with pytest.raises(StoreError, match="closed"):
        await store.open()


# --- deadlines ------------------------------------------------------------------------------------

#: Deadlines short enough for a test to pass them (the store answers these tests in milliseconds).
HURRIED = StoreDeadlines(operation_s=0.2, bulk_s=5.0)


@pytest.fixture
def hurried(store: Store) -> Store:
    """The opened store, with `HURRIED` deadlines."""
    store.deadlines = HURRIED
    return store


@asynccontextmanager
async def log_locked_elsewhere(store: Store, store_url: str, pg_lock: str) -> AsyncIterator[None]:
    """Hold a lock on the log from another connection: SQLite's write lock, or PostgreSQL's ``pg_lock``."""
    if isinstance(store, SqliteStore):
        other = sqlite3.connect(store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            other.execute("ROLLBACK")
            other.close()
        return
    other = await asyncpg.connect(store_url)
    try:
        async with other.transaction():
            await other.execute(pg_lock)
            yield
    finally:
        await other.close()


def test_every_operation_of_every_backend_runs_under_a_deadline() -> None:
    for backend in (SqliteStore, PostgresStore):
        operations = {name for name, member in vars(backend).items()
                      if inspect.iscoroutinefunction(member) and not name.startswith("_")}
        assert operations == set(DEADLINES), backend.__name__
        assert all(getattr(backend, name).__wrapped__ for name in operations)
    assert set(Store.__abstractmethods__) <= set(DEADLINES)


def test_deadlines_are_read_from_the_service_table_and_must_be_positive(tmp_path: Path) -> None:
    assert StoreDeadlines.from_config(load_config(environ={})) == StoreDeadlines()  # config.toml says the same
    assert StoreDeadlines.from_config({"service": {"store_deadline_s": 1, "store_bulk_deadline_s": 9.5}}) == (
        StoreDeadlines(operation_s=1, bulk_s=9.5))
    assert open_store("", tmp_path, deadlines=HURRIED).deadlines == HURRIED
    for bad in (0, -1.0, float("inf"), float("nan"), True, "3"):
        with pytest.raises(StoreError, match=rf"service.store_deadline_s: expected a number of seconds > 0, got"):
            StoreDeadlines.from_config({"service": {"store_deadline_s": bad}})


@pytest.mark.asyncio
async def test_an_append_past_its_deadline_is_ambiguous_and_its_retry_appends_it_once(hurried: Store,
                                                                                         store_url: str) -> None:
    async with log_locked_elsewhere(hurried, store_url, "SELECT last_seq FROM log_head FOR UPDATE"):
        with pytest.raises(AppendTimeout, match=r"append gave no answer within 0.2 s \(service.store_deadline_s\)"
                                                r".*may still be committed") as caught:
            await hurried.append([call_event(1)], key="k-1", expected_seq=0)

    assert isinstance(caught.value, StoreAmbiguousError) and caught.value.retry_after_s == 1
    # Whether the abandoned append went on to commit is the backend's affair (SQLite's worker finishes
    # it once the lock is free; PostgreSQL's dropped connection is rolled back): its retry under its
    # key appends it once either way, and the next append numbers on.
    assert await hurried.append([call_event(1)], key="k-1") == [1]
    assert await hurried.append([call_event(2)], expected_seq=1) == [2]
    assert [e.event["call_id"] for e in await hurried.read_events()] == ["c1", "c2"]


@pytest.mark.asyncio
async def test_postgresql_read_past_its_deadline_is_a_plain_timeout_and_the_next_read_answers(
        pg_url: str, tmp_path: Path) -> None:
    async with open_store(pg_url, tmp_path, deadlines=HURRIED) as store:
        await store.append([call_event(1)])
        async with log_locked_elsewhere(store, pg_url, "LOCK TABLE log_head IN ACCESS EXCLUSIVE MODE"):
            with pytest.raises(StoreTimeout, match="last_seq gave no answer within 0.2 s") as caught:
                await store.last_seq()
            assert not isinstance(caught.value, StoreAmbiguousError)
            assert await store.read_events() == [LoggedEvent(1, call_event(1))]  # other tables answer

        assert await store.last_seq() == 1
        assert await store.append([call_event(2)], expected_seq=1) == [2]


@pytest.mark.asyncio
async def test_sqlite_runs_the_call_after_one_past_its_deadline_once_that_one_ends(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    async with open_store("", tmp_path, deadlines=HURRIED) as store:
        release, running, most = threading.Event(), [], []
        call = store._call

        def watched(job, args):  # on the worker thread
            running.append(job)
            most.append(len(running))
            try:
                if job is store_sqlite._last_seq and not release.is_set():
                    release.wait(10)  # the disk hangs for this one
                return call(job, args)
            finally:
                running.remove(job)

        monkeypatch.setattr(store, "_call", watched)
        with pytest.raises(StoreTimeout, match="last_seq gave no answer") as caught:
            await store.last_seq()
        assert not isinstance(caught.value, StoreAmbiguousError)
        following = asyncio.create_task(store.append([call_event(1)]))
        await asyncio.sleep(0)  # handed to the worker, behind the job still running
        release.set()

        assert await following == [1]
        assert max(most) == 1  # never two jobs at once on the connection
        assert await store.last_seq() == 1


# A writer that prints each sequence number once append() has returned (= the request was
# acknowledged), then dies without closing the store.
WRITER = """
import asyncio, os, sys
from pathlib import Path
from dispatch.store import StateRow, open_store

async def main():
    store = open_store(sys.argv[1], Path(sys.argv[2]))
    await store.open()
    n = 0
    while n < int(sys.argv[3]):
        seqs = await store.append(
            [{"type": "call_received", "n": n, "address": "宁乡市花明楼镇"}],
            state=[StateRow("call", f"c{n}", {"n": n})],
        )
        print(seqs[0], flush=True)
        n += 1
    os._exit(0)

asyncio.run(main())
"""


def start_writer(store_url: str, tmp_path: Path, count: int) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, store_url, str(tmp_path), str(count)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )


async def assert_acknowledged_survived(store_url: str, tmp_path: Path, acked: list[int]) -> None:
    assert acked == list(range(1, len(acked) + 1))
    store = open_store(store_url, tmp_path)
    await store.open()
    try:
        events = {e.seq: e.event for e in await store.read_events()}
        state = await store.load_state("call")
    finally:
        await store.close()
    for seq in acked:
        assert events[seq]["n"] == seq - 1
        assert state[f"c{seq - 1}"] == {"n": seq - 1}
    assert sorted(events) == list(range(1, len(events) + 1))


@pytest.mark.asyncio
async def test_acknowledged_events_survive_exit_without_close(store_url: str, tmp_path: Path) -> None:
    writer = start_writer(store_url, tmp_path, 25)
    out, _ = await asyncio.to_thread(writer.communicate, timeout=60)

    assert writer.returncode == 0
    await assert_acknowledged_survived(store_url, tmp_path, [int(line) for line in out.split()])


@pytest.mark.asyncio
async def test_acknowledged_events_survive_sigkill_mid_stream(store_url: str, tmp_path: Path) -> None:
    writer = start_writer(store_url, tmp_path, 1_000_000)
    acked: list[int] = []
    try:
        while len(acked) < 30:
            line = await asyncio.to_thread(writer.stdout.readline)
            assert line, "the writer died before acknowledging 30 events"
            acked.append(int(line))
    finally:
        writer.send_signal(signal.SIGKILL)
        rest, _ = await asyncio.to_thread(writer.communicate, timeout=60)
    acked += [int(line) for line in rest.split()]

    assert writer.returncode == -signal.SIGKILL
    await assert_acknowledged_survived(store_url, tmp_path, acked)


# --- the property ------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
events_st = st.dictionaries(st.text(max_size=10), json_values, max_size=5)


@pytest.mark.slow
@pytest.mark.asyncio
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(events_st, max_size=4), min_size=1, max_size=5))
async def test_any_batches_read_back_as_written_in_order(store: Store, batches: list[list[dict]]) -> None:
    before = await store.last_seq()

    seqs = [seq for batch in batches for seq in await store.append(batch)]

    written = [event for batch in batches for event in batch]
    assert seqs == list(range(before + 1, before + 1 + len(written)))
    assert await store.read_events(since=before) == [LoggedEvent(s, e) for s, e in zip(seqs, written)]


# --- migration -----------------------------------------------------------------------------------------

# A log as schema version 1 held it, including the damage the lost-commit-reply fault did before
# appends were conditional: the same call received twice.
V1_EVENTS = [
    {"type": "UnitRegistered", "unit_id": "u1"},
    call_received("C1"),
    call_received("C1", at="2024-05-01T08:00:05Z"),
    call_received("C2"),
]


async def write_v1_store(store_url: str) -> None:
    """Write a store as schema version 1 made it: its tables, a log and an idempotency key."""
    bodies = [orjson.dumps(e).decode() for e in V1_EVENTS]
    if store_url.startswith("sqlite:"):
        path = Path(store_url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path)
        conn.executescript(store_sqlite._SCHEMA)
        conn.execute(f"PRAGMA application_id = {store_sqlite.APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.executemany("INSERT INTO event_log (seq, body, recorded_us) VALUES (?, ?, 0)", enumerate(bodies, 1))
        conn.execute("INSERT INTO append_keys (key, digest, first_seq, count, recorded_us) VALUES ('k-old', 'd', 2, 1, 0)")
        conn.commit()
        conn.close()
        return
    conn = await asyncpg.connect(store_url)
    try:
        async with conn.transaction():
            for statement in store_pg._SCHEMA:
                await conn.execute(statement)
            await conn.execute("INSERT INTO store_meta (key, value) VALUES ('schema_version', '1')")
            await conn.executemany("INSERT INTO event_log (seq, body) VALUES ($1, $2)", list(enumerate(bodies, 1)))
            await conn.execute("UPDATE log_head SET last_seq = $1", len(bodies))
            await conn.execute("INSERT INTO append_keys (key, digest, first_seq, count) VALUES ('k-old', 'd', 2, 1)")
    finally:
        await conn.close()


async def schema_version(store: Store) -> int:
    if isinstance(store, SqliteStore):
        return await store._run(lambda c: c.execute("PRAGMA user_version").fetchone()[0])
    async with store._connection() as conn:
        return int(await conn.fetchval("SELECT value FROM store_meta WHERE key = 'schema_version'"))


@pytest.mark.asyncio
async def test_a_version_1_store_is_migrated_and_keeps_its_log(store_url: str, tmp_path: Path) -> None:
    await write_v1_store(store_url)

    async with open_store(store_url, tmp_path) as store:
        assert await schema_version(store) == 2
        assert await store.read_events() == [LoggedEvent(seq, e) for seq, e in enumerate(V1_EVENTS, 1)]
        # the call ids already in the log are taken, at their first seq
        with pytest.raises(StoreError, match=r"'C1' is already in the log \(seq 2\)"):
            await store.append([call_received("C1")])
        with pytest.raises(StoreError, match=r"'C2' is already in the log \(seq 4\)"):
            await store.append([call_received("C2")])
        # a key kept before names no fingerprint: the key alone is the request
        assert await store.append([call_received("C1")], key="k-old") == [2]
        with pytest.raises(IdempotencyConflict, match="k-old"):
            await store.append([call_received("C1")], key="k-old", fingerprint="fp")
        assert await store.append([call_received("C3")], key="k-new", fingerprint="fp-3", expected_seq=4) == [5]

    async with open_store(store_url, tmp_path) as store:
        assert await schema_version(store) == 2
        assert await store.last_seq() == 5


# --- opening: URLs and errors -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_default_url_is_sqlite_in_the_data_directory(tmp_path: Path) -> None:
    data_dir = tmp_path / "var" / "ems"
    async with open_store(None, data_dir) as store:
        assert await store.append([call_event(1)]) == [1]
    assert (data_dir / "ems.sqlite3").is_file()
    async with open_store("", data_dir) as store:
        assert await store.last_seq() == 1


@pytest.mark.parametrize(
    "url", ["mysql://root@localhost/ems", "sqlite://", "sqlite:///:memory:", "redis://127.0.0.1", "ems.db"]
)
def test_unknown_or_volatile_url_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="expected"):
        open_store(url, tmp_path)


def test_redact_url_hides_the_password() -> None:
    assert redact_url("postgresql://ems:s3cret@db.example:5433/ems?sslmode=require") == (
        "postgresql://ems:***@db.example:5433/ems?sslmode=require"
    )
    assert redact_url("postgresql://postgres@127.0.0.1/ems") == "postgresql://postgres@127.0.0.1/ems"


@pytest.mark.asyncio
async def test_sqlite_refuses_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "ems.sqlite3"
    path.write_bytes("这不是数据库 this is not a database".encode() * 100)

    with pytest.raises(StoreError, match=r"not an SQLite database") as caught:
        await open_store(f"sqlite:///{path}", tmp_path).open()
    assert str(path) in str(caught.value)


@pytest.mark.asyncio
async def test_sqlite_refuses_a_foreign_database(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE photos (id INTEGER)")
    conn.close()

    with pytest.raises(StoreError, match="not an ems store"):
        await open_store(f"sqlite:///{path}", tmp_path).open()


@pytest.mark.asyncio
async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    async with open_store(None, tmp_path):
        pass
    conn = sqlite3.connect(tmp_path / "ems.sqlite3")
    conn.execute("PRAGMA user_version = 99")
    conn.close()

    with pytest.raises(StoreError, match="schema version 99.*newer"):
        await open_store(None, tmp_path).open()


@pytest.mark.asyncio
async def test_sqlite_runs_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    async with open_store(None, tmp_path) as store:
        await store.append([call_event(1)])
        conn = sqlite3.connect(tmp_path / "ems.sqlite3")
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()
        assert await store._run(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 2  # FULL


@pytest.mark.asyncio
async def test_postgresql_unreachable_names_the_url_without_password(tmp_path: Path) -> None:
    store = open_store("postgresql://ems:s3cret@127.0.0.1:1/ems", tmp_path)

    with pytest.raises(StoreError, match="unreachable") as caught:
        await store.open()
    assert "postgresql://ems:***@127.0.0.1:1/ems" in str(caught.value)
    assert "s3cret" not in str(caught.value)


@pytest.mark.asyncio
async def test_postgresql_missing_database_is_named(pg_database_url: str, tmp_path: Path) -> None:
    url = pg_database_url.rsplit("/", 1)[0] + "/ems_no_such_database"

    with pytest.raises(StoreError, match="does not exist") as caught:
        await open_store(url, tmp_path).open()
    assert "ems_no_such_database" in str(caught.value)


@pytest.mark.asyncio
async def test_postgresql_refuses_a_newer_schema(pg_url: str, tmp_path: Path) -> None:
    async with open_store(pg_url, tmp_path) as store:
        async with store._connection() as conn:
            await conn.execute("UPDATE store_meta SET value = '99' WHERE key = 'schema_version'")

    with pytest.raises(StoreError, match="schema version 99.*newer"):
        await open_store(pg_url, tmp_path).open()
