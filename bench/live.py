"""Benchmark the live part of the dispatch service: GPS intake rate, POST-to-console latency, a soak.

The service runs in its own process (``serve``, SQLite in a temporary directory, a synthetic fleet of
``--units`` units spread over the layout's stations); the load runs in this process and, for the
consoles, in one more process, all on this machine.

- ``throughput``: fixes accepted per second over HTTP: OsmAnd ``GET /osmand`` one fix per request
  (what Traccar Client does), and JSON batches of 50. Goal >= 5,000 fixes/s.
- ``latency``: 100 dispatcher consoles on ``/ws`` while fixes are posted at 500/s; p50/p99 from the
  start of the POST to the ``position`` message at each console. Goal p99 <= 100 ms.
- ``soak`` (by hand, not in CI): 500 units at 1 Hz plus 1 call/s (each assigned, then closed) for
  ``--minutes`` (10); reports events lost at the consoles (goal 0) and the server's memory at start
  and end.

Usage: .venv/bin/python bench/live.py [throughput|latency|soak|all] [--seconds 10] [--county DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TINY = ROOT / "tests" / "fixtures" / "geodata" / "tiny"


# -- the service process ------------------------------------------------------------------------

def serve(args: argparse.Namespace) -> None:
    """Run the service with a synthetic fleet (the ``serve`` sub-command, started by the others)."""
    import logging
    import warnings

    from aiohttp import web

    from dispatch.bootstrap import build_runtime
    from dispatch.http import create_app
    from dispatch.service import DispatchService, UnitSpec
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

    runtime = asyncio.run(build_runtime(config))
    stations = [(ls.station.id, (ls.station.lon, ls.station.lat)) for ls in runtime["layout"].stations]
    fleet = [UnitSpec(f"u{i:04d}", stations[i % len(stations)][0], stations[i % len(stations)][1], "als")
             for i in range(args.units)]
    old = runtime["service"]
    runtime["service"] = DispatchService(old.store, old.router, fleet, config)
    app = create_app(config, runtime=runtime)

    async def ready(app: web.Application) -> None:
        print("ready", flush=True)

    app.on_startup.append(ready)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None)


def process_cpu_s(pid: int) -> float:
    """Return the user + system CPU seconds a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """The service in a child process."""

    def __init__(self, units: int, county: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ems-bench-"))
        if county == "tiny":
            county = str(Path(shutil.copytree(TINY, self.dir / "county",
                                              ignore=shutil.ignore_patterns(".ems-cache"))))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.token = secrets.token_urlsafe(16)
        self.units = [f"u{i:04d}" for i in range(units)]
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "serve", "--port", str(self.port), "--data-dir", str(self.dir),
             "--units", str(units), "--county", county, "--token", self.token],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"the service did not start: {line!r}")
        self.url = f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_s(self) -> float:
        return process_cpu_s(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


async def accepted_total(session, url: str) -> float:
    text = await (await session.get(f"{url}/metrics")).text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("ems_gps_fixes_accepted_total{"))


async def rejected_total(session, url: str) -> float:
    text = await (await session.get(f"{url}/metrics")).text()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("ems_gps_fixes_rejected_total{"))


class Track:
    """Plausible fixes for one unit: a slow drift, 10 ms apart, starting an hour ago."""

    def __init__(self, unit: str, base: tuple[float, float], start: datetime) -> None:
        self.unit, self.lon, self.lat = unit, base[0] + random.uniform(-0.01, 0.01), \
            base[1] + random.uniform(-0.01, 0.01)
        self.at = start.replace(microsecond=0)  # whole milliseconds: the OsmAnd timestamp carries no more

    def next(self, step_s: float = 0.01) -> tuple[float, float, datetime]:
        self.at += timedelta(seconds=step_s)
        self.lon += 1e-7
        self.lat += 1e-7
        return self.lon, self.lat, self.at


# -- throughput ---------------------------------------------------------------------------------

async def throughput(server: Server, seconds: float, concurrency: int = 64) -> dict[str, float]:
    import aiohttp

    base = (112.121, 28.001)
    start = datetime.now(timezone.utc) - timedelta(hours=1)
    tracks = [Track(u, base, start) for u in server.units]
    out = {}
    headers = {"Authorization": f"Bearer {server.token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        for mode in ("osmand", "json50"):
            before, rej_before = await accepted_total(session, server.url), await rejected_total(session, server.url)
            cpu0 = server.cpu_s()
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

            t0 = time.perf_counter()
            await asyncio.gather(*(worker(tracks[k::concurrency]) for k in range(concurrency)))
            elapsed = time.perf_counter() - t0
            accepted = await accepted_total(session, server.url) - before
            rejected = await rejected_total(session, server.url) - rej_before
            out[mode] = accepted / elapsed
            out[f"{mode}_rejected"] = rejected
            out[f"{mode}_server_cpu"] = (server.cpu_s() - cpu0) / elapsed
    return out


# -- consoles (in their own process) --------------------------------------------------------------

def console_process(url: str, token: str, n: int, seconds: float, conn: mp.connection.Connection) -> None:
    """Hold ``n`` consoles for ``seconds``; send back (unit, at, received) per position and event seqs."""
    async def run() -> None:
        import aiohttp

        positions: list[tuple[str, str, float]] = []
        seqs: list[list[int]] = [[] for _ in range(n)]
        heads: list[int] = [0] * n
        closes: list[str] = []
        async with aiohttp.ClientSession() as session:
            sockets = [await session.ws_connect(f"{url}/ws?token={token}", max_msg_size=0) for _ in range(n)]

            async def read(k: int, ws) -> None:
                async for msg in ws:
                    data = orjson.loads(msg.data)
                    kind = data["type"]
                    if kind == "position":
                        positions.append((data["unit_id"], data["at"], time.time()))
                    elif kind == "event":
                        seqs[k].append(data["seq"])
                    elif kind == "snapshot":
                        heads[k] = data["seq"]
                if ws.close_code is not None and ws.close_code != 1000:
                    closes.append(f"{ws.close_code} {ws.exception() or ''}")

            readers = [asyncio.create_task(read(k, ws)) for k, ws in enumerate(sockets)]
            conn.send("connected")
            await asyncio.sleep(seconds)
            for ws in sockets:
                await ws.close()
            await asyncio.gather(*readers, return_exceptions=True)
        conn.send((positions, seqs, heads, closes))

    asyncio.run(run())


def start_consoles(server: Server, n: int, seconds: float) -> tuple[mp.Process, mp.connection.Connection]:
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=console_process, args=(server.url, server.token, n, seconds, child))
    proc.start()
    if parent.recv() != "connected":
        raise SystemExit("consoles did not connect")
    return proc, parent


# -- latency ------------------------------------------------------------------------------------

async def latency(server: Server, seconds: float, rate: float = 500.0, consoles: int = 100) -> dict[str, float]:
    import aiohttp

    proc, pipe = start_consoles(server, consoles, seconds + 3)
    cpu0, console_cpu0 = server.cpu_s(), process_cpu_s(proc.pid)
    start = datetime.now(timezone.utc) - timedelta(minutes=30)
    tracks = [Track(u, (112.121, 28.001), start) for u in server.units]
    sent: dict[tuple[str, str], float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        t0 = time.perf_counter()
        n = int(rate * seconds)
        pending = set()

        async def post(t: Track) -> None:
            lon, lat, at = t.next(1.0)
            sent[(t.unit, at.isoformat())] = time.time()
            async with session.get(f"{server.url}/osmand?id={t.unit}&lat={lat:.7f}&lon={lon:.7f}"
                                   f"&timestamp={int(at.timestamp() * 1000)}&speed=20") as r:
                await r.read()

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
    positions, _, _, closes = pipe.recv()
    proc.join()
    lat_ms = sorted((recv - sent[(u, at)]) * 1000 for u, at, recv in positions if (u, at) in sent)
    q = statistics.quantiles(lat_ms, n=100) if len(lat_ms) > 100 else [float("nan")] * 99
    return {"fixes": len(sent), "rate": len(sent) / posting_s, "deliveries": len(lat_ms),
            "expected": len(sent) * consoles, "p50_ms": q[49], "p99_ms": q[98],
            "max_ms": lat_ms[-1] if lat_ms else float("nan"), "closed": len(closes),
            "server_cpu": server_cpu, "console_cpu": console_cpu, "consoles": consoles}


# -- soak ---------------------------------------------------------------------------------------

async def soak(server: Server, minutes: float, consoles: int = 20) -> dict[str, float]:
    import aiohttp

    seconds = minutes * 60
    rss_start = server.rss_mb()
    proc, pipe = start_consoles(server, consoles, seconds + 5)
    headers = {"Authorization": f"Bearer {server.token}"}
    start = datetime.now(timezone.utc) - timedelta(seconds=5)
    tracks = [Track(u, (112.121, 28.001), start) for u in server.units]
    calls = refused = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        t0 = time.perf_counter()

        async def fixes() -> None:
            k = 0
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
                k += 1

        async def close_later(call_id: str) -> None:
            await asyncio.sleep(30)
            async with session.post(f"{server.url}/api/calls/{call_id}/close", json={}, headers=headers) as r:
                await r.read()

        async def calls_loop() -> None:
            nonlocal calls, refused
            closers = []
            while time.perf_counter() - t0 < seconds:
                tick = time.perf_counter()
                body = {"location": {"lon": 112.121 + random.uniform(-0.002, 0.002),
                                     "lat": 28.001 + random.uniform(-0.002, 0.002)},
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

        await asyncio.gather(fixes(), calls_loop())
        await asyncio.sleep(1.0)
        head = (await (await session.get(f"{server.url}/api/health")).json())["seq"]
    rss_end = server.rss_mb()
    _, seqs, heads, closes = pipe.recv()
    proc.join()
    lost = sum(len(set(range(h + 1, head + 1)) - set(s)) for h, s in zip(heads, seqs))
    disorder = sum(1 for s in seqs if s != sorted(s) or len(s) != len(set(s)))
    return {"calls": calls, "refused": refused, "events": head - min(heads), "consoles": consoles,
            "events_lost": lost, "consoles_out_of_order": disorder, "closed": len(closes),
            "rss_start_mb": rss_start, "rss_end_mb": rss_end}


# -- main ---------------------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", nargs="?", default="all", choices=["all", "throughput", "latency", "soak", "serve"])
    p.add_argument("--seconds", type=float, default=10.0, help="length of the throughput and latency runs")
    p.add_argument("--minutes", type=float, default=10.0, help="length of the soak")
    p.add_argument("--units", type=int, default=None, help="fleet size (500 by default)")
    p.add_argument("--consoles", type=int, default=100, help="websocket consoles in the latency run")
    p.add_argument("--rate", type=float, default=500.0, help="fixes per second in the latency run")
    p.add_argument("--county", default="tiny", help="county directory or name (default: the tiny test county)")
    p.add_argument("--port", type=int)
    p.add_argument("--data-dir")
    p.add_argument("--token")
    args = p.parse_args()
    if args.mode == "serve":
        serve(args)
        return
    server = Server(args.units or 500, args.county)
    try:
        print(f"service pid {server.proc.pid}, {len(server.units)} units, RSS {server.rss_mb():.0f} MB", flush=True)
        if args.mode in ("all", "throughput"):
            r = asyncio.run(throughput(server, args.seconds))
            print(f"throughput: OsmAnd one fix/request {r['osmand']:.0f} fixes/s "
                  f"(server CPU {r['osmand_server_cpu']:.2f} cores, rejected {r['osmand_rejected']:.0f}); "
                  f"JSON batches of 50 {r['json50']:.0f} fixes/s (server CPU {r['json50_server_cpu']:.2f}, "
                  f"rejected {r['json50_rejected']:.0f}). Goal >= 5000/s", flush=True)
        if args.mode in ("all", "latency"):
            r = asyncio.run(latency(server, args.seconds, rate=args.rate, consoles=args.consoles))
            print(f"latency: {r['fixes']} fixes at {r['rate']:.0f}/s to {r['consoles']} consoles: "
                  f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, max {r['max_ms']:.0f} ms; "
                  f"{r['deliveries']}/{r['expected']} position messages delivered (the rest coalesced), "
                  f"{r['closed']} consoles closed; CPU: service {r['server_cpu']:.2f} cores, consoles "
                  f"{r['console_cpu']:.2f}. Goal p99 <= 100 ms", flush=True)
        if args.mode == "soak":
            r = asyncio.run(soak(server, args.minutes))
            print(f"soak {args.minutes:g} min: {r['calls']} calls, {r['events']} events, {r['consoles']} consoles: "
                  f"{r['events_lost']} events lost, {r['consoles_out_of_order']} consoles out of order, "
                  f"{r['closed']} closed; server RSS {r['rss_start_mb']:.0f} MB -> {r['rss_end_mb']:.0f} MB",
                  flush=True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
