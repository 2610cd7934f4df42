"""Durability of GPS fixes: the real server is SIGKILLed while fixes arrive at a known rate.

A fix answered 200 waits in memory until the next store write (`Live.flush`, every
``[gps] flush_interval_s``), so a kill loses the fixes of at most about one interval. This measures
it: each lost fix must have been answered within the window before the kill, and after each restart
a unit's restored position misses only fixes answered within that window.

Also a measurement: ``.venv/bin/python -m tests.dispatch.test_gps_durability [--kills N]
[--rate FIXES_PER_S] [--flush-interval S]`` prints the fixes lost per kill and their ages.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dispatch.store import open_store
from ems.config import load_config
from tests.dispatch.service_fixtures import make_config
from tests.dispatch.test_recovery import Server, request

#: Slack over ``flush_interval_s`` for the store write itself and a loaded machine's scheduling.
WRITE_SLACK_S = 0.75


@dataclass
class Run:
    """What the posters were answered, and when the server was killed (monotonic seconds)."""

    acked: dict[tuple[str, int], float] = field(default_factory=dict)   # (unit, at in µs) -> answered at
    kills: list[float] = field(default_factory=list)
    # per unit and restart: how long before the kill the oldest acknowledged fix newer than the
    # restored position was answered (0 when the restored one is the newest acknowledged)
    restore_lags_s: list[float] = field(default_factory=list)
    spots: dict[str, tuple[float, float]] = field(default_factory=dict)  # each unit's last place
    lock: threading.Lock = field(default_factory=threading.Lock)


def epoch_us(at: datetime) -> int:
    return round(at.timestamp() * 1_000_000)


def poster(port: int, units: list[str], rate_per_s: float, run: Run, stop: threading.Event) -> None:
    """Post one fix at a time, round-robin over ``units``, at ``rate_per_s``, until the server dies.

    Each unit creeps on from where it was before the kill (a new place would be a jump).
    """
    spot = run.spots
    interval_s = 1.0 / rate_per_s
    due = time.monotonic()
    i = 0
    while not stop.is_set():
        unit = units[i % len(units)]
        i += 1
        lon, lat = spot[unit]
        spot[unit] = (lon + 1e-6, lat)   # ~0.1 m a fix: never a jump
        at = datetime.now(timezone.utc)
        answer = request(port, "POST", f"/api/units/{unit}/positions",
                         {"lon": lon, "lat": lat, "timestamp": at.isoformat()})
        if answer is None:
            return
        if answer[0] == 200 and answer[1].get("accepted") == 1:
            with run.lock:
                run.acked[(unit, epoch_us(at))] = time.monotonic()
        due += interval_s
        time.sleep(max(0.0, due - time.monotonic()))


def check_restored(port: int, run: Run) -> None:
    """Record, per unit, how long before the kill the fixes newer than its restored position were answered."""
    answer = request(port, "GET", "/api/units")
    assert answer is not None and answer[0] == 200
    kill = run.kills[-1]
    for view in answer[1]["units"]:
        unit = view["id"]
        acked = {at_us: answered for (u, at_us), answered in run.acked.items() if u == unit}
        if not acked:
            continue
        assert view["position_at"] is not None, f"{unit}: acknowledged fixes but no restored position"
        restored = epoch_us(datetime.fromisoformat(view["position_at"]))
        assert restored in acked, f"{unit}: restored position at {view['position_at']} was never acknowledged"
        newer = [answered for at_us, answered in acked.items() if at_us > restored]
        run.restore_lags_s.append(kill - min(newer) if newer else 0.0)


def measure(tmp: Path, kills: int, rate_per_s: float, seed: int = 20261127) -> tuple[Run, set[tuple[str, int]]]:
    """Kill the server ``kills`` times under a steady fix load; return the run and the stored fixes."""
    config = make_config(tmp)
    server = Server(tmp, config)
    rng = random.Random(seed)
    run = Run()
    try:
        for round_ in range(kills):
            server.start()
            if round_:
                check_restored(server.port, run)
            units = [u["id"] for u in request(server.port, "GET", "/api/units")[1]["units"]]
            for unit in units:
                run.spots.setdefault(unit, (112.12 + rng.random() * 0.01, 28.0 + rng.random() * 0.01))
            halves = [units[0::2], units[1::2]]
            stop = threading.Event()
            threads = [threading.Thread(target=poster, args=(server.port, half, rate_per_s / 2, run, stop))
                       for half in halves]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(1.5, 3.5))
            run.kills.append(time.monotonic())
            server.kill()
            stop.set()
            for t in threads:
                t.join()
        server.start()
        check_restored(server.port, run)
    finally:
        server.kill()
    return run, asyncio.run(stored_fixes(config))


async def stored_fixes(config: dict) -> set[tuple[str, int]]:
    store = open_store(None, Path(config["service"]["data_dir"]))
    async with store:
        return {(row.unit_id, epoch_us(row.at)) for row in await store.position_history()}


def lost_ages_s(run: Run, stored: set[tuple[str, int]]) -> list[float]:
    """Return, for each acknowledged fix not in the history, how long before the next kill it was answered."""
    ages = []
    for key, acked_at in run.acked.items():
        if key not in stored:
            kill = min(k for k in run.kills if k >= acked_at)
            ages.append(kill - acked_at)
    return ages


@pytest.mark.slow
def test_a_sigkill_loses_at_most_one_flush_interval_of_acknowledged_fixes(tmp_path: Path) -> None:
    flush_s = load_config()["gps"]["flush_interval_s"]  # the server's own, from config.toml
    run, stored = measure(tmp_path, kills=4, rate_per_s=40.0)
    ages = lost_ages_s(run, stored)
    assert len(run.acked) > 200, "the test should have made many acknowledged fixes"
    assert max(ages, default=0.0) <= flush_s + WRITE_SLACK_S, \
        f"lost fixes answered up to {max(ages):.2f} s before a kill (window {flush_s} s)"
    assert max(run.restore_lags_s) <= flush_s + WRITE_SLACK_S, \
        f"a restored position missed fixes answered {max(run.restore_lags_s):.2f} s before the kill"
    assert stored <= set(run.acked), "the history holds a fix nobody was answered 200 for"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=6)
    parser.add_argument("--rate", type=float, default=100.0, help="fixes per second, all units together")
    parser.add_argument("--flush-interval", type=float, default=None, help="[gps] flush_interval_s (config's)")
    args = parser.parse_args()
    if args.flush_interval is not None:
        os.environ["EMS__GPS__FLUSH_INTERVAL_S"] = str(args.flush_interval)
    with tempfile.TemporaryDirectory() as tmp:
        run, stored = measure(Path(tmp), args.kills, args.rate)
    ages = sorted(lost_ages_s(run, stored))
    print(f"acknowledged {len(run.acked)}, lost {len(ages)} over {args.kills} kills "
          f"({len(ages) / args.kills:.1f} a kill, {len(ages) / max(1, len(run.acked)):.1%})")
    if ages:
        print(f"lost fixes answered {ages[0]:.3f}-{ages[-1]:.3f} s before the kill "
              f"(median {ages[len(ages) // 2]:.3f} s)")
    lags = sorted(run.restore_lags_s)
    print(f"restored positions missed fixes answered at most {lags[-1]:.3f} s before the kill "
          f"({len(lags)} unit restarts)")


if __name__ == "__main__":
    main()
