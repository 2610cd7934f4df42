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
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

from simulation.errors import SimulationError

# Arrival targets of the county's 1+5+N programme (城区10分钟, 乡村30分钟; config.toml [targets]).
DEFAULT_URBAN_TARGET_S = 600.0
DEFAULT_RURAL_TARGET_S = 1800.0
# A town place within this distance of a station is that station's township (no new candidate).
SAME_PLACE_M = 1000.0
# Staff per ambulance written for the sites the optimiser fills: the base layout's substations
# hold 3 ambulances and 6 staff (published: 5 substations of 3 ambulances and 6 staff).
STAFF_PER_AMBULANCE = 2


class PlanError(SimulationError):
    """A planning problem cannot be built or solved; the message names the argument."""


class Objective(StrEnum):
    """The location model to solve."""

    MCLP = "mclp"
    PMEDIAN = "pmedian"
    BACKUP = "backup"

    @property
    def maximise(self) -> bool:
        """Return True when a larger objective value is better."""
        return self is not Objective.PMEDIAN


@dataclass(frozen=True, slots=True)
class PlanSite:
    """A site of a planning problem (WGS84).

    Attributes
    ----------
    id, name, lon, lat
        The station id (a station of the county's facilities.toml, or a new one), its name and place.
    kind
        ``centre``, ``substation`` or ``point``: the station's kind in the county (new sites:
        ``substation``).
    existing
        True when the id is a station of the county.
    fixed
        Always open; its ambulances are allocated by the model.
    candidate
        May be chosen as a substation.
    kept_ambulances
        Ambulances the base layout holds there while it is not chosen (township points).
    staff
        Staff of the base layout there (0 when not in it).
    """

    id: str
    name: str
    lon: float
    lat: float
    kind: str = "substation"
    existing: bool = False
    fixed: bool = False
    candidate: bool = True
    kept_ambulances: int = 0
    staff: int = 0

    @property
    def always_open(self) -> bool:
        """Return True when the site covers demand whatever is chosen (fixed or holding kept units)."""
        return self.fixed or self.kept_ambulances > 0


@dataclass(frozen=True, eq=False)
class PlanProblem:
    """Sites, demand and the travel times between them.

    Attributes
    ----------
    sites
        Every site (fixed, kept, candidates), indexed as the rows of ``travel_s``.
    weight
        Demand weight per point (normalised to sum 1).
    target_s
        Arrival target per point (s): urban or rural.
    travel_s
        ``(S, P)`` travel time (s) from each site to each demand point; ``inf`` when unreachable.
    ambulances
        Ambulances of the whole layout (kept ones included).
    base_layout
        Name of the layout the problem was derived from (its points are the kept sites).
    point_ids
        Ids of the demand points (for reports).
    """

    sites: tuple[PlanSite, ...]
    weight: np.ndarray
    target_s: np.ndarray
    travel_s: np.ndarray
    ambulances: int
    base_layout: str = ""
    point_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        s, p = len(self.sites), int(np.asarray(self.weight).size)
        travel = np.asarray(self.travel_s, dtype=float)
        if travel.shape != (s, p):
            raise PlanError(f"travel_s must have shape (sites, points) = {(s, p)}, got {travel.shape}")
        if np.any(np.isnan(travel)) or np.any(travel < 0):
            raise PlanError("travel_s must hold times >= 0 (inf when unreachable)")
        w = np.asarray(self.weight, dtype=float)
        if p == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise PlanError("weight must be finite, >= 0 and not all zero, one per demand point")
        if np.asarray(self.target_s).shape != (p,):
            raise PlanError(f"target_s must have one target per point ({p}), got shape {np.asarray(self.target_s).shape}")
        ids = [site.id for site in self.sites]
        if len(set(ids)) != len(ids):
            raise PlanError(f"sites: ids must be unique, got {ids!r}")
        if isinstance(self.ambulances, bool) or not isinstance(self.ambulances, int) or self.ambulances < 0:
            raise PlanError(f"ambulances must be an integer >= 0, got {self.ambulances!r}")
        object.__setattr__(self, "travel_s", travel)
        object.__setattr__(self, "weight", w / w.sum())
        object.__setattr__(self, "target_s", np.asarray(self.target_s, dtype=float))

    @property
    def candidates(self) -> list[int]:
        """Return the indices of the candidate sites."""
        return [i for i, s in enumerate(self.sites) if s.candidate and not s.fixed]

    @property
    def covers(self) -> np.ndarray:
        """Return the ``(S, P)`` boolean matrix: site reaches point within the point's target."""
        return self.travel_s <= self.target_s[None, :]

    def index(self, site_id: str) -> int:
        """Return the index of the site ``site_id``."""
        for i, s in enumerate(self.sites):
            if s.id == site_id:
                return i
        raise PlanError(f"site {site_id!r}: not a site of the problem (known: {', '.join(s.id for s in self.sites)})")

    def pool(self, chosen: Iterable[int]) -> int:
        """Return the ambulances to allocate over the fixed and chosen sites."""
        chosen = set(chosen)
        kept = sum(s.kept_ambulances for i, s in enumerate(self.sites) if i not in chosen)
        return self.ambulances - kept


@dataclass(frozen=True, slots=True)
class SiteChoice:
    """A solution of a location model.

    Attributes
    ----------
    objective
        The model.
    chosen
        Indices of the chosen candidate sites (ascending).
    value
        The model's objective: covered demand share (MCLP), weighted mean travel time in s
        (p-median), share covered once plus share covered twice (backup).
    rank
        1 for the model's best solution, 2 for the next distinct one, ...
    """

    objective: Objective
    chosen: tuple[int, ...]
    value: float
    rank: int = 1


@dataclass(frozen=True, slots=True)
class Allocation:
    """Ambulances per site of a layout and the model figures of that layout.

    Attributes
    ----------
    ambulances
        Site index -> ambulances (every site holding at least one).
    expected_coverage
        MEXCLP's expected covered demand share with busy fraction ``busy_fraction``.
    busy_fraction
        The probability that a unit is busy used by MEXCLP.
    """

    ambulances: Mapping[int, int]
    expected_coverage: float
    busy_fraction: float


@dataclass(frozen=True, slots=True)
class LayoutFigures:
    """Static figures of a layout on the problem's matrix (no queueing)."""

    coverage: float  # demand share reached within target from the nearest station
    mean_travel_s: float  # demand-weighted travel time from the nearest station
    backup: float  # demand share reached within target by two or more ambulances


# --------------------------------------------------------------------------- evaluation


def open_mask(problem: PlanProblem, chosen: Iterable[int]) -> np.ndarray:
    """Return the sites open when ``chosen`` candidates are: fixed, kept and chosen."""
    mask = np.array([s.always_open for s in problem.sites], dtype=bool)
    mask[list(chosen)] = True
    return mask


def site_value(problem: PlanProblem, objective: Objective, chosen: Iterable[int], counts: np.ndarray | None = None) -> float:
    """Return a model's objective for the open set given by ``chosen`` (and ambulances ``counts``).

    For the backup model ``counts`` (ambulances per site) is needed.
    """
    mask = open_mask(problem, chosen)
    w = problem.weight
    if objective is Objective.MCLP:
        return float(w @ problem.covers[mask].any(axis=0))
    if objective is Objective.PMEDIAN:
        return float(w @ problem.travel_s[mask].min(axis=0))
    if counts is None:
        raise PlanError("the backup objective needs ambulance counts per site")
    c = problem.covers.T.astype(float) @ np.asarray(counts, dtype=float)
    return float(w @ (np.minimum(c, 1.0) + np.clip(c - 1.0, 0.0, 1.0)))


def layout_figures(problem: PlanProblem, counts: np.ndarray) -> LayoutFigures:
    """Return coverage, mean nearest travel time and backup coverage of ambulances ``counts``."""
    counts = np.asarray(counts)
    mask = counts > 0
    if not mask.any():
        raise PlanError("a layout needs at least one ambulance")
    w = problem.weight
    c = problem.covers.T.astype(float) @ counts.astype(float)
    return LayoutFigures(
        coverage=float(w @ (c >= 1)),
        mean_travel_s=float(w @ problem.travel_s[mask].min(axis=0)),
        backup=float(w @ (c >= 2)),
    )


def expected_coverage(problem: PlanProblem, counts: np.ndarray, busy_fraction: float) -> float:
    """Return MEXCLP's expected covered demand: ``sum_i w_i (1 - q**c_i)``."""
    c = problem.covers.T.astype(float) @ np.asarray(counts, dtype=float)
    return float(problem.weight @ (1.0 - busy_fraction**c))


# --------------------------------------------------------------------------- the MILP solver


class _Model:
    """A small MILP in row form, solved exactly by HiGHS."""

    def __init__(self, maximise: bool) -> None:
        self.maximise = maximise
        self.cost: list[float] = []
        self.lo: list[float] = []
        self.hi: list[float] = []
        self.integer: list[bool] = []
        self.rows: list[tuple[list[int], list[float], float, float]] = []

    def var(self, cost: float, lo: float = 0.0, hi: float = 1.0, integer: bool = False) -> int:
        self.cost.append(float(cost))
        self.lo.append(float(lo))
        self.hi.append(float(hi))
        self.integer.append(integer)
        return len(self.cost) - 1

    def row(self, idx: Sequence[int], val: Sequence[float], lo: float = -math.inf, hi: float = math.inf) -> None:
        self.rows.append((list(idx), [float(v) for v in val], float(lo), float(hi)))

    def solve(self) -> tuple[np.ndarray, float]:
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", 1e-9)
        h.setOptionValue("threads", 1)
        inf = h.getInfinity()
        lp = highspy.HighsLp()
        n = len(self.cost)
        lp.num_col_ = n
        lp.num_row_ = len(self.rows)
        lp.col_cost_ = np.asarray(self.cost)
        lp.col_lower_ = np.asarray(self.lo)
        lp.col_upper_ = np.clip(np.asarray(self.hi), -inf, inf)
        starts, index, value, rlo, rhi = [0], [], [], [], []
        for idx, val, lo, hi in self.rows:
            index.extend(idx)
            value.extend(val)
            starts.append(len(index))
            rlo.append(max(lo, -inf))
            rhi.append(min(hi, inf))
        lp.row_lower_ = np.asarray(rlo, dtype=float)
        lp.row_upper_ = np.asarray(rhi, dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
        lp.a_matrix_.num_col_ = n
        lp.a_matrix_.num_row_ = len(self.rows)
        lp.a_matrix_.start_ = np.asarray(starts, dtype=np.int32)
        lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
        lp.a_matrix_.value_ = np.asarray(value, dtype=float)
        lp.sense_ = highspy.ObjSense.kMaximize if self.maximise else highspy.ObjSense.kMinimize
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous for i in self.integer]
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise PlanError(f"the MILP solver found no optimal solution: {h.modelStatusToString(status)}")
        x = np.asarray(h.getSolution().col_value)
        return x, float(h.getInfo().objective_function_value)


def _groups(matrix: np.ndarray, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge points (columns of ``matrix``) with identical patterns: return patterns and summed weights."""
    keep = weight > 0
    patterns, inverse = np.unique(matrix[:, keep].T, axis=0, return_inverse=True)
    return patterns, np.bincount(inverse.ravel(), weights=weight[keep], minlength=len(patterns))


def solve_sites(
    problem: PlanProblem,
    objective: Objective,
    k: int,
    *,
    exclude: Sequence[Sequence[int]] = (),
    min_per_site: int = 1,
) -> SiteChoice:
    """Choose ``k`` candidate sites with the model ``objective``, exactly (HiGHS).

    Parameters
    ----------
    problem
        Sites, demand and travel times.
    objective
        The model.
    k
        Substations to choose among the candidates.
    exclude
        Sets of candidates not to return again (no-good cuts: the next best solutions).
    min_per_site
        Backup model: ambulances each open fixed or chosen site holds at least.

    Raises
    ------
    PlanError
        ``k`` out of range, too few ambulances, or no solution left.
    """
    cand = problem.candidates
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(cand):
        raise PlanError(f"substations must be an integer in 0-{len(cand)} (the candidates), got {k!r}")
    m = _Model(objective.maximise)
    y = {j: m.var(0.0, integer=True) for j in cand}
    m.row([y[j] for j in cand], [1.0] * len(cand), k, k)
    for chosen in exclude:
        if set(chosen) <= set(cand) and len(chosen) == k and k > 0:
            m.row([y[j] for j in chosen], [1.0] * k, hi=k - 1)
    always = np.array([s.always_open for s in problem.sites], dtype=bool)
    w = problem.weight
    constant = 0.0
    if objective is Objective.MCLP:
        covers = problem.covers
        base = covers[always].any(axis=0)
        constant = float(w[base].sum())
        rest = ~base
        patterns, weights = _groups(covers[cand][:, rest], w[rest])
        for pattern, wg in zip(patterns, weights):
            js = [cand[t] for t in np.flatnonzero(pattern)]
            if js:
                z = m.var(wg)
                m.row([z] + [y[j] for j in js], [1.0] + [-1.0] * len(js), hi=0.0)
    elif objective is Objective.PMEDIAN:
        travel = problem.travel_s
        base = travel[always].min(axis=0) if always.any() else np.full(travel.shape[1], np.inf)
        finite = np.isfinite(base)
        constant = float(w[finite] @ base[finite])
        ct = travel[cand]
        for i in np.flatnonzero(w > 0):
            better = np.flatnonzero(ct[:, i] < base[i])
            if not better.size:
                if not finite[i]:
                    raise PlanError(f"demand point {i}: no site reaches it")
                continue
            xs = []
            for t in better:
                gain = ct[t, i] - (base[i] if finite[i] else 0.0)
                x = m.var(w[i] * gain)
                m.row([x, y[cand[t]]], [1.0, -1.0], hi=0.0)
                xs.append(x)
            if finite[i]:
                m.row(xs, [1.0] * len(xs), hi=1.0)
            else:
                m.row(xs, [1.0] * len(xs), 1.0, 1.0)
    else:
        constant = _backup_model(m, problem, y, min_per_site)
    x, value = m.solve()
    chosen = tuple(sorted(j for j in cand if x[y[j]] > 0.5))
    return SiteChoice(objective, chosen, value + constant)


def _backup_model(m: _Model, problem: PlanProblem, y: Mapping[int, int], min_per_site: int) -> float:
    """Add the double-coverage model (sites and ambulances together) to ``m``; return its constant."""
    sites = problem.sites
    total = problem.ambulances
    n: dict[int, int] = {}
    for j, s in enumerate(sites):
        if s.fixed:
            n[j] = m.var(0.0, min_per_site, total, integer=True)
        elif j in y:
            n[j] = m.var(0.0, 0.0, total, integer=True)
            m.row([n[j], y[j]], [1.0, -float(total)], hi=0.0)
            m.row([n[j], y[j]], [1.0, -float(min_per_site)], lo=0.0)
    kept_fixed = sum(s.kept_ambulances for j, s in enumerate(sites) if j not in y)
    kept_cand = [(j, s.kept_ambulances) for j, s in enumerate(sites) if j in y and s.kept_ambulances]
    # sum n + sum over kept candidates kept_j (1 - y_j) + kept elsewhere = total
    idx = list(n.values()) + [y[j] for j, _ in kept_cand]
    val = [1.0] * len(n) + [-float(a) for _, a in kept_cand]
    rhs = total - kept_fixed - sum(a for _, a in kept_cand)
    if rhs < 0:
        raise PlanError(f"ambulances = {total} is fewer than the {kept_fixed + sum(a for _, a in kept_cand)} the kept points hold")
    m.row(idx, val, rhs, rhs)
    patterns, weights = _groups(problem.covers, problem.weight)
    for pattern, wg in zip(patterns, weights):
        js = np.flatnonzero(pattern)
        const = 0.0
        idx, val = [], []
        for j in js:
            j = int(j)
            a = sites[j].kept_ambulances
            if j in n:
                idx.append(n[j])
                val.append(-1.0)
            if j in y and a:
                const += a
                idx.append(y[j])
                val.append(float(a))
            elif j not in y and a:
                const += a
        if not idx and const == 0:
            continue
        z1 = m.var(wg)
        z2 = m.var(wg)
        m.row([z1, z2] + idx, [1.0, 1.0] + val, hi=const)
        m.row([z2, z1], [1.0, -1.0], hi=0.0)
    return 0.0


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


def allocate(
    problem: PlanProblem, chosen: Iterable[int], busy_fraction: float, *, min_per_site: int = 1
) -> Allocation:
    """Allocate the pool of ambulances over the fixed and chosen sites (MEXCLP, exact).

    Parameters
    ----------
    problem
        The problem; kept sites not chosen hold their ``kept_ambulances``.
    chosen
        Chosen candidate indices.
    busy_fraction
        Probability ``q`` that a unit is busy (0 <= q < 1).
    min_per_site
        Ambulances each fixed or chosen site holds at least.

    Raises
    ------
    PlanError
        ``busy_fraction`` out of range, or too few ambulances for the sites.
    """
    if not (isinstance(busy_fraction, (int, float)) and 0.0 <= busy_fraction < 1.0):
        raise PlanError(f"busy_fraction must be in [0, 1), got {busy_fraction!r}")
    chosen = sorted(set(chosen))
    sites = problem.sites
    model_sites = [j for j, s in enumerate(sites) if s.fixed] + [j for j in chosen if not sites[j].fixed]
    pool = problem.pool(chosen)
    if pool < min_per_site * len(model_sites):
        raise PlanError(
            f"ambulances: {pool} left for {len(model_sites)} fixed and chosen sites after the kept points, "
            f"fewer than min_per_site = {min_per_site} each"
        )
    fixed_counts = np.array(
        [0 if j in model_sites else (s.kept_ambulances if j not in chosen else 0) for j, s in enumerate(sites)],
        dtype=float,
    )
    m = _Model(True)
    n = {j: m.var(0.0, min_per_site, pool, integer=True) for j in model_sites}
    m.row(list(n.values()), [1.0] * len(n), pool, pool)
    covers = problem.covers
    patterns, weights = _groups(covers, problem.weight)
    q = float(busy_fraction)
    levels = problem.ambulances
    for pattern, wg in zip(patterns, weights):
        js = np.flatnonzero(pattern)
        const = float(fixed_counts[js].sum())
        idx = [n[int(j)] for j in js if int(j) in n]
        if not idx and const == 0:
            continue
        zs = [m.var(wg * (1.0 - q) * q ** (level - 1)) for level in range(1, levels + 1)]
        m.row(zs + idx, [1.0] * len(zs) + [-1.0] * len(idx), hi=const)
    x, _ = m.solve()
    counts = fixed_counts.copy()
    for j, v in n.items():
        counts[j] = round(x[v])
    ambulances = {j: int(c) for j, c in enumerate(counts) if c > 0}
    return Allocation(ambulances, expected_coverage(problem, counts, q), q)


def counts_of(problem: PlanProblem, ambulances: Mapping[int, int]) -> np.ndarray:
    """Return the per-site ambulance array of an allocation."""
    counts = np.zeros(len(problem.sites))
    for j, a in ambulances.items():
        counts[j] = a
    return counts


# --------------------------------------------------------------------------- brute force


def enumerate_best(problem: PlanProblem, objective: Objective, k: int, *, min_per_site: int = 1) -> SiteChoice:
    """Return the best site choice by enumerating every one (small problems: tests, cross-checks).

    The backup model also enumerates every allocation of the pool over the open sites.
    Ties go to the first choice in lexicographic order.
    """
    cand = problem.candidates
    best: SiteChoice | None = None
    for chosen in itertools.combinations(cand, k):
        if objective is Objective.BACKUP:
            value = max(
                (site_value(problem, objective, chosen, counts) for counts in _allocations(problem, chosen, min_per_site)),
                default=None,
            )
            if value is None:
                continue
        else:
            value = site_value(problem, objective, chosen)
        better = best is None or (value > best.value + 1e-12 if objective.maximise else value < best.value - 1e-12)
        if better:
            best = SiteChoice(objective, tuple(chosen), value)
    if best is None:
        raise PlanError(f"no feasible choice of {k} substations")
    return best


def _allocations(problem: PlanProblem, chosen: Sequence[int], min_per_site: int) -> Iterable[np.ndarray]:
    sites = problem.sites
    model_sites = [j for j, s in enumerate(sites) if s.fixed] + list(chosen)
    base = np.array([s.kept_ambulances if (j not in chosen and not s.fixed) else 0 for j, s in enumerate(sites)], dtype=float)
    pool = problem.pool(chosen)
    extra = pool - min_per_site * len(model_sites)
    if extra < 0:
        return
    # Every way of putting ``extra`` identical ambulances on the model sites (stars and bars).
    slots = len(model_sites)
    for bars in itertools.combinations(range(extra + slots - 1), slots - 1):
        parts = np.diff([-1, *bars, extra + slots - 1]) - 1
        counts = base.copy()
        counts[model_sites] += parts + min_per_site
        yield counts


# --------------------------------------------------------------------------- building from a county


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


def resolve_station(county: Any, name: str) -> Any:
    """Return the county station named ``name``: its id, name or alias, or its hospital's id, name or alias.

    Raises
    ------
    PlanError
        No station matches (the message lists the station ids).
    """
    key = name.strip()
    for st in county.stations:
        if key in (st.id, st.name, *st.aliases):
            return st
    hospitals = {h.id: h for h in county.hospitals}
    for st in county.stations:
        h = hospitals.get(st.hospital or "")
        if h is not None and key in (h.id, h.name, *h.aliases):
            return st
    known = ", ".join(s.id for s in county.stations)
    raise PlanError(f"fixed: {name!r} is neither a station nor the hospital of one (stations: {known})")


def candidate_sites(county: Any, spec: str) -> list[PlanSite]:
    """Return the candidate sites: ``townships`` or the path of a CSV file.

    ``townships``: every station of the county (its township health centres) and every township
    seat (``places.csv`` kind ``town``) farther than 1 km from all of them, as a new station.
    A CSV file has columns ``id`` and, for ids that are not county stations, ``lon``, ``lat``
    (WGS84) and optionally ``name``.

    Raises
    ------
    PlanError
        Unknown spec, a missing file, or a row without coordinates.
    """
    stations = {s.id: s for s in county.stations}
    if spec == "townships":
        out = [_existing(s) for s in county.stations]
        for place in county.places:
            if getattr(place.kind, "value", place.kind) != "town":
                continue
            near = min((_distance_m(place.lon, place.lat, s.lon, s.lat) for s in county.stations), default=math.inf)
            if near > SAME_PLACE_M and place.id not in stations:
                out.append(PlanSite(place.id, f"{place.name}急救分站", float(place.lon), float(place.lat)))
        return out
    path = Path(spec)
    if not path.is_file():
        raise PlanError(f"candidates must be 'townships' or a CSV file (id, name, lon, lat), got {spec!r}: no such file")
    out = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for line, row in enumerate(csv.DictReader(f), start=2):
            sid = (row.get("id") or "").strip()
            if not sid:
                raise PlanError(f"{path}:{line}: id is required")
            if sid in stations and not (row.get("lon") or "").strip():
                out.append(_existing(stations[sid]))
                continue
            try:
                lon, lat = float(row["lon"]), float(row["lat"])
            except (KeyError, TypeError, ValueError):
                raise PlanError(f"{path}:{line}: lon and lat (WGS84 degrees) are required for new site {sid!r}") from None
            if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                raise PlanError(f"{path}:{line}: lon, lat out of range, got ({lon}, {lat})")
            out.append(PlanSite(sid, (row.get("name") or sid).strip(), lon, lat))
    if not out:
        raise PlanError(f"{path}: no candidate rows")
    return out


def _existing(station: Any) -> PlanSite:
    return PlanSite(
        station.id, station.name, float(station.lon), float(station.lat),
        kind=getattr(station.kind, "value", station.kind), existing=True,
    )  # fmt: skip


def _distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    kx = math.cos(math.radians((lat1 + lat2) / 2.0))
    return math.hypot((lon1 - lon2) * kx, lat1 - lat2) * 111_320.0


def problem_sites(
    county: Any, base_layout: Any, candidates: Sequence[PlanSite], fixed: Sequence[str]
) -> list[PlanSite]:
    """Combine candidates, fixed stations and the base layout's points into the problem's sites.

    The base layout's stations of kind ``point`` that hold ambulances are kept with them; its
    other stations (the centre unless fixed, the substations) give their ambulances to the pool.
    """
    fixed_ids = [resolve_station(county, f).id for f in fixed]
    base_by_id = {ls.station.id: ls for ls in base_layout.stations}
    sites: dict[str, PlanSite] = {}
    for fid in fixed_ids:
        st = next(s for s in county.stations if s.id == fid)
        ls = base_by_id.get(fid)
        site = _existing(st)
        sites[fid] = PlanSite(**{**_fields(site), "fixed": True, "candidate": False, "staff": ls.staff if ls else 0})
    for c in candidates:
        if c.id not in sites:
            sites[c.id] = c
    for ls in base_layout.stations:
        kind = getattr(ls.station.kind, "value", ls.station.kind)
        kept = ls.ambulances if kind == "point" and ls.station.id not in fixed_ids else 0
        if ls.station.id in sites:
            old = sites[ls.station.id]
            sites[ls.station.id] = PlanSite(**{**_fields(old), "kept_ambulances": kept, "staff": ls.staff})
        elif kept:
            st = ls.station
            sites[st.id] = PlanSite(
                st.id, st.name, float(st.lon), float(st.lat), kind=kind, existing=st.id in {s.id for s in county.stations},
                candidate=False, kept_ambulances=kept, staff=ls.staff,
            )  # fmt: skip
    return list(sites.values())


def _fields(site: PlanSite) -> dict[str, Any]:
    return {name: getattr(site, name) for name in PlanSite.__dataclass_fields__}


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
    mask = open_mask(problem, chosen)
    travel = float(problem.weight @ problem.travel_s[mask].min(axis=0))
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


# --------------------------------------------------------------------------- writing a layout


@dataclass(frozen=True, slots=True)
class PlannedLayout:
    """A layout produced by the optimiser, ready to write."""

    name: str
    description: str
    problem: PlanProblem = field(repr=False)
    ambulances: Mapping[int, int]
    chosen: tuple[int, ...]


def layout_toml(plan: PlannedLayout, base_layout: Any | None = None) -> str:
    """Return the layout as TOML (docs/county-format.md), readable by ``ems simulate`` and the county loader.

    Fixed sites and chosen substations get ``2`` staff per ambulance; kept points and the base
    layout's staffed points without an ambulance keep their staff. A chosen site that is not a
    substation in the county is written with its coordinates and ``kind = "substation"``.
    """
    sites = plan.problem.sites
    lines = [f"name = {_q(plan.name)}", f"description = {_q(plan.description)}", ""]
    written: set[str] = set()
    order = [j for j, s in enumerate(sites) if s.fixed] + list(plan.chosen)
    order += [j for j in sorted(plan.ambulances) if j not in order]
    for j in order:
        s = sites[j]
        n = int(plan.ambulances.get(j, 0))
        model = s.fixed or j in plan.chosen
        staff = max(s.staff, STAFF_PER_AMBULANCE * n) if model else s.staff
        lines += ["[[station]]", f"id = {_q(s.id)}", f"ambulances = {n}", f"staff = {staff}"]
        if j in plan.chosen and (not s.existing or s.kind != "substation"):
            lines += [f"name = {_q(s.name)}", 'kind = "substation"', f"lon = {s.lon!r}", f"lat = {s.lat!r}"]
        elif not s.existing:
            lines += [f"name = {_q(s.name)}", f"kind = {_q(s.kind)}", f"lon = {s.lon!r}", f"lat = {s.lat!r}"]
        lines.append("")
        written.add(s.id)
    if base_layout is not None:
        for ls in base_layout.stations:
            kind = getattr(ls.station.kind, "value", ls.station.kind)
            if ls.station.id not in written and ls.ambulances == 0 and kind == "point":
                lines += ["[[station]]", f"id = {_q(ls.station.id)}", "ambulances = 0", f"staff = {ls.staff}", ""]
    return "\n".join(lines)


def _q(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _bar(total: int, progress: bool, desc: str) -> Any:
    if not progress:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc)


__all__ = [
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
    "expected_coverage",
    "layout_counts",
    "layout_figures",
    "layout_toml",
    "parse_targets",
    "problem_sites",
    "resolve_station",
    "site_value",
    "solve_sites",
]
