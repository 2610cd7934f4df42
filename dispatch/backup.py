"""Backups of the dispatch store, taken while the service writes, and their restore.

A backup is a directory (0700, its files 0600) holding:

- the store: for SQLite ``ems.sqlite3``, a copy made with SQLite's online backup API in one step, so it
  is the database as of one commit while ``ems serve`` goes on writing to its WAL; for PostgreSQL
  ``store.pgdump``, ``pg_dump --format=custom`` of the store's schema, taken in a snapshot exported by
  the transaction that reads the log's last seq, so the manifest and the dump describe the same commit;
- ``tokens.toml``, the token file ``ems serve`` generated in the data directory, when that is the one
  in use (a token file named by ``service.token_file`` is the operator's, kept with the configuration);
- ``manifest.json``, written last: when, what, the log's last seq and event count, the sha256 of each
  file and the version of ems that made it. A directory without it is not a finished backup.

Attachments (ECG files) live in the store's ``blobs`` table, so the store's copy carries them. Planner
runs (``<data_dir>/simulations/``) are not backed up: they can be run again.

A restore checks every checksum first, refuses to replace a store that holds events (or a different
token file) unless forced, moves what it replaces aside rather than deleting it, then opens the
restored store, reads its whole log back and checks the last seq and the count against the manifest.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from dispatch.store import SCHEMA_VERSION, SQLITE_FILENAME, open_store, redact_url
from ems.errors import EmsError

#: The backup's table of contents, written last.
MANIFEST = "manifest.json"
#: Version of the manifest's layout.
FORMAT = 1
#: The PostgreSQL dump's file name.
PG_DUMP_FILE = "store.pgdump"
#: The generated token file's name in the data directory (as `dispatch.bootstrap` writes it).
TOKENS_FILE = "tokens.toml"
#: Query parameters of a store URL that libpq (pg_dump, pg_restore) understands; the others are server
#: settings for asyncpg (``search_path``), which the tools do not need: the schema is named to them.
LIBPQ_PARAMS = frozenset({
    "host", "port", "dbname", "user", "passfile", "connect_timeout", "application_name", "options",
    "sslmode", "sslcert", "sslkey", "sslrootcert", "sslcrl", "sslpassword", "target_session_attrs",
    "gssencmode", "krbsrvname", "channel_binding",
})
#: Seconds to wait for PostgreSQL when connecting.
PG_CONNECT_TIMEOUT_S = 10.0
_CHUNK = 1 << 20
_INSTALL_PG = ("install the PostgreSQL client programs, of the server's major version or newer "
               "(Debian/Ubuntu: apt install postgresql-client)")


class BackupError(EmsError):
    """A backup cannot be made or restored; the message names the directory, file or store and why."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a store's copy holds: the log's last seq and event count, and the schema version."""

    last_seq: int
    event_count: int
    schema_version: int
    details: dict[str, Any] = field(default_factory=dict)


def utc_stamp(now: datetime | None = None) -> str:
    """Return a UTC time as ``20261204T223000Z``, for the names of what a restore moves aside."""
    return (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")


# --- backup ----------------------------------------------------------------------------------------


async def backup(dest: Path, url: str | None, data_dir: Path, *, token_file: str | None = None) -> dict[str, Any]:
    """Back up the store (and the generated token file) into a new or empty directory; return the manifest.

    Parameters
    ----------
    dest
        The backup directory: created (0700) when missing; an existing one must be empty.
    url, data_dir
        The store as `dispatch.store.open_store` takes them.
    token_file
        ``service.token_file`` of the configuration: empty or None means the token file is the one
        generated in ``data_dir``, which is backed up when it exists.

    Raises
    ------
    BackupError
        ``dest`` is a file or holds files, the store is missing or not an ems store, a PostgreSQL tool
        is missing or failed. Nothing is left in ``dest`` then.
    """
    dest = Path(dest)
    created = _prepare_backup_dir(dest)
    started = datetime.now(timezone.utc)
    try:
        files: dict[str, dict[str, Any]] = {}
        not_included = ["simulations/ (planner runs: run them again)"]
        store = open_store(url, data_dir)
        if _backend(url) == "sqlite":
            source = store.path  # the SQLite store's file
            snap = await asyncio.to_thread(_sqlite_copy, source, dest / SQLITE_FILENAME)
            files[SQLITE_FILENAME] = {"what": f"the store {source}, copied with SQLite's online backup API"}
            store_info = {"backend": "sqlite", "url": store.url, "path": str(source)}
        else:
            snap = await _pg_dump(url or "", dest / PG_DUMP_FILE)
            files[PG_DUMP_FILE] = {"what": f"pg_dump --format=custom of schema {snap.details['schema']!r}"}
            store_info = {"backend": "postgresql", "url": store.url, **snap.details}
        tokens = Path(data_dir) / TOKENS_FILE
        if token_file:
            not_included.append(f"the token file {token_file} (service.token_file): keep it with the configuration")
        elif tokens.is_file():
            _write_private(dest / TOKENS_FILE, tokens.read_bytes())
            files[TOKENS_FILE] = {"what": f"the generated token file {tokens} (secret)", "secret": True}
        for name, entry in files.items():
            entry.update(sha256=sha256_of(dest / name), bytes=(dest / name).stat().st_size)
        manifest = {
            "format": FORMAT,
            "created_at": started.isoformat(timespec="seconds"),  # the copy is of a commit made before
            "ems_version": _ems_version(),
            "store": store_info,
            "schema_version": snap.schema_version,
            "last_seq": snap.last_seq,
            "event_count": snap.event_count,
            "files": files,
            "not_included": not_included,
        }
        _write_private(dest / MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode() + b"\n")
        _fsync_dir(dest)
        return manifest
    except BaseException:
        if created:
            shutil.rmtree(dest, ignore_errors=True)
        else:
            for child in dest.iterdir():
                child.unlink(missing_ok=True)
        raise


def _prepare_backup_dir(dest: Path) -> bool:
    """Make ``dest`` a private empty directory; return whether it was created."""
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"backup directory {dest}: is a file; expected a new or empty directory")
    if dest.is_dir():
        if any(dest.iterdir()):
            raise BackupError(f"backup directory {dest}: holds files already; expected a new or empty directory")
        os.chmod(dest, 0o700)
        return False
    try:
        dest.mkdir(mode=0o700, parents=True)
        os.chmod(dest, 0o700)  # mkdir's mode passes through the umask
    except OSError as e:
        raise BackupError(f"backup directory {dest}: cannot be created ({e.strerror or e})") from e
    return True


def _sqlite_copy(source: Path, dest: Path) -> Snapshot:
    """Copy the SQLite store at ``source`` to ``dest`` (0600) as of one commit; check the copy."""
    from dispatch.store_sqlite import APPLICATION_ID, BUSY_TIMEOUT_MS

    if not source.is_file():
        raise BackupError(f"store {source}: no SQLite store there; give --db or --data-dir")
    _write_private(dest, b"")
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    try:
        dst = sqlite3.connect(dest, isolation_level=None)
        try:
            # All pages in ONE step, under one read transaction: the copy is the database as of the last
            # commit before it, while writers go on appending to the WAL (a copy in several steps would
            # start again after every write of another process).
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            return _sqlite_snapshot(dst, str(source), APPLICATION_ID)
        finally:
            dst.close()
    except sqlite3.Error as e:
        raise BackupError(f"store {source}: cannot be copied ({e})") from e
    finally:
        src.close()


def _sqlite_snapshot(conn: sqlite3.Connection, where: str, application_id: int) -> Snapshot:
    """Check an SQLite store's integrity and return what its log holds."""
    held = conn.execute("PRAGMA application_id").fetchone()[0]
    if held != application_id:
        raise BackupError(f"{where}: not an ems store (application_id {held:#x}, expected {application_id:#x})")
    result = conn.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"{where}: the copy fails SQLite's integrity check ({result})")
    last, count = conn.execute("SELECT coalesce(max(seq), 0), count(*) FROM event_log").fetchone()
    return Snapshot(last, count, conn.execute("PRAGMA user_version").fetchone()[0])


async def _pg_dump(url: str, dest: Path) -> Snapshot:
    """Dump the store's schema with pg_dump, in the snapshot in which the log's last seq is read."""
    tool = _tool("pg_dump")
    conn = await _pg_connect(url)
    try:
        schema = await conn.fetchval("SELECT current_schema()")
        if schema is None or await conn.fetchval("SELECT to_regclass('store_meta')") is None:
            raise BackupError(f"{redact_url(url)}: no ems store in schema {schema or await _first_schema(conn)!r}")
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
            last = await conn.fetchval("SELECT last_seq FROM log_head WHERE id = 1")
            count = await conn.fetchval("SELECT count(*) FROM event_log")
            version = int(await conn.fetchval("SELECT value FROM store_meta WHERE key = 'schema_version'"))
            server = await conn.fetchval("SHOW server_version")
            _write_private(dest, b"")
            dsn, env = libpq_dsn(url)
            # The exported snapshot lives as long as this transaction: pg_dump must start inside it.
            await _run([tool, "--format=custom", f"--schema={_ident(schema)}", f"--snapshot={snapshot}",
                        f"--file={dest}", f"--dbname={dsn}"], env)
    finally:
        await conn.close()
    listing = (await _run([_tool("pg_restore"), "--list", str(dest)])).decode()
    if f"TABLE DATA {schema} event_log" not in listing and f'TABLE DATA "{schema}" event_log' not in listing:
        raise BackupError(f"{dest}: pg_dump wrote no data of {schema}.event_log")
    return Snapshot(last, count, version, {"schema": schema, "server_version": server})


# --- restore ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Restored:
    """What a restore did."""

    store: str
    last_seq: int
    event_count: int
    moved_aside: list[str]
    tokens: Path | None


async def restore(src: Path, url: str | None, data_dir: Path, *, force: bool = False) -> Restored:
    """Restore a backup into the store ``url``/``data_dir``; return what was done.

    Raises
    ------
    BackupError
        ``src`` is no finished backup, a file's checksum differs from the manifest, the backup is of
        another backend or a newer schema, the target store holds events (or the data directory
        another token file) and ``force`` is false, the SQLite file is in use, or the restored store
        does not hold what the manifest says.
    """
    src = Path(src)
    manifest = read_manifest(src)
    verify(src, manifest)
    backend = _backend(url)
    if manifest["store"]["backend"] != backend:
        raise BackupError(f"{src}: a backup of a {manifest['store']['backend']} store cannot be restored into"
                          f" a {backend} store ({redact_url(url) if url else 'the data directory'})")
    if manifest["schema_version"] > SCHEMA_VERSION:
        raise BackupError(f"{src}: schema version {manifest['schema_version']} was written by a newer ems,"
                          f" this one reads up to {SCHEMA_VERSION}; upgrade ems")
    data_dir = Path(data_dir)
    tokens = data_dir / TOKENS_FILE if TOKENS_FILE in manifest["files"] else None
    new_tokens = (src / TOKENS_FILE).read_bytes() if tokens else b""
    if tokens and tokens.exists() and tokens.read_bytes() != new_tokens and not force:
        raise BackupError(f"{tokens}: another token file is there; give --force to replace it"
                          " (it is kept beside, renamed)")
    stamp = utc_stamp()
    store = open_store(url, data_dir)
    if backend == "sqlite":
        await asyncio.to_thread(_check_sqlite_copy, src / SQLITE_FILENAME, manifest)
        moved = await asyncio.to_thread(_sqlite_restore, src / SQLITE_FILENAME, store.path, force, stamp)
    else:
        moved = await _pg_restore(src / PG_DUMP_FILE, manifest["store"]["schema"], str(url), force, stamp)
    if tokens:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if tokens.exists() and tokens.read_bytes() != new_tokens:
            aside = tokens.with_name(f"{TOKENS_FILE}.replaced-{stamp}")
            tokens.rename(aside)
            moved.append(str(aside))
        _write_private(tokens, new_tokens)
    last, count = await _read_back(url, data_dir)
    if (last, count) != (manifest["last_seq"], manifest["event_count"]):
        raise BackupError(f"{store.url}: the restored log ends at seq {last} with {count} events; the manifest"
                          f" says seq {manifest['last_seq']} with {manifest['event_count']}. Do not serve from"
                          " this store")
    return Restored(store.url, last, count, moved, tokens)


def read_manifest(src: Path) -> dict[str, Any]:
    """Read and check a backup's manifest.

    Raises
    ------
    BackupError
        ``src`` is not a directory, has no manifest (not a backup, or one that did not finish), or
        the manifest is malformed (the field is named).
    """
    if not src.is_dir():
        raise BackupError(f"backup directory {src}: {'is a file' if src.exists() else 'does not exist'};"
                          " expected a directory written by ems backup")
    path = src / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except FileNotFoundError as e:
        raise BackupError(f"{src}: no {MANIFEST}; not a backup written by ems backup, or one that did not"
                          " finish") from e
    except (OSError, ValueError) as e:
        raise BackupError(f"{path}: cannot be read as JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else manifest
        raise BackupError(f"{path}: format: expected {FORMAT}, got {got!r:.40}")
    for key, kind in (("store", dict), ("files", dict), ("last_seq", int), ("event_count", int),
                      ("schema_version", int)):
        if not isinstance(manifest.get(key), kind) or isinstance(manifest.get(key), bool):
            raise BackupError(f"{path}: {key}: expected {kind.__name__}, got {manifest.get(key)!r:.40}")
    if manifest["store"].get("backend") not in ("sqlite", "postgresql"):
        raise BackupError(f"{path}: store.backend: expected sqlite or postgresql, got {manifest['store'].get('backend')!r}")
    store_file = SQLITE_FILENAME if manifest["store"]["backend"] == "sqlite" else PG_DUMP_FILE
    for name, entry in manifest["files"].items():
        if name not in (store_file, TOKENS_FILE) or not isinstance(entry, Mapping) or not isinstance(entry.get("sha256"), str):
            raise BackupError(f"{path}: files.{name}: expected {store_file} or {TOKENS_FILE} with a sha256")
    if store_file not in manifest["files"]:
        raise BackupError(f"{path}: files: expected {store_file}, got {sorted(manifest['files'])}")
    return manifest


def verify(src: Path, manifest: Mapping[str, Any]) -> None:
    """Check each file of a backup against the manifest's sha256; raise BackupError naming a bad one."""
    for name, entry in manifest["files"].items():
        path = src / name
        if not path.is_file():
            raise BackupError(f"{path}: missing; the manifest lists it. Nothing was restored")
        digest = sha256_of(path)
        if digest != entry["sha256"]:
            raise BackupError(f"{path}: sha256 {digest[:16]}… differs from the manifest's {entry['sha256'][:16]}…;"
                              " the backup is damaged. Nothing was restored")


def _check_sqlite_copy(copy: Path, manifest: Mapping[str, Any]) -> None:
    """Check the backup's SQLite file (integrity, last seq, event count) before it replaces anything."""
    from dispatch.store_sqlite import APPLICATION_ID

    conn = sqlite3.connect(f"{copy.resolve().as_uri()}?mode=ro", uri=True)
    try:
        snap = _sqlite_snapshot(conn, str(copy), APPLICATION_ID)
    except sqlite3.Error as e:
        raise BackupError(f"{copy}: cannot be read as an SQLite store ({e}). Nothing was restored") from e
    finally:
        conn.close()
    if (snap.last_seq, snap.event_count) != (manifest["last_seq"], manifest["event_count"]):
        raise BackupError(f"{copy}: the log ends at seq {snap.last_seq} with {snap.event_count} events; the"
                          f" manifest says seq {manifest['last_seq']} with {manifest['event_count']}."
                          " Nothing was restored")


def _sqlite_restore(copy: Path, path: Path, force: bool, stamp: str) -> list[str]:
    """Put the backup's SQLite file at ``path``; move a store that is there aside (with ``force``)."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    moved = []
    if path.exists() or wal.exists():
        what, events = _sqlite_holds(path)
        if events != 0 and not force:
            raise BackupError(f"{path}: {what}; give --force to replace it (it is kept beside, renamed)")
        _sqlite_not_in_use(path)
        aside = path.with_name(f"{path.name}.replaced-{stamp}")
        path.rename(aside)
        if wal.exists():  # the WAL of a file SQLite could not read: it goes with it
            wal.rename(Path(f"{aside}-wal"))
        shm.unlink(missing_ok=True)
        moved.append(str(aside))
    else:
        wal.unlink(missing_ok=True)
        shm.unlink(missing_ok=True)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True)
    part = path.with_name(f"{path.name}.restoring")
    with copy.open("rb") as source:
        _write_private(part, source)
    os.replace(part, path)
    _fsync_dir(path.parent)
    return moved


def _sqlite_holds(path: Path) -> tuple[str, int | None]:
    """Describe what the SQLite file at ``path`` holds, and its number of events (None: not a store)."""
    if not path.exists() or path.stat().st_size == 0:
        return "an empty file is there", 0
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            last, count = conn.execute("SELECT coalesce(max(seq), 0), count(*) FROM event_log").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as e:
        return f"a file is there that is not a readable ems store ({e})", None
    return f"a store is there (log at seq {last}, {count} events)", count


def _sqlite_not_in_use(path: Path) -> None:
    """Refuse when another process has the database open; else fold its WAL into the file."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        # Leaving WAL mode needs every other connection closed: a running service keeps one open.
        conn.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.OperationalError as e:
        if "locked" in str(e) or "busy" in str(e):
            raise BackupError(f"{path}: in use by another process ({e}); stop ems serve before restoring") from e
    except sqlite3.DatabaseError:
        pass  # not a database: nothing can have it open as one; it is moved aside whole
    finally:
        conn.close()


async def _pg_restore(dump: Path, source: str, url: str, force: bool, stamp: str) -> list[str]:
    """Restore a dump of schema ``source`` into the URL's schema (its tables moved there when they differ)."""
    restore_tool = _tool("pg_restore")
    conn = await _pg_connect(url)
    aside = None
    try:
        target = await conn.fetchval("SELECT current_schema()") or await _first_schema(conn)
        held, events = await _pg_store_in(conn, target)
        if held is not None and events != 0 and not force:
            raise BackupError(f"{redact_url(url)}: schema {target!r} {held}; give --force to replace it"
                              " (it is kept, renamed)")
        if source != target and await _pg_schema_exists(conn, source):
            raise BackupError(f"{redact_url(url)}: the dump is of schema {source!r}, which this database already"
                              f" holds; restore into schema {source!r} (with --force) or into another database")
        if held is not None:
            aside = f"{target[:40]}_replaced_{stamp.lower()}"
            await conn.execute(f"ALTER SCHEMA {_ident(target)} RENAME TO {_ident(aside)}")
        created = not await _pg_schema_exists(conn, source)
        # The schema is made here, not by the dump: one that exists (with its grants) is restored into.
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(source)}")
    finally:
        await conn.close()
    dsn, env = libpq_dsn(url)
    try:
        listing = (await _run([restore_tool, "--list", str(dump)])).decode()
        with tempfile.TemporaryDirectory(prefix="ems-restore-") as work:  # the backup may be read-only
            toc = Path(work) / "toc.list"
            toc.write_text("\n".join(line for line in listing.splitlines() if not _schema_entry(line)) + "\n")
            await _run([restore_tool, "--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error",
                        f"--use-list={toc}", f"--dbname={dsn}", str(dump)], env)
        if source != target:
            await _pg_move_tables(url, source, target)
    except BaseException:
        # Put things back as they were: the schema made here goes (with what was restored into it),
        # the store moved aside comes back.
        conn = await _pg_connect(url)
        try:
            if created:
                await conn.execute(f"DROP SCHEMA IF EXISTS {_ident(source)} CASCADE")
            if aside is not None:
                await conn.execute(f"ALTER SCHEMA {_ident(aside)} RENAME TO {_ident(target)}")
        finally:
            await conn.close()
        raise
    return [] if aside is None else [f"schema {aside}"]


def _schema_entry(line: str) -> bool:
    """Whether a ``pg_restore --list`` line creates or comments a schema (``6; 2615 69174 SCHEMA - s owner``)."""
    parts = line.split()
    return not line.startswith(";") and len(parts) > 3 and (
        parts[3] == "SCHEMA" or (parts[3] == "COMMENT" and parts[4:6] == ["-", "SCHEMA"]))


async def _pg_move_tables(url: str, source: str, target: str) -> None:
    """Move every table of ``source`` (their indexes and identity sequences with them) into ``target``."""
    conn = await _pg_connect(url)
    try:
        async with conn.transaction():
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(target)}")
            tables = await conn.fetch("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                                      " WHERE n.nspname = $1 AND c.relkind IN ('r', 'p')", source)
            for row in tables:
                await conn.execute(f"ALTER TABLE {_ident(source)}.{_ident(row['relname'])} SET SCHEMA {_ident(target)}")
            await conn.execute(f"DROP SCHEMA {_ident(source)}")
    finally:
        await conn.close()


async def _pg_store_in(conn: Any, schema: str) -> tuple[str | None, int | None]:
    """Describe the store the schema holds and its number of events; (None, 0) when it holds none.

    The number is None when some of the store's tables are there but not its log.
    """
    tables = {r["relname"] for r in await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1"
        " AND c.relname IN ('store_meta', 'event_log', 'log_head')", schema)}
    if not tables:
        return None, 0
    if "event_log" not in tables:
        return f"holds a store's tables ({', '.join(sorted(tables))})", None
    count = await conn.fetchval(f"SELECT count(*) FROM {_ident(schema)}.event_log")
    return f"holds a store ({count} events)", count


async def _pg_schema_exists(conn: Any, schema: str) -> bool:
    return bool(await conn.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", schema))


async def _first_schema(conn: Any) -> str:
    """The first schema the search path names (``$user`` resolved), existing or not."""
    first = (await conn.fetchval("SHOW search_path")).split(",")[0].strip().strip('"')
    return await conn.fetchval("SELECT current_user") if first == "$user" else first


async def _read_back(url: str | None, data_dir: Path) -> tuple[int, int]:
    """Open the restored store; return its last seq and the number of events read back."""
    async with open_store(url, data_dir) as store:
        count = 0
        async for _ in store.iter_events():
            count += 1
        return await store.last_seq(), count


# --- shared ----------------------------------------------------------------------------------------


def _backend(url: str | None) -> str:
    return "postgresql" if url and url.split(":", 1)[0].lower() in ("postgresql", "postgres") else "sqlite"


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _write_private(path: Path, content: bytes | Any) -> None:
    """Write ``content`` (bytes, or a binary file to copy) to ``path``, mode 0600, synced to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "wb") as f:
        if isinstance(content, bytes):
            f.write(content)
        else:
            shutil.copyfileobj(content, f, _CHUNK)
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ems_version() -> str:
    try:
        return metadata.version("ems")
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name}: not found on PATH; {_INSTALL_PG}")
    return path


def libpq_dsn(url: str) -> tuple[str, dict[str, str]]:
    """Return a store URL as libpq takes it, and the environment carrying its password (never argv)."""
    parts = urlsplit(url)
    env = dict(os.environ)
    query = parse_qsl(parts.query)
    password = parts.password or next((v for k, v in query if k == "password"), None)
    if password is not None:
        env["PGPASSWORD"] = unquote(password) if parts.password else password
    netloc = parts.netloc.rpartition("@")[2]
    user = parts.username
    if user:
        netloc = f"{user}@{netloc}"
    kept = urlencode([(k, v) for k, v in query if k in LIBPQ_PARAMS])
    return urlunsplit((parts.scheme, netloc, parts.path, kept, "")), env


async def _pg_connect(url: str) -> Any:
    import asyncpg

    try:
        return await asyncpg.connect(url, timeout=PG_CONNECT_TIMEOUT_S)
    except (OSError, asyncio.TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as e:
        raise BackupError(f"{redact_url(url)}: cannot connect ({type(e).__name__}: {e})") from e


async def _run(argv: list[str], env: dict[str, str] | None = None) -> bytes:
    """Run a PostgreSQL client program (its password in ``env``, never in ``argv``); return its output.

    Raises
    ------
    BackupError
        The program exited with a non-zero status (its messages are given).
    """
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    out, err = await proc.communicate()
    if proc.returncode:
        text = err.decode(errors="replace").strip() or "no message"
        raise BackupError(f"{Path(argv[0]).name} exited with status {proc.returncode}: {text}")
    return out


def _ident(name: str) -> str:
    """Quote an SQL identifier (also a pg_dump ``--schema`` pattern matching exactly ``name``)."""
    return '"' + name.replace('"', '""') + '"'
