"""The planner's optimiser: where the next substations go and how many ambulances each gets.

Location models solved exactly with HiGHS (``highspy``) on the road travel times of the routing
engine, from every candidate site to every demand point of the county:

- **MCLP** (maximal covering location, Church & ReVelle 1974): choose ``k`` substations to
  maximise the demand reached within its arrival target (10 min urban, 30 min rural: the
  county's 1+5+N programme) from some open site.
- **p-median** (Hakimi 1964; ReVelle & Swain 1970): minimise the demand-weighted travel time
  from the nearest open site.
- **backup** (double coverage, after Hogan & ReVelle 1986 and Gendreau, Laporte & Semet 1997):
  choose the sites and their ambulances together to maximise the demand covered once plus the
  demand covered twice (by two ambulances), so a call still finds a unit in time when the
  nearest one is out.

The sites of a problem are of three sorts: **fixed** (always open, e.g. the 120 centre at the
People's Hospital; its ambulances are reallocated), **kept** (stations of the base layout that
hold ambulances and are not substations: the township emergency points; always open with their
ambulances, which join the pool when the point is chosen as a substation) and **candidates**.

Ambulances are then allocated across the open sites with Daskin's MEXCLP (1983): maximise the
expected covered demand when each unit is busy with probability ``q`` (its utilisation), i.e.
``sum_i w_i * (1 - q**c_i)`` for ``c_i`` units within reach of point ``i``. It is the one place
the models see queueing; the simulator (`simulation.plan_report`) sees the rest.

Demand points with the same coverage pattern are merged (their weights summed) before a model
is built, which keeps the covering models small and exact. ``enumerate_best`` solves the same
problems by brute force for small instances (tests, cross-checks).

This module runs a plan: it builds the problem on the routing engine, ranks the next-best
solutions and reads layouts back. The rest lives in modules of one concern each, and every
public name of them is importable from here:

- `simulation.plan_problem`: the problem, its solutions and their static figures;
- `simulation.plan_sites`: candidates, fixed stations and kept points from a county;
- `simulation.plan_models`: the MILP formulations and allocation, solved by HiGHS;
- `simulation.plan_enumerate`: the same models by exhaustive enumeration, with a deterministic
  tie-break (also the embedded county's builder's substation search);
- `simulation.plan_layout`: writing a planned layout as TOML.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from simulation.plan_enumerate import (
    TIE_TOLERANCE,
    enumerate_best,
    enumerate_choices,
    feasible_choices,
)
from simulation.plan_layout import STAFF_PER_AMBULANCE, PlannedLayout, layout_toml
from simulation.plan_models import allocate, solve_sites
from simulation.plan_problem import (
    Allocation,
    LayoutFigures,
    Objective,
    PlanError,
    PlanProblem,
    PlanSite,
    SiteChoice,
    counts_of,
    expected_coverage,
    layout_figures,
    nearest_travel_s,
    open_mask,
    site_value,
)
from simulation.plan_sites import SAME_PLACE_M, candidate_sites, problem_sites, resolve_station

# Arrival targets of the county's 1+5+N programme (城区10分钟, 乡村30分钟; config.toml [targets]).
DEFAULT_URBAN_TARGET_S = 600.0
DEFAULT_RURAL_TARGET_S = 1800.0


def best_solutions(
    problem: PlanProblem, objective: Objective, k: int, count: int, *, min_per_site: int = 1, progress: bool = False
) -> list[SiteChoice]:
    """Return the ``count`` best distinct site choices of a model, best first (no-good cuts).

    Fewer are returned when the candidates allow fewer distinct choices.
    """
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise PlanError(f"solutions must be an integer >= 1, got {count!r}")
    out: list[SiteChoice] = []
    bar = _bar(count, progress, "solving")
    try:
        for rank in range(1, count + 1):
            if rank > math.comb(len(problem.candidates), k):
                break
            choice = solve_sites(problem, objective, k, exclude=[c.chosen for c in out], min_per_site=min_per_site)
            out.append(SiteChoice(objective, choice.chosen, choice.value, rank))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return out


def parse_targets(text: str) -> tuple[float, float]:
    """Parse ``--target-min URBAN,RURAL`` (minutes) into seconds.

    Raises
    ------
    PlanError
        Not two positive numbers.
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2 or not all(math.isfinite(v) and v > 0 for v in values):
        raise PlanError(f"target-min must be two minutes > 0 as URBAN,RURAL (e.g. 10,30), got {text!r}")
    return values[0] * 60.0, values[1] * 60.0


def build_problem(
    county: Any,
    router: Any,
    base_layout: Any,
    candidates: Sequence[PlanSite],
    fixed: Sequence[str],
    *,
    ambulances: int | None = None,
    targets_s: tuple[float, float] = (DEFAULT_URBAN_TARGET_S, DEFAULT_RURAL_TARGET_S),
    progress: bool = False,
) -> PlanProblem:
    """Build the demand x site travel-time matrix on the routing engine.

    Parameters
    ----------
    county
        A ``geodata.county.County`` (demand: places with ``demand_weight`` > 0).
    router
        A ``routing.engine.Router`` (the emergency profile for ambulance times).
    base_layout
        The current layout (its township points are kept, see `problem_sites`).
    candidates
        Candidate sites (`candidate_sites`).
    fixed
        Stations always open (ids, names, or their hospitals' names).
    ambulances
        Ambulances of the whole layout (the base layout's when None).
    targets_s
        Urban and rural arrival targets (s).
    progress
        Show a progress bar while the matrix is filled.
    """
    from simulation.demand import county_demand

    sites = problem_sites(county, base_layout, candidates, fixed)
    demand = county_demand(county.places)
    site_snaps = router.snap_many([(s.lon, s.lat) for s in sites])
    point_snaps = router.snap_many(list(zip(demand.lon.tolist(), demand.lat.tolist())))
    table = router.site_table(site_snaps)
    travel = np.empty((len(sites), demand.n))
    bar = _bar(demand.n, progress, "travel-time matrix")
    try:
        for j, snap in enumerate(point_snaps):
            travel[:, j] = table.to_point_all(snap)
            if bar is not None and j % 200 == 0:
                bar.update(min(200, demand.n - j))
    finally:
        if bar is not None:
            bar.close()
    total = base_layout.ambulances if ambulances is None else ambulances
    return PlanProblem(
        sites=tuple(sites),
        weight=demand.weight,
        target_s=np.where(demand.urban, targets_s[0], targets_s[1]),
        travel_s=travel,
        ambulances=int(total),
        base_layout=base_layout.name,
        point_ids=demand.ids,
    )


def busy_fraction_estimate(problem: PlanProblem, sim_config: Any, chosen: Iterable[int]) -> float:
    """Estimate the probability that a unit is busy, for MEXCLP (an approximation).

    The offered load over the ambulances: calls a day times the mean job (turnout, on scene,
    handover for the share transported, and three legs of the mean travel time from the nearest
    station: to the scene, to hospital, back) over the ambulances' day.
    """
    svc = sim_config.service
    shares = [c.share for c in sim_config.complaints.values()]
    transport = sum(c.share * c.transport for c in sim_config.complaints.values()) / sum(shares)
    travel = float(problem.weight @ nearest_travel_s(problem, chosen))
    turnout = min(d.mean for d in svc.turnout.values())
    job_s = turnout + svc.on_scene.mean + transport * svc.handover.mean + (2.0 + transport) * travel
    units = max(problem.ambulances, 1)
    return float(min(sim_config.calls_per_day * job_s / (86400.0 * units), 0.95))


def layout_counts(problem: PlanProblem, layout: Any) -> tuple[tuple[int, ...], np.ndarray] | None:
    """Return a layout's substations (as chosen candidates) and ambulances per site, or None.

    None when one of its stations holding ambulances is not a site of the problem.
    """
    counts = np.zeros(len(problem.sites))
    chosen = []
    ids = {s.id: j for j, s in enumerate(problem.sites)}
    for ls in layout.stations:
        if ls.ambulances == 0:
            continue
        j = ids.get(ls.station.id)
        if j is None:
            return None
        counts[j] += ls.ambulances
        if getattr(ls.station.kind, "value", ls.station.kind) == "substation" and not problem.sites[j].fixed:
            chosen.append(j)
    return tuple(sorted(chosen)), counts


def _bar(total: int, progress: bool, desc: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc)


__all__ = [
    "DEFAULT_RURAL_TARGET_S",
    "DEFAULT_URBAN_TARGET_S",
    "SAME_PLACE_M",
    "STAFF_PER_AMBULANCE",
    "TIE_TOLERANCE",
    "Allocation",
    "LayoutFigures",
    "Objective",
    "PlanError",
    "PlanProblem",
    "PlanSite",
    "PlannedLayout",
    "SiteChoice",
    "allocate",
    "best_solutions",
    "build_problem",
    "busy_fraction_estimate",
    "candidate_sites",
    "counts_of",
    "enumerate_best",
    "enumerate_choices",
    "expected_coverage",
    "feasible_choices",
    "layout_counts",
    "layout_figures",
    "layout_toml",
    "nearest_travel_s",
    "open_mask",
    "parse_targets",
    "problem_sites",
    "resolve_station",
    "site_value",
    "solve_sites",
]
