"""The SimPy model: calls arrive, the dispatch policy picks a unit, units drive, treat, transport, return.

Each call is a chain of SimPy timeouts whose callbacks carry it on (received, decided, on scene,
at the hospital, unit freed): the events of a process per call, in the same order, without a
generator to resume at each step. Units are plain records whose status follows the dispatch
model's `UnitStatus`. The choices are the live service's own functions, imported:

- the unit: `dispatch.policy.rank_units` on the travel estimates of the assignable units
  (at the station: from the station; driving back: from where the unit is, see
  `simulation.travel`);
- the hospital: `centers.destination.choose_destination` with the transport times from the scene;
- the queue: when no unit can be sent the call waits, served in `dispatch.model.Call.queue_key`
  order, and a unit that frees up takes the head of the queue (as `dispatch.policy.call_for_freed_unit`).

Only the best option is needed, so `rank_units` is given the units that can possibly rank first
(`best_option`): the policy never ranks first a unit whose estimate (travel + turnout) is more
than ``preference_margin_s`` behind the fastest, nor one alike in time, status and capability
to a unit with a lower id (ties go to the lowest id); with a single such unit there is nothing
to rank. `tests/simulation/test_policy_use.py` checks the pick against the unfiltered ranking.
For the same reason stations are looked at nearest first and no further than that margin, and
a unit on its way back is timed exactly only when it may be within it (`limit_s` of
`TravelModel.returning_to_point_s`).
Travel times come from the table of the local hour at which a unit starts driving
(`simulation.travel_hours`): a response after the turnout the call drew for the unit's status,
a transport on leaving the scene, a drive back or a move-up when it begins.
`choose_destination` is given, per scene, only the hospitals that can be chosen from there
(`centers.destination.deciding_hospitals`: the same decision as from all of them). Destinations
of non-STEMI patients depend only on the scene and the screening flags, and the policy is a pure
function: they are cached per scene.

With ``config.move_up`` set, the move-up rule `dispatch.moveup.propose_moveup` is asked after
every change of the fleet (a unit sent, freed, or arrived at a station) and its proposals are
carried out at once: the unit drives to the post it is given (assignable on the way, as
``available_mobile``) and waits there; after its next job it returns to its home station.
"""

from __future__ import annotations

import bisect
import heapq
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Sequence

import numpy as np
import simpy

from centers.destination import (
    DestinationConfig,
    DestinationInput,
    ReasonCode,
    choose_destination,
    deciding_hospitals,
)
from dispatch.model import Call, Capability, UnitStatus
from dispatch.moveup import IdleUnit, Post, propose_moveup
from dispatch.policy import Candidate, DispatchConfig, rank_units
from simulation.config import SimulationConfig
from simulation.demand import DAY_S, HOUR_S, CallPlan, plan_calls
from simulation.errors import ScenarioError
from simulation.travel import TravelModel
from simulation.travel_hours import HourlyTravel

# The start of simulated time, for the `Call` objects the queue orders (any fixed instant works).
EPOCH = datetime(2024, 1, 1, tzinfo=timezone.utc)
REASON_CODES: tuple[ReasonCode, ...] = tuple(ReasonCode)
_REASON_INDEX = {r: i for i, r in enumerate(REASON_CODES)}
# Screening values the simulator gives the destination policy for a stroke patient: a positive
# LVO screen is BE-FAST positive with RACE 6 (>= 5), a negative one RACE 2; last known well
# 3 h ago inside the window, 30 h outside it (beyond the 24 h thrombectomy window).
_RACE_LVO, _RACE_NO_LVO = 6, 2
_LKW_IN_WINDOW_S, _LKW_OUT_S = 3 * 3600.0, 30 * 3600.0

STATUS_CODES: tuple[UnitStatus, ...] = (
    UnitStatus.AVAILABLE_AT_STATION,
    UnitStatus.AVAILABLE_MOBILE,
    UnitStatus.RETURNING,
)


class _Eta(NamedTuple):
    """A travel estimate as the policy reads it (`dispatch.policy.EtaLike`)."""

    eta_s: float
    distance_m: float


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """An ambulance of the scenario: its id, home station (a site of the travel model), capability."""

    id: str
    station_id: str
    base_site: int
    capability: Capability


@dataclass(frozen=True, eq=False)
class Scenario:
    """Everything one layout's simulation needs.

    Attributes
    ----------
    name
        The layout's name.
    units
        The ambulances.
    travel
        Travel times between sites and demand points (off-peak: no time-of-day factor).
    hospitals
        Hospitals the destination policy may choose (``id``, ``capabilities``, ``pci_24_7``...).
    config, dispatch, destination
        Simulation settings and the two policies' settings.
    hourly_travel
        The travel models by local hour, ``travel`` first (`simulation.travel_hours`); None:
        ``travel`` at every hour.
    """

    name: str
    units: tuple[UnitSpec, ...]
    travel: TravelModel
    hospitals: tuple[Any, ...]
    config: SimulationConfig = field(default_factory=SimulationConfig)
    dispatch: DispatchConfig = field(default_factory=DispatchConfig)
    destination: DestinationConfig = field(default_factory=DestinationConfig)
    hourly_travel: HourlyTravel | None = None

    def __post_init__(self) -> None:
        if not self.units:
            raise ScenarioError(f"layout {self.name!r}: no ambulances; a simulation needs at least one unit")
        ids = [u.id for u in self.units]
        if len(set(ids)) != len(ids):
            raise ScenarioError(f"layout {self.name!r}: unit ids must be unique")
        sites = len(self.travel.sites)
        for u in self.units:
            if not 0 <= u.base_site < sites:
                raise ScenarioError(f"unit {u.id}: base_site {u.base_site} is not a site (0-{sites - 1})")
        for h in self.hospitals:
            self.travel.site_index(hospital_site_id(h.id))
        if self.config.unbounded_dispatch and self.dispatch.max_eta_s is not None:
            object.__setattr__(self, "dispatch", replace(self.dispatch, max_eta_s=None))
        if self.hourly_travel is None:
            object.__setattr__(self, "hourly_travel", HourlyTravel.single(self.travel))
        elif self.hourly_travel.base is not self.travel:
            raise ScenarioError(
                f"layout {self.name!r}: hourly_travel must have the scenario's travel model as its first table"
            )

        # Per travel table (shared by the replications run in this process).
        tables = len(self.hourly_travel.tables)
        object.__setattr__(self, "_destination_cache", tuple({} for _ in range(tables)))
        object.__setattr__(self, "_deciding_cache", tuple({} for _ in range(tables)))
        object.__setattr__(self, "_station_order_cache", tuple({} for _ in range(tables)))

    def __reduce__(self) -> tuple[Any, ...]:
        # DispatchConfig holds a read-only mapping view, which does not pickle: send its fields.
        dispatch = {name: getattr(self.dispatch, name) for name in DispatchConfig.__dataclass_fields__}
        dispatch["turnout_s"] = dict(dispatch["turnout_s"])
        return (
            _scenario,
            (self.name, self.units, self.travel, self.hospitals, self.config, dispatch, self.destination,
             self.hourly_travel),
        )


def _scenario(
    name: str, units: Any, travel: Any, hospitals: Any, config: Any, dispatch: dict, destination: Any,
    hourly_travel: Any,
) -> Scenario:  # fmt: skip
    return Scenario(name, units, travel, hospitals, config, DispatchConfig(**dispatch), destination, hourly_travel)


@dataclass(frozen=True, eq=False)
class ReplicationResult:
    """What one replication produced: per-call arrays and per-unit times.

    ``calls`` maps a column name to an array with one entry per call kept (after the warm-up);
    see :data:`CALL_COLUMNS`. ``unit_busy_s`` is, per unit, the time spent on jobs (alerted to
    free at the scene or the hospital), ``unit_returning_s`` the time driving back, both over
    the whole run ``horizon_s`` (warm-up included: utilisation is a share of it).
    """

    layout: str
    replication: int
    seed: int
    days: float
    horizon_s: float
    unit_ids: tuple[str, ...]
    unit_busy_s: np.ndarray
    unit_returning_s: np.ndarray
    unit_jobs: np.ndarray
    calls: dict[str, np.ndarray]
    complaints: tuple[str, ...]
    hospital_ids: tuple[str, ...]
    moves: int = 0

    @property
    def n_calls(self) -> int:
        """Number of calls kept."""
        return int(self.calls["t_s"].size)


#: Per-call columns of a `ReplicationResult`. Times in s, NaN where not applicable; ``unit``,
#: ``status_at_alert`` (index into `STATUS_CODES`), ``hospital`` and ``reason`` (index into
#: `REASON_CODES`) are indices, and the last two mean something only where ``transported``.
CALL_COLUMNS = (
    "t_s", "point", "complaint", "priority", "unit", "status_at_alert", "queue_wait_s",
    "call_processing_s", "turnout_s", "travel_s", "response_s", "on_scene_s", "transported",
    "hospital", "transport_s", "handover_s", "reason", "stemi", "fmc_to_device_s", "job_s",
)  # fmt: skip


class _UnitState:
    __slots__ = (
        "index", "spec", "base", "status", "station_candidate", "origin_site", "origin_point", "trip_start",
        "trip_table", "trip_token", "busy_since", "busy_s", "returning_s", "jobs",
    )  # fmt: skip

    def __init__(self, index: int, spec: UnitSpec, travel: TravelModel) -> None:
        self.index = index
        self.spec = spec
        self.base = spec.base_site
        self.status = UnitStatus.AVAILABLE_AT_STATION
        site = travel.sites[spec.base_site]
        self.station_candidate = Candidate(
            spec.id, spec.capability, UnitStatus.AVAILABLE_AT_STATION, (site.lon, site.lat), "station"
        )
        self.origin_site: int | None = None
        self.origin_point: int | None = None
        self.trip_start = 0.0
        self.trip_table = 0  # the travel table the trip under way is timed on
        self.trip_token = 0
        self.busy_since = 0.0
        self.busy_s = 0.0
        self.returning_s = 0.0
        self.jobs = 0


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
        self.hourly = hourly
        # Per travel table (`simulation.travel_hours`); with one table every lookup takes the first.
        self.tables = hourly.tables
        self._hour_table = list(hourly.hour_table)
        self._timed = len(self.tables) > 1
        self._p2s = [t.point_to_site_s for t in self.tables]
        self.units = [_UnitState(i, spec, travel) for i, spec in enumerate(scenario.units)]
        # Free units: at their station, grouped by (station, capability) in unit id order (only
        # the first of a group can rank first: the policy breaks ties by unit id); on their way back.
        self.at_station: dict[tuple[int, Capability], list[_UnitState]] = {}
        # A group for every (station, capability) a unit may wait at (move-up posts are stations).
        capabilities = sorted({u.spec.capability for u in self.units}, key=lambda c: c.value)
        for base in sorted({u.spec.base_site for u in self.units}):
            for capability in capabilities:
                self.at_station[(base, capability)] = []
        for u in sorted(self.units, key=lambda unit: unit.spec.id):
            self.at_station[(u.base, u.spec.capability)].append(u)
        # Per demand point, the groups nearest first (shared by the scenario's replications).
        self._station_order: tuple[dict[int, list[tuple[float, tuple[int, Capability]]]], ...] = (
            scenario._station_order_cache
        )
        self.returning: dict[int, _UnitState] = {}
        self.n_free = len(self.units)
        self.queue: list[tuple[Any, int, simpy.Event]] = []
        self.dispatch = scenario.dispatch
        self.policy_turnout = {s: float(scenario.dispatch.turnout_s[s]) for s in STATUS_CODES}
        self.max_eta_s = scenario.dispatch.max_eta_s
        self.hospitals = scenario.hospitals
        self.hospital_sites = {h.id: travel.site_index(hospital_site_id(h.id)) for h in scenario.hospitals}
        self.hospital_index = {h.id: i for i, h in enumerate(scenario.hospitals)}
        # Destinations depend only on the scene and the flags (the policy is pure): shared by
        # every replication of the scenario run in this process.
        self._dest_cache: tuple[dict[tuple[int, int, bool, bool], Any], ...] = scenario._destination_cache
        # Per scene, the hospitals the policy can choose from (`deciding_hospitals`): the same
        # decisions as from all hospitals, with a handful to time and sort instead of all.
        self._deciding: tuple[dict[int, tuple[tuple[Any, ...], Any]], ...] = scenario._deciding_cache
        self._station_rows = [t.point_rows() for t in self.tables]
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
        self._complaint_values = [c.value for c in plan.complaints]
        self.move_up = scenario.config.move_up
        self.moves = 0
        if self.move_up is not None:
            self._posts = _posts(scenario)
            site_ids = [site.id for site in travel.sites]
            self._post_index = {site_ids[i]: i for i in range(len(site_ids))}
            self._site_ids = site_ids
            self._fill_sites = [
                self._post_index[p.id] for p in self._posts if p.home_units >= self.move_up.min_home_units
            ]  # fmt: skip

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

    def _alert(self, i: int, ready: float, choice: tuple[_UnitState, float, UnitStatus]) -> None:
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

    def _leave_scene(self, i: int, ready: float, wait: float, unit: _UnitState, on_scene: float) -> None:
        """Transport the patient of call ``i`` to the hospital the policy chooses, or free the unit."""
        rec = self.rec
        p = self._point[i]
        if not self._transport[i]:
            self._release(unit, origin_site=None, origin_point=p)
            rec["job_s"][i] = self.env.now - ready - wait
            return
        # The transport starts now: the table of this hour (`_table_at`, inlined).
        k = self._hour_table[int(self.env.now // HOUR_S) % 24] if self._timed else 0
        decision = self._destination(i, p, on_scene, k)
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

    def _handed_over(self, i: int, ready: float, wait: float, unit: _UnitState, h_site: int) -> None:
        """Free the unit of call ``i`` at the hospital."""
        self._release(unit, origin_site=h_site, origin_point=None)
        self.rec["job_s"][i] = self.env.now - ready - wait

    # ------------------------------------------------------------------ decisions

    def _choose(self, i: int, p: int) -> tuple[_UnitState, float, UnitStatus] | None:
        """Pick the unit for call ``i`` at point ``p`` with the dispatch policy, or None."""
        if not self.n_free:
            return None
        now = self.env.now
        max_eta = self.max_eta_s
        turnout = self.policy_turnout
        at_station = UnitStatus.AVAILABLE_AT_STATION
        station_turnout = turnout[at_station]
        margin = self.dispatch.preference_margin_s
        options: list[tuple[float, UnitStatus, _UnitState]] = []
        fastest = math.inf  # the best estimate so far, travel + the policy's turnout
        timed = self._timed
        if timed:
            # A unit would start driving after the turnout the call drew for its status: the
            # travel table of that hour (`_table_at`, inlined: this runs for every call).
            hour_table, drawn = self._hour_table, self._turnout
            k = hour_table[int((now + drawn[at_station][i]) // HOUR_S) % 24]
        else:
            k = 0
        order = self._station_order[k].get(p)
        if order is None:
            order = self._station_order[k][p] = self._stations_nearest_first(p, k)
        groups = self.at_station
        for t, key in order:
            # Nearest first: past the margin of the first unit found, none can rank first (`best_option`).
            if t == math.inf or (max_eta is not None and t > max_eta) or t + station_turnout > fastest + margin:
                break
            group = groups[key]
            if not group:
                continue
            options.append((t, at_station, group[0]))
            if t + station_turnout < fastest:
                fastest = t + station_turnout
        if self.returning:
            returning_to_point_s = self.travel.returning_to_point_s
            tables, elapsed_on = self.tables, self.hourly.elapsed_on
            for u in self.returning.values():
                status = u.status
                # Only a unit within the margin of the fastest can rank first (`best_option`):
                # the travel model may answer inf for one surely beyond (1 s spare for rounding).
                limit = fastest + margin - turnout[status] + 1.0
                elapsed = now - u.trip_start
                if timed:
                    k = hour_table[int((now + drawn[status][i]) // HOUR_S) % 24]
                    if u.trip_table != k:  # placed on its trip as timed on the trip's table
                        elapsed = elapsed_on(u.trip_table, k, u.origin_site, u.origin_point, u.base, elapsed)
                    t = tables[k].returning_to_point_s(
                        u.origin_site, u.origin_point, u.base, elapsed, p, limit_s=limit
                    )
                else:
                    t = returning_to_point_s(u.origin_site, u.origin_point, u.base, elapsed, p, limit_s=limit)
                if t != math.inf and (max_eta is None or t <= max_eta):
                    options.append((t, status, u))
                    if t + turnout[status] < fastest:
                        fastest = t + turnout[status]
        best = best_option(self._priority[i], options, lambda u: self._candidate(u, now), self.dispatch, self.policy_turnout)
        if best is None:
            return None
        unit, t = best
        status = unit.status
        self._take(unit)
        return unit, t, status

    def _stations_nearest_first(self, p: int, k: int) -> list[tuple[float, tuple[int, Capability]]]:
        """Return the groups of units waiting at a station (their keys), nearest to point ``p`` first on table ``k``."""
        row = self._station_rows[k][p]
        return sorted(((row[key[0]], key) for key in self.at_station), key=lambda tk: tk[0])

    def _candidate(self, u: _UnitState, now: float) -> Candidate:
        if u.status is UnitStatus.AVAILABLE_AT_STATION:
            if u.base == u.spec.base_site:
                return u.station_candidate
            site = self.travel.sites[u.base]
            return Candidate(u.spec.id, u.spec.capability, u.status, (site.lon, site.lat), "station")
        point = self.tables[u.trip_table].returning_position(u.origin_site, u.origin_point, u.base, now - u.trip_start)
        return Candidate(u.spec.id, u.spec.capability, u.status, point, "gps")

    def _take(self, unit: _UnitState) -> None:
        now = self.env.now
        if unit.index in self.returning:
            unit.returning_s += now - unit.trip_start
            del self.returning[unit.index]
        else:
            self.at_station[(unit.base, unit.spec.capability)].remove(unit)
        unit.status = UnitStatus.DISPATCHED
        unit.trip_token += 1
        unit.busy_since = now
        unit.jobs += 1
        self.n_free -= 1
        if self.move_up is not None:
            self._move_up()

    def _destination(self, i: int, p: int, on_scene_s: float, k: int) -> Any:
        """Return the destination decision for call ``i`` at point ``p``, with transport times of table ``k``."""
        plan = self.plan
        complaint = self._complaint_values[self._complaint[i]]
        stemi = complaint == "chest_pain" and bool(plan.stemi[i])
        lvo = complaint == "stroke" and bool(plan.lvo[i])
        in_window = complaint == "stroke" and bool(plan.lkw_in_window[i])
        key = (p, self._complaint[i], lvo, in_window)
        dest_cache = self._dest_cache[k]
        if not stemi:
            cached = dest_cache.get(key)
            if cached is not None:
                return cached
        if stemi:
            patient = DestinationInput(
                complaint=complaint,
                stemi=True,
                fmc_elapsed_s=on_scene_s,
                field_cathlab_activated=bool(plan.cathlab_from_field[i]),
            )
        elif complaint == "stroke":
            patient = DestinationInput(
                complaint=complaint,
                befast_positive=True,
                race_score=_RACE_LVO if lvo else _RACE_NO_LVO,
                lkw_elapsed_s=_LKW_IN_WINDOW_S if in_window else _LKW_OUT_S,
            )
        else:
            patient = DestinationInput(complaint=complaint)
        deciding = self._deciding[k].get(p)
        if deciding is None:
            deciding = self._deciding[k][p] = self._deciding_at(p, k)
        decision = choose_destination(patient, deciding[0], deciding[1], config=self.scenario.destination)
        if not stemi:
            dest_cache[key] = decision
        return decision

    def _deciding_at(self, p: int, k: int) -> tuple[tuple[Any, ...], Any]:
        """Return the hospitals that can be chosen from point ``p`` and their transport times on table ``k``."""
        row = self._p2s[k][p].tolist()
        sites = self.hospital_sites

        def transport_time_s(hospital_id: str) -> float | None:
            t = row[sites[hospital_id]]
            return t if t != math.inf else None

        deciding = deciding_hospitals(self.hospitals, transport_time_s, config=self.scenario.destination)
        return deciding, {h.id: transport_time_s(h.id) for h in deciding}.get

    def _release(self, unit: _UnitState, *, origin_site: int | None, origin_point: int | None) -> None:
        """Free ``unit`` where it is (a hospital or the scene): it drives back, assignable on the way."""
        env = self.env
        now = env.now
        unit.busy_s += now - unit.busy_since
        unit.status = UnitStatus.RETURNING
        unit.base = unit.spec.base_site
        unit.origin_site, unit.origin_point = origin_site, origin_point
        unit.trip_start = now
        unit.trip_token += 1
        self.returning[unit.index] = unit
        self.n_free += 1
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

    def _arrive(self, unit: _UnitState, token: int) -> None:
        if unit.trip_token != token:
            return  # sent again on the way
        unit.returning_s += self.env.now - unit.trip_start
        unit.status = UnitStatus.AVAILABLE_AT_STATION
        unit.origin_site = unit.origin_point = None
        del self.returning[unit.index]
        group = self.at_station[(unit.base, unit.spec.capability)]
        bisect.insort(group, unit, key=lambda u: u.spec.id)
        self._note(unit.spec.id, "at station")
        if self.move_up is not None:
            self._move_up()

    # ------------------------------------------------------------------ move-up

    def _move_up(self) -> None:
        """Ask the move-up rule for re-postings and carry them out."""
        # Most changes leave every post manned and every unit at home: nothing to ask.
        cover = dict.fromkeys(self._fill_sites, 0)
        away = False
        for u in self.units:
            if u.status is UnitStatus.AVAILABLE_AT_STATION or u.index in self.returning:
                cover[u.base] = cover.get(u.base, 0) + 1
                away = away or u.base != u.spec.base_site
        if not away and all(cover[b] for b in self._fill_sites):
            return
        site_ids = self._site_ids
        idle = []
        by_id = {}
        for u in self.units:
            if u.status is UnitStatus.AVAILABLE_AT_STATION:
                idle.append(IdleUnit(u.spec.id, site_ids[u.spec.base_site], site_ids[u.base], True))
            elif u.index in self.returning:
                idle.append(IdleUnit(u.spec.id, site_ids[u.spec.base_site], site_ids[u.base], False))
            else:
                continue
            by_id[u.spec.id] = u
        s2s = self.tables[self._table_at(self.env.now)].site_to_site_s
        index = self._post_index

        def travel_time_s(a: str, b: str) -> float | None:
            t = float(s2s[index[a], index[b]])
            return t if math.isfinite(t) else None

        for proposal in propose_moveup(self._posts, idle, travel_time_s, self.move_up):
            self._repost(by_id[proposal.unit_id], index[proposal.to_post])

    def _repost(self, unit: _UnitState, to_site: int) -> None:
        """Send ``unit``, waiting at its post, to wait at site ``to_site`` (assignable on the way)."""
        env = self.env
        self.at_station[(unit.base, unit.spec.capability)].remove(unit)
        unit.status = UnitStatus.AVAILABLE_MOBILE
        unit.origin_site, unit.origin_point = unit.base, None
        unit.base = to_site
        unit.trip_start = env.now
        unit.trip_table = self._table_at(env.now)
        unit.trip_token += 1
        self.returning[unit.index] = unit
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
        return ReplicationResult(
            layout=self.scenario.name,
            replication=replication,
            seed=seed,
            days=self.days,
            horizon_s=horizon,
            unit_ids=tuple(u.spec.id for u in self.units),
            unit_busy_s=np.array([u.busy_s for u in self.units]),
            unit_returning_s=np.array([u.returning_s for u in self.units]),
            unit_jobs=np.array([u.jobs for u in self.units]),
            calls={k: v[keep] for k, v in calls.items()},
            complaints=tuple(c.value for c in self.plan.complaints),
            hospital_ids=tuple(h.id for h in self.hospitals),
            moves=self.moves,
        )


def _posts(scenario: Scenario) -> tuple[Post, ...]:
    """Return the layout's stations as move-up posts, weighted by the demand they are nearest to."""
    cached = getattr(scenario, "_posts_cache", None)
    if cached is not None:
        return cached
    travel = scenario.travel
    counts: dict[int, int] = {}
    for u in scenario.units:
        counts[u.base_site] = counts.get(u.base_site, 0) + 1
    bases = sorted(counts)
    nearest = np.argmin(travel.site_to_point_s[bases], axis=0)
    weight = np.bincount(nearest, weights=travel.points.weight, minlength=len(bases))
    posts = tuple(Post(travel.sites[b].id, counts[b], float(w)) for b, w in zip(bases, weight))
    object.__setattr__(scenario, "_posts_cache", posts)
    return posts


def best_option(
    priority: int,
    options: Sequence[tuple[float, UnitStatus, Any]],
    candidate: Any,
    dispatch: DispatchConfig,
    turnout_s: Any = None,
) -> tuple[Any, float] | None:
    """Return the ``(unit, travel_s)`` the dispatch policy ranks first, or None.

    Parameters
    ----------
    priority
        The call's priority.
    options
        ``(travel_s, status, unit)`` for every reachable assignable unit.
    candidate
        ``candidate(unit) -> dispatch.policy.Candidate`` (called only for the units kept).
    dispatch
        The policy's settings.
    turnout_s
        The policy's turnout by status (``dispatch.turnout_s`` when None).

    Only units whose estimate (travel + the policy's turnout) is within ``preference_margin_s``
    of the fastest are handed to `dispatch.policy.rank_units`: no other can rank first (the
    first is either the fastest or a unit of the preferred capability within the margin of it).
    Of units alike in time, status and capability only the lowest id is handed over (the
    policy breaks ties by unit id).
    """
    if not options:
        return None
    if len(options) == 1:
        return options[0][2], options[0][0]  # nothing to rank: a ranking of one unit is that unit
    turnout = dispatch.turnout_s if turnout_s is None else turnout_s
    totals = [t + turnout[status] for t, status, _ in options]
    limit = min(totals) + dispatch.preference_margin_s
    near = [(t, u) for (t, _, u), total in zip(options, totals) if total <= limit]
    if len(near) == 1:
        return near[0][1], near[0][0]
    kept = [(t, u, candidate(u)) for t, u in near]
    if len(kept) > 1:
        # Units alike in all the policy reads (time, status, capability) tie, and ties go to the
        # lowest unit id: the others cannot rank first (e.g. five ambulances at one station).
        alike: dict[tuple[float, UnitStatus, Any], tuple[float, Any, Candidate]] = {}
        for entry in kept:
            key = (entry[0], entry[2].status, entry[2].capability)
            held = alike.get(key)
            if held is None or entry[2].unit_id < held[2].unit_id:
                alike[key] = entry
        kept = list(alike.values())
    if len(kept) == 1:
        return kept[0][1], kept[0][0]  # nothing to rank: a ranking of one unit is that unit
    ranking = rank_units(priority, [c for _, _, c in kept], [_Eta(t, math.nan) for t, _, _ in kept], dispatch, top_n=1)
    best = ranking.best
    if best is None:
        return None
    for t, u, c in kept:
        if c.unit_id == best.unit_id:
            return u, t
    raise AssertionError(f"rank_units returned unit {best.unit_id!r} that was not a candidate")


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


def station_site_id(station_id: str) -> str:
    """Return the travel-model site id of a station."""
    return f"station:{station_id}"


def hospital_site_id(hospital_id: str) -> str:
    """Return the travel-model site id of a hospital."""
    return f"hospital:{hospital_id}"


def units_for_layout(
    stations: Sequence[Any], site_index: dict[str, int], config: SimulationConfig
) -> tuple[UnitSpec, ...]:
    """Return the units of a layout's stations (``geodata.county.LayoutStation``), based at their sites."""
    units = []
    for ls in stations:
        if not ls.unit_ids:
            continue
        kind = getattr(ls.station.kind, "value", ls.station.kind)
        capability = config.capability_by_station_kind.get(kind, Capability.BLS)
        site = site_index[station_site_id(ls.station.id)]
        units.extend(UnitSpec(uid, ls.station.id, site, capability) for uid in ls.unit_ids)
    return tuple(units)


__all__ = [
    "CALL_COLUMNS",
    "REASON_CODES",
    "ReplicationResult",
    "Scenario",
    "Simulation",
    "UnitSpec",
    "run_replication",
    "units_for_layout",
]
