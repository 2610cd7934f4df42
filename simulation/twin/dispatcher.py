"""The twin's dispatcher: places the drawn calls, sends the recommended unit, keeps each call's drawn future."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from dispatch.model import Complaint
from simulation.config import SimulationConfig
from simulation.travel import DemandPoints
from simulation.twin.calls import TwinCall, call_stream, draw_call
from simulation.twin.client import ServiceClient
from simulation.twin.crew import IDLE, Crew
from simulation.twin.errors import TwinHttpError
from simulation.twin.options import Counts, SimClock, TwinOptions

log = logging.getLogger(__name__)

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
#: Calls a bounded run waits for at most, after the last was placed, for the units to come home
#: (in simulated seconds: a long transport plus handover plus the drive back).
DRAIN_SIM_S = 6 * 3600.0


#: Starts a task the run tracks (cancelled at the end, its failure counted): ``spawn(coroutine, name)``.
Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task[Any]]


class CallBook:
    """What will happen on each call (its `TwinCall`): drawn up front for the twin's own calls, on demand for others.

    Parameters
    ----------
    client, token
        The service and the dispatcher's token (to read a call the twin did not place).
    sim
        The simulator's settings the futures are drawn from.
    rng
        The crews' random draws.
    """

    def __init__(self, client: ServiceClient, token: str, sim: SimulationConfig, rng: np.random.Generator) -> None:
        self.client, self.token, self.sim, self.rng = client, token, sim, rng
        self._plans: dict[str, TwinCall] = {}

    def record(self, call_id: str, call: TwinCall) -> None:
        """Remember the drawn future of a call the twin placed."""
        self._plans[call_id] = call

    def plan_for(self, call_id: str, complaint: Complaint, location: tuple[float, float]) -> TwinCall:
        """Return the call's drawn future (drawn now for a call the twin did not place)."""
        plan = self._plans.get(call_id)
        if plan is None:
            plan = self._plans[call_id] = draw_call(self.sim, complaint, location, self.rng)
        return plan

    async def info(self, call_id: str) -> tuple[TwinCall, tuple[float, float]]:
        """Return the call's plan and location."""
        plan = self._plans.get(call_id)
        if plan is not None:
            return plan, plan.location
        call = await self.client.request("GET", f"/api/calls/{call_id}", self.token)
        location = (float(call["location"]["lon"]), float(call["location"]["lat"]))
        return self.plan_for(call_id, Complaint(call["complaint"]), location), location


class Dispatcher:
    """Places the twin's calls as their time comes and assigns each the unit the service recommends.

    Parameters
    ----------
    client, token
        The service and the dispatcher's token.
    counts
        The run's counts (calls placed, assigned, finished; conflicts, errors).
    options
        The run's options (seed, bounds, poll interval).
    clock
        The run's simulated time.
    sim, points
        The simulator's settings and the county's demand points the calls are drawn from.
    book
        Where each placed call's drawn future is kept for the crews.
    crews
        The crews by unit id (a bounded run ends when they are all idle).
    spawn
        Starts the task that takes one call.
    """

    def __init__(self, client: ServiceClient, token: str, counts: Counts, options: TwinOptions, clock: SimClock, *,
                 sim: SimulationConfig, points: DemandPoints, book: CallBook, crews: Mapping[str, Crew],
                 spawn: Spawn) -> None:
        self.client, self.token, self.counts, self.options, self.clock = client, token, counts, options, clock
        self.sim, self.points, self.book, self.crews, self.spawn = sim, points, book, crews, spawn
        self.placed: list[str] = []

    async def dispatch_calls(self) -> None:
        """Place the calls as their time comes; in a bounded run, then wait for the units to come home."""
        now_local = datetime.now(LOCAL_TZ)
        start_of_day_s = now_local.hour * 3600.0 + now_local.minute * 60.0 + now_local.second
        stream = call_stream(self.sim, self.points, seed=self.options.seed, start_of_day_s=start_of_day_s,
                             first_now=self.options.first_call_now)
        handlers = []
        for call in stream:
            if self.options.calls is not None and self.counts.calls_placed >= self.options.calls:
                break
            await self.clock.sleep(call.t_s - self.clock.now_s())
            self.counts.calls_placed += 1
            handlers.append(self.spawn(self.take_call(call), "twin-call"))
        await asyncio.gather(*handlers, return_exceptions=True)
        await self.drain()

    async def take_call(self, call: TwinCall) -> None:
        """Take one call: place it, process it, send the recommended unit."""
        body = {"location": {"lon": call.location[0], "lat": call.location[1]}, "complaint": call.complaint.value,
                "priority": call.priority, "notes": "simulated call (ems twin)"}
        if call.place_name:
            body["place_name"] = call.place_name
        try:
            created = await self.client.request("POST", "/api/calls", self.token, json=body)
        except TwinHttpError as e:
            self.counts.errors += 1
            log.error("twin: call not taken: %s", e)
            return
        call_id = created["id"]
        self.book.record(call_id, call)
        self.placed.append(call_id)
        log.info("twin: call %s: %s, priority %d, at %s", call_id, call.complaint.value, call.priority,
                 call.place_name or call.location)
        await self.clock.sleep(call.call_processing_s)
        for attempt in range(3):
            current = await self.client.request("GET", f"/api/calls/{call_id}", self.token)
            if current["status"] != "queued":
                return  # a dispatcher (or the queue) already sent a unit, or cancelled the call
            recs = (await self.client.request("GET", f"/api/calls/{call_id}/recommendations", self.token))
            options = recs.get("recommendations") or []
            if not options:
                log.info("twin: call %s waits in the queue: no unit free", call_id)
                return  # the service offers it to the next unit that comes free
            unit_id = options[0]["unit_id"]
            chosen = {"unit_id": unit_id}
            if recs.get("ranking_id") is not None:
                chosen["ranking_id"] = recs["ranking_id"]  # the list the unit was chosen from
            try:
                await self.client.request("POST", f"/api/calls/{call_id}/assign", self.token, json=chosen)
                self.counts.calls_assigned += 1
                log.info("twin: call %s: sent %s (ETA %.0f s)", call_id, unit_id, options[0]["eta_s"])
                return
            except TwinHttpError as e:
                if e.status not in (400, 409):
                    raise
                # the unit was taken meanwhile, or the ranking changed: read the state again
                self.counts.conflicts += 1
                log.info("twin: assigning %s to %s: %s; trying again", unit_id, call_id, e.message)
        log.warning("twin: call %s left in the queue after 3 attempts to assign it", call_id)

    async def drain(self) -> None:
        """Wait until every placed call has ended and every crew is idle (bounded runs)."""
        deadline = time.monotonic() + DRAIN_SIM_S / self.options.speed
        while time.monotonic() < deadline:
            await asyncio.sleep(max(self.options.poll_interval_s, 0.2))
            try:
                open_ids = {c["id"] for c in (await self.client.request(
                    "GET", "/api/calls", self.token, params={"status": "open"}))["calls"]}
            except TwinHttpError as e:
                self.counts.errors += 1
                log.error("twin: reading the open calls: %s", e)
                continue
            self.counts.calls_finished = sum(1 for c in self.placed if c not in open_ids)
            if not (open_ids & set(self.placed)) and all(c.status in IDLE for c in self.crews.values()):
                return
        log.warning("twin: %d call(s) still open when the run ended",
                    len(self.placed) - self.counts.calls_finished)
