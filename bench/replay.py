"""Benchmark the dispatch service's start-up replay on a year of calls.

`DispatchService.start()` rebuilds the whole state by replaying every event in the store (the
dispatch fold plus the side folds, such as the centers' milestones); closed calls stay in memory.
This bench writes a log of ``--calls`` calls (29,200 by default: Ningxiang's ~80 calls a day for a
year) through the real service, then times the replay in fresh processes:

- (a) the baseline: reading every event from the store (``store.open()`` + ``iter_events``), no fold;
- (b) ``DispatchService.start()``: open, read, decode, the dispatch fold, the centers' side fold and
  the per-call event index.

It prints events, calls, seconds and events/s of each, the ratio (b)/(a) (medians of ``--repeat``
runs, alternated), and the memory the rebuilt service holds, per call: the RSS growth over
``start()`` in the timed runs, and in one more run under tracemalloc the bytes still allocated after
``start()``, split by what is freed when each part is dropped.

How the log is written
----------------------
On the tiny test county (copied to a temporary directory), with a synthetic fleet of ``--units``
units (32 by default, the Ningxiang 1+5+N layout's count) spread over the layout's stations, a
discrete-event driver on a fake clock calls the service's commands as the consoles and crews would:
``receive_call``, ``recommendations`` then ``assign`` about a minute later (a few overrides with a
reason), ``accept`` (a few ``decline``), ``set_status`` through ``on_scene``, ``transporting``,
``at_hospital``, ``returning`` and back to ``available_at_station`` (a share treated on scene), a
dispatcher's ``close_call`` at the hospital for a share, a few ``cancel`` and telephone-advice closes.
Calls waiting in the queue are offered by the service itself. The centers' part is wired as in
production (`dispatch.centers_http.prepare`: the patients' fold and the milestone stamper), so chest pain
and stroke calls get the milestones that dispatch events stamp; crews record a first ECG and a suspected
STEMI or stroke for a share of them (`CentersService.record`, as ``POST /api/calls/{id}/milestones`` does), which
chooses the destination and pre-notifies it, and the center acknowledges. Arrivals are Poisson at
``--calls-per-day``; the complaint mix, the shares and the durations below are assumptions of this
bench (plausible for a rural county, not measured), chosen so that every event kind appears.

The fake clock removes the waiting; what is left is the service's own cost per command, and the
durable append. Writing a year takes about 6.5 minutes on a 2-core machine (13 ms a call, the same
in the first and the last tenth: the bench prints both, so a command that grew costlier with the
calls held would show; before the state's copy-on-write used ``dict.copy()`` it grew from 18 to 72 ms). ``--keep DIR``
keeps the written SQLite store and ``--log DIR`` replays it again without writing. With SQLite the
store is written on tmpfs (``/dev/shm``), where fsync costs nothing (the store has no
setting to relax ``synchronous=FULL``, and it is not changed), then copied to a temporary directory
on disk and replayed there with the page cache warm (a cold start after a reboot reads the file from
disk first: not measured). With ``--db postgresql://...`` the log goes to a fresh schema of that
database (dropped at the end), written with ``synchronous_commit=off`` (a session setting carried in
the URL; the replay runs use the server's default).

Usage: .venv/bin/python bench/replay.py [--calls 29200] [--units 32] [--repeat 3] [--seed 1]
       [--db postgresql://postgres@127.0.0.1:5432/test] [--keep DIR] [--log DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import itertools
import json
import math
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TINY = ROOT / "tests" / "fixtures" / "geodata" / "tiny"
#: Where calls come from: the tiny county's road grid (lon, lat bounds).
AREA = ((112.100, 112.140), (27.980, 28.020))
#: The first call of the log, in Ningxiang's time zone (UTC+8).
YEAR_START = datetime(2025, 1, 1, tzinfo=timezone(timedelta(hours=8)))
#: Where the SQLite log is written: tmpfs, so the per-append fsync costs nothing.
FAST_DIR = Path("/dev/shm")

# The bench's assumptions (not measured): complaint -> (share of calls, priorities to draw from).
COMPLAINTS = {
    "chest_pain": (0.08, (1, 1, 2)),
    "stroke": (0.07, (1, 1, 2)),
    "trauma": (0.25, (1, 2, 2, 3, 3)),
    "obstetric": (0.04, (1, 2, 3)),
    "pediatric": (0.08, (2, 3, 3)),
    "other": (0.48, (2, 3, 3, 4, 4)),
}
# Minutes (median) of each step; each drawn lognormal (sigma 0.35: a geometric spread of about 1.4).
DISPATCH_MIN, TURNOUT_MIN, TRAVEL_MIN, SCENE_MIN = 1.0, 1.0, 9.0, 15.0
TRANSPORT_MIN, HANDOVER_MIN, RETURN_MIN, ECG_MIN, ACK_MIN = 12.0, 15.0, 12.0, 4.0, 2.0
# Shares of calls or units (each an assumption of the bench).
TRANSPORTED, DISPATCHER_CLOSES, OVERRIDDEN, DECLINED, CANCELLED, ADVICE_P4 = 0.75, 0.4, 0.02, 0.01, 0.03, 0.10
STEMI_SUSPECTED, STROKE_SUSPECTED = 0.3, 0.6


# -- writing the log ----------------------------------------------------------------------------

class FakeClock:
    """The service's clock: the time of the step being played."""

    def __init__(self, start: datetime) -> None:
        self.now = start.astimezone(timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Driver:
    """Plays calls through the service on a fake clock: a heap of (time, step) and the units' watcher."""

    service: Any
    centers: Any
    clock: FakeClock
    rng: random.Random
    calls: int
    calls_per_day: float
    heap: list[tuple[datetime, int, Callable[..., Awaitable[None]], tuple[Any, ...]]] = field(default_factory=list)
    seen: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    received: int = 0
    progress: Any = None
    wall_per_decile: list[float] = field(default_factory=list)
    _order: itertools.count = field(default_factory=itertools.count)

    def later(self, minutes: float, step: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Schedule ``step(*args)`` about ``minutes`` from now (lognormal, median ``minutes``)."""
        delay_min = minutes * math.exp(self.rng.gauss(0.0, 0.35))
        heapq.heappush(self.heap, (self.clock.now + timedelta(minutes=delay_min), next(self._order), step, args))

    async def run(self) -> None:
        """Play every call and every step they lead to, in time order."""
        heapq.heappush(self.heap, (self.clock.now, next(self._order), self.arrive, ()))
        t0 = time.perf_counter()
        while self.heap:
            at, _, step, args = heapq.heappop(self.heap)
            self.clock.now = at
            await step(*args)
            await self.settle()
            self.watch_units()
            if step == self.arrive and self.received % max(1, self.calls // 10) == 0:
                self.wall_per_decile.append(time.perf_counter() - t0)
                t0 = time.perf_counter()

    async def settle(self) -> None:
        """Wait for the pre-notifications the last events caused (the centers' service sends them as tasks)."""
        await self.centers.drain()

    # -- calls -----------------------------------------------------------------------------------

    async def arrive(self) -> None:
        """A 120 call: recorded now, looked at by the dispatcher a minute later; the next one scheduled."""
        self.received += 1
        complaint = self.rng.choices(list(COMPLAINTS), weights=[w for w, _ in COMPLAINTS.values()])[0]
        priority = self.rng.choice(COMPLAINTS[complaint][1])
        location = (round(self.rng.uniform(*AREA[0]), 6), round(self.rng.uniform(*AREA[1]), 6))
        onset = self.clock.now - timedelta(minutes=self.rng.uniform(5, 120)) if complaint != "trauma" else None
        call, _ = await self.service.receive_call(
            location=location, complaint=complaint, priority=priority, by="dispatcher:bench",
            symptom_onset=onset, caller_phone=f"139{self.rng.randrange(10**8):08d}", notes="bench call")
        self.later(DISPATCH_MIN, self.decide, call.id)
        if self.progress is not None:
            self.progress.update(1)
        if self.received < self.calls:
            gap_min = self.rng.expovariate(self.calls_per_day / 1440.0)
            heapq.heappush(self.heap, (self.clock.now + timedelta(minutes=gap_min), next(self._order),
                                       self.arrive, ()))

    async def decide(self, call_id: str) -> None:
        """The dispatcher sends the recommended unit (sometimes another, with a reason) or gives advice."""
        call = self.service.state.calls[call_id]
        if str(call.status) != "queued":
            return  # the service offered it to a unit that freed up meanwhile
        if call.priority == 4 and self.rng.random() < ADVICE_P4:
            await self.service.close_call(call_id, by="dispatcher:bench", reason="telephone advice")
            return
        ranking = await self.service.recommendations(call_id)
        if ranking.best is None:
            return  # it waits in the queue; the service offers it when a unit is free
        if len(ranking) > 1 and self.rng.random() < OVERRIDDEN:
            await self.service.assign(call_id, ranking[1].unit_id, by="dispatcher:bench",
                                      reason="crew knows the village road")
        else:
            await self.service.assign(call_id, ranking.best.unit_id, by="dispatcher:bench")
        if self.rng.random() < CANCELLED:
            self.later(2.0, self.cancel, call_id)

    async def cancel(self, call_id: str) -> None:
        """The caller found other transport: cancel, if no unit has reached the patient yet."""
        call = self.service.state.calls[call_id]
        current = self.service.state.current_assignment(call_id)
        unit = self.service.state.units[current.unit_id] if current else None
        if str(call.status) == "queued" or (unit is not None and str(unit.status) in ("dispatched", "en_route")):
            await self.service.cancel(call_id, "caller found other transport", by="dispatcher:bench")

    async def close(self, call_id: str, unit_id: str) -> None:
        """The dispatcher closes the call once the patient is handed over at the hospital."""
        unit = self.service.state.units[unit_id]
        if unit.current_call == call_id and str(unit.status) == "at_hospital" \
                and str(self.service.state.calls[call_id].status) == "assigned":
            await self.service.close_call(call_id, by="dispatcher:bench")

    # -- units -----------------------------------------------------------------------------------

    def watch_units(self) -> None:
        """Schedule each unit's next report when its status or call changed (whoever changed it)."""
        for unit in self.service.state.units.values():
            now = (str(unit.status), unit.current_call)
            if self.seen.get(unit.id) == now:
                continue
            self.seen[unit.id] = now
            status, call_id = now
            minutes = {"dispatched": TURNOUT_MIN, "en_route": TRAVEL_MIN, "on_scene": SCENE_MIN,
                       "transporting": TRANSPORT_MIN, "at_hospital": HANDOVER_MIN, "returning": RETURN_MIN,
                       "available_mobile": RETURN_MIN}.get(status)
            if minutes is not None:
                self.later(minutes, self.report, unit.id, now)
            if status == "at_hospital" and self.rng.random() < DISPATCHER_CLOSES:
                self.later(HANDOVER_MIN / 2, self.close, call_id, unit.id)
            if status == "on_scene" and str(self.service.state.calls[call_id].complaint) in ("chest_pain", "stroke"):
                self.later(ECG_MIN, self.assess, call_id, unit.id)

    async def report(self, unit_id: str, expected: tuple[str, str | None]) -> None:
        """The crew presses its next status button (if nothing changed the unit since it was scheduled)."""
        unit = self.service.state.units[unit_id]
        if (str(unit.status), unit.current_call) != expected:
            return
        by = f"crew:{unit_id}"
        status = expected[0]
        if status == "dispatched":
            if self.rng.random() < DECLINED:
                await self.service.decline(unit_id, "vehicle check failed", by=by)
            else:
                await self.service.accept(unit_id, by=by)
            return
        following = {"en_route": "on_scene",
                     "on_scene": "transporting" if self.rng.random() < TRANSPORTED else "available_mobile",
                     "transporting": "at_hospital", "at_hospital": "returning",
                     "returning": "available_at_station", "available_mobile": "returning"}[status]
        await self.service.set_status(unit_id, following, by=by)

    async def assess(self, call_id: str, unit_id: str) -> None:
        """The crew's first ECG and, for a share, a suspected STEMI or stroke (which pre-notifies)."""
        from centers.milestones import MilestoneKind, Recorder, RecorderRole
        from dispatch.centers_service import milestone_event

        crew = Recorder(RecorderRole.CREW, unit_id)
        now = self.clock.now
        complaint = str(self.service.state.calls[call_id].complaint)
        if complaint == "chest_pain":
            events = [milestone_event(call_id, MilestoneKind.FIRST_ECG, now, crew, now)]
            if self.rng.random() < STEMI_SUSPECTED:
                events.append(milestone_event(call_id, MilestoneKind.STEMI_SUSPECTED, now, crew, now))
        elif self.rng.random() < STROKE_SUSPECTED:
            events = [milestone_event(call_id, MilestoneKind.STROKE_SUSPECTED, now, crew, now)]
        else:
            return
        for event in events:
            await self.centers.record([event])
        if self.centers.patients.patient(call_id).destination is not None:
            self.later(ACK_MIN, self.acknowledge, call_id)

    async def acknowledge(self, call_id: str) -> None:
        """The destination center acknowledges the pre-notification."""
        from centers.milestones import MilestoneKind, Recorder, RecorderRole
        from dispatch.centers_service import milestone_event

        hospital_id = self.centers.patients.patient(call_id).destination["hospital_id"]
        now = self.clock.now
        await self.centers.record([milestone_event(call_id, MilestoneKind.CENTER_ACKNOWLEDGED, now,
                                                Recorder(RecorderRole.CENTER_STAFF, f"{hospital_id}-desk"), now,
                                                hospital_id=hospital_id)])


def fleet(layout: Any, units: int) -> list[Any]:
    """Return ``units`` units spread over the layout's stations, capability by station kind."""
    from dispatch.model import Capability
    from dispatch.service import CAPABILITY_BY_KIND, UnitSpec

    stations = [ls.station for ls in layout.stations]
    specs = []
    for i in range(units):
        s = stations[i % len(stations)]
        specs.append(UnitSpec(f"{s.id}-{i // len(stations) + 1}", s.id, (s.lon, s.lat),
                              Capability(CAPABILITY_BY_KIND.get(str(s.kind), "als"))))
    return specs


async def write_log(url: str, data_dir: Path, county_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Write ``args.calls`` calls through the service into the store at ``url``; return the driver's figures."""
    from tqdm import tqdm

    from centers.destination import DestinationConfig
    from dispatch.centers_service import CentersService, milestone_stamper
    from dispatch.patients import PatientsFold
    from dispatch.service import DispatchService
    from dispatch.store import open_store
    from ems.config import load_config
    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network

    config = load_config(environ={})
    config["county"] = {"name": str(county_dir)}
    county = load_county(str(county_dir))
    router = Router(load_network(county), config=config, boundary=None)
    clock = FakeClock(YEAR_START)
    # the centers' extension as `dispatch.app.create_app` wires it: its fold and stamper, then its service
    patients = PatientsFold()
    service = DispatchService(open_store(url, data_dir), router,
                              fleet(county.resolve_layout("1+5+N"), args.units), config, clock=clock,
                              side_folds=[patients], reactions=[milestone_stamper(patients)])
    await service.start()
    centers = CentersService(service, patients, county, router, DestinationConfig.from_mapping(None))
    centers.start()
    driver = Driver(service, centers, clock, random.Random(args.seed), args.calls, args.calls_per_day)
    try:
        with tqdm(total=args.calls, unit="call", desc="writing the log", smoothing=0.05) as driver.progress:
            await driver.run()
    finally:
        await centers.close()
        await service.close()
    return {"simulated_days": (clock.now - YEAR_START).total_seconds() / 86400,
            "s_per_call_by_decile": [t / max(1, args.calls // 10) for t in driver.wall_per_decile]}


# -- measuring, in a fresh process --------------------------------------------------------------

def rss_bytes() -> int:
    """Return this process's resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def measure(what: str, url: str, data_dir: Path, traced: bool) -> dict[str, Any]:
    """Time (a) reading the log or (b) ``DispatchService.start()``; under tracemalloc, what it keeps."""
    import tracemalloc

    from dispatch.patients import PatientsFold
    from dispatch.service import DispatchService
    from dispatch.store import open_store
    from ems.config import load_config

    config = load_config(environ={})
    store = open_store(url, data_dir)
    # no fleet: the log registered it, and a replay run must not write
    patients = PatientsFold()
    service = DispatchService(store, None, (), config, side_folds=[patients])
    gc.collect()
    if traced:
        tracemalloc.start()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    types: Counter[str] = Counter()
    if what == "read":
        await store.open()
        async for item in store.iter_events():
            types[item.event.get("type")] += 1
        seconds = time.perf_counter() - t0
        out: dict[str, Any] = {"events": sum(types.values()), "types": dict(types)}
    else:
        await service.start()
        seconds = time.perf_counter() - t0
        out = {"events": service.last_seq, "calls": len(service.state.calls), "units": len(service.state.units),
               "patients": len(patients.patients)}
    gc.collect()
    out.update(seconds=seconds, rss_delta=rss_bytes() - rss0)
    if traced:
        kept, peak = tracemalloc.get_traced_memory()
        out.update(kept=kept, peak=peak)
        # what each part holds: the bytes freed when it is dropped, in this order
        service.history.clear()
        service._seq_call.clear()
        out["kept_index"] = kept - _traced()
        patients.patients.clear()
        patients.attachment_owner.clear()
        out["kept_patients"] = kept - out["kept_index"] - _traced()
        service.state = None
        out["kept_state"] = kept - out["kept_index"] - out["kept_patients"] - _traced()
        tracemalloc.stop()
    await store.close()
    return out


def _traced() -> int:
    import tracemalloc

    gc.collect()
    return tracemalloc.get_traced_memory()[0]


def run_child(what: str, url: str, data_dir: Path, traced: bool = False) -> dict[str, Any]:
    """Run `measure` in a fresh interpreter and return its figures."""
    command = [sys.executable, __file__, "measure", what, "--url", url, "--data-dir", str(data_dir)]
    if traced:
        command.append("--traced")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the {what} run failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- PostgreSQL: a schema of its own ------------------------------------------------------------

def with_query(url: str, **settings: str) -> str:
    """Return ``url`` with ``settings`` added to its query (server settings for the store)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(settings)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def pg_execute(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


# -- the run ------------------------------------------------------------------------------------

def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def write_sqlite(args: argparse.Namespace, work: Path, county_dir: Path) -> str:
    """Write the log on tmpfs, copy it into ``work`` (and ``--keep``); return its URL there."""
    fast = Path(tempfile.mkdtemp(prefix="ems-replay-", dir=FAST_DIR if FAST_DIR.is_dir() else None))
    try:
        print(f"SQLite written on tmpfs ({fast.parent}: fsync free; the store's synchronous=FULL is unchanged, "
              f"it has no setting for it), then copied to {work} on disk", flush=True)
        write(args, f"sqlite:///{fast / 'ems.sqlite3'}", work, county_dir)
        for f in fast.glob("ems.sqlite3*"):
            shutil.copy2(f, work / f.name)
    finally:
        shutil.rmtree(fast, ignore_errors=True)
    print(f"SQLite file {mb((work / 'ems.sqlite3').stat().st_size)}", flush=True)
    if args.keep:
        Path(args.keep).mkdir(parents=True, exist_ok=True)
        shutil.copy2(work / "ems.sqlite3", Path(args.keep) / "ems.sqlite3")
    return f"sqlite:///{work / 'ems.sqlite3'}"


def write(args: argparse.Namespace, url: str, data_dir: Path, county_dir: Path) -> None:
    """Write the log through the service and print what it cost."""
    t0 = time.perf_counter()
    written = asyncio.run(write_log(url, data_dir, county_dir, args))
    deciles = written["s_per_call_by_decile"]
    print(f"written in {time.perf_counter() - t0:.0f} s ({written['simulated_days']:.0f} simulated days); wall "
          f"time per call {deciles[0] * 1e3:.1f} ms in the first tenth of the calls, {deciles[-1] * 1e3:.1f} ms in "
          "the last (equal unless a command's cost grows with the calls held)", flush=True)


def replay(args: argparse.Namespace, url: str, data_dir: Path, store_name: str) -> None:
    """Time (a) and (b) in fresh processes, alternated, and print the figures."""
    print(f"replaying from {store_name}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    reads, starts = [], []
    for _ in range(args.repeat):
        reads.append(run_child("read", url, data_dir))
        starts.append(run_child("start", url, data_dir))
    traced = run_child("start", url, data_dir, traced=True)
    a = statistics.median(r["seconds"] for r in reads)
    b = statistics.median(r["seconds"] for r in starts)
    events, calls = starts[0]["events"], starts[0]["calls"]
    types = reads[0]["types"]
    centers = sum(n for t, n in types.items() if t in ("MilestoneRecorded", "DestinationChosen", "EcgAttached"))
    print(f"log: {events:,} events ({events / max(1, calls):.1f} per call; {centers:,} of them the centers'), "
          f"{calls:,} calls, {starts[0]['units']} units, {starts[0]['patients']:,} chest pain/stroke patients; "
          "by type: " + ", ".join(f"{t} {n:,}" for t, n in sorted(types.items(), key=lambda x: -x[1])))
    print(f"replay, medians of {args.repeat} runs each in a fresh process:")
    print(f"  (a) baseline: open + iter_events, no fold  {a:7.2f} s  {events / a:9,.0f} events/s  1.00x")
    print(f"  (b) DispatchService.start()                {b:7.2f} s  {events / b:9,.0f} events/s  "
          f"{b / a:.2f}x   ({b / max(1, calls) * 1e6:.0f} us per call)")
    runs_a = ", ".join(f"{r['seconds']:.2f}" for r in reads)
    runs_b = ", ".join(f"{r['seconds']:.2f}" for r in starts)
    print(f"  runs: (a) {runs_a} s; (b) {runs_b} s")
    rss = statistics.median(r["rss_delta"] for r in starts)
    per_call = max(1, calls) * 1e3
    print(f"memory after start(): RSS +{mb(rss)} ({rss / per_call:.1f} kB per call); under tracemalloc "
          f"{mb(traced['kept'])} kept ({traced['kept'] / per_call:.1f} kB per call), peak {mb(traced['peak'])}: "
          f"the per-call event index (history) {mb(traced['kept_index'])}, the patients' fold "
          f"{mb(traced['kept_patients'])}, the dispatch state {mb(traced['kept_state'])}")


def main(argv: list[str] | None = None) -> int:
    """Write the log (or take one kept earlier), replay it in fresh processes and print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", nargs="?", default="run", choices=["run", "measure"])
    p.add_argument("what", nargs="?", choices=["read", "start"], help="(measure) which replay to time")
    p.add_argument("--calls", type=int, default=29_200, help="calls in the log (default 29,200: a year)")
    p.add_argument("--calls-per-day", type=float, default=80.0, help="arrival rate (default 80)")
    p.add_argument("--units", type=int, default=32, help="fleet size (default 32)")
    p.add_argument("--repeat", type=int, default=3, help="timed runs of each replay (default 3)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--db", default="", help="postgresql://... (a schema of its own, dropped after); "
                                            "default: SQLite in a temporary directory")
    p.add_argument("--keep", help="(SQLite) also copy the written store to this directory")
    p.add_argument("--log", help="(SQLite) replay the store kept in this directory instead of writing one")
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.mode == "measure":
        print(json.dumps(asyncio.run(measure(args.what, args.url, Path(args.data_dir), args.traced))))
        return 0
    for name in ("calls", "units", "repeat"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.db and not args.db.startswith(("postgresql://", "postgres://")):
        p.error(f"--db must be a postgresql:// URL (SQLite is the default), got {args.db!r}")
    if args.db and (args.keep or args.log):
        p.error("--keep and --log are for SQLite; with --db the schema is dropped at the end")
    if args.log:
        log_file = Path(args.log) / "ems.sqlite3"
        if not log_file.is_file():
            p.error(f"--log: no store {log_file} (write one with --keep {args.log})")
        replay(args, f"sqlite:///{log_file}", Path(args.log), f"the kept SQLite store {log_file}, page cache warm")
        return 0

    import warnings

    warnings.simplefilter("ignore")
    work = Path(tempfile.mkdtemp(prefix="ems-replay-"))
    county_dir = Path(shutil.copytree(TINY, work / "county", ignore=shutil.ignore_patterns(".ems-cache")))
    print(f"{args.calls:,} calls at {args.calls_per_day:g}/day, {args.units} units, tiny county; "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
    schema = f"ems_replay_{secrets.token_hex(4)}"
    try:
        if args.db:
            asyncio.run(pg_execute(args.db, f'CREATE SCHEMA "{schema}"'))
            url = with_query(args.db, search_path=schema)
            print(f"PostgreSQL schema {schema}, written with synchronous_commit=off (a session setting in the URL)",
                  flush=True)
            write(args, with_query(url, synchronous_commit="off"), work, county_dir)
            replay(args, url, work, f"PostgreSQL schema {schema} (the server's default settings)")
        else:
            url = write_sqlite(args, work, county_dir)
            replay(args, url, work, f"SQLite on disk ({work}), page cache warm")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.db:
            asyncio.run(pg_execute(args.db, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    return 0


if __name__ == "__main__":
    sys.exit(main())
