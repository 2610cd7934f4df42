"""The SQLite store: one file in the data directory, WAL mode, every commit synced to disk.

All database work runs on ONE dedicated worker thread (a single-thread executor), so the event loop
never blocks and the connection is only ever touched by the thread that made it. The worker runs jobs
in submission order, which also serialises appends: sequence numbers are gapless and commit-ordered.

A job the worker has started runs to its end even when the coroutine awaiting it is cancelled (at its
deadline, `dispatch.store.StoreDeadlines`): a cancelled append may be committed, which the caller learns
from the log. The next job waits for it, since the one worker runs one job at a time, and gets a
deadline of its own; a job cancelled before the worker took it up is never run.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from dispatch.store import (
    SCHEMA_VERSION,
    Blob,
    EncodedBatch,
    LoggedEvent,
    PositionRow,
    StateRow,
    Store,
    StoreAmbiguousError,
    StoredResponse,
    StoreError,
    check_blob,
    check_expected_seq,
    check_fingerprint,
    check_key,
    check_name,
    check_position,
    check_response,
    check_seqs,
    check_since_limit,
    check_time,
    decode_json,
    duplicate_call,
    encode_batch,
    from_epoch_us,
    latest_per_unit,
    no_append_under,
    seqs_of,
    to_epoch_us,
)

#: Marks the file as an ems store ("EMS" in ASCII), so a foreign SQLite file is refused.
APPLICATION_ID = 0x454D53
#: How long a writer waits for another process's lock before failing (ms).
BUSY_TIMEOUT_MS = 5000

# The tables as schema version 1 made them; `_MIGRATIONS` bring them to `SCHEMA_VERSION` (a new store
# is made the same way, so a migrated store and a new one cannot differ).
_SCHEMA = """
CREATE TABLE event_log (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    recorded_us INTEGER NOT NULL
);
CREATE TABLE state_rows (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
) WITHOUT ROWID;
CREATE TABLE append_keys (
    key TEXT PRIMARY KEY,
    digest TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    count INTEGER NOT NULL,
    recorded_us INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE unit_positions (
    unit_id TEXT PRIMARY KEY,
    at_us INTEGER NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    speed_mps REAL,
    heading_deg REAL,
    accuracy_m REAL,
    altitude_m REAL
) WITHOUT ROWID;
CREATE TABLE position_history (
    unit_id TEXT NOT NULL,
    at_us INTEGER NOT NULL,
    lon REAL NOT NULL,
    lat REAL NOT NULL,
    speed_mps REAL,
    heading_deg REAL,
    accuracy_m REAL,
    altitude_m REAL
);
CREATE INDEX position_history_at ON position_history (at_us);
CREATE INDEX position_history_unit_at ON position_history (unit_id, at_us);
CREATE TABLE blobs (
    id TEXT PRIMARY KEY,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    recorded_us INTEGER NOT NULL
);
"""

#: Statements taking the schema from version ``n`` to ``n + 1``, by ``n``; each migration runs in the
#: transaction that sets the new version, and none refuses a log this code's ancestors wrote.
_MIGRATIONS = {
    1: [
        # idempotency: the caller's request fingerprint instead of a digest of the batch (a retry's
        # events carry new timestamps, so the digests never matched); a key kept before names no
        # fingerprint. The first response given under the key is kept with it.
        # (rebuilt rather than ALTER TABLE DROP COLUMN, which SQLite before 3.35 lacks)
        "CREATE TABLE append_keys_v2 (key TEXT PRIMARY KEY, first_seq INTEGER NOT NULL, count INTEGER NOT NULL,"
        " recorded_us INTEGER NOT NULL, fingerprint TEXT, response_status INTEGER, response_body BLOB) WITHOUT ROWID",
        "INSERT INTO append_keys_v2 (key, first_seq, count, recorded_us)"
        " SELECT key, first_seq, count, recorded_us FROM append_keys",
        "DROP TABLE append_keys",
        "ALTER TABLE append_keys_v2 RENAME TO append_keys",
        # each call id once in the log; a log that already holds one twice keeps its first seq
        "CREATE TABLE call_ids (call_id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID",
        "INSERT INTO call_ids (call_id, seq) SELECT json_extract(body, '$.call_id'), min(seq) FROM event_log"
        " WHERE json_extract(body, '$.type') = 'CallReceived' AND json_type(body, '$.call_id') = 'text'"
        " GROUP BY 1",
    ],
}

_POSITION_COLUMNS = "unit_id, at_us, lon, lat, speed_mps, heading_deg, accuracy_m, altitude_m"

T = TypeVar("T")


class SqliteStore(Store):
    """The store in one SQLite file (created with its directory when missing).

    Parameters
    ----------
    path
        The database file, normally ``<data_dir>/ems.sqlite3``.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.url = f"sqlite:///{self.path}"
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._closed = False

    # --- life cycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.url}: the store was closed; open a new one")
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ems-store-sqlite")
        try:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._connect)
        except BaseException as e:
            self._executor.submit(self._disconnect)
            # cancelled (its deadline), the worker may still be opening the file: it closes it when done
            self._executor.shutdown(wait=not isinstance(e, asyncio.CancelledError))
            self._executor = None
            raise

    async def close(self) -> None:
        self._closed = True
        executor, self._executor = self._executor, None
        if executor is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._disconnect)
        except BaseException:
            # cut short (its deadline) while the worker ends a job: it closes the file after that job
            executor.submit(self._disconnect)
            executor.shutdown(wait=False)
            raise
        executor.shutdown(wait=True)

    def _connect(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"{self.url}: cannot create the directory {self.path.parent} ({e})") from e
        if self.path.is_dir():
            raise StoreError(f"{self.url}: {self.path} is a directory, expected a database file")
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as e:
            raise StoreError(f"{self.url}: cannot open the database file ({e})") from e
        self._conn = conn
        try:
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            raise StoreError(f"{self.url}: not an SQLite database ({e})") from e
        if application_id not in (0, APPLICATION_ID) or (
            application_id == 0 and conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        ):
            raise StoreError(
                f"{self.url}: an SQLite database but not an ems store (application_id {application_id:#x},"
                f" expected {APPLICATION_ID:#x}); choose another data directory or --db"
            )
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.url}: schema version {version} was written by a newer ems, this one reads up to"
                f" {SCHEMA_VERSION}; upgrade ems"
            )
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StoreError(f"{self.url}: journal_mode must be wal, the file system gave {mode!r}")
            # FULL: every commit is fsynced to the WAL before append() returns (an acknowledged
            # call survives a power cut, not only a crash).
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if version < SCHEMA_VERSION:
                with _transaction(conn):
                    if version == 0:
                        for statement in _SCHEMA.split(";"):
                            if statement.strip():
                                conn.execute(statement)
                        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
                        version = 1
                    for step in range(version, SCHEMA_VERSION):
                        for statement in _MIGRATIONS[step]:
                            conn.execute(statement)
                    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.Error as e:
            raise StoreError(f"{self.url}: cannot prepare the database (schema version {version}: {e})") from e

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    async def _run(self, job: Callable[..., T], *args: Any) -> T:
        """Run ``job(conn, *args)`` on the worker thread, turning sqlite3 errors into StoreError."""
        if self._executor is None:
            state = "closed" if self._closed else "not open (await store.open() first)"
            raise StoreError(f"{self.url}: the store is {state}")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._call, job, args)

    def _call(self, job: Callable[..., T], args: tuple[Any, ...]) -> T:
        conn = self._conn
        if conn is None:
            raise StoreError(f"{self.url}: the store is closed")
        try:
            return job(conn, *args)
        except _CommitFailed as e:
            raise StoreAmbiguousError(
                f"{self.url}: the commit's outcome is unknown ({e.__cause__}); read the log before"
                " writing again"
            ) from e.__cause__
        except sqlite3.Error as e:
            raise StoreError(f"{self.url}: {e}") from e

    # --- the log --------------------------------------------------------------------------------

    async def append(
        self,
        events: Sequence[Mapping[str, Any]],
        *,
        state: Sequence[StateRow] = (),
        key: str | None = None,
        fingerprint: str | None = None,
        expected_seq: int | None = None,
    ) -> list[int]:
        batch = encode_batch(self.url, events, state, key, fingerprint, expected_seq)
        if batch.empty:
            return []
        return await self._run(_append, batch, self.url)

    async def save_response(self, key: str, status: int, body: bytes) -> StoredResponse:
        body = check_response(self.url, key, status, body)
        return await self._run(_save_response, key, status, body, self.url)

    async def response_for(self, key: str, *, fingerprint: str | None = None) -> StoredResponse | None:
        check_key(key)
        rows = await self._run(
            _select, "SELECT fingerprint, response_status, response_body FROM append_keys WHERE key = ?", (key,)
        )
        if not rows:
            return None
        if fingerprint is not None:
            check_fingerprint(self.url, key, rows[0][0], fingerprint)
        return None if rows[0][1] is None else StoredResponse(rows[0][1], bytes(rows[0][2]))

    async def read_events(self, since: int = 0, limit: int | None = None) -> list[LoggedEvent]:
        check_since_limit(self.url, since, limit)
        rows = await self._run(_read_events, since, -1 if limit is None else limit)
        return [LoggedEvent(seq, decode_json(body)) for seq, body in rows]

    async def events_at(self, seqs: Sequence[int]) -> list[LoggedEvent]:
        wanted = check_seqs(self.url, seqs)
        rows: list[tuple[int, str]] = []
        for start in range(0, len(wanted), 500):  # under SQLite's bound-parameter limit
            part = wanted[start:start + 500]
            rows += await self._run(_select, f"SELECT seq, body FROM event_log WHERE seq IN "
                                             f"({','.join('?' * len(part))}) ORDER BY seq", tuple(part))
        return [LoggedEvent(seq, decode_json(body)) for seq, body in rows]

    async def last_seq(self) -> int:
        return await self._run(_last_seq)

    async def load_state(self, kind: str) -> dict[str, dict[str, Any]]:
        check_name(self.url, "kind", kind)
        rows = await self._run(_select, "SELECT id, body FROM state_rows WHERE kind = ?", (kind,))
        return {id_: decode_json(body) for id_, body in rows}

    # --- positions ------------------------------------------------------------------------------

    async def upsert_positions(self, rows: Iterable[PositionRow]) -> None:
        rows = [check_position(self.url, f"rows[{i}]", r) for i, r in enumerate(rows)]
        params = [_position_params(r) for r in latest_per_unit(rows)]
        if params:
            await self._run(_executemany, _UPSERT_POSITION, params)

    async def latest_positions(self) -> dict[str, PositionRow]:
        rows = await self._run(_select, f"SELECT {_POSITION_COLUMNS} FROM unit_positions", ())
        return {row[0]: _position_row(row) for row in rows}

    async def append_position_history(self, rows: Iterable[PositionRow]) -> None:
        params = [_position_params(check_position(self.url, f"rows[{i}]", r)) for i, r in enumerate(rows)]
        if params:
            await self._run(_insert_history, params)

    async def position_history(
        self,
        unit_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[PositionRow]:
        where, params = [], []
        if unit_id is not None:
            where.append("unit_id = ?")
            params.append(check_name(self.url, "unit_id", unit_id))
        if since is not None:
            where.append("at_us >= ?")
            params.append(to_epoch_us(check_time(self.url, "since", since)))
        if until is not None:
            where.append("at_us < ?")
            params.append(to_epoch_us(check_time(self.url, "until", until)))
        sql = f"SELECT {_POSITION_COLUMNS} FROM position_history"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self._run(_select, sql + " ORDER BY at_us, rowid", tuple(params))
        return [_position_row(row) for row in rows]

    async def prune_position_history(self, older_than: datetime) -> int:
        cutoff = to_epoch_us(check_time(self.url, "older_than", older_than))
        return await self._run(_delete, "DELETE FROM position_history WHERE at_us < ?", (cutoff,))

    # --- blobs ------------------------------------------------------------------------------------

    async def put_blob(self, id: str, content_type: str, data: bytes) -> None:
        data = check_blob(self.url, id, content_type, data)
        await self._run(_put_blob, id, content_type, data, self.url)

    async def get_blob(self, id: str) -> Blob | None:
        check_name(self.url, "blob id", id)
        rows = await self._run(_select, "SELECT content_type, data FROM blobs WHERE id = ?", (id,))
        return Blob(id, rows[0][0], bytes(rows[0][1])) if rows else None


# --- jobs run on the worker thread ------------------------------------------------------------


class _CommitFailed(Exception):
    """COMMIT failed and SQLite ended the transaction itself: it may or may not be on disk."""


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """Run the block in one write transaction (taken at once, so appends never deadlock)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    _commit(conn)


def _commit(conn: sqlite3.Connection) -> None:
    """Commit; a failure that leaves the transaction open is rolled back (nothing was written)."""
    try:
        conn.execute("COMMIT")
    except sqlite3.Error as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
            raise
        # e.g. an I/O error while syncing the WAL: the commit frame may be on disk
        raise _CommitFailed() from e


def _now_us() -> int:
    return time.time_ns() // 1000


def _append(conn: sqlite3.Connection, batch: EncodedBatch, url: str) -> list[int]:
    with _transaction(conn):
        if batch.key is not None:
            held = conn.execute(
                "SELECT fingerprint, first_seq, count FROM append_keys WHERE key = ?", (batch.key,)
            ).fetchone()
            if held is not None:
                check_fingerprint(url, batch.key, held[0], batch.fingerprint)
                return seqs_of(held[1], held[2])
        last = _last_seq(conn)
        check_expected_seq(url, batch, last)
        first, now = last + 1, _now_us()
        conn.executemany(
            "INSERT INTO event_log (seq, body, recorded_us) VALUES (?, ?, ?)",
            [(first + i, body, now) for i, body in enumerate(batch.events)],
        )
        for i, call_id in batch.call_ids:
            taken = conn.execute(
                "INSERT INTO call_ids (call_id, seq) VALUES (?, ?) ON CONFLICT (call_id) DO NOTHING",
                (call_id, first + i),
            ).rowcount
            if not taken:
                held_seq = conn.execute("SELECT seq FROM call_ids WHERE call_id = ?", (call_id,)).fetchone()
                raise duplicate_call(url, batch, call_id, held_seq[0] if held_seq else None)
        _write_state(conn, batch.state)
        if batch.key is not None:
            conn.execute(
                "INSERT INTO append_keys (key, fingerprint, first_seq, count, recorded_us) VALUES (?, ?, ?, ?, ?)",
                (batch.key, batch.fingerprint, first, len(batch.events), now),
            )
    return seqs_of(first, len(batch.events))


def _save_response(conn: sqlite3.Connection, key: str, status: int, body: bytes, url: str) -> StoredResponse:
    with _transaction(conn):
        conn.execute(
            "UPDATE append_keys SET response_status = ?, response_body = ? WHERE key = ? AND response_status IS NULL",
            (status, body, key),
        )
        held = conn.execute("SELECT response_status, response_body FROM append_keys WHERE key = ?", (key,)).fetchone()
    if held is None:
        raise no_append_under(url, key)
    return StoredResponse(held[0], bytes(held[1]))


def _write_state(conn: sqlite3.Connection, rows: list[tuple[str, str, str | None]]) -> None:
    conn.executemany(
        "DELETE FROM state_rows WHERE kind = ? AND id = ?",
        [(kind, id_) for kind, id_, body in rows if body is None],
    )
    conn.executemany(
        "INSERT INTO state_rows (kind, id, body) VALUES (?, ?, ?)"
        " ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body",
        [row for row in rows if row[2] is not None],
    )


def _last_seq(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(seq), 0) FROM event_log").fetchone()[0]


def _read_events(conn: sqlite3.Connection, since: int, limit: int) -> list[tuple[int, str]]:
    return conn.execute(
        "SELECT seq, body FROM event_log WHERE seq > ? ORDER BY seq LIMIT ?", (since, limit)
    ).fetchall()


def _select(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    return conn.execute(sql, params).fetchall()


def _executemany(conn: sqlite3.Connection, sql: str, params: list[tuple[Any, ...]]) -> None:
    with _transaction(conn):
        conn.executemany(sql, params)


# Rows per INSERT of position history: 8 parameters a row, under SQLite's 32,766 bound parameters.
HISTORY_ROWS_PER_STATEMENT = 4000


def _insert_history(conn: sqlite3.Connection, params: list[tuple[Any, ...]]) -> None:
    """Insert history rows with one multi-row statement per few thousand rows.

    ``executemany`` gives up and takes back the GIL for every row; beside a busy event loop each
    take-back waits for the interpreter's switch interval, so a row cost milliseconds. One
    statement binds all its parameters in one go and steps once.
    """
    with _transaction(conn):
        for start in range(0, len(params), HISTORY_ROWS_PER_STATEMENT):
            chunk = params[start:start + HISTORY_ROWS_PER_STATEMENT]
            values = ",".join(["(?,?,?,?,?,?,?,?)"] * len(chunk))
            conn.execute(f"INSERT INTO position_history ({_POSITION_COLUMNS}) VALUES {values}",
                         [v for row in chunk for v in row])


def _delete(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
    with _transaction(conn):
        return conn.execute(sql, params).rowcount


def _put_blob(conn: sqlite3.Connection, id: str, content_type: str, data: bytes, url: str) -> None:
    with _transaction(conn):
        held = conn.execute("SELECT content_type, data FROM blobs WHERE id = ?", (id,)).fetchone()
        if held is None:
            conn.execute(
                "INSERT INTO blobs (id, content_type, data, recorded_us) VALUES (?, ?, ?, ?)",
                (id, content_type, data, _now_us()),
            )
        elif (held[0], bytes(held[1])) != (content_type, data):
            raise StoreError(
                f"{url}: blob id {id!r} already holds a different attachment; attachments are never overwritten"
            )


_UPSERT_POSITION = (
    f"INSERT INTO unit_positions ({_POSITION_COLUMNS}) VALUES (?,?,?,?,?,?,?,?)"
    " ON CONFLICT (unit_id) DO UPDATE SET at_us = excluded.at_us, lon = excluded.lon, lat = excluded.lat,"
    " speed_mps = excluded.speed_mps, heading_deg = excluded.heading_deg, accuracy_m = excluded.accuracy_m,"
    " altitude_m = excluded.altitude_m"
    " WHERE excluded.at_us >= unit_positions.at_us"
)


def _position_params(row: PositionRow) -> tuple[Any, ...]:
    return (
        row.unit_id,
        to_epoch_us(row.at),
        float(row.lon),
        float(row.lat),
        row.speed_mps,
        row.heading_deg,
        row.accuracy_m,
        row.altitude_m,
    )


def _position_row(row: tuple[Any, ...]) -> PositionRow:
    return PositionRow(row[0], from_epoch_us(row[1]), *row[2:])
