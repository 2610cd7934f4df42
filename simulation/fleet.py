"""The ambulances of one replication: where the free ones are, and which one the policy sends.

Free units wait at a station, grouped by (station, capability) in unit id order (only the first
of a group can rank first: the policy breaks ties by unit id), or drive back to their station
or to a move-up post, assignable on the way (``returning``). Units are plain records whose
status follows the dispatch model's `UnitStatus`; the simulation (`simulation.model`) moves
them between these states as its events happen.

Only the best option is needed (`simulation.policy_use.best_option`), so stations are looked at
nearest first and no further than ``preference_margin_s`` past the fastest unit found (no unit
beyond can rank first), and a unit on its way back is timed exactly only when it may be within
it (`limit_s` of `TravelModel.returning_to_point_s`). A unit is timed on the travel table of
the local hour at which it would start driving: after the turnout the call drew for its status
(`simulation.travel_hours`).
"""

from __future__ import annotations

import bisect
import math
from typing import Mapping, Sequence

from dispatch.model import Capability, UnitStatus
from dispatch.policy import Candidate
from simulation.demand import HOUR_S
from simulation.policy_use import best_option
from simulation.result import STATUS_CODES
from simulation.scenario_spec import Scenario, UnitSpec
from simulation.travel import TravelModel


class UnitState:
    """An ambulance during a replication: its status, where it waits or drives, and its times."""

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


class Fleet:
    """The units of one replication of ``scenario``, all waiting at their station at first.

    Attributes
    ----------
    units
        Every unit, in the scenario's order (``UnitState.index``).
    at_station
        The units waiting at a station, by (station site, capability), in unit id order.
    returning
        The units driving back or to a post, by index.
    n_free
        Units that can be sent (at a station or on their way).
    """

    def __init__(self, scenario: Scenario) -> None:
        travel = scenario.travel
        self.travel = travel
        hourly = scenario.hourly_travel
        assert hourly is not None  # set by Scenario
        self.hourly = hourly
        # Per travel table (`simulation.travel_hours`); with one table every lookup takes the first.
        self.tables = hourly.tables
        self._hour_table = list(hourly.hour_table)
        self._timed = len(self.tables) > 1
        self.units = [UnitState(i, spec, travel) for i, spec in enumerate(scenario.units)]
        self.at_station: dict[tuple[int, Capability], list[UnitState]] = {}
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
        self._station_rows = [t.point_rows() for t in self.tables]
        self.returning: dict[int, UnitState] = {}
        self.n_free = len(self.units)
        self.dispatch = scenario.dispatch
        self.policy_turnout = {s: float(scenario.dispatch.turnout_s[s]) for s in STATUS_CODES}
        self.max_eta_s = scenario.dispatch.max_eta_s

    # ------------------------------------------------------------------ the choice

    def choose(
        self, i: int, p: int, priority: int, now: float, drawn: Mapping[UnitStatus, Sequence[float]]
    ) -> tuple[UnitState, float] | None:
        """Return the ``(unit, travel_s)`` the dispatch policy sends to call ``i`` at point ``p``, or None.

        ``drawn[status][i]`` is the turnout call ``i`` drew for a unit in that status. The unit
        is not taken (`take`).
        """
        if not self.n_free:
            return None
        max_eta = self.max_eta_s
        turnout = self.policy_turnout
        at_station = UnitStatus.AVAILABLE_AT_STATION
        station_turnout = turnout[at_station]
        margin = self.dispatch.preference_margin_s
        options: list[tuple[float, UnitStatus, UnitState]] = []
        fastest = math.inf  # the best estimate so far, travel + the policy's turnout
        timed = self._timed
        if timed:
            # A unit would start driving after the turnout the call drew for its status: the
            # travel table of that hour (inlined: this runs for every call).
            hour_table = self._hour_table
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
        return best_option(priority, options, lambda u: self.candidate(u, now), self.dispatch, self.policy_turnout)

    def _stations_nearest_first(self, p: int, k: int) -> list[tuple[float, tuple[int, Capability]]]:
        """Return the groups of units waiting at a station (their keys), nearest to point ``p`` first on table ``k``."""
        row = self._station_rows[k][p]
        return sorted(((row[key[0]], key) for key in self.at_station), key=lambda tk: tk[0])

    def candidate(self, u: UnitState, now: float) -> Candidate:
        """Return free unit ``u`` at ``now`` as the dispatch policy reads it."""
        if u.status is UnitStatus.AVAILABLE_AT_STATION:
            if u.base == u.spec.base_site:
                return u.station_candidate
            site = self.travel.sites[u.base]
            return Candidate(u.spec.id, u.spec.capability, u.status, (site.lon, site.lat), "station")
        point = self.tables[u.trip_table].returning_position(u.origin_site, u.origin_point, u.base, now - u.trip_start)
        return Candidate(u.spec.id, u.spec.capability, u.status, point, "gps")

    # ------------------------------------------------------------------ changes

    def take(self, unit: UnitState, now: float) -> None:
        """Send free ``unit`` on a job at ``now``."""
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

    def free(self, unit: UnitState, now: float, *, origin_site: int | None, origin_point: int | None) -> None:
        """Free ``unit`` at ``now`` where its job ended (a site or a demand point): it heads home.

        The caller times the trip (``trip_table``) once it knows the unit is not sent again at once.
        """
        unit.busy_s += now - unit.busy_since
        unit.status = UnitStatus.RETURNING
        unit.base = unit.spec.base_site
        unit.origin_site, unit.origin_point = origin_site, origin_point
        unit.trip_start = now
        unit.trip_token += 1
        self.returning[unit.index] = unit
        self.n_free += 1

    def arrive(self, unit: UnitState, now: float) -> None:
        """Put ``unit``, at the end of its trip at ``now``, to wait at its station or post."""
        unit.returning_s += now - unit.trip_start
        unit.status = UnitStatus.AVAILABLE_AT_STATION
        unit.origin_site = unit.origin_point = None
        del self.returning[unit.index]
        group = self.at_station[(unit.base, unit.spec.capability)]
        bisect.insort(group, unit, key=lambda u: u.spec.id)

    def repost(self, unit: UnitState, to_site: int, now: float, table: int) -> None:
        """Send ``unit``, waiting at its post, to wait at site ``to_site``, its trip timed on ``table``."""
        self.at_station[(unit.base, unit.spec.capability)].remove(unit)
        unit.status = UnitStatus.AVAILABLE_MOBILE
        unit.origin_site, unit.origin_point = unit.base, None
        unit.base = to_site
        unit.trip_start = now
        unit.trip_table = table
        unit.trip_token += 1
        self.returning[unit.index] = unit
