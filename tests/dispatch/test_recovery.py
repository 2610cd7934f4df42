"""Crash recovery: the real server process is SIGKILLed at random moments while it takes writes.

Every write the server acknowledged (a 2xx answer) must be in the log after a restart, and the state
the server rebuilds, the current-state tables and a fresh fold of the log must all agree.
"""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import orjson
import pytest

from dispatch.codec import event_from_dict, to_dict
from dispatch.events import EVENT_TYPES
from dispatch.patients import PatientsFold
from dispatch.service import call_row
from dispatch.state import fold
from dispatch.store import open_store
from tests.dispatch.service_fixtures import TOKENS, make_config

KILLS = 22
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`ems serve` as a child process."""

    def __init__(self, tmp: Path, config: dict) -> None:
        self.port = free_port()
        self.args = [sys.executable, "-m", "ems.cli", "serve", "--county", config["county"]["name"],
                     "--data-dir", config["service"]["data_dir"], "--token-file", config["service"]["token_file"],
                     "--port", str(self.port)]
        self.log = (tmp / "server.log").open("ab")
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.args, cwd=ROOT, stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/api/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("server did not answer /api/health within 60 s")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


def request(port: int, method: str, path: str, body: dict | None = None, token: str = "dispatcher"):
    """Return (status, json) or None when the server is gone (connection refused or reset)."""
    data = orjson.dumps(body) if body is not None else None
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                 headers={"Authorization": f"Bearer {TOKENS[token]}",
                                          "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, orjson.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, orjson.loads(e.read() or b"{}")
    except (OSError, urllib.error.URLError):
        return None


NEXT_STATUS = {"en_route": "on_scene", "on_scene": "available_at_station"}


def writer(port: int, rng: random.Random, acked: list, lock: threading.Lock, stop: threading.Event) -> None:
    """Take calls, assign, and move units through their cycle until the server dies."""
    while not stop.is_set():
        choice = rng.random()
        if choice < 0.35:
            body = {"location": {"lon": 112.10 + rng.random() * 0.04, "lat": 27.98 + rng.random() * 0.04},
                    "complaint": rng.choice(["chest_pain", "stroke", "trauma", "other"]),
                    "priority": rng.randint(1, 4), "notes": "压力测试"}
            answer = request(port, "POST", "/api/calls", body)
            if answer is None:
                return
            if answer[0] == 201:
                with lock:
                    acked.append(("CallReceived", answer[1]["id"], None))
            continue
        answer = request(port, "GET", "/api/units")
        if answer is None:
            return
        units = answer[1]["units"]
        unit = rng.choice(units)
        if unit["status"] == "dispatched":
            answer, ack = request(port, "POST", f"/api/units/{unit['id']}/accept", {}), "AssignmentAccepted"
            key = unit["current_call"]
        elif unit["status"] in NEXT_STATUS:
            status = NEXT_STATUS[unit["status"]]
            answer, ack = request(port, "POST", f"/api/units/{unit['id']}/status", {"status": status}), status
            key = unit["id"]
        else:
            calls = request(port, "GET", "/api/calls")
            if calls is None:
                return
            queued = [c for c in calls[1]["calls"] if c["status"] == "queued"]
            if not queued:
                continue
            call = rng.choice(queued)
            answer = request(port, "POST", f"/api/calls/{call['id']}/assign",
                             {"unit_id": unit["id"], "reason": "recovery test"})
            ack, key = "UnitAssigned", call["id"]
        if answer is None:
            return
        if answer[0] == 200:
            with lock:
                acked.append((ack, key, unit["id"]))


def signature(event: dict) -> tuple:
    kind = event["type"]
    if kind == "CallReceived":
        return (kind, event["call_id"], None)
    if kind in ("UnitAssigned", "AssignmentAccepted"):
        return (kind, event["call_id"], event["unit_id"])
    if kind == "UnitStatusChanged":
        return (event["status"], event["unit_id"], event["unit_id"])
    return (kind,)


@pytest.mark.slow
def test_sigkill_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    server = Server(tmp_path, config)
    rng = random.Random(20261126)
    acked: list = []
    lock = threading.Lock()
    try:
        for _ in range(KILLS):
            server.start()
            stop = threading.Event()
            threads = [threading.Thread(target=writer, args=(server.port, random.Random(rng.random()), acked,
                                                              lock, stop)) for _ in range(3)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.2, 1.2))
            server.kill()  # mid-flight: requests are in progress on three connections
            stop.set()
            for t in threads:
                t.join()
        server.start()
        served = request(server.port, "GET", "/api/calls?status=all")
        health = request(server.port, "GET", "/api/health")
    finally:
        server.kill()

    logged = asyncio.run(read_log(config))
    events, state_rows = logged
    found = Counter(signature(e) for _, e in events)
    wanted = Counter(acked)
    missing = wanted - found
    assert not missing, f"acknowledged but not in the log: {missing}"
    assert len(acked) > 50, "the test should have made many acknowledged writes"
    assert {k for k, _, _ in acked} >= {"CallReceived", "UnitAssigned", "AssignmentAccepted", "on_scene"}

    state = fold((seq, event_from_dict(e)) for seq, e in events if e["type"] in EVENT_TYPES)
    patients = PatientsFold()
    for seq, e in events:
        if e["type"] in patients.types:
            patients.apply(seq, e)
    calls_rows, unit_rows, patient_rows = state_rows
    assert patient_rows, "chest pain and stroke calls should have stamped milestones"
    assert_same_rows(patient_rows, {cid: orjson.loads(orjson.dumps(p.view())) for cid, p in patients.patients.items()})
    assert_same_rows(calls_rows, {c.id: orjson.loads(orjson.dumps(call_row(state, c))) for c in state.calls.values()})
    assert_same_rows(unit_rows, {u.id: orjson.loads(orjson.dumps(to_dict(u))) for u in state.units.values()})
    assert health is not None and health[1]["seq"] == events[-1][0]  # the log's last event, milestones included
    assert served is not None
    assert {c["id"]: c["status"] for c in served[1]["calls"]} == {c.id: str(c.status) for c in state.calls.values()}


async def read_log(config: dict) -> tuple[list, tuple[dict, dict]]:
    store = open_store(None, Path(config["service"]["data_dir"]))
    async with store:
        events = [(e.seq, e.event) for e in await store.read_events()]
        return events, (await store.load_state("call"), await store.load_state("unit"),
                        await store.load_state("patient"))


def assert_same_rows(stored: dict, replayed: dict) -> None:
    """The current-state table equals the fold of the log; on failure name the rows and fields."""
    assert stored.keys() == replayed.keys()
    diffs = {k: {f: (stored[k].get(f), replayed[k].get(f)) for f in stored[k].keys() | replayed[k].keys()
                 if stored[k].get(f) != replayed[k].get(f)} for k in stored if stored[k] != replayed[k]}
    assert not diffs, f"current-state rows differ from a fresh replay: {diffs}"
