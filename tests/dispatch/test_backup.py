"""`ems backup` / `ems restore`: a copy taken while the service writes restores to the state it had then.

The service writes calls, assignments, statuses and the milestones they stamp (and ECG attachments)
while `ems backup` runs in another thread; the backup is restored into a fresh data directory or a
fresh PostgreSQL database, a fresh service replays it, and its calls, units, patients and last seq are
compared with what the source service held at the backup's seq.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import stat
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from dispatch import events as ev
from dispatch.backup import MANIFEST, PG_DUMP_FILE, TOKENS_FILE, BackupError, backup, libpq_dsn
from dispatch.centers_service import milestone_stamper
from dispatch.model import Capability
from dispatch.patients import PatientsFold
from dispatch.service import DispatchService, UnitSpec
from dispatch.store import SQLITE_FILENAME, open_store
from dispatch.views import unit_json
from ems.cli import main
from ems.config import load_config
from tests.conftest import _run_pg
from tests.dispatch.test_centers_service import Clock

UNITS = [UnitSpec("u1", "s1", (112.12, 28.0), Capability.ALS), UnitSpec("u2", "s1", (112.12, 28.0), Capability.ALS)]
TOKENS = b'[[token]]\nvalue = "dispatcher-token-0123456789"\nrole = "dispatcher"\n'


class Source:
    """A dispatch service with the centers' milestone stamping, and its state after each commit."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.patients = PatientsFold()
        self.service = DispatchService(open_store(url or None, data_dir), None, UNITS, load_config(environ={}),
                                       clock=Clock(), side_folds=[self.patients],
                                       reactions=[milestone_stamper(self.patients)])
        self.at_seq: dict[int, dict] = {}
        self.calls = 0
        self.service.subscribe(self._committed)

    def _committed(self, seq, event, origin) -> None:
        if seq == self.service.last_seq:  # the batch's last event: the state and the folds hold all of it
            self.at_seq[seq] = view_of(self.service, self.patients)

    async def one_call(self) -> None:
        """A chest pain call served start to end (5 commits; the statuses stamp 4 milestones)."""
        service, unit = self.service, f"u{self.calls % 2 + 1}"
        self.calls += 1
        call_id = f"C{self.calls:04d}"
        now = service.clock()
        await service.submit([ev.CallReceived(at=now, by="dispatcher:a", call_id=call_id, location=(112.12, 28.0),
                                              complaint="chest_pain", priority=1, received_at=now)])
        await service.submit([ev.UnitAssigned(at=service.clock(), by="dispatcher:a", call_id=call_id, unit_id=unit)])
        await service.accept(unit, by=f"crew:{unit}")
        for status in ("on_scene", "transporting", "at_hospital", "available_at_station"):
            await service.set_status(unit, status, by=f"crew:{unit}")


def view_of(service: DispatchService, patients: PatientsFold) -> dict:
    """What a console and a center see: every call, unit and patient, and the log's last seq."""
    return {"last_seq": service.last_seq,
            "calls": {c.id: service.call_view(c) for c in service.state.calls.values()},
            "units": {u: unit_json(service, u) for u in service.state.units},
            "patients": {cid: p.view() for cid, p in patients.patients.items()}}


async def restored_view(url: str, data_dir: Path) -> dict:
    patients = PatientsFold()
    service = DispatchService(open_store(url or None, data_dir), None, UNITS, load_config(environ={}),
                              side_folds=[patients], reactions=[milestone_stamper(patients)])
    await service.start()
    try:
        return view_of(service, patients)
    finally:
        await service.close()


def run_ems(*argv: str | Path) -> int:
    return main([str(a) for a in argv])


async def ems(*argv: str | Path) -> int:
    """Run `ems` in a thread (it runs its own event loop), as a second process would beside the service."""
    return await asyncio.to_thread(run_ems, *argv)


def store_args(url: str, data_dir: Path) -> list[str]:
    return ["--data-dir", str(data_dir)] + (["--db", url] if url else [])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request) -> str:
    return request.getfixturevalue("pg_url") if request.param == "postgresql" else ""


@pytest.fixture
def fresh_url(request, db_url):
    """Where to restore: "" (SQLite in a fresh data dir), or a schema of a database made for the test."""
    if not db_url:
        yield ""
        return
    parts = urlsplit(db_url)
    database = f"ems_restore_{secrets.token_hex(4)}"
    admin = urlunsplit(parts._replace(query=""))
    _run_pg([f'CREATE DATABASE "{database}"'], admin)
    try:
        yield urlunsplit(parts._replace(path=f"/{database}", query=f"search_path=r_{secrets.token_hex(4)}"))
    finally:
        _run_pg([f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'], admin)


async def test_a_backup_taken_while_the_service_writes_restores_its_state(db_url, fresh_url, tmp_path):
    source = Source(db_url, tmp_path / "data")
    await source.service.start()
    (tmp_path / "data").mkdir(exist_ok=True)
    (tmp_path / "data" / TOKENS_FILE).write_bytes(TOKENS)
    ecg = os.urandom(1 << 20)
    for i in range(4):  # attachments make the copy take a while, during which the writes go on
        await source.service.store.put_blob(f"ecg-{i}", "image/jpeg", ecg[i:] + ecg[:i])
    for _ in range(3):
        await source.one_call()
    stop, backed_up = asyncio.Event(), asyncio.Event()

    async def writer() -> int:
        after = 0
        while not stop.is_set():
            await source.one_call()
            after += backed_up.is_set()
            if after >= 3:
                stop.set()
        return after

    writing = asyncio.create_task(writer())
    seq_before = source.service.last_seq
    status = await ems("backup", tmp_path / "bk", *store_args(db_url, tmp_path / "data"))
    backed_up.set()
    assert status == 0 and await writing >= 3
    await source.service.close()

    manifest = json.loads((tmp_path / "bk" / MANIFEST).read_text())
    at = manifest["last_seq"]
    assert seq_before <= at < source.service.last_seq  # writes went on before and after the copy
    assert at in source.at_seq, f"seq {at} is not the end of a commit"
    assert manifest["store"]["backend"] == ("postgresql" if db_url else "sqlite")
    assert set(manifest["files"]) == {PG_DUMP_FILE if db_url else SQLITE_FILENAME, TOKENS_FILE}
    assert manifest["ems_version"] and manifest["created_at"] and manifest["event_count"] == at
    assert stat.S_IMODE((tmp_path / "bk").stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "bk").iterdir()} == {0o600}

    target = tmp_path / "restored"
    assert await ems("restore", tmp_path / "bk", *store_args(fresh_url, target)) == 0
    expected = source.at_seq[at]
    assert expected["patients"] and all(p["milestones"] for p in expected["patients"].values())
    assert await restored_view(fresh_url, target) == expected
    assert (target / TOKENS_FILE).read_bytes() == TOKENS
    assert stat.S_IMODE((target / TOKENS_FILE).stat().st_mode) == 0o600
    async with open_store(fresh_url or None, target) as store:
        assert (await store.get_blob("ecg-3")).data == ecg[3:] + ecg[:3]


async def test_postgresql_restores_into_the_schema_it_was_taken_from(pg_url, tmp_path):
    source = Source(pg_url, tmp_path / "data")
    await source.service.start()
    await source.one_call()
    await source.service.close()
    assert await ems("backup", tmp_path / "bk", "--db", pg_url, "--data-dir", tmp_path / "data") == 0
    schema = urlsplit(pg_url).query.split("=", 1)[1]
    _run_pg([f'DROP SCHEMA "{schema}" CASCADE'], urlunsplit(urlsplit(pg_url)._replace(query="")))  # lost
    assert await ems("restore", tmp_path / "bk", "--db", pg_url, "--data-dir", tmp_path / "data") == 0
    assert await restored_view(pg_url, tmp_path / "data") == source.at_seq[source.service.last_seq]


async def test_an_existing_store_is_replaced_only_with_force_and_kept_aside(db_url, tmp_path, capsys):
    source = Source(db_url, tmp_path / "data")
    await source.service.start()
    await source.one_call()
    assert await ems("backup", tmp_path / "bk", *store_args(db_url, tmp_path / "data")) == 0
    await source.one_call()  # the store now holds more than the backup
    seq = source.service.last_seq
    await source.service.close()
    capsys.readouterr()

    assert await ems("restore", tmp_path / "bk", *store_args(db_url, tmp_path / "data")) == 2
    err = capsys.readouterr().err
    where = db_url.split("?")[0] if db_url else str(tmp_path / "data" / SQLITE_FILENAME)
    assert where in err and f"{seq} events" in err and "--force" in err
    async with open_store(db_url or None, tmp_path / "data") as store:
        assert await store.last_seq() == seq  # untouched

    assert await ems("restore", tmp_path / "bk", *store_args(db_url, tmp_path / "data"), "--force") == 0
    out = capsys.readouterr().out
    assert "kept as" in out
    assert await restored_view(db_url, tmp_path / "data") == source.at_seq[json.loads(
        (tmp_path / "bk" / MANIFEST).read_text())["last_seq"]]
    if not db_url:
        aside = next((tmp_path / "data").glob(f"{SQLITE_FILENAME}.replaced-*"))
        with sqlite3.connect(aside) as conn:
            assert conn.execute("SELECT max(seq) FROM event_log").fetchone()[0] == seq


async def test_a_sqlite_store_in_use_is_not_replaced(tmp_path, capsys):
    source = Source("", tmp_path / "data")
    await source.service.start()
    assert await ems("backup", tmp_path / "bk", "--data-dir", tmp_path / "data") == 0
    status = await ems("restore", tmp_path / "bk", "--data-dir", tmp_path / "data", "--force")
    await source.service.close()
    assert status == 2 and "in use by another process" in capsys.readouterr().err
    assert not list((tmp_path / "data").glob("*.replaced-*"))


async def test_a_damaged_file_is_refused_and_nothing_is_restored(tmp_path, capsys):
    source = Source("", tmp_path / "data")
    await source.service.start()
    await source.one_call()
    await source.service.close()
    assert await ems("backup", tmp_path / "bk", "--data-dir", tmp_path / "data") == 0
    copy = tmp_path / "bk" / SQLITE_FILENAME
    damaged = bytearray(copy.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    copy.write_bytes(bytes(damaged))
    capsys.readouterr()
    assert await ems("restore", tmp_path / "bk", "--data-dir", tmp_path / "fresh") == 2
    err = capsys.readouterr().err
    assert f"{copy}: sha256" in err and "differs from the manifest" in err and "Nothing was restored" in err
    assert not (tmp_path / "fresh").exists()


async def test_a_copy_that_does_not_hold_the_manifests_log_is_refused(db_url, fresh_url, tmp_path, capsys):
    source = Source(db_url, tmp_path / "data")
    await source.service.start()
    await source.one_call()
    await source.service.close()
    assert await ems("backup", tmp_path / "bk", *store_args(db_url, tmp_path / "data")) == 0
    path = tmp_path / "bk" / MANIFEST
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps(manifest | {"last_seq": manifest["last_seq"] + 1}))
    capsys.readouterr()
    assert await ems("restore", tmp_path / "bk", *store_args(fresh_url, tmp_path / "fresh")) == 2
    err = capsys.readouterr().err
    assert f"ends at seq {manifest['last_seq']}" in err and f"manifest says seq {manifest['last_seq'] + 1}" in err
    # SQLite: the copy is checked before it is put in place; PostgreSQL: after (no other way in)
    assert ("Nothing was restored" if not db_url else "Do not serve from this store") in err


def test_bad_directories_are_refused_with_the_reason(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    (tmp_path / "file").write_text("x")
    (tmp_path / "empty").mkdir()
    (tmp_path / "foreign").mkdir()
    with sqlite3.connect(tmp_path / "foreign" / SQLITE_FILENAME) as conn:
        conn.execute("CREATE TABLE t (x)")
    cases = [
        (["backup", tmp_path / "full"], f"backup directory {tmp_path / 'full'}: holds files already"),
        (["backup", tmp_path / "file"], f"backup directory {tmp_path / 'file'}: is a file"),
        (["backup", tmp_path / "new"], f"store {tmp_path / 'data' / SQLITE_FILENAME}: no SQLite store there"),
        (["restore", tmp_path / "missing"], f"backup directory {tmp_path / 'missing'}: does not exist"),
        (["restore", tmp_path / "empty"], f"{tmp_path / 'empty'}: no {MANIFEST}"),
    ]
    for argv, words in cases:
        assert run_ems(*argv, "--data-dir", tmp_path / "data") == 2, argv
        assert words in capsys.readouterr().err
    assert run_ems("backup", tmp_path / "bk", "--data-dir", tmp_path / "foreign") == 2
    assert "not an ems store (application_id 0x0, expected 0x454d53)" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()  # a failed backup leaves no directory behind
    assert list((tmp_path / "full").iterdir()) == [tmp_path / "full" / "x"]


async def test_postgresql_refuses_a_schema_name_the_database_already_holds(pg_url, tmp_path, capsys):
    source = Source(pg_url, tmp_path / "data")
    await source.service.start()
    await source.service.close()
    assert await ems("backup", tmp_path / "bk", "--db", pg_url, "--data-dir", tmp_path / "data") == 0
    beside = urlunsplit(urlsplit(pg_url)._replace(query=f"search_path=beside_{secrets.token_hex(4)}"))
    capsys.readouterr()
    assert await ems("restore", tmp_path / "bk", "--db", beside, "--data-dir", tmp_path / "data") == 2
    schema = urlsplit(pg_url).query.split("=", 1)[1]
    assert f"the dump is of schema {schema!r}, which this database already holds" in capsys.readouterr().err


async def test_a_manifest_naming_another_backend_is_refused(tmp_path, pg_url):
    source = Source("", tmp_path / "data")
    await source.service.start()
    await source.service.close()
    assert await ems("backup", tmp_path / "bk", "--data-dir", tmp_path / "data") == 0
    from dispatch.backup import restore

    with pytest.raises(BackupError, match="a backup of a sqlite store cannot be restored into a postgresql store"):
        await restore(tmp_path / "bk", pg_url, tmp_path / "data")


async def test_without_pg_dump_the_message_says_what_to_install(pg_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-tools"))
    with pytest.raises(BackupError, match=r"pg_dump: not found on PATH; install the PostgreSQL client programs"):
        await backup(tmp_path / "bk", pg_url, tmp_path / "data")
    assert not (tmp_path / "bk").exists()


def test_the_password_reaches_pg_dump_by_the_environment_and_server_settings_stay_out():
    dsn, env = libpq_dsn("postgresql://ems:s%40cret@db.example:5433/ems?search_path=county_a&sslmode=require")
    assert dsn == "postgresql://ems@db.example:5433/ems?sslmode=require"
    assert env["PGPASSWORD"] == "s@cret"
