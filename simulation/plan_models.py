"""The location models as mixed-integer programs, solved exactly by HiGHS (``highspy``).

- **MCLP** (maximal covering location, Church & ReVelle 1974): choose ``k`` substations to
  maximise the demand reached within its arrival target from some open site.
- **p-median** (Hakimi 1964; ReVelle & Swain 1970): minimise the demand-weighted travel time
  from the nearest open site.
- **backup** (double coverage, after Hogan & ReVelle 1986 and Gendreau, Laporte & Semet 1997):
  choose the sites and their ambulances together to maximise the demand covered once plus the
  demand covered twice.
- **MEXCLP** (Daskin 1983): allocate the ambulances over the open sites to maximise the
  expected covered demand when each unit is busy with probability ``q``.

Demand points with the same coverage pattern are merged (their weights summed) before a model
is built, which keeps the covering models small and exact. HiGHS runs with a zero relative gap
on one thread. When several choices share the optimum, which one HiGHS returns is not specified:
`simulation.plan_enumerate` is the solver with a documented tie-break.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from simulation.plan_problem import Allocation, Objective, PlanError, PlanProblem, SiteChoice, expected_coverage


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


__all__ = ["allocate", "solve_sites"]
