"""The live service's policies as the simulator asks them: dispatch, destination, move-up.

- `best_option`: the unit `dispatch.policy.rank_units` ranks first, handing it only the units
  that can possibly rank first: the policy never ranks first a unit whose estimate (travel +
  turnout) is more than ``preference_margin_s`` behind the fastest, nor one alike in time,
  status and capability to a unit with a lower id (ties go to the lowest id); with a single
  such unit there is nothing to rank. `tests/simulation/test_policy_use.py` checks the pick
  against the unfiltered ranking.
- `Destinations`: `centers.destination.choose_destination` with the transport times from the
  scene, given per scene only the hospitals that can be chosen from there
  (`centers.destination.deciding_hospitals`: the same decision as from all of them).
  Destinations of non-STEMI patients depend only on the scene and the screening flags, and the
  policy is a pure function: they are cached per scene.
- `MoveUp`: `dispatch.moveup.propose_moveup` on the layout's stations as posts (`moveup_posts`)
  and the units waiting at or driving to one.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

import numpy as np

from centers.destination import DestinationInput, choose_destination, deciding_hospitals
from dispatch.model import UnitStatus
from dispatch.moveup import IdleUnit, MoveUpConfig, Post, propose_moveup
from dispatch.policy import Candidate, DispatchConfig, rank_units
from simulation.demand import CallPlan
from simulation.scenario_spec import Scenario

if TYPE_CHECKING:
    from simulation.fleet import UnitState

# Screening values the simulator gives the destination policy for a stroke patient: a positive
# LVO screen is BE-FAST positive with RACE 6 (>= 5), a negative one RACE 2; last known well
# 3 h ago inside the window, 30 h outside it (beyond the 24 h thrombectomy window).
_RACE_LVO, _RACE_NO_LVO = 6, 2
_LKW_IN_WINDOW_S, _LKW_OUT_S = 3 * 3600.0, 30 * 3600.0


class _Eta(NamedTuple):
    """A travel estimate as the policy reads it (`dispatch.policy.EtaLike`)."""

    eta_s: float
    distance_m: float


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


class Destinations:
    """The destination policy's decisions for the calls of one replication's plan.

    Parameters
    ----------
    scenario
        The hospitals, the policy's settings, and the caches its replications share.
    plan
        The calls (complaint and screening flags).
    point_to_site_s
        Per travel table, the drive from each demand point to each site.
    hospital_sites
        The site index of each hospital id.
    """

    def __init__(
        self,
        scenario: Scenario,
        plan: CallPlan,
        point_to_site_s: Sequence[np.ndarray],
        hospital_sites: dict[str, int],
    ) -> None:
        self._plan = plan
        self._config = scenario.destination
        self._hospitals = scenario.hospitals
        self._hospital_sites = hospital_sites
        self._p2s = point_to_site_s
        self._complaint = plan.complaint.tolist()
        self._complaint_values = [c.value for c in plan.complaints]
        # Destinations depend only on the scene and the flags (the policy is pure): shared by
        # every replication of the scenario run in this process.
        self._cache: tuple[dict[tuple[int, int, bool, bool], Any], ...] = scenario._destination_cache
        # Per scene, the hospitals the policy can choose from (`deciding_hospitals`): the same
        # decisions as from all hospitals, with a handful to time and sort instead of all.
        self._deciding: tuple[dict[int, tuple[tuple[Any, ...], Any]], ...] = scenario._deciding_cache

    def decide(self, i: int, p: int, on_scene_s: float, k: int) -> Any:
        """Return the destination decision for call ``i`` at point ``p``, with transport times of table ``k``.

        ``on_scene_s`` is the time since first medical contact when the transport starts (STEMI).
        """
        plan = self._plan
        complaint = self._complaint_values[self._complaint[i]]
        stemi = complaint == "chest_pain" and bool(plan.stemi[i])
        lvo = complaint == "stroke" and bool(plan.lvo[i])
        in_window = complaint == "stroke" and bool(plan.lkw_in_window[i])
        key = (p, self._complaint[i], lvo, in_window)
        dest_cache = self._cache[k]
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
        decision = choose_destination(patient, deciding[0], deciding[1], config=self._config)
        if not stemi:
            dest_cache[key] = decision
        return decision

    def _deciding_at(self, p: int, k: int) -> tuple[tuple[Any, ...], Any]:
        """Return the hospitals that can be chosen from point ``p`` and their transport times on table ``k``."""
        row = self._p2s[k][p].tolist()
        sites = self._hospital_sites

        def transport_time_s(hospital_id: str) -> float | None:
            t = row[sites[hospital_id]]
            return t if t != math.inf else None

        deciding = deciding_hospitals(self._hospitals, transport_time_s, config=self._config)
        return deciding, {h.id: transport_time_s(h.id) for h in deciding}.get


def moveup_posts(scenario: Scenario) -> tuple[Post, ...]:
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


class MoveUp:
    """The move-up rule for one replication: which idle units to re-post, and where.

    Parameters
    ----------
    scenario
        The layout (its stations are the posts) and the travel tables.
    config
        The rule's settings.
    """

    def __init__(self, scenario: Scenario, config: MoveUpConfig) -> None:
        self.config = config
        hourly = scenario.hourly_travel
        assert hourly is not None  # set by Scenario
        self._hourly = hourly
        self._posts = moveup_posts(scenario)
        site_ids = [site.id for site in scenario.travel.sites]
        self._post_index = {site_id: i for i, site_id in enumerate(site_ids)}
        self._site_ids = site_ids
        self._fill_sites = [
            self._post_index[p.id] for p in self._posts if p.home_units >= config.min_home_units
        ]  # fmt: skip

    def repostings(
        self, units: Sequence[UnitState], returning: dict[int, UnitState], now: float
    ) -> list[tuple[UnitState, int]]:
        """Return ``(unit, site)`` for every idle unit the rule sends to wait at another site, at ``now``.

        ``units`` is the fleet, ``returning`` the units driving back or to a post by index.
        """
        # Most changes leave every post manned and every unit at home: nothing to ask.
        cover = dict.fromkeys(self._fill_sites, 0)
        away = False
        for u in units:
            if u.status is UnitStatus.AVAILABLE_AT_STATION or u.index in returning:
                cover[u.base] = cover.get(u.base, 0) + 1
                away = away or u.base != u.spec.base_site
        if not away and all(cover[b] for b in self._fill_sites):
            return []
        site_ids = self._site_ids
        idle = []
        by_id = {}
        for u in units:
            if u.status is UnitStatus.AVAILABLE_AT_STATION:
                idle.append(IdleUnit(u.spec.id, site_ids[u.spec.base_site], site_ids[u.base], True))
            elif u.index in returning:
                idle.append(IdleUnit(u.spec.id, site_ids[u.spec.base_site], site_ids[u.base], False))
            else:
                continue
            by_id[u.spec.id] = u
        hourly = self._hourly
        s2s = hourly.tables[hourly.table_at(now)].site_to_site_s
        index = self._post_index

        def travel_time_s(a: str, b: str) -> float | None:
            t = float(s2s[index[a], index[b]])
            return t if math.isfinite(t) else None

        proposals = propose_moveup(self._posts, idle, travel_time_s, self.config)
        return [(by_id[proposal.unit_id], index[proposal.to_post]) for proposal in proposals]

