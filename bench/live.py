"""Benchmark the live part of the dispatch service: GPS intake rate, POST-to-console latency, a soak.

The service runs in its own process (``serve``, SQLite in a temporary directory, a synthetic fleet of
``--units`` units spread over the layout's stations). Everything else runs beside it on this machine:

- ``throughput``: fixes accepted per second over HTTP: OsmAnd ``GET /osmand`` one fix per request
  (what Traccar Client does), and JSON batches of 50. Goal >= 5,000 fixes/s. The load comes from
  ``wrk`` (C, with a Lua script that varies unit ids and timestamps) when it is installed
  (``apt-get install -y wrk``), else from a Python aiohttp client, which on a small machine takes
  much of the CPU the service would use (``--load python`` forces it). Reported with the service
  process's CPU seconds, so a run limited by the load generator shows as such. The baseline, measured
  in the same run under the same wrk load: a bare aiohttp application answering ``GET /osmand`` 200
  without reading it (``serve-bare``); the service's rate is printed as a ratio of it.
- ``latency``: 100 dispatcher consoles on ``/ws`` (`Console`: light asyncio websocket readers
  with no library, all in ONE second process) while 500 OsmAnd fixes/s arrive. With wrk the
  fixes are paced by its Lua script and each is stamped, as its timestamp, with the wall-clock
  millisecond it is sent; with the Python poster (in this process) the send time is noted just
  before each request. p50/p99 from send to receipt over every (fix, console) delivery.
  Goal p99 <= 100 ms.
- ``soak`` (by hand, not in CI): 500 units at 1 Hz plus 1 call/s (each assigned, then closed) for
  ``--minutes`` (10); reports events lost at the consoles (goal 0), consoles that saw events out of
  order, and the service's memory (RSS) at start and end.

Usage: .venv/bin/python bench/live.py [throughput|latency|soak|all] [--seconds 10] [--load auto|wrk|python]
       [--intake both|osmand|json50] [--consoles 100] [--minutes 10] [--soak-consoles 20]
       [--profile FILE] (cProfile of the service process, written when it stops)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing as mp
import os
import random
import resource
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TINY = ROOT / "tests" / "fixtures" / "geodata" / "tiny"
#: Where the synthetic fleet drives (the tiny county's road grid).
BASE = (112.121, 28.001)


# -- the service process ------------------------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    """Run the service with a synthetic fleet (the ``serve`` sub-command, started by the others)."""
    import logging
    import warnings

    from aiohttp import web

    from dispatch.app import create_app
    from dispatch.service import UnitSpec
    from ems.config import load_config

    warnings.simplefilter("ignore")
    logging.basicConfig(level=logging.WARNING)
    data = Path(args.data_dir)
    config = load_config(environ={})
    config["county"] = {"name": args.county}
    (data / "tokens.toml").write_text(f'[[token]]\nvalue = "{args.token}"\nrole = "dispatcher"\nname = "bench"\n')
    config["service"].update({"data_dir": str(data), "token_file": str(data / "tokens.toml"), "db": "",
                              "allow_outside": True})
    config["live"]["ws_ping_interval_s"] = 15.0

    def fleet(layout: Any) -> list[UnitSpec]:
        stations = [(ls.station.id, (ls.station.lon, ls.station.lat)) for ls in layout.stations]
        return [UnitSpec(f"u{i:04d}", stations[i % len(stations)][0], stations[i % len(stations)][1], "als")
                for i in range(args.units)]

    app = create_app(config, fleet=fleet)

    async def ready(app: web.Application) -> None:
        print("ready", flush=True)

    app.on_startup.append(ready)
    profile = None
    if args.profile:
        import cProfile

        profile = cProfile.Profile()
        profile.enable()
    try:
        web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)
    finally:
        if profile is not None:
            profile.disable()
            profile.dump_stats(args.profile)


def serve_bare(args: argparse.Namespace) -> None:
    """Run the baseline: a bare aiohttp application answering ``/osmand`` 200 without looking at it."""
    import logging

    from aiohttp import web

    logging.basicConfig(level=logging.WARNING)

    async def ok(request: web.Request) -> web.Response:
        return web.Response()

    async def ready(app: web.Application) -> None:
        print("ready", flush=True)

    app = web.Application()
    app.router.add_get("/osmand", ok)
    app.on_startup.append(ready)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


def process_cpu_s(pid: int, which: str = "both") -> float:
    """Return the CPU seconds a process has used: ``user``, ``system`` or ``both``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    user, system = int(fields[11]), int(fields[12])
    ticks = {"user": user, "system": system, "both": user + system}[which]
    return ticks / os.sysconf("SC_CLK_TCK")


class Server:
    """The service in a child process (``bare``: the baseline, `serve_bare`, instead)."""

    def __init__(self, units: int, county: str, profile: str | None = None, bare: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ems-bench-"))
        if county == "tiny" and not bare:
            county = str(Path(shutil.copytree(TINY, self.dir / "county",
                                              ignore=shutil.ignore_patterns(".ems-cache"))))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = secrets.token_urlsafe(16)
        self.units = [f"u{i:04d}" for i in range(units)]
        command = [sys.executable, __file__, "serve", "--port", str(self.port), "--data-dir", str(self.dir),
                   "--units", str(units), "--county", county, "--token", self.token]
        if bare:
            command = [sys.executable, __file__, "serve-bare", "--port", str(self.port)]
        if profile:
            command += ["--profile", str(Path(profile).resolve())]
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"the service did not start: {line!r}")
        self.url = f"http://127.0.0.1:{self.port}"
        # "ready" is printed on start-up, just before the site listens
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1.0).close()
                break
            except OSError:
                time.sleep(0.05)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self, which: str = "both") -> float:
        return process_cpu_s(self.proc.pid, which)

    def metric_sum(self, prefix: str) -> float:
        """Return the sum of every series of a metric (e.g. ``ems_gps_fixes_accepted_total{``)."""
        with urllib.request.urlopen(f"{self.url}/metrics") as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)
        shutil.rmtree(self.dir, ignore_errors=True)


class Track:
    """Plausible fixes for one unit: a slow drift, starting ``start`` (whole seconds)."""

    def __init__(self, unit: str, base: tuple[float, float], start: datetime) -> None:
        self.unit, self.lon, self.lat = unit, base[0] + random.uniform(-0.01, 0.01), \
            base[1] + random.uniform(-0.01, 0.01)
        self.at = start.replace(microsecond=0)  # whole milliseconds: the OsmAnd timestamp carries no more

    def next(self, step_s: float = 0.01) -> tuple[float, float, datetime]:
        self.at += timedelta(seconds=step_s)
        self.lon += 1e-7
        self.lat += 1e-7
        return self.lon, self.lat, self.at


# -- throughput: wrk ----------------------------------------------------------------------------

#: wrk's Lua script: each thread takes every n-th unit in turn, each request advances the unit's
#: clock by 10 ms (1 cm of drift), so every fix passes the filters. A unit comes round again only
#: after all the thread's other units, long after its previous request was answered.
WRK_SCRIPT = r"""
local tid, counter = 0, 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  n_units, start_ms, n_threads, mode, token = tonumber(args[1]), tonumber(args[2]), tonumber(args[3]), args[4], args[5]
  mine = {}
  for i = tid, n_units - 1, n_threads do mine[#mine + 1] = i end
  k = 0
end
local function fix(i, round)
  return 112.111 + (i % 50) * 4e-4 + round * 1e-7, 27.991 + math.floor(i / 50) * 4e-4 + round * 1e-7
end
function request()
  local i = mine[(k % #mine) + 1]
  local round = math.floor(k / #mine)
  k = k + 1
  if mode == "osmand" then
    local lon, lat = fix(i, round)
    return wrk.format("GET", string.format(
      "/osmand?id=u%04d&lat=%.7f&lon=%.7f&timestamp=%d&speed=20&bearing=90&accuracy=8&batt=80",
      i, lat, lon, start_ms + round * 10))
  end
  local parts = {}
  for j = 0, 49 do
    local r = round * 50 + j
    local lon, lat = fix(i, r)
    parts[#parts + 1] = string.format(
      '{"lon":%.7f,"lat":%.7f,"timestamp":%.3f,"speed_mps":10.0,"accuracy_m":8.0}',
      lon, lat, (start_ms + r * 10) / 1000)
  end
  return wrk.format("POST", string.format("/api/units/u%04d/positions", i),
                    {["Authorization"] = "Bearer " .. token, ["Content-Type"] = "application/json"},
                    "[" .. table.concat(parts, ",") .. "]")
end
function done(summary, latency, requests)
  io.write(string.format("WRK {\"requests\": %d, \"duration_us\": %d, \"status_errors\": %d, " ..
    "\"socket_errors\": %d, \"p50_us\": %d, \"p99_us\": %d}\n", summary.requests, summary.duration,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


#: wrk's Lua script for the latency run: OsmAnd GETs paced at ``rate`` a second (each thread
#: reserves the next slot of its share when a connection is free), every fix stamped with the wall
#: clock in milliseconds as its request is built, i.e. when it is sent (LuaJIT's ffi reads the
#: clock; a unit's stamps are kept strictly increasing). A console's latency is then its receipt
#: time minus the fix's own timestamp.
WRK_LATENCY_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } ems_timeval;
int gettimeofday(ems_timeval *tv, void *tz);
]]
local tv = ffi.new("ems_timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + math.floor(tonumber(tv.tv_usec) / 1000)
end
local tid, counter = 0, 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
end
function init(args)
  n_units, n_threads, rate = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  mine = {}
  for i = tid, n_units - 1, n_threads do mine[#mine + 1] = i end
  interval_ms = n_threads / rate * 1000
  next_due = now_ms()
  last_at = {}
  k = 0
end
function delay()
  local wait = next_due - now_ms()
  next_due = next_due + interval_ms
  if wait < 0 then return 0 end
  return math.floor(wait)
end
function request()
  local i = mine[(k % #mine) + 1]
  local round = math.floor(k / #mine)
  k = k + 1
  local at = now_ms()
  if last_at[i] ~= nil and at <= last_at[i] then at = last_at[i] + 1 end
  last_at[i] = at
  return wrk.format("GET", string.format("/osmand?id=u%04d&lat=%.7f&lon=%.7f&timestamp=%d&speed=20",
    i, 27.991 + math.floor(i / 50) * 4e-4 + round * 1e-7, 112.111 + (i % 50) * 4e-4 + round * 1e-7, at))
end
""" + WRK_SCRIPT[WRK_SCRIPT.index("function done"):]


def run_wrk(server: Server, args: list[str], seconds: float, threads: int, connections: int,
            script: str = WRK_SCRIPT) -> dict[str, float]:
    """Run wrk with a Lua script against the service for ``seconds``; return its summary."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "-s", f.name,
                   server.url, "--", *args]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    line = next(x for x in out.splitlines() if x.startswith("WRK "))
    return json.loads(line[4:])


async def python_load(server: Server, mode: str, seconds: float, start: datetime,
                      concurrency: int = 64) -> None:
    """Send fixes from an aiohttp client in this process for ``seconds`` (the fallback generator)."""
    import aiohttp

    tracks = [Track(u, BASE, start) for u in server.units]
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        stop = time.perf_counter() + seconds

        async def worker(mine: list[Track]) -> None:
            i = 0
            while time.perf_counter() < stop:
                t = mine[i % len(mine)]
                i += 1
                if mode == "osmand":
                    lon, lat, at = t.next()
                    async with session.get(f"{server.url}/osmand?id={t.unit}&lat={lat:.7f}&lon={lon:.7f}"
                                           f"&timestamp={int(at.timestamp() * 1000)}&speed=20&bearing=90"
                                           "&accuracy=8&batt=80") as r:
                        await r.read()
                else:
                    body = [{"lon": lon, "lat": lat, "timestamp": at.isoformat(), "speed_mps": 10.0,
                             "accuracy_m": 8.0} for lon, lat, at in (t.next() for _ in range(50))]
                    async with session.post(f"{server.url}/api/units/{t.unit}/positions",
                                            data=orjson.dumps(body), headers=headers) as r:
                        await r.read()

        await asyncio.gather(*(worker(tracks[k::concurrency]) for k in range(concurrency)))


def throughput(server: Server, seconds: float, load: str, threads: int = 1, connections: int = 32,
               modes: tuple[str, ...] = ("osmand", "json50")) -> dict[str, dict[str, float]]:
    """Measure fixes accepted per second for each intake mode; return per mode the figures."""
    out = {}
    # each mode starts half an hour after the previous one's clocks, all well in the past
    start = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    for mode in modes:
        start += timedelta(minutes=30)
        accepted0 = server.metric_sum("ems_gps_fixes_accepted_total{")
        rejected0 = server.metric_sum("ems_gps_fixes_rejected_total{")
        deferred0 = server.metric_sum("ems_gps_fixes_deferred_total{")
        dropped0 = server.metric_sum("ems_gps_rows_dropped_total ")
        written0 = server.metric_sum("ems_gps_rows_written_total ")
        cpu0, sys0, t0 = server.cpu_s(), server.cpu_s("system"), time.perf_counter()
        load0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        summary: dict[str, float] = {}
        if load == "wrk":
            summary = run_wrk(server, [str(len(server.units)), str(int(start.timestamp() * 1000)), str(threads),
                                       mode, server.token], seconds, threads, connections)
        else:
            asyncio.run(python_load(server, mode, seconds, start))
        elapsed = time.perf_counter() - t0
        cpu, system = server.cpu_s() - cpu0, server.cpu_s("system") - sys0
        load1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load_cpu = (load1.ru_utime + load1.ru_stime - load0.ru_utime - load0.ru_stime) if load == "wrk" else \
            float("nan")
        accepted = server.metric_sum("ems_gps_fixes_accepted_total{") - accepted0
        written = server.metric_sum("ems_gps_rows_written_total ") - written0
        out[mode] = {"stored_per_s": written / elapsed, "waiting": server.metric_sum("ems_gps_pending_rows "),
                     "fixes_per_s": accepted / elapsed, "rejected": server.metric_sum(
            "ems_gps_fixes_rejected_total{") - rejected0,
            "deferred": server.metric_sum("ems_gps_fixes_deferred_total{") - deferred0,
            "dropped": server.metric_sum("ems_gps_rows_dropped_total ") - dropped0, "server_cpu_s": cpu, "server_cores": cpu / elapsed,
            "server_system_s": system, "load_cpu_s": load_cpu,
            "elapsed_s": elapsed, "us_per_fix": cpu / accepted * 1e6 if accepted else float("nan"), **summary}
    return out


def baseline(seconds: float, threads: int, connections: int, units: int) -> dict[str, float]:
    """Measure the bare aiohttp baseline (`serve_bare`) under the OsmAnd wrk load."""
    bare = Server(units, "tiny", bare=True)
    try:
        start = datetime.now(timezone.utc) - timedelta(hours=3)
        cpu0, t0 = bare.cpu_s(), time.perf_counter()
        summary = run_wrk(bare, [str(units), str(int(start.timestamp() * 1000)), str(threads), "osmand", ""],
                          seconds, threads, connections)
        elapsed, cpu = time.perf_counter() - t0, bare.cpu_s() - cpu0
    finally:
        bare.stop()
    requests = summary["requests"]
    return {"per_s": requests / elapsed, "us_per_request": cpu / requests * 1e6 if requests else float("nan")}


# -- consoles (in their own process) --------------------------------------------------------------

class Console(asyncio.Protocol):
    """A light websocket reader: no library, the server's unmasked frames parsed as bytes arrive.

    ``sink(k, payload, received)`` gets every text message with the wall-clock time its bytes were
    read. A console never sends anything but its closing frame.
    """

    def __init__(self, k: int, path: str, host: str, sink, closes: list[str]) -> None:
        self.k, self.path, self.host, self.sink, self.closes = k, path, host, sink, closes
        self.buffer = bytearray()
        self.upgraded = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        key = base64.b64encode(os.urandom(16)).decode()
        self.transport.write(f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
                             f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                             "\r\n".encode())

    def data_received(self, data: bytes) -> None:
        received = time.time()
        buf = self.buffer
        buf += data
        if not self.upgraded.done():
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buf[:end]).split(b"\r\n", 1)[0]
            del buf[:end + 4]
            if b" 101 " not in status + b" ":
                self.upgraded.set_exception(ConnectionError(f"websocket refused: {status!r}"))
                return
            self.upgraded.set_result(None)
        pos, size = 0, len(buf)
        while size - pos >= 2:
            opcode, n, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, 2
            if n == 126:
                if size - pos < 4:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 4], "big"), 4
            elif n == 127:
                if size - pos < 10:
                    break
                n, head = int.from_bytes(buf[pos + 2:pos + 10], "big"), 10
            if size - pos < head + n:
                break
            payload = bytes(buf[pos + head:pos + head + n])
            pos += head + n
            if opcode == 1:
                self.sink(self.k, payload, received)
            elif opcode == 8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if code not in (1000, 1001):
                    self.closes.append(f"{code} {payload[2:].decode(errors='replace')}")
        del buf[:pos]

    def close(self) -> None:
        """Send a (masked) close frame with code 1000 and hang up."""
        if self.transport is not None and not self.transport.is_closing():
            mask = os.urandom(4)
            body = bytes(b ^ mask[i % 4] for i, b in enumerate((1000).to_bytes(2, "big")))
            self.transport.write(bytes((0x88, 0x80 | 2)) + mask + body)
            self.transport.close()


def console_process(url: str, token: str, n: int, seconds: float, conn: mp.connection.Connection,
                    keep_positions: bool = True) -> None:
    """Hold ``n`` consoles (`Console`, all in this process) for ``seconds``; send back (unit, at, received)
    per position delivered (only their count unless ``keep_positions``), each console's event seqs
    and snapshot head, the abnormal closes and the number of frames.

    Accepts both the batched ``positions`` frames and single ``position`` messages.
    """
    async def run() -> None:
        positions: list[tuple[str, str, float]] = []
        seqs: list[list[int]] = [[] for _ in range(n)]
        heads: list[int] = [0] * n
        closes: list[str] = []
        frames = [0]
        delivered = [0]

        def sink(k: int, payload: bytes, received: float) -> None:
            frames[0] += 1
            data = orjson.loads(payload)
            kind = data["type"]
            if kind == "positions":
                delivered[0] += len(data["positions"])
                if keep_positions:
                    positions.extend((p["unit_id"], p["at"], received) for p in data["positions"])
            elif kind == "position":
                delivered[0] += 1
                if keep_positions:
                    positions.append((data["unit_id"], data["at"], received))
            elif kind == "event":
                seqs[k].append(data["seq"])
            elif kind == "snapshot":
                heads[k] = data["seq"]

        loop = asyncio.get_running_loop()
        host, port = url.removeprefix("http://").split(":")
        consoles = []
        for k in range(n):
            _, console = await loop.create_connection(
                lambda k=k: Console(k, f"/ws?token={token}", f"{host}:{port}", sink, closes), host, int(port))
            await console.upgraded
            consoles.append(console)
        conn.send("connected")
        await asyncio.sleep(seconds)
        for console in consoles:
            console.close()
        await asyncio.sleep(0.2)
        conn.send((positions if keep_positions else delivered[0], seqs, heads, closes, frames[0]))

    asyncio.run(run())


def start_consoles(server: Server, n: int, seconds: float,
                   keep_positions: bool = True) -> tuple[mp.Process, mp.connection.Connection]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=console_process,
                                          args=(server.url, server.token, n, seconds, child, keep_positions))
    proc.start()
    if parent.recv() != "connected":
        raise SystemExit("consoles did not connect")
    return proc, parent


# -- latency ------------------------------------------------------------------------------------

async def latency(server: Server, seconds: float, rate: float = 500.0, consoles: int = 100,
                  load: str = "python") -> dict[str, float]:
    """Post fixes at ``rate`` while ``consoles`` consoles listen; return the delivery latencies."""
    if load == "wrk":
        return latency_wrk(server, seconds, rate, consoles)
    import aiohttp

    proc, pipe = start_consoles(server, consoles, seconds + 3)
    cpu0, console_cpu0 = server.cpu_s(), process_cpu_s(proc.pid)
    # each unit's clock keeps pace with the wall clock (a fix per unit every len(units) / rate s), so
    # no unit is stale: a stale sweep would flood the consoles with notices the goal is not about
    step_s = round(len(server.units) / rate, 3)
    start = datetime.now(timezone.utc) - timedelta(seconds=2 * step_s)
    tracks = [Track(u, BASE, start) for u in server.units]
    sent: dict[tuple[str, str], float] = {}
    answered_ms: list[float] = []
    self0 = resource.getrusage(resource.RUSAGE_SELF)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        t0 = time.perf_counter()
        n = int(rate * seconds)
        pending = set()

        async def post(t: Track) -> None:
            lon, lat, at = t.next(step_s)
            sent[(t.unit, at.isoformat())] = began = time.time()
            async with session.get(f"{server.url}/osmand?id={t.unit}&lat={lat:.7f}&lon={lon:.7f}"
                                   f"&timestamp={int(at.timestamp() * 1000)}&speed=20") as r:
                await r.read()
            answered_ms.append((time.time() - began) * 1000)

        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(post(tracks[i % len(tracks)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        posting_s = time.perf_counter() - t0
        server_cpu = (server.cpu_s() - cpu0) / posting_s
        console_cpu = (process_cpu_s(proc.pid) - console_cpu0) / posting_s
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        poster_cpu = (self1.ru_utime + self1.ru_stime - self0.ru_utime - self0.ru_stime) / posting_s
    positions, _, _, closes, frames = pipe.recv()
    proc.join()
    lat_ms = [(recv - sent[(u, at)]) * 1000 for u, at, recv in positions if (u, at) in sent]
    http_q = statistics.quantiles(answered_ms, n=100) if len(answered_ms) > 100 else [float("nan")] * 99
    return {"http_p50_ms": http_q[49], "http_p99_ms": http_q[98], "poster_cpu": poster_cpu, "fixes": len(sent),
            "rate": len(sent) / posting_s, "expected": len(sent) * consoles, "frames": frames,
            "frames_per_console_s": frames / consoles / posting_s, "closed": len(closes), "server_cpu": server_cpu,
            "console_cpu": console_cpu, "consoles": consoles, "poster": "Python aiohttp client in the bench process",
            **quantiles_ms(lat_ms)}


def quantiles_ms(lat_ms: list[float]) -> dict[str, float]:
    """Return p50, p99 and max of latencies in ms, and how many there are."""
    lat_ms = sorted(lat_ms)
    q = statistics.quantiles(lat_ms, n=100) if len(lat_ms) > 100 else [float("nan")] * 99
    return {"deliveries": len(lat_ms), "p50_ms": q[49], "p99_ms": q[98],
            "max_ms": lat_ms[-1] if lat_ms else float("nan")}


def latency_wrk(server: Server, seconds: float, rate: float, consoles: int, threads: int = 1,
                connections: int = 16) -> dict[str, float]:
    """The latency run with wrk as the poster (``WRK_LATENCY_SCRIPT``)."""
    proc, pipe = start_consoles(server, consoles, seconds + 3)
    cpu0, console_cpu0, t0 = server.cpu_s(), process_cpu_s(proc.pid), time.perf_counter()
    accepted0 = server.metric_sum("ems_gps_fixes_accepted_total{")
    load0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = run_wrk(server, [str(len(server.units)), str(threads), str(rate)], seconds, threads, connections,
                      WRK_LATENCY_SCRIPT)
    posting_s = time.perf_counter() - t0
    load1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu = (server.cpu_s() - cpu0) / posting_s
    console_cpu = (process_cpu_s(proc.pid) - console_cpu0) / posting_s
    accepted = server.metric_sum("ems_gps_fixes_accepted_total{") - accepted0
    positions, _, _, closes, frames = pipe.recv()
    proc.join()
    stamps: dict[str, float] = {}
    lat_ms = []
    for _, at, received in positions:
        sent = stamps.get(at)
        if sent is None:
            sent = stamps[at] = datetime.fromisoformat(at).timestamp()
        lat_ms.append((received - sent) * 1000)
    return {"http_p50_ms": summary["p50_us"] / 1000, "http_p99_ms": summary["p99_us"] / 1000,
            "poster_cpu": (load1.ru_utime + load1.ru_stime - load0.ru_utime - load0.ru_stime) / posting_s,
            "fixes": accepted, "rate": accepted / posting_s, "expected": accepted * consoles, "frames": frames,
            "frames_per_console_s": frames / consoles / posting_s, "closed": len(closes), "server_cpu": server_cpu,
            "console_cpu": console_cpu, "consoles": consoles,
            "poster": f"wrk -t{threads} -c{connections} paced by its Lua script", **quantiles_ms(lat_ms)}


# -- soak ---------------------------------------------------------------------------------------

async def soak(server: Server, minutes: float, consoles: int = 20) -> dict[str, float]:
    import aiohttp

    seconds = minutes * 60
    rss_start = server.rss_mb()
    cpu0 = server.cpu_s()
    proc, pipe = start_consoles(server, consoles, seconds + 5, keep_positions=False)
    headers = {"Authorization": f"Bearer {server.token}"}
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    tracks = [Track(u, BASE, start) for u in server.units]
    calls = refused = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        t0 = time.perf_counter()

        async def fixes() -> None:
            while time.perf_counter() - t0 < seconds:
                tick = time.perf_counter()
                batch = []
                for t in tracks:  # every unit once a second, spread over the second
                    lon, lat, at = t.next(1.0)
                    batch.append(session.get(f"{server.url}/osmand?id={t.unit}&lat={lat:.7f}&lon={lon:.7f}"
                                             f"&timestamp={int(at.timestamp() * 1000)}"))
                for i in range(0, len(batch), 50):
                    for resp in await asyncio.gather(*batch[i:i + 50]):
                        resp.release()
                    await asyncio.sleep(max(0.0, tick + (i + 50) / len(batch) - time.perf_counter()))

        async def close_later(call_id: str) -> None:
            await asyncio.sleep(30)
            async with session.post(f"{server.url}/api/calls/{call_id}/close", json={}, headers=headers) as r:
                await r.read()

        async def calls_loop() -> None:
            nonlocal calls, refused
            closers = []
            while time.perf_counter() - t0 < seconds:
                tick = time.perf_counter()
                body = {"location": {"lon": BASE[0] + random.uniform(-0.002, 0.002),
                                     "lat": BASE[1] + random.uniform(-0.002, 0.002)},
                        "complaint": "chest_pain", "priority": random.randint(1, 4)}
                async with session.post(f"{server.url}/api/calls", json=body, headers=headers) as r:
                    data = await r.json()
                if r.status != 201:
                    refused += 1
                else:
                    calls += 1
                    recs = data["recommendations"]
                    if recs:
                        async with session.post(f"{server.url}/api/calls/{data['id']}/assign",
                                                json={"unit_id": recs[0]["unit_id"]}, headers=headers) as r:
                            await r.read()
                    closers.append(asyncio.create_task(close_later(data["id"])))
                await asyncio.sleep(max(0.0, 1.0 - (time.perf_counter() - tick)))
            for c in closers:
                c.cancel()

        async def memory() -> None:
            while time.perf_counter() - t0 < seconds:
                await asyncio.sleep(min(60.0, seconds / 10))
                rss.append(server.rss_mb())

        rss: list[float] = []
        await asyncio.gather(fixes(), calls_loop(), memory())
        await asyncio.sleep(1.0)
        head = (await (await session.get(f"{server.url}/api/health")).json())["seq"]
        elapsed = time.perf_counter() - t0
    rss_end = server.rss_mb()
    accepted = server.metric_sum("ems_gps_fixes_accepted_total{")
    delivered, seqs, heads, closes, frames = pipe.recv()
    proc.join()
    lost = sum(len(set(range(h + 1, head + 1)) - set(s)) for h, s in zip(heads, seqs))
    disorder = sum(1 for s in seqs if s != sorted(s) or len(s) != len(set(s)))
    return {"calls": calls, "refused": refused, "events": head - min(heads), "consoles": consoles,
            "events_lost": lost, "consoles_out_of_order": disorder, "closed": len(closes),
            "positions_delivered": delivered, "frames": frames,
            "fixes_accepted": accepted, "server_cores": (server.cpu_s() - cpu0) / elapsed,
            "rss_start_mb": rss_start, "rss_end_mb": rss_end, "rss_by_minute_mb": rss}


# -- main ---------------------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", nargs="?", default="all", choices=["all", "throughput", "latency", "soak", "serve",
                                                                   "serve-bare"])
    p.add_argument("--seconds", type=float, default=10.0, help="length of the throughput and latency runs")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    p.add_argument("--units", type=int, default=None, help="fleet size (500 by default)")
    p.add_argument("--consoles", type=int, default=100, help="websocket consoles in the latency run")
    p.add_argument("--soak-consoles", type=int, default=20, help="websocket consoles in the soak")
    p.add_argument("--rate", type=float, default=500.0, help="fixes per second in the latency run")
    p.add_argument("--load", choices=["auto", "wrk", "python"], default="auto",
                   help="throughput load generator: wrk (apt-get install -y wrk) or Python aiohttp; "
                        "auto takes wrk when installed")
    p.add_argument("--intake", choices=["both", "osmand", "json50"], default="both",
                   help="the throughput run's intake formats")
    p.add_argument("--wrk-threads", type=int, default=1)
    p.add_argument("--wrk-connections", type=int, default=32)
    p.add_argument("--county", default="tiny", help="county directory or name (default: the tiny test county)")
    p.add_argument("--profile", help="write a cProfile of the service process to this file")
    p.add_argument("--port", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--token")
    args = p.parse_args()
    if args.mode == "serve":
        serve(args)
        return
    if args.mode == "serve-bare":
        serve_bare(args)
        return
    load = args.load
    if load == "auto":
        load = "wrk" if shutil.which("wrk") else "python"
    elif load == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: apt-get install -y wrk (or --load python)")
    server = Server(args.units or 500, args.county, args.profile)
    try:
        print(f"service pid {server.proc.pid}, {len(server.units)} units, RSS {server.rss_mb():.0f} MB; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}", flush=True)
        if args.mode in ("all", "throughput"):
            how = (f"wrk -t{args.wrk_threads} -c{args.wrk_connections} (C + Lua)" if load == "wrk"
                   else "Python aiohttp client, 64 connections, in the bench process")
            modes = ("osmand", "json50") if args.intake == "both" else (args.intake,)
            r = throughput(server, args.seconds, load, args.wrk_threads, args.wrk_connections, modes)
            for mode, label in (("osmand", "OsmAnd GET, one fix/request"), ("json50", "JSON batches of 50")):
                if mode not in r:
                    continue
                m = r[mode]
                extra = (f", wrk: {m['requests']} requests, p50 {m['p50_us'] / 1000:.1f} ms, p99 "
                         f"{m['p99_us'] / 1000:.1f} ms, {m['status_errors']} non-2xx, {m['socket_errors']} "
                         "socket errors") if "requests" in m else ""
                print(f"throughput {label}: {m['fixes_per_s']:.0f} fixes/s accepted, {m['rejected']:.0f} rejected, "
                      f"{m['deferred']:.0f} answered 503 (history backlog full; resent by a real device), "
                      f"{m['stored_per_s']:.0f}/s written to the history ({m['waiting']:.0f} waiting at the end, "
                      f"{m['dropped']:.0f} dropped); "
                      f"service CPU {m['server_cpu_s']:.1f} s ({m['server_system_s']:.1f} s in the kernel) in "
                      f"{m['elapsed_s']:.1f} s = {m['server_cores']:.2f} cores, {m['us_per_fix']:.0f} us/fix{extra}. "
                      f"Load: {how}, {m['load_cpu_s']:.1f} CPU s. Goal >= 5000/s", flush=True)
            if "osmand" in r and load == "wrk":
                base = baseline(args.seconds, args.wrk_threads, args.wrk_connections, len(server.units))
                print(f"baseline: a bare aiohttp handler answering GET /osmand 200 unread, same wrk load: "
                      f"{base['per_s']:.0f} requests/s, {base['us_per_request']:.0f} us of CPU each -> the service "
                      f"takes {r['osmand']['fixes_per_s'] / base['per_s']:.2f}x the bare rate, "
                      f"{r['osmand']['us_per_fix'] / base['us_per_request']:.2f}x its CPU a request", flush=True)
        if args.mode in ("all", "latency"):
            r = asyncio.run(latency(server, args.seconds, rate=args.rate, consoles=args.consoles, load=load))
            print(f"latency: {r['fixes']:.0f} OsmAnd fixes at {r['rate']:.0f}/s ({r['poster']}) to {r['consoles']} "
                  f"consoles (light asyncio readers, all in one second process): p50 {r['p50_ms']:.1f} ms, p99 "
                  f"{r['p99_ms']:.1f} ms, max {r['max_ms']:.0f} ms over {r['deliveries']}/{r['expected']} "
                  f"deliveries (the rest coalesced) in {r['frames']} frames ({r['frames_per_console_s']:.1f}/s "
                  f"per console); {r['closed']} consoles closed; the POSTs answered in p50 {r['http_p50_ms']:.1f} "
                  f"ms, p99 {r['http_p99_ms']:.1f} ms; CPU: service {r['server_cpu']:.2f} cores, consoles "
                  f"{r['console_cpu']:.2f}, poster {r['poster_cpu']:.2f}. Goal p99 <= 100 ms", flush=True)
        if args.mode == "soak":
            r = asyncio.run(soak(server, args.minutes, args.soak_consoles))
            print(f"soak {args.minutes:g} min: {r['calls']} calls ({r['refused']} refused), {r['events']} events, "
                  f"{r['fixes_accepted']:.0f} fixes, {r['consoles']} consoles: {r['events_lost']} events lost, "
                  f"{r['consoles_out_of_order']} consoles out of order, {r['closed']} closed, "
                  f"{r['positions_delivered']} positions in {r['frames']} frames; service CPU "
                  f"{r['server_cores']:.2f} cores; RSS {r['rss_start_mb']:.0f} MB -> {r['rss_end_mb']:.0f} MB "
                  f"(sampled: {', '.join(f'{m:.0f}' for m in r['rss_by_minute_mb'])})", flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
