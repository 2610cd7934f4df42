"""The optimiser's problem: sites, demand, travel times, solutions, and their static figures.

A `PlanProblem` holds the sites of a planning problem (fixed, kept and candidates; see
`simulation.plan`), the demand weight and arrival target of every demand point and the travel
time from each site to each point. The functions here evaluate a choice of sites or a spread of
ambulances on it (coverage, demand-weighted travel time, double coverage, MEXCLP's expected
coverage); the solvers (`simulation.plan_models`, `simulation.plan_enumerate`) search over them.
Values in, values out: numpy only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from enum import StrEnum

import numpy as np

from simulation.errors import SimulationError


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

    @cached_property
    def covers(self) -> np.ndarray:
        """Return the ``(S, P)`` boolean matrix: site reaches point within the point's target.

        Computed once (the problem is frozen) and read-only: the models and the enumeration
        read it for every choice.
        """
        covers = self.travel_s <= self.target_s[None, :]
        covers.flags.writeable = False
        return covers

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


def nearest_travel_s(problem: PlanProblem, chosen: Iterable[int]) -> np.ndarray:
    """Return the travel time (s) to each demand point from the nearest site open when ``chosen`` are."""
    return problem.travel_s[open_mask(problem, chosen)].min(axis=0)


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


def counts_of(problem: PlanProblem, ambulances: Mapping[int, int]) -> np.ndarray:
    """Return the per-site ambulance array of an allocation."""
    counts = np.zeros(len(problem.sites))
    for j, a in ambulances.items():
        counts[j] = a
    return counts


__all__ = [
    "Allocation",
    "LayoutFigures",
    "Objective",
    "PlanError",
    "PlanProblem",
    "PlanSite",
    "SiteChoice",
    "counts_of",
    "expected_coverage",
    "layout_figures",
    "nearest_travel_s",
    "open_mask",
    "site_value",
]
