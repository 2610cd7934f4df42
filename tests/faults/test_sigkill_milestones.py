"""SIGKILL under chest pain and stroke calls: no acknowledged status change loses its automatic milestone.

The real server (`ems serve` on the tiny county, SQLite or PostgreSQL) is SIGKILLed at random moments
and restarted, over and over, while three writers drive calls through assign, accept, on_scene,
transporting and at_hospital. Each of those, on a chest pain or stroke call, stamps a milestone
(`dispatch.centers_service.milestone_stamper`) that the service writes in the same transaction as its
cause. After the last restart:

- every write the server acknowledged (a 2xx answer) is in the log;
- every acknowledged write of a chest pain or stroke call has its milestone in the log, and so has
  every such write the log holds (acknowledged or not: a kill may fall between COMMIT and answer);
- the current-state tables (calls, units, patients) equal a fresh replay of the log.

Each writer owns some of the units (the only ones whose assignment it accepts and whose status it
reports), so the call a unit is on when its writer reports a status is the call the status is about.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from centers.milestones import MilestoneKind
from dispatch.centers_service import CARDIO_STROKE, EVENT_MILESTONES, STATUS_MILESTONES
from dispatch.codec import event_from_dict, to_dict
from dispatch.events import EVENT_TYPES
from dispatch.model import ASSIGNABLE_STATUSES, State
from dispatch.patients import MILESTONE, PatientsFold
from dispatch.service import call_row
from dispatch.state import apply
from dispatch.store import open_store
from tests.dispatch.service_fixtures import make_config
from tests.dispatch.test_recovery import Server, assert_same_rows, request

pytestmark = [pytest.mark.integration, pytest.mark.slow]

#: Kills per store: a PostgreSQL restart reconnects and replays over the network, so it gets fewer.
KILLS = {"sqlite": 12, "postgresql": 6}
WRITERS = 3
#: The status each reported status leads to: the crew's cycle on a call, back to the station.
NEXT_STATUS = {"en_route": "on_scene", "on_scene": "transporting", "transporting": "at_hospital",
               "at_hospital": "available_at_station"}
AVAILABLE = frozenset(str(s) for s in ASSIGNABLE_STATUSES)
#: What each acknowledged write is recorded as (its log event's type, or the status reported).
MILESTONE_OF = {"CallReceived": MilestoneKind.CALL_120, **EVENT_MILESTONES, **STATUS_MILESTONES}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> tuple[str, str]:
    """``(name, url)`` of the store the server writes: SQLite in its data directory, or PostgreSQL."""
    if request.param == "sqlite":
        return "sqlite", ""
    return "postgresql", request.getfixturevalue("pg_url")


class Acked:
    """The writes the server acknowledged: ``(what, call_id, unit_id)``, shared by the writers."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, str, str | None]] = []
        self.lock = threading.Lock()

    def add(self, what: str, call_id: str, unit_id: str | None) -> None:
        with self.lock:
            self.writes.append((what, call_id, unit_id))


def writer(port: int, units: list[str], rng: random.Random, acked: Acked, stop: threading.Event) -> None:
    """Drive this writer's units through calls until the server dies (or ``stop`` is set)."""
    while not stop.is_set():
        unit_id = rng.choice(units)
        answer = request(port, "GET", f"/api/units/{unit_id}")
        if answer is None:
            return
        status, call_id = answer[1]["status"], answer[1]["current_call"]
        if status == "dispatched":
            answer = request(port, "POST", f"/api/units/{unit_id}/accept", {})
            what = "AssignmentAccepted"
        elif status in NEXT_STATUS:
            what = NEXT_STATUS[status]
            answer = request(port, "POST", f"/api/units/{unit_id}/status", {"status": what})
        elif status in AVAILABLE:
            body = {"location": {"lon": 112.10 + rng.random() * 0.04, "lat": 27.98 + rng.random() * 0.04},
                    "complaint": rng.choice(["chest_pain", "stroke", "chest_pain", "stroke", "other"]),
                    "priority": 1, "notes": "故障测试"}
            answer = request(port, "POST", "/api/calls", body)
            if answer is None:
                return
            if answer[0] != 201:
                continue
            call_id = answer[1]["id"]
            acked.add("CallReceived", call_id, None)
            answer = request(port, "POST", f"/api/calls/{call_id}/assign", {"unit_id": unit_id, "reason": "fault test"})
            what = "UnitAssigned"
        else:
            continue
        if answer is None:
            return
        if answer[0] == 200:  # a refusal (the system offered the unit a queued call meanwhile) is not a write
            acked.add(what, call_id, unit_id)


def run_under_kills(server: Server, kills: int, rng: random.Random, acked: Acked) -> list[str]:
    """Start, load and SIGKILL the server ``kills`` times, then start it once more; return the unit ids."""
    server.start()
    units = sorted(u["id"] for u in request(server.port, "GET", "/api/units")[1]["units"])
    shares = [units[i::WRITERS] for i in range(WRITERS)]
    for kill in range(kills):
        if kill:
            server.start()
        stop = threading.Event()
        threads = [threading.Thread(target=writer, args=(server.port, share, random.Random(rng.random()), acked, stop))
                   for share in shares]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 1.5))
        server.kill()  # mid-flight: requests are in progress on three connections
        stop.set()
        for t in threads:
            t.join()
    server.start()
    return units


async def read_log(url: str, data_dir: Path) -> tuple[list[tuple[int, dict[str, Any]]], tuple[dict, dict, dict]]:
    """Return the log's ``(seq, event)`` and the calls', units' and patients' current-state rows."""
    async with open_store(url or None, data_dir) as store:
        events = [(e.seq, e.event) for e in await store.read_events()]
        return events, (await store.load_state("call"), await store.load_state("unit"),
                        await store.load_state("patient"))


def replay(events: list[tuple[int, dict[str, Any]]]) -> tuple[State, PatientsFold, Counter, list]:
    """Fold the log afresh; return the state, the patients, what each write left in the log, and the causes.

    A write is ``(what, call_id, unit_id)`` as `Acked` records it; a status change's call is the one its
    unit was on just before it. The causes are ``(seq, call_id, milestone kind)`` of every dispatch event
    that stamps a milestone when its call is a chest pain or stroke call.
    """
    state, patients = State(), PatientsFold()
    written: Counter = Counter()
    causes = []
    for seq, e in events:
        kind = e["type"]
        if kind in patients.types:
            patients.apply(seq, e)
            continue
        if kind == "UnitStatusChanged":
            write = (e["status"], state.units[e["unit_id"]].current_call, e["unit_id"])
        else:
            write = (kind, e.get("call_id"), e.get("unit_id"))
        if kind in EVENT_TYPES:
            state = apply(state, event_from_dict(e), seq=seq)
        written[write] += 1
        if write[0] in MILESTONE_OF and write[1] is not None:
            causes.append((seq, write[1], MILESTONE_OF[write[0]]))
    return state, patients, written, causes


def test_sigkill_loses_no_milestone_of_an_acknowledged_status_change(tmp_path: Path,
                                                                     store_url: tuple[str, str]) -> None:
    name, url = store_url
    config = make_config(tmp_path, db=url)
    server = Server(tmp_path, config)
    server.args += ["--layout", config["service"]["layout"]] + (["--db", url] if url else [])
    rng = random.Random(20261127)
    acked = Acked()
    try:
        run_under_kills(server, KILLS[name], rng, acked)
        served = request(server.port, "GET", "/api/calls?status=all")
        health = request(server.port, "GET", "/api/health")
    finally:
        server.kill()

    events, (call_rows, unit_rows, patient_rows) = asyncio.run(read_log(url, Path(config["service"]["data_dir"])))
    state, patients, written, causes = replay(events)
    missing = Counter(acked.writes) - written
    assert not missing, f"acknowledged but not in the log: {sorted(missing)}"
    done = Counter(what for what, _, _ in acked.writes)
    assert len(acked.writes) > 60 and done.keys() >= MILESTONE_OF.keys(), (
        f"the writers should have driven many calls through every stamping step, got {done}")

    cardio = {c.id for c in state.calls.values() if str(c.complaint) in CARDIO_STROKE}
    stamped = {(e["milestone"]["patient_id"], MilestoneKind.parse(e["milestone"]["kind"]))
               for _, e in events if e["type"] == MILESTONE}
    owed = {(call_id, MILESTONE_OF[what]) for what, call_id, _ in acked.writes
            if what in MILESTONE_OF and call_id in cardio}
    assert len(owed) > 40, f"too few acknowledged chest pain and stroke steps to mean anything: {len(owed)}"
    lost = sorted(owed - stamped, key=str)
    assert not lost, f"{len(lost)} of {len(owed)} acknowledged steps lost their milestone: {lost}"
    unstamped = sorted((seq, call_id, kind) for seq, call_id, kind in causes
                       if call_id in cardio and (call_id, kind) not in stamped)
    assert not unstamped, f"status changes in the log without their milestone: {unstamped}"

    assert_same_rows(patient_rows, {cid: orjson.loads(orjson.dumps(p.view())) for cid, p in patients.patients.items()})
    assert_same_rows(call_rows, {c.id: orjson.loads(orjson.dumps(call_row(state, c))) for c in state.calls.values()})
    assert_same_rows(unit_rows, {u.id: orjson.loads(orjson.dumps(to_dict(u))) for u in state.units.values()})
    assert health is not None and health[1]["seq"] == events[-1][0]
    assert served is not None
    assert {c["id"]: c["status"] for c in served[1]["calls"]} == {c.id: str(c.status) for c in state.calls.values()}
