"""The SimPy model: calls arrive, the dispatch policy picks a unit, units drive, treat, transport, return.

Each call is a chain of SimPy timeouts whose callbacks carry it on (received, decided, on scene,
at the hospital, unit freed): the events of a process per call, in the same order, without a
generator to resume at each step. Units are plain records (`simulation.fleet`) whose status
follows the dispatch model's `UnitStatus`. The choices are the live service's own functions,
imported (`simulation.policy_use`):

- the unit: `dispatch.policy.rank_units` on the travel estimates of the assignable units
  (at the station: from the station; driving back: from where the unit is, see
  `simulation.travel`), through `best_option` (`Fleet.choose`);
- the hospital: `centers.destination.choose_destination` with the transport times from the
  scene (`Destinations`);
- the queue: when no unit can be sent the call waits, served in `dispatch.model.Call.queue_key`
  order, and a unit that frees up takes the head of the queue (as `dispatch.policy.call_for_freed_unit`).

Travel times come from the table of the local hour at which a unit starts driving
(`simulation.travel_hours`): a response after the turnout the call drew for the unit's status,
a transport on leaving the scene, a drive back or a move-up when it begins.

With ``config.move_up`` set, the move-up rule `dispatch.moveup.propose_moveup` is asked after
every change of the fleet (a unit sent, freed, or arrived at a station) and its proposals are
carried out at once (`MoveUp`): the unit drives to the post it is given (assignable on the way,
as ``available_mobile``) and waits there; after its next job it returns to its home station.

The scenario (`Scenario`, `UnitSpec`, the site ids) is defined in `simulation.scenario_spec`,
the result (`ReplicationResult`, `CALL_COLUMNS` and the codes of its columns) in
`simulation.result`; both are importable from here, as is `best_option`.
"""

from __future__ import annotations

import heapq
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import simpy

from dispatch.model import Call, UnitStatus
from simulation.demand import DAY_S, HOUR_S, CallPlan, plan_calls
from simulation.fleet import Fleet, UnitState
from simulation.policy_use import Destinations, MoveUp, best_option
from simulation.result import CALL_COLUMNS, REASON_CODES, STATUS_CODES, ReplicationResult
from simulation.scenario_spec import Scenario, UnitSpec, hospital_site_id, station_site_id, units_for_layout

# The start of simulated time, for the `Call` objects the queue orders (any fixed instant works).
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
_REASON_INDEX = {r: i for i, r in enumerate(REASON_CODES)}


class Simulation:
    """One replication of one scenario: build it, then :meth:`run`.

    Parameters
    ----------
    scenario
        The layout, travel times and policies.
    plan
        The calls (from `simulation.demand.plan_calls`).
    days
        Length of the run (calls after it are not generated; jobs under way finish).
    log
        When a list, every state change is appended as ``(time_s, who, what)`` (tests).
    """

    def __init__(self, scenario: Scenario, plan: CallPlan, *, days: float, log: list | None = None) -> None:
        self.scenario = scenario
        self.plan = plan
        self.days = days
        self.env = simpy.Environment()
        self.log = log
        travel = scenario.travel
        self.travel = travel
        hourly = scenario.hourly_travel
        assert hourly is not None  # set by Scenario
        # Per travel table (`simulation.travel_hours`); with one table every lookup takes the first.
        self.tables = hourly.tables
        self._hour_table = list(hourly.hour_table)
        self._timed = len(self.tables) > 1
        self._p2s = [t.point_to_site_s for t in self.tables]
        self.fleet = Fleet(scenario)
        # The calls no unit could be sent to, in `Call.queue_key` order.
        self.queue: list[tuple[Any, int, simpy.Event]] = []
        self.hospitals = scenario.hospitals
        self.hospital_sites = {h.id: travel.site_index(hospital_site_id(h.id)) for h in scenario.hospitals}
        self.hospital_index = {h.id: i for i, h in enumerate(scenario.hospitals)}
        self._destinations = Destinations(scenario, plan, self._p2s, self.hospital_sites)
        n = plan.n
        # Plain lists: per-call reads and writes of numpy scalars would dominate the run time.
        self._t = plan.t_s.tolist()
        self._point = plan.point.tolist()
        self._complaint = plan.complaint.tolist()
        self._priority = plan.priority.tolist()
        self._transport = plan.transport.tolist()
        self._processing = plan.call_processing_s.tolist()
        self._on_scene = plan.on_scene_s.tolist()
        self._handover = plan.handover_s.tolist()
        self._turnout = {s: a.tolist() for s, a in plan.turnout_s.items()}
        self._status_code = {s: i for i, s in enumerate(STATUS_CODES)}
        self.rec: dict[str, list] = {name: [math.nan] * n for name in CALL_COLUMNS}
        for name in ("unit", "status_at_alert", "hospital", "reason"):
            self.rec[name] = [-1] * n
        for name in ("transported", "stemi"):
            self.rec[name] = [False] * n
        self.move_up = scenario.config.move_up
        self.moves = 0
        self._move_up_rule = MoveUp(scenario, self.move_up) if self.move_up is not None else None

    # ------------------------------------------------------------------ processes

    def run(self) -> None:
        """Run until every call is served and every job finished."""
        if self._t:
            delay = self._t[0] - self.env.now
            if delay > 0:
                self.env.timeout(delay).callbacks.append(lambda _event: self._receive(0))
            else:
                self._receive(0)
        self.env.run()

    def _table_at(self, t_s: float) -> int:
        """Return the index of the travel table of the local hour at ``t_s`` (0 with one table)."""
        if not self._timed:
            return 0
        return self._hour_table[int(t_s // HOUR_S) % 24]

    def _note(self, who: str, what: str) -> None:
        if self.log is not None:
            self.log.append((round(self.env.now, 6), who, what))

    # A call is a chain of SimPy timeouts whose callbacks carry it on (received → ready →
    # alerted → on scene until done → at the hospital until handed over → unit freed): the same
    # events in the same order as a process per call, without a generator to resume at each step.

    def _receive(self, i: int) -> None:
        """Receive call ``i`` (due now) and every call due at the same instant; wait for the next."""
        env, t = self.env, self._t
        due = [i]
        j = i + 1
        while j < len(t) and not t[j] - env.now > 0:
            due.append(j)
            j += 1
        if j < len(t):
            # Scheduled before the calls received now act: simultaneous events keep their order.
            env.timeout(t[j] - env.now).callbacks.append(lambda _event: self._receive(j))
        for k in due:
            if self.log is not None:
                self._note(f"call{k}", "received")
            processing = self._processing[k]
            if processing > 0:
                env.timeout(processing).callbacks.append(lambda _event, k=k: self._ready(k))
            else:
                self._ready(k)

    def _ready(self, i: int) -> None:
        """Decide call ``i`` (its processing done): alert the unit the policy picks, or queue it."""
        ready = self.env.now
        choice = self._choose(i, self._point[i])
        if choice is not None:
            self._alert(i, ready, choice)
            return
        p = self._point[i]
        event = self.env.event()
        call = Call(
            id=f"c{i}",
            location=(float(self.travel.points.lon[p]), float(self.travel.points.lat[p])),
            complaint=self.plan.complaints[self._complaint[i]],
            priority=self._priority[i],
            received_at=EPOCH + timedelta(seconds=self._t[i]),
        )
        heapq.heappush(self.queue, (call.queue_key, i, event))
        event.callbacks.append(lambda ev: self._alert(i, ready, ev.value))
        if self.log is not None:
            self._note(f"call{i}", "queued")

    def _alert(self, i: int, ready: float, choice: tuple[UnitState, float, UnitStatus]) -> None:
        """Send the unit of ``choice`` to call ``i``, decided at ``ready``."""
        env, rec = self.env, self.rec
        unit, travel_s, status = choice
        wait = env.now - ready
        turnout = self._turnout[status][i]
        rec["queue_wait_s"][i] = wait
        rec["unit"][i] = unit.index
        rec["status_at_alert"][i] = self._status_code[status]
        rec["turnout_s"][i] = turnout
        rec["travel_s"][i] = travel_s
        if self.log is not None:
            self._note(unit.spec.id, f"alerted for call{i} ({status.value}, travel {travel_s:.1f})")
        # Nothing happens on arrival that another call could see: one event for the drive
        # and the time on scene.
        on_scene = self._on_scene[i]
        rec["response_s"][i] = env.now + turnout + travel_s - self._t[i]
        if self.log is not None:
            self.log.append((round(env.now + turnout + travel_s, 6), unit.spec.id, f"on scene call{i}"))
        env.timeout(turnout + travel_s + on_scene).callbacks.append(
            lambda _event: self._leave_scene(i, ready, wait, unit, on_scene)
        )

    def _leave_scene(self, i: int, ready: float, wait: float, unit: UnitState, on_scene: float) -> None:
        """Transport the patient of call ``i`` to the hospital the policy chooses, or free the unit."""
        rec = self.rec
        p = self._point[i]
        if not self._transport[i]:
            self._release(unit, origin_site=None, origin_point=p)
            rec["job_s"][i] = self.env.now - ready - wait
            return
        # The transport starts now: the table of this hour (`_table_at`, inlined).
        k = self._hour_table[int(self.env.now // HOUR_S) % 24] if self._timed else 0
        decision = self._destinations.decide(i, p, on_scene, k)
        h_site = self.hospital_sites[decision.hospital_id]
        transport_s = float(self._p2s[k][p, h_site])
        handover = self._handover[i]
        rec["transported"][i] = True
        rec["hospital"][i] = self.hospital_index[decision.hospital_id]
        rec["reason"][i] = _REASON_INDEX[decision.reason_code]
        rec["transport_s"][i] = transport_s
        rec["handover_s"][i] = handover
        if decision.expected_fmc_to_device_s is not None:
            rec["fmc_to_device_s"][i] = decision.expected_fmc_to_device_s
            rec["stemi"][i] = True
        if self.log is not None:
            self._note(unit.spec.id, f"transporting call{i} to {decision.hospital_id}")
        self.env.timeout(transport_s + handover).callbacks.append(lambda _event: self._handed_over(i, ready, wait, unit, h_site))

    def _handed_over(self, i: int, ready: float, wait: float, unit: UnitState, h_site: int) -> None:
        """Free the unit of call ``i`` at the hospital."""
        self._release(unit, origin_site=h_site, origin_point=None)
        self.rec["job_s"][i] = self.env.now - ready - wait

    # ------------------------------------------------------------------ decisions

    def _choose(self, i: int, p: int) -> tuple[UnitState, float, UnitStatus] | None:
        """Pick the unit for call ``i`` at point ``p`` with the dispatch policy and take it, or None."""
        best = self.fleet.choose(i, p, self._priority[i], self.env.now, self._turnout)
        if best is None:
            return None
        unit, t = best
        status = unit.status
        self._take(unit)
        return unit, t, status

    def _take(self, unit: UnitState) -> None:
        self.fleet.take(unit, self.env.now)
        if self.move_up is not None:
            self._move_up()

    def _release(self, unit: UnitState, *, origin_site: int | None, origin_point: int | None) -> None:
        """Free ``unit`` where it is (a hospital or the scene): it drives back, assignable on the way."""
        env = self.env
        now = env.now
        self.fleet.free(unit, now, origin_site=origin_site, origin_point=origin_point)
        if self.log is not None:
            self._note(unit.spec.id, "free, returning")
        if self.queue:
            _, j, event = heapq.heappop(self.queue)
            p = self._point[j]
            # Not yet on its way: timed from where it is, on the table of the hour it starts driving.
            table = self.tables[self._table_at(now + self._turnout[UnitStatus.RETURNING][j])]
            t = table.returning_to_point_s(origin_site, origin_point, unit.spec.base_site, 0.0, p)
            self._take(unit)
            event.succeed((unit, t, UnitStatus.RETURNING))
            return
        unit.trip_table = self._hour_table[int(now // HOUR_S) % 24] if self._timed else 0
        trip_s = self.tables[unit.trip_table].trip_time_s(origin_site, origin_point, unit.spec.base_site)
        token = unit.trip_token
        arrive = env.timeout(trip_s)
        arrive.callbacks.append(lambda _event, u=unit, k=token: self._arrive(u, k))
        if self.move_up is not None:
            self._move_up()

    def _arrive(self, unit: UnitState, token: int) -> None:
        if unit.trip_token != token:
            return  # sent again on the way
        self.fleet.arrive(unit, self.env.now)
        self._note(unit.spec.id, "at station")
        if self.move_up is not None:
            self._move_up()

    # ------------------------------------------------------------------ move-up

    def _move_up(self) -> None:
        """Ask the move-up rule for re-postings and carry them out."""
        rule, fleet = self._move_up_rule, self.fleet
        assert rule is not None  # called only with move-up on
        for unit, to_site in rule.repostings(fleet.units, fleet.returning, self.env.now):
            self._repost(unit, to_site)

    def _repost(self, unit: UnitState, to_site: int) -> None:
        """Send ``unit``, waiting at its post, to wait at site ``to_site`` (assignable on the way)."""
        env = self.env
        self.fleet.repost(unit, to_site, env.now, self._table_at(env.now))
        self.moves += 1
        if self.log is not None:
            self._note(unit.spec.id, f"move-up to {self.travel.sites[to_site].id}")
        token = unit.trip_token
        arrive = env.timeout(self.tables[unit.trip_table].trip_time_s(unit.origin_site, None, to_site))
        arrive.callbacks.append(lambda _event, u=unit, k=token: self._arrive(u, k))

    # ------------------------------------------------------------------ results

    def result(self, *, replication: int, seed: int) -> ReplicationResult:
        """Return the records of the calls received after the warm-up."""
        warmup_s = self.scenario.config.warmup_days * DAY_S
        plan = self.plan
        calls: dict[str, np.ndarray] = {
            "t_s": plan.t_s, "point": plan.point, "complaint": plan.complaint,
            "priority": plan.priority.astype(np.int64), "call_processing_s": plan.call_processing_s,
            "on_scene_s": np.where(np.isfinite(np.asarray(self.rec["response_s"], dtype=float)), plan.on_scene_s, np.nan),
        }  # fmt: skip
        for name, values in self.rec.items():
            if name not in calls:
                calls[name] = np.asarray(values, dtype=bool if name in ("transported", "stemi") else None)
        keep = plan.t_s >= warmup_s
        horizon = self.days * DAY_S
        units = self.fleet.units
        return ReplicationResult(
            layout=self.scenario.name,
            replication=replication,
            seed=seed,
            days=self.days,
            horizon_s=horizon,
            unit_ids=tuple(u.spec.id for u in units),
            unit_busy_s=np.array([u.busy_s for u in units]),
            unit_returning_s=np.array([u.returning_s for u in units]),
            unit_jobs=np.array([u.jobs for u in units]),
            calls={k: v[keep] for k, v in calls.items()},
            complaints=tuple(c.value for c in self.plan.complaints),
            hospital_ids=tuple(h.id for h in self.hospitals),
            moves=self.moves,
        )


def run_replication(
    scenario: Scenario,
    *,
    days: float,
    seed: int,
    replication: int,
    plan: CallPlan | None = None,
    log: list | None = None,
) -> ReplicationResult:
    """Simulate one replication of ``scenario`` (calls drawn from ``(seed, replication)`` unless given)."""
    if plan is None:
        plan = plan_calls(scenario.config, scenario.travel.points, days=days, seed=seed, replication=replication)
    sim = Simulation(scenario, plan, days=days, log=log)
    sim.run()
    return sim.result(replication=replication, seed=seed)


__all__ = [
    "CALL_COLUMNS",
    "EPOCH",
    "REASON_CODES",
    "STATUS_CODES",
    "ReplicationResult",
    "Scenario",
    "Simulation",
    "UnitSpec",
    "best_option",
    "hospital_site_id",
    "run_replication",
    "station_site_id",
    "units_for_layout",
]
