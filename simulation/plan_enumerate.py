"""The location models solved by brute force: every feasible choice of sites is scored.

For small problems: the tests' cross-check of the MILP solver (`simulation.plan_models`), and the
builder of the embedded county, which weighs every layout with one substation per township block
(simulation/ningxiang_build/stations.py). Exact and deterministic: a choice is an ascending tuple of
candidate indices, its value is `simulation.plan_problem.site_value`, and choices whose values
are equal up to float rounding (`same_value`) are ordered lexicographically, so the first of
them wins. The MILP solver does not promise which of tied optima it returns; this one does.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence

import numpy as np

from simulation.plan_problem import Objective, PlanError, PlanProblem, SiteChoice, site_value

# Values closer than this, relative to their size (at least 1), are a tie: the same weighted sum
# computed over different sites differs in its last bits.
TIE_TOLERANCE = 1e-12


def same_value(a: float, b: float) -> bool:
    """Return True when two objective values are equal up to float rounding (`TIE_TOLERANCE`)."""
    return abs(a - b) <= TIE_TOLERANCE * max(1.0, abs(a), abs(b))


def feasible_choices(
    problem: PlanProblem, k: int, *, blocks: Sequence[Sequence[int]] | None = None
) -> Iterable[tuple[int, ...]]:
    """Return every choice of ``k`` candidate sites, in lexicographic order.

    Parameters
    ----------
    problem
        Sites, demand and travel times.
    k
        Substations to choose among the candidates.
    blocks
        Disjoint groups of candidate indices. When given, a choice takes exactly one candidate
        from each block and none outside them, so ``k`` must equal the number of blocks.

    Returns
    -------
    Iterable[tuple[int, ...]]
        Ascending tuples of candidate indices, in lexicographic order.

    Raises
    ------
    PlanError
        ``k`` out of range or not the number of blocks; a block empty, holding a repeated index
        or an index that is not a candidate, or sharing one with another block.
    """
    cand = problem.candidates
    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= len(cand):
        raise PlanError(f"substations must be an integer in 0-{len(cand)} (the candidates), got {k!r}")
    if blocks is None:
        return itertools.combinations(cand, k)
    groups = [tuple(group) for group in blocks]
    if len(groups) != k:
        raise PlanError(f"blocks: one substation per block needs substations = {len(groups)}, got {k}")
    known, seen = set(cand), set()
    for n, group in enumerate(groups):
        members = set(group)
        if not group:
            raise PlanError(f"blocks[{n}]: empty, expected candidate indices")
        if len(members) != len(group):
            raise PlanError(f"blocks[{n}]: repeated indices in {list(group)}")
        if unknown := sorted(members - known):
            raise PlanError(f"blocks[{n}]: {unknown} are not candidate indices (candidates: {cand})")
        if shared := sorted(members & seen):
            raise PlanError(f"blocks[{n}]: {shared} already in another block")
        seen |= members
    return sorted(tuple(sorted(layout)) for layout in itertools.product(*groups))


def _scored(
    problem: PlanProblem, objective: Objective, k: int, blocks: Sequence[Sequence[int]] | None, min_per_site: int
) -> Iterator[tuple[tuple[int, ...], float]]:
    """Yield each feasible choice with its value, in lexicographic order.

    The backup model takes the best allocation of the pool over the open sites; a choice that
    leaves too few ambulances for ``min_per_site`` on each is not feasible and is skipped.
    """
    for chosen in feasible_choices(problem, k, blocks=blocks):
        if objective is Objective.BACKUP:
            value = max(
                (site_value(problem, objective, chosen, counts) for counts in _allocations(problem, chosen, min_per_site)),
                default=None,
            )
            if value is None:
                continue
        else:
            value = site_value(problem, objective, chosen)
        yield tuple(chosen), value


def enumerate_choices(
    problem: PlanProblem,
    objective: Objective,
    k: int,
    *,
    blocks: Sequence[Sequence[int]] | None = None,
    min_per_site: int = 1,
) -> list[SiteChoice]:
    """Return every feasible site choice with its objective value, best first.

    Ties are broken deterministically: the choices are sorted by value, and each run of values
    equal to its first one up to rounding (`same_value`) is put in lexicographic order.
    ``rank`` is the position in the list (1 for the best).

    Parameters
    ----------
    problem
        Sites, demand and travel times.
    objective
        The model.
    k
        Substations to choose among the candidates.
    blocks
        Choose exactly one candidate from each of these groups of candidate indices
        (see `feasible_choices`).
    min_per_site
        Backup model: ambulances each open fixed or chosen site holds at least.

    Raises
    ------
    PlanError
        Bad ``k`` or ``blocks`` (see `feasible_choices`).
    """
    scored = list(_scored(problem, objective, k, blocks, min_per_site))
    scored.sort(key=lambda item: item[1], reverse=objective.maximise)
    ordered: list[tuple[tuple[int, ...], float]] = []
    start = 0
    while start < len(scored):
        end = start + 1
        while end < len(scored) and same_value(scored[start][1], scored[end][1]):
            end += 1
        ordered += sorted(scored[start:end])
        start = end
    return [SiteChoice(objective, chosen, value, rank) for rank, (chosen, value) in enumerate(ordered, start=1)]


def enumerate_best(
    problem: PlanProblem,
    objective: Objective,
    k: int,
    *,
    blocks: Sequence[Sequence[int]] | None = None,
    min_per_site: int = 1,
) -> SiteChoice:
    """Return the best site choice by enumerating every one (small problems: tests, cross-checks).

    The backup model also enumerates every allocation of the pool over the open sites. Of the
    choices whose value equals the best up to rounding (`same_value`), the first in
    lexicographic order is returned (the first of `enumerate_choices`).

    Raises
    ------
    PlanError
        Bad ``k`` or ``blocks`` (see `feasible_choices`), or no feasible choice.
    """
    choices = enumerate_choices(problem, objective, k, blocks=blocks, min_per_site=min_per_site)
    if not choices:
        raise PlanError(f"no feasible choice of {k} substations")
    return SiteChoice(objective, choices[0].chosen, choices[0].value)


def _allocations(problem: PlanProblem, chosen: Sequence[int], min_per_site: int) -> Iterable[np.ndarray]:
    """Yield every spread of the pool over the fixed and chosen sites, ``min_per_site`` at least each."""
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


__all__ = ["TIE_TOLERANCE", "enumerate_best", "enumerate_choices", "feasible_choices", "same_value"]
