"""A full disk under the SQLite store: writes answer 503 with Retry-After, nothing acknowledged is lost.

The data directory lives on a small tmpfs mounted for the test (root only; skipped otherwise). The
application runs in process and takes chest pain calls through their whole cycle, hand-recorded
milestones and GPS fixes, with a filler file leaving little room, until the disk is full. Then:

- every write (a call, an assignment's accept, a status, a milestone) answers 503 with Retry-After,
  each within `ANSWER_TIMEOUT_S`, never a 500;
- a GPS fix answered 200 waits in memory for the store; once `gps.max_backlog_rows` wait, the intake
  answers 503 with Retry-After (the device keeps the fix);
- once the filler is deleted, writes succeed again, the waiting fixes are written, and a restart on
  the same data directory holds every write and every fix acknowledged before, during and after.

The recovery times (filler deleted -> first call taken, -> the GPS backlog written) are printed with
``-s``.
"""

from __future__ import annotations

import asyncio
import errno
import os
import shutil
import subprocess
import time
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dispatch.app import create_app
from dispatch.http import SERVICE
from dispatch.store import open_store
from tests.dispatch.service_fixtures import auth, make_config
from tests.faults.test_sigkill_milestones import replay

pytestmark = pytest.mark.integration

DISK_SIZE = "4m"
#: Room the filler leaves before the load starts: some tens of commits (each writes a few 4 kB WAL pages).
HEADROOM_BYTES = 1024 * 1024
#: A request not answered in this long is a hang.
ANSWER_TIMEOUT_S = 10.0
#: Writes of each kind tried while the disk is full.
TRIES_WHEN_FULL = 8
#: At most this many call cycles before the disk must have filled.
MAX_CYCLES = 400
#: ``gps.max_backlog_rows``: fixes held in memory for the store before the intake answers 503.
BACKLOG_ROWS = 100
CALL = {"location": {"lon": 112.121, "lat": 28.001}, "complaint": "chest_pain", "priority": 1}
DISPATCHER = auth("dispatcher")
#: The crew's cycle on a call (status -> the next one reported); "dispatched" is left by accepting.
NEXT_STATUS = {"en_route": "on_scene", "on_scene": "transporting", "transporting": "at_hospital",
               "at_hospital": "available_at_station", "available_at_station": "available_mobile",
               "available_mobile": "available_at_station"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """Mount a tmpfs of `DISK_SIZE` under ``tmp_path``; unmount it afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0:
        pytest.skip("the full-disk test mounts a tmpfs, which needs root")
    if shutil.which("mount") is None:
        pytest.skip("the full-disk test mounts a tmpfs with mount(8), which is not installed")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (mount -t tmpfs: {mounted.stderr.strip() or mounted.returncode})")
    try:
        yield disk
    finally:
        subprocess.run(["umount", str(disk)], check=False)
        if os.path.ismount(disk):
            subprocess.run(["umount", "-l", str(disk)], check=True)


def fill(path: Path, leave_bytes: int = 0) -> int:
    """Grow ``path`` until about ``leave_bytes`` are free (0: until the disk refuses); return the bytes written."""
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9):
            while True:
                stat = os.statvfs(path)
                if leave_bytes and stat.f_bavail * stat.f_frsize - chunk < leave_bytes:
                    break
                try:
                    written += os.write(fd, b"\0" * chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return written


class Driver:
    """Sends the requests and keeps what was acknowledged."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.writes: list[tuple[str, str | None, str | None]] = []  # as `replay` names them
        self.milestones: list[str] = []
        self.fixes: Counter = Counter()  # unit id -> fixes answered 200 (each accepted)
        self.refusals: list[tuple[str, int, str | None, str]] = []  # while the disk was full
        self._fix_at = datetime.now(timezone.utc) - timedelta(minutes=5)  # a fix a second: recent ones

    async def send(self, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any], Any]:
        """Return ``(status, json, headers)``; fail on a 500 or a request not answered in time."""
        try:
            async with asyncio.timeout(ANSWER_TIMEOUT_S):
                r = await self.client.request(method, path, json=body, headers=DISPATCHER)
                answer = await r.json() if r.content_type == "application/json" else {}
        except TimeoutError:
            pytest.fail(f"{method} {path}: no answer within {ANSWER_TIMEOUT_S} s (a hang)")
        assert r.status < 500 or r.status == 503, f"{method} {path}: {r.status} {answer}"
        return r.status, answer, r.headers

    async def write(self, what: str, method: str, path: str, body: Any, call_id: str | None,
                    unit_id: str | None) -> int:
        """Send one write; keep it when acknowledged, or the refusal when it is a 503."""
        status, answer, headers = await self.send(method, path, body)
        if status in (200, 201):
            if what == "MilestoneRecorded":
                self.milestones.append(answer["milestone"]["id"])
            else:
                self.writes.append((what, answer["id"] if what == "CallReceived" else call_id, unit_id))
        elif status == 503:
            self.refusals.append((what, status, headers.get("Retry-After"), answer.get("error", "")))
        else:
            raise AssertionError(f"{method} {path}: {status} {answer}")
        return status

    async def take_call(self) -> tuple[int, str | None]:
        status = await self.write("CallReceived", "POST", "/api/calls", CALL, None, None)
        return status, self.writes[-1][1] if status == 201 else None

    async def step(self, unit_id: str) -> int:
        """Move a unit one step on (accept, or the next status); return the answer's status."""
        _, unit, _ = await self.send("GET", f"/api/units/{unit_id}")
        call_id = unit["current_call"]
        if unit["status"] == "dispatched":
            return await self.write("AssignmentAccepted", "POST", f"/api/units/{unit_id}/accept", {}, call_id, unit_id)
        status = NEXT_STATUS[unit["status"]]
        return await self.write(status, "POST", f"/api/units/{unit_id}/status", {"status": status}, call_id, unit_id)

    async def milestone(self, call_id: str) -> int:
        return await self.write("MilestoneRecorded", "POST", f"/api/calls/{call_id}/milestones",
                                {"kind": "ecg_transmitted"}, call_id, None)

    async def fix(self, unit_id: str, lon: float, lat: float) -> int:
        """Send one GPS fix (a second after the last one, where the unit stands); return the answer's status."""
        self._fix_at += timedelta(seconds=1)
        status, answer, headers = await self.send("POST", f"/api/units/{unit_id}/positions",
                                                  {"lon": lon, "lat": lat, "timestamp": self._fix_at.isoformat(),
                                                   "accuracy_m": 5.0})
        if status == 200:
            assert answer == {"accepted": 1, "rejected": []}
            self.fixes[unit_id] += 1
        else:
            assert status == 503 and answer["error"] == "backlog" and headers.get("Retry-After"), (status, answer)
        return status


async def units_of(driver: Driver) -> dict[str, tuple[float, float]]:
    _, answer, _ = await driver.send("GET", "/api/units")
    return {u["id"]: (u["station_location"]["lon"], u["station_location"]["lat"]) for u in answer["units"]}


async def cycle(driver: Driver, unit_id: str, at: tuple[float, float]) -> bool:
    """Take one call and drive it with ``unit_id`` to the hospital and back; False at the first write refused."""
    status, call_id = await driver.take_call()
    if status == 503:
        return False
    if await driver.write("UnitAssigned", "POST", f"/api/calls/{call_id}/assign",
                          {"unit_id": unit_id, "reason": "full-disk test"}, call_id, unit_id) == 503:
        return False
    for _ in range(5):  # accept, on_scene, transporting, at_hospital, available_at_station
        if await driver.step(unit_id) == 503:
            return False
        await driver.fix(unit_id, *at)  # 200, or 503 once the backlog waiting for a full disk is full
        if driver.writes[-1][0] == "on_scene" and await driver.milestone(call_id) == 503:
            return False
    return True


async def test_full_disk_answers_503_loses_nothing_and_recovers(small_disk: Path, aiohttp_client,
                                                                tmp_path: Path) -> None:
    # small_disk first: it is unmounted after the clients are closed
    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    config = make_config(tmp_path)
    config["service"]["data_dir"] = str(small_disk / "data")
    config["gps"]["max_backlog_rows"] = BACKLOG_ROWS
    client = await aiohttp_client(create_app(config))
    driver = Driver(client)
    units = await units_of(driver)
    unit_id, at = next(iter(units.items()))

    # Room for a few dozen commits, then calls until the disk is full.
    filler = small_disk / "filler"
    fill(filler, leave_bytes=HEADROOM_BYTES)
    cycles = 0
    while await cycle(driver, unit_id, at):
        cycles += 1
        assert cycles < MAX_CYCLES, f"the disk did not fill within {MAX_CYCLES} calls"
    assert cycles >= 3, "the headroom should have taken a few calls before the disk filled"
    assert driver.refusals[-1][1:] == (503, "1", "store_unavailable"), driver.refusals[-1]
    acknowledged_before = len(driver.writes)

    # Full (every byte taken): each kind of write is refused with 503 and Retry-After, never a 500.
    fill(filler)
    service = client.server.app[SERVICE]
    open_call = driver.writes[-1][1]
    refused_before = len(driver.refusals)
    answers = []
    for _ in range(TRIES_WHEN_FULL):
        answers += [(await driver.take_call())[0], await driver.step(unit_id), await driver.milestone(open_call)]
    # A write small enough for the room the WAL file already holds (frames of the refused commits)
    # still succeeds, durably (checked after the restart); once that is used, every write is refused.
    assert answers.count(503) > len(answers) // 2 and answers[-6:] == [503] * 6, answers
    refusals = driver.refusals[refused_before:]
    assert {(what, status, error) for what, status, _, error in refusals} <= {
        (what, 503, "store_unavailable") for what in ("CallReceived", "AssignmentAccepted", "MilestoneRecorded",
                                                      *NEXT_STATUS.values())}
    assert all(retry and int(retry) >= 1 for _, _, retry, _ in refusals), refusals
    status, ready, _ = await driver.send("GET", "/api/health/ready")
    assert status == 503 and not ready["checks"]["store"]["ok"], ready
    # GPS: taken into the backlog while it has room, then 503 with Retry-After (the device resends)
    gps = [await driver.fix(u, *where) for _ in range(BACKLOG_ROWS // len(units) + 2) for u, where in units.items()]
    assert gps[-1] == 503, gps

    # Space freed: the next write succeeds, the waiting fixes are written.
    freed = time.monotonic()
    filler.unlink()
    while (await driver.take_call())[0] != 201:
        assert time.monotonic() - freed < 30, "writes did not succeed again within 30 s of freeing the disk"
        await asyncio.sleep(0.02)
    first_write_s = time.monotonic() - freed
    while len(await service.store.position_history()) < sum(driver.fixes.values()):
        assert time.monotonic() - freed < 30, "the GPS backlog was not written within 30 s of freeing the disk"
        await asyncio.sleep(0.02)
    backlog_s = time.monotonic() - freed
    assert await cycle(driver, unit_id, at)
    assert (await driver.send("GET", "/api/health/ready"))[0] == 200
    seq = service.last_seq
    print(f"\nfull disk after {cycles} calls ({acknowledged_before} writes acknowledged); while full "
          f"{len(refusals)} of {len(answers)} writes refused with 503, the others durable; after freeing: "
          f"first call taken in {first_write_s * 1000:.0f} ms, GPS backlog ({sum(driver.fixes.values())} "
          f"fixes in all) written in {backlog_s * 1000:.0f} ms")

    # A restart on the same data directory holds everything acknowledged.
    await client.close()
    restarted = await aiohttp_client(create_app(config))
    assert restarted.server.app[SERVICE].last_seq == seq
    _, listed, _ = await Driver(restarted).send("GET", "/api/calls?status=all")
    await restarted.close()
    async with open_store(None, small_disk / "data") as store:
        events = [(e.seq, e.event) for e in await store.read_events()]
        history = Counter(row.unit_id for row in await store.position_history())
    _, _, written, _ = replay(events)
    missing = Counter(driver.writes) - written
    assert not missing, f"acknowledged but not in the log after the restart: {sorted(missing)}"
    recorded = {e["milestone"]["id"] for _, e in events if e["type"] == "MilestoneRecorded"}
    assert set(driver.milestones) <= recorded
    assert {c["id"] for c in listed["calls"]} >= {c for what, c, _ in driver.writes if what == "CallReceived"}
    assert history == driver.fixes, "GPS fixes answered 200 should all be in the history, once"
