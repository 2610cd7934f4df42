"""The PostgreSQL store, through an asyncpg connection pool.

Sequence numbers come from a one-row counter (``log_head``) locked ``FOR UPDATE`` by every append, not
from a database sequence: a sequence leaves gaps on rollback and lets a later number commit before an
earlier one, so a reader could see seq 11 before 10 and skip 10 forever. Under the row lock, appends
commit one after another in seq order, a rolled-back append gives its numbers back, and a reader that
sees seq N sees every seq below it.

Events are stored as ``json`` (the exact text written, so the log gives back exactly what was
appended); state rows as ``jsonb`` (queryable, normalised). The schema is created (or migrated) on
open, under an advisory lock so that several instances starting together do not race.

A transaction whose COMMIT fails on the way (the connection is lost or reset, the backend is
terminated, the server restarts) may have committed: that failure is a `StoreAmbiguousError`.

A call cancelled mid-flight (its deadline, `dispatch.store.StoreDeadlines`) drops its connection at
once. Left to itself, asyncpg would send a cancel request and a ROLLBACK and wait for both without a
bound, over the very link that stopped answering; a dropped connection costs a reconnect, and the
server rolls back what it had not committed when it sees the connection go.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any

import asyncpg

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
    latest_per_unit,
    no_append_under,
    redact_url,
    seqs_of,
)

#: Seconds to wait for the server when connecting.
CONNECT_TIMEOUT_S = 10.0
#: Advisory lock key held while the schema is checked or created ("EMS" + 1).
SCHEMA_LOCK = 0x454D5301
#: Failures of a COMMIT after which the transaction is known to be rolled back (a deferred constraint,
#: a serialization failure); any other failure while committing leaves the outcome unknown.
ROLLED_BACK = (asyncpg.IntegrityConstraintViolationError, asyncpg.TransactionRollbackError)

# The tables as schema version 1 made them; `_MIGRATIONS` bring them to `SCHEMA_VERSION` (a new store
# is made the same way, so a migrated store and a new one cannot differ).
_SCHEMA = [
    "CREATE TABLE store_meta (key text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE log_head (id smallint PRIMARY KEY CHECK (id = 1), last_seq bigint NOT NULL)",
    "INSERT INTO log_head (id, last_seq) VALUES (1, 0)",
    """CREATE TABLE event_log (
        seq bigint PRIMARY KEY,
        body json NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE state_rows (
        kind text NOT NULL,
        id text NOT NULL,
        body jsonb NOT NULL,
        PRIMARY KEY (kind, id))""",
    """CREATE TABLE append_keys (
        key text PRIMARY KEY,
        digest text NOT NULL,
        first_seq bigint NOT NULL,
        count integer NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE unit_positions (
        unit_id text PRIMARY KEY,
        at timestamptz NOT NULL,
        lon double precision NOT NULL,
        lat double precision NOT NULL,
        speed_mps double precision,
        heading_deg double precision,
        accuracy_m double precision,
        altitude_m double precision)""",
    """CREATE TABLE position_history (
        unit_id text NOT NULL,
        at timestamptz NOT NULL,
        lon double precision NOT NULL,
        lat double precision NOT NULL,
        speed_mps double precision,
        heading_deg double precision,
        accuracy_m double precision,
        altitude_m double precision,
        row_id bigint GENERATED ALWAYS AS IDENTITY)""",
    "CREATE INDEX position_history_at ON position_history (at)",
    "CREATE INDEX position_history_unit_at ON position_history (unit_id, at)",
    """CREATE TABLE blobs (
        id text PRIMARY KEY,
        content_type text NOT NULL,
        data bytea NOT NULL,
        recorded_at timestamptz NOT NULL DEFAULT now())""",
]

#: Statements taking the schema from version ``n`` to ``n + 1``, by ``n``; each migration runs in the
#: transaction that sets the new version, and none refuses a log this code's ancestors wrote.
_MIGRATIONS = {
    1: [
        # idempotency: the caller's request fingerprint instead of a digest of the batch (a retry's
        # events carry new timestamps, so the digests never matched); a key kept before names no
        # fingerprint. The first response given under the key is kept with it.
        "ALTER TABLE append_keys DROP COLUMN digest, ADD COLUMN fingerprint text,"
        " ADD COLUMN response_status integer, ADD COLUMN response_body bytea",
        # each call id once in the log; a log that already holds one twice keeps its first seq
        "CREATE TABLE call_ids (call_id text PRIMARY KEY, seq bigint NOT NULL)",
        "INSERT INTO call_ids (call_id, seq) SELECT body->>'call_id', min(seq) FROM event_log"
        " WHERE body->>'type' = 'CallReceived' AND json_typeof(body->'call_id') = 'string' GROUP BY 1",
    ],
}

_POSITION_COLUMNS = ("unit_id", "at", "lon", "lat", "speed_mps", "heading_deg", "accuracy_m", "altitude_m")
_POSITION_SELECT = ", ".join(_POSITION_COLUMNS)


class PostgresStore(Store):
    """The store in a PostgreSQL database (tables in the first schema of the search path).

    Parameters
    ----------
    dsn
        ``postgresql://user:password@host:port/database``; extra query parameters are server settings.
    pool_max_size
        Most connections the pool opens.
    """

    def __init__(self, dsn: str, *, pool_max_size: int = 10) -> None:
        self._dsn = dsn
        self.url = redact_url(dsn)
        self._pool_max_size = pool_max_size
        self._pool: asyncpg.Pool | None = None
        self._closed = False

    # --- life cycle ---------------------------------------------------------------------------

    async def open(self) -> None:
        if self._closed:
            raise StoreError(f"{self.url}: the store was closed; open a new one")
        if self._pool is not None:
            return
        try:
            pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_max_size,
                timeout=CONNECT_TIMEOUT_S,
                init=_init_connection,
            )
        except (asyncpg.InvalidPasswordError, asyncpg.InvalidAuthorizationSpecificationError) as e:
            raise StoreError(f"{self.url}: authentication failed ({e})") from e
        except asyncpg.InvalidCatalogNameError as e:
            raise StoreError(f"{self.url}: the database does not exist ({e}); create it first") from e
        except (OSError, asyncio.TimeoutError) as e:
            raise StoreError(
                f"{self.url}: PostgreSQL unreachable ({type(e).__name__}: {e or 'no answer'});"
                " is the server running?"
            ) from e
        except asyncpg.PostgresError as e:
            raise StoreError(f"{self.url}: PostgreSQL refused the connection ({e})") from e
        except (ValueError, asyncpg.InterfaceError) as e:
            raise StoreError(f"{self.url}: malformed PostgreSQL URL ({e})") from e
        try:
            async with pool.acquire() as conn:
                with _dropped_if_cancelled(conn):
                    async with _transaction(conn, self.url):
                        await _prepare_schema(conn, self.url)
        except asyncio.CancelledError:
            pool.terminate()  # closing gracefully would wait on the link that did not answer
            raise
        except BaseException as e:
            await pool.close()
            if isinstance(e, asyncpg.PostgresError):
                raise StoreError(f"{self.url}: cannot prepare the schema ({e})") from e
            raise
        self._pool = pool

    async def close(self) -> None:
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()  # cancelled at its deadline, asyncpg terminates the pool's connections

    @asynccontextmanager
    async def _connection(self, transaction: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """Lend a pooled connection (in a transaction if asked), turning driver errors into StoreError."""
        if self._pool is None:
            state = "closed" if self._closed else "not open (await store.open() first)"
            raise StoreError(f"{self.url}: the store is {state}")
        try:
            async with self._pool.acquire() as conn:
                with _dropped_if_cancelled(conn):
                    if not transaction:
                        yield conn
                        return
                    async with _transaction(conn, self.url):
                        yield conn
        except asyncpg.PostgresError as e:
            raise StoreError(f"{self.url}: {type(e).__name__}: {e}") from e
        except (OSError, asyncpg.InterfaceError) as e:
            raise StoreError(f"{self.url}: connection lost ({type(e).__name__}: {e})") from e

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
        async with self._connection(transaction=True) as conn:
            return await _append(conn, batch, self.url)

    async def save_response(self, key: str, status: int, body: bytes) -> StoredResponse:
        body = check_response(self.url, key, status, body)
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE append_keys SET response_status = $2, response_body = $3"
                " WHERE key = $1 AND response_status IS NULL",
                key,
                status,
                body,
            )
            held = await conn.fetchrow("SELECT response_status, response_body FROM append_keys WHERE key = $1", key)
        if held is None:
            raise no_append_under(self.url, key)
        return StoredResponse(held["response_status"], bytes(held["response_body"]))

    async def response_for(self, key: str, *, fingerprint: str | None = None) -> StoredResponse | None:
        check_key(key)
        async with self._connection() as conn:
            held = await conn.fetchrow(
                "SELECT fingerprint, response_status, response_body FROM append_keys WHERE key = $1", key
            )
        if held is None:
            return None
        if fingerprint is not None:
            check_fingerprint(self.url, key, held["fingerprint"], fingerprint)
        if held["response_status"] is None:
            return None
        return StoredResponse(held["response_status"], bytes(held["response_body"]))

    async def read_events(self, since: int = 0, limit: int | None = None) -> list[LoggedEvent]:
        check_since_limit(self.url, since, limit)
        async with self._connection() as conn:
            rows = await conn.fetch(
                "SELECT seq, body FROM event_log WHERE seq > $1 ORDER BY seq LIMIT $2", since, limit
            )
        return [LoggedEvent(row["seq"], decode_json(row["body"])) for row in rows]

    async def events_at(self, seqs: Sequence[int]) -> list[LoggedEvent]:
        wanted = check_seqs(self.url, seqs)
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT seq, body FROM event_log WHERE seq = ANY($1::bigint[]) ORDER BY seq",
                                    wanted)
        return [LoggedEvent(row["seq"], decode_json(row["body"])) for row in rows]

    async def last_seq(self) -> int:
        async with self._connection() as conn:
            return await conn.fetchval("SELECT last_seq FROM log_head WHERE id = 1")

    async def load_state(self, kind: str) -> dict[str, dict[str, Any]]:
        check_name(self.url, "kind", kind)
        async with self._connection() as conn:
            rows = await conn.fetch("SELECT id, body FROM state_rows WHERE kind = $1", kind)
        return {row["id"]: decode_json(row["body"]) for row in rows}

    # --- positions ------------------------------------------------------------------------------

    async def upsert_positions(self, rows: Iterable[PositionRow]) -> None:
        rows = [check_position(self.url, f"rows[{i}]", r) for i, r in enumerate(rows)]
        latest = latest_per_unit(rows)
        if not latest:
            return
        columns = [[getattr(r, c) for r in latest] for c in _POSITION_COLUMNS]
        async with self._connection() as conn:
            await conn.execute(
                f"INSERT INTO unit_positions ({_POSITION_SELECT})"
                " SELECT * FROM unnest($1::text[], $2::timestamptz[], $3::float8[], $4::float8[],"
                " $5::float8[], $6::float8[], $7::float8[], $8::float8[])"
                " ON CONFLICT (unit_id) DO UPDATE SET at = EXCLUDED.at, lon = EXCLUDED.lon,"
                " lat = EXCLUDED.lat, speed_mps = EXCLUDED.speed_mps, heading_deg = EXCLUDED.heading_deg,"
                " accuracy_m = EXCLUDED.accuracy_m, altitude_m = EXCLUDED.altitude_m"
                " WHERE EXCLUDED.at >= unit_positions.at",
                *columns,
            )

    async def latest_positions(self) -> dict[str, PositionRow]:
        async with self._connection() as conn:
            rows = await conn.fetch(f"SELECT {_POSITION_SELECT} FROM unit_positions")
        return {row["unit_id"]: PositionRow(*row) for row in rows}

    async def append_position_history(self, rows: Iterable[PositionRow]) -> None:
        records = [
            tuple(getattr(check_position(self.url, f"rows[{i}]", r), c) for c in _POSITION_COLUMNS)
            for i, r in enumerate(rows)
        ]
        if not records:
            return
        async with self._connection() as conn:
            await conn.copy_records_to_table("position_history", records=records, columns=_POSITION_COLUMNS)

    async def position_history(
        self,
        unit_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[PositionRow]:
        where, params = [], []
        if unit_id is not None:
            params.append(check_name(self.url, "unit_id", unit_id))
            where.append(f"unit_id = ${len(params)}")
        if since is not None:
            params.append(check_time(self.url, "since", since))
            where.append(f"at >= ${len(params)}")
        if until is not None:
            params.append(check_time(self.url, "until", until))
            where.append(f"at < ${len(params)}")
        sql = f"SELECT {_POSITION_SELECT} FROM position_history"
        if where:
            sql += " WHERE " + " AND ".join(where)
        async with self._connection() as conn:
            rows = await conn.fetch(sql + " ORDER BY at, row_id", *params)
        return [PositionRow(*row) for row in rows]

    async def prune_position_history(self, older_than: datetime) -> int:
        cutoff = check_time(self.url, "older_than", older_than)
        async with self._connection() as conn:
            status = await conn.execute("DELETE FROM position_history WHERE at < $1", cutoff)
        return int(status.split()[-1])

    # --- blobs ------------------------------------------------------------------------------------

    async def put_blob(self, id: str, content_type: str, data: bytes) -> None:
        data = check_blob(self.url, id, content_type, data)
        async with self._connection(transaction=True) as conn:
            inserted = await conn.fetchval(
                "INSERT INTO blobs (id, content_type, data) VALUES ($1, $2, $3)"
                " ON CONFLICT (id) DO NOTHING RETURNING true",
                id,
                content_type,
                data,
            )
            if not inserted:
                held = await conn.fetchrow("SELECT content_type, data FROM blobs WHERE id = $1", id)
                if (held["content_type"], bytes(held["data"])) != (content_type, data):
                    raise StoreError(
                        f"{self.url}: blob id {id!r} already holds a different attachment;"
                        " attachments are never overwritten"
                    )

    async def get_blob(self, id: str) -> Blob | None:
        check_name(self.url, "blob id", id)
        async with self._connection() as conn:
            row = await conn.fetchrow("SELECT content_type, data FROM blobs WHERE id = $1", id)
        return None if row is None else Blob(id, row["content_type"], bytes(row["data"]))


@contextmanager
def _dropped_if_cancelled(conn: asyncpg.Connection) -> Iterator[None]:
    """Terminate ``conn`` when the block is cancelled, so that the pool discards it at once."""
    try:
        yield
    except asyncio.CancelledError:
        conn.terminate()
        raise


@asynccontextmanager
async def _transaction(conn: asyncpg.Connection, url: str) -> AsyncIterator[None]:
    """Run the block in a transaction on ``conn``; a failed COMMIT whose outcome is unknown is ambiguous.

    Not ``conn.transaction()`` as a context manager: cancelled, it would ROLLBACK and wait for the
    server; here a cancellation leaves the transaction to `_dropped_if_cancelled`, which drops the
    connection (the server then rolls back on its own).
    """
    transaction = conn.transaction()
    await transaction.start()
    try:
        yield
    except asyncio.CancelledError:
        raise
    except BaseException:
        await transaction.rollback()
        raise
    try:
        await transaction.commit()
    except ROLLED_BACK:
        raise
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        raise StoreAmbiguousError(
            f"{url}: the commit's outcome is unknown ({type(e).__name__}: {e}); read the log before writing again"
        ) from e


async def _append(conn: asyncpg.Connection, batch: EncodedBatch, url: str) -> list[int]:
    """Append a batch inside the caller's transaction; return its sequence numbers."""
    # The counter row's lock serialises appends until commit: seqs are gapless and commit in order.
    # It is taken before the key check so that two retries of one request queue.
    last = await conn.fetchval("SELECT last_seq FROM log_head WHERE id = 1 FOR UPDATE")
    if batch.key is not None:
        held = await conn.fetchrow("SELECT fingerprint, first_seq, count FROM append_keys WHERE key = $1", batch.key)
        if held is not None:
            check_fingerprint(url, batch.key, held["fingerprint"], batch.fingerprint)
            return seqs_of(held["first_seq"], held["count"])
    check_expected_seq(url, batch, last)
    seqs = seqs_of(last + 1, len(batch.events))
    if seqs:
        await conn.execute(
            "INSERT INTO event_log (seq, body) SELECT * FROM unnest($1::bigint[], $2::json[])", seqs, batch.events
        )
    if batch.call_ids:
        taken = await conn.fetch(
            "INSERT INTO call_ids (call_id, seq) SELECT * FROM unnest($1::text[], $2::bigint[])"
            " ON CONFLICT (call_id) DO NOTHING RETURNING call_id",
            [call_id for _, call_id in batch.call_ids],
            [last + 1 + i for i, _ in batch.call_ids],
        )
        if len(taken) < len(batch.call_ids):
            new = {row["call_id"] for row in taken}
            call_id = next(c for _, c in batch.call_ids if c not in new)
            held_seq = await conn.fetchval("SELECT seq FROM call_ids WHERE call_id = $1", call_id)
            raise duplicate_call(url, batch, call_id, held_seq)
    await _write_state(conn, batch.state)
    if batch.key is not None:
        await conn.execute(
            "INSERT INTO append_keys (key, fingerprint, first_seq, count) VALUES ($1, $2, $3, $4)",
            batch.key,
            batch.fingerprint,
            last + 1,
            len(seqs),
        )
    if seqs:
        await conn.execute("UPDATE log_head SET last_seq = $1 WHERE id = 1", seqs[-1])
    return seqs


async def _init_connection(conn: asyncpg.Connection) -> None:
    # An append is acknowledged on commit: make sure commit waits for the WAL flush even on a server
    # configured with synchronous_commit = off.
    if await conn.fetchval("SHOW synchronous_commit") == "off":
        await conn.execute("SET synchronous_commit = on")


async def _prepare_schema(conn: asyncpg.Connection, url: str) -> None:
    """Check the schema version, creating the tables when the search path's schema has none."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK)
    if await conn.fetchval("SELECT to_regclass('store_meta')") is not None:
        raw = await conn.fetchval("SELECT value FROM store_meta WHERE key = 'schema_version'")
        version = int(raw) if raw is not None and raw.isdigit() else None
        if version is None:
            raise StoreError(f"{url}: store_meta holds no schema_version ({raw!r}); not an ems store")
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{url}: schema version {version} was written by a newer ems, this one reads up to"
                f" {SCHEMA_VERSION}; upgrade ems"
            )
    elif await conn.fetchval("SELECT to_regclass('event_log')") is not None:
        raise StoreError(f"{url}: a table event_log exists without store_meta; not an ems store")
    else:
        for statement in _SCHEMA:
            await conn.execute(statement)
        await conn.execute("INSERT INTO store_meta (key, value) VALUES ('schema_version', '1')")
        version = 1
    if version < SCHEMA_VERSION:
        for step in range(version, SCHEMA_VERSION):
            for statement in _MIGRATIONS[step]:
                await conn.execute(statement)
        await conn.execute("UPDATE store_meta SET value = $1 WHERE key = 'schema_version'", str(SCHEMA_VERSION))


async def _write_state(conn: asyncpg.Connection, rows: list[tuple[str, str, str | None]]) -> None:
    deletes = [(kind, id_) for kind, id_, body in rows if body is None]
    upserts = [row for row in rows if row[2] is not None]
    if deletes:
        await conn.execute(
            "DELETE FROM state_rows s USING unnest($1::text[], $2::text[]) AS d(kind, id)"
            " WHERE s.kind = d.kind AND s.id = d.id",
            [k for k, _ in deletes],
            [i for _, i in deletes],
        )
    if upserts:
        await conn.execute(
            "INSERT INTO state_rows (kind, id, body)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::jsonb[])"
            " ON CONFLICT (kind, id) DO UPDATE SET body = EXCLUDED.body",
            [k for k, _, _ in upserts],
            [i for _, i, _ in upserts],
            [b for _, _, b in upserts],
        )
