"""Hospitals, stations and the two station layouts of Ningxiang.

The 1+5+N layout follows the published network (published_figures.toml): the 120 centre at the
People's Hospital, five substations of 3 ambulances and 6 staff "by township block" (按乡镇板块,
流沙河 among them), and an emergency point with 2 staff at every other township health centre.
The seed does not say where the other four substations are: `choose_substations` takes one per
block (`SUBSTATION_BLOCKS`) among the layouts whose demand-weighted travel time is within
`PMEDIAN_SLACK` of the best (p-median), the one that best matches the published arrivals.
docs/ningxiang.md explains the blocks and the choice. The layouts are scored by the planner's
exhaustive solver (`simulation.plan_enumerate`), the one the optimiser's tests check the MILP
against; it imports numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from geodata.gcj02 import gcj02_to_wgs84
from simulation.ningxiang_build.common import BuildError
from simulation.ningxiang_build.raw import URBAN_SUBDISTRICTS, RawData
from simulation.ningxiang_build.settlements import bare_town_name, pinyin
from simulation.plan_enumerate import enumerate_choices, same_value
from simulation.plan_problem import Objective, PlanError, PlanProblem, PlanSite, nearest_travel_s


@dataclass(frozen=True, slots=True)
class HospitalSpec:
    """A hospital of the raw data (GCJ-02 as published) and its assumed capabilities."""

    id: str
    name: str
    gcj_lon: float
    gcj_lat: float
    capabilities: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    pci_24_7: bool = False
    assumed: bool = False
    note: str = ""


# Hospitals of the raw data's README (coordinates GCJ-02, from public map data). Capabilities of
# the People's Hospital are published (seed 000: 120 centre, chest pain and stroke centres);
# the others are assumptions, marked and argued in `note`.
HOSPITALS: tuple[HospitalSpec, ...] = (
    HospitalSpec(
        "renmin", "宁乡市人民医院", 112.547536, 28.265299,
        ("ed", "pci", "thrombolysis", "thrombectomy", "chest_pain_center", "stroke_center",
         "dispatch_centre"),
        aliases=("renmin-hospital", "People's Hospital", "人民医院", "市人民医院"),
        pci_24_7=True,
        note="120 dispatch centre; chest pain centre (PCI 24/7) and stroke centre, as published.",
    ),
    HospitalSpec(
        "zhongyi", "宁乡市中医医院", 112.544745, 28.251456, ("ed", "thrombolysis"),
        aliases=("TCM hospital", "中医医院", "中医院"), assumed=True,
        note="ED assumed for a county TCM hospital; intravenous thrombolysis assumed (a secondary "
             "hospital with CT and neurology can run a stroke thrombolysis pathway); no PCI.",
    ),
    HospitalSpec(
        "dier", "宁乡市第二人民医院", 112.533029, 28.265330, ("ed",),
        aliases=("2nd People's Hospital", "第二人民医院", "二医院"), assumed=True,
        note="ED assumed; no reperfusion capability assumed.",
    ),
    HospitalSpec(
        "fuyou", "宁乡市妇幼保健院", 112.546760, 28.237900, ("obstetrics", "paediatrics"),
        aliases=("MCH hospital", "妇幼保健院"), assumed=True,
        note="Maternal and child health: obstetric and paediatric emergencies only (assumed); "
             "not a destination for chest pain or stroke.",
    ),
    HospitalSpec(
        "nanya", "南雅医院", 112.540562, 28.254549, ("ed",),
        aliases=("Nanya Hospital",), assumed=True, note="ED assumed; no reperfusion capability assumed.",
    ),
    HospitalSpec(
        "changming", "昌明医院", 111.970502, 28.098032, ("ed",),
        aliases=("Changming Hospital",), assumed=True,
        note="Near 巷子口; ED assumed (the only hospital in the western hills); no reperfusion.",
    ),
    HospitalSpec(
        "shuangfupu-chc", "双凫铺中心卫生院", 112.290810, 28.133100, ("ed", "thrombolysis", "primary_care"),
        aliases=("双凫铺镇卫生院", "Shuangfupu central health centre"), assumed=True,
        note="Central township health centre, the health centre of 双凫铺镇. Thrombolysis assumed: "
             "China's grass-roots chest pain centre standard (基层胸痛中心) expects STEMI "
             "thrombolysis where PCI is over 120 min away; it is ~35 km from the People's Hospital "
             "and a hub for the central-west townships. Not verified.",
    ),
)  # fmt: skip

# The People's Hospital is the 120 centre; 流沙河 is the substation the sources name.
CENTRE_ID = "renmin"
NAMED_SUBSTATION_TOWN = "流沙河镇"
SUBSTATIONS = 5
SUBSTATION_AMBULANCES = 3
SUBSTATION_STAFF = 6
POINT_STAFF = 2
AMBULANCES_TOTAL = 32
# The seed gives the points 2 staff each and says nothing of vehicles there: they hold none, and
# the ambulances left after the substations (32 - 15 = 17) stay at the centre, which also serves
# the county town (about half of the demand) and the townships around it.
CENTRE_AMBULANCES = AMBULANCES_TOTAL - SUBSTATIONS * SUBSTATION_AMBULANCES
POINT_AMBULANCES = 0
# 按乡镇板块，建设5个急救分站: one substation per township block. The seed names no block; these are
# the five parts of the county whose arrivals it reports (最西北, 最西, 最南, 最东南, 中部), by
# township seat position. The county town's four sub-districts and the townships around it
# (金洲, 夏铎铺, 双江口, 菁华铺, 回龙铺, 坝塘) are the centre's own area.
SUBSTATION_BLOCKS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "northwest": ("沩山乡", "黄材镇"),
        "west": ("流沙河镇", "龙田镇", "巷子口镇", "沙田乡", "青山桥镇"),
        "south": ("灰汤镇", "老粮仓镇", "东湖塘镇"),
        "southeast": ("道林镇", "花明楼镇", "大屯营镇"),
        "central": ("双凫铺镇", "资福镇", "喻家坳乡", "大成桥镇", "横市镇", "煤炭坝镇"),
    }
)
# Layouts whose demand-weighted mean travel time is within this share of the best one are taken
# as equally good: the demand weights are proxies by urban-rural class (docs/ningxiang.md), far
# less certain than 5 %, so the p-median cannot tell them apart.
PMEDIAN_SLACK = 0.05
CENTRE_STAFF = 10  # 10 + 5 x 6 + 20 x 2 = 80, the published staff count (医护人员80余名)


@dataclass(frozen=True, slots=True)
class HospitalRow:
    """A hospital of facilities.toml (WGS84)."""

    id: str
    name: str
    aliases: tuple[str, ...]
    lon: float
    lat: float
    capabilities: tuple[str, ...]
    pci_24_7: bool
    assumed: bool
    note: str


@dataclass(frozen=True, slots=True)
class StationRow:
    """A station of facilities.toml (WGS84)."""

    id: str
    name: str
    kind: str  # centre | substation | point
    hospital: str
    lon: float
    lat: float
    town: str  # township name ("" for the centre)


@dataclass(frozen=True, slots=True)
class LayoutEntry:
    """A station of a layout with its ambulances and staff."""

    station: str
    ambulances: int
    staff: int


def hospitals(raw: RawData) -> tuple[HospitalRow, ...]:
    """Return the listed hospitals and a health centre at every township seat (WGS84)."""
    rows = []
    for h in HOSPITALS:
        lon, lat = gcj02_to_wgs84(h.gcj_lon, h.gcj_lat)
        rows.append(HospitalRow(h.id, h.name, h.aliases, lon, lat, h.capabilities, h.pci_24_7,
                                h.assumed, h.note))  # fmt: skip
    for t in rural_seats(raw):
        hc = health_centre_id(t.name)
        if any(r.id == hc for r in rows):
            continue
        bare = bare_town_name(t.name)
        note = "Township health centre (乡镇卫生院) placed at the township seat; first aid and "
        note += "primary care, no emergency department assumed."
        if t.source == "estimated":
            note += " The seat's position is estimated (no coordinates in the dataset)."
        rows.append(HospitalRow(hc, f"{t.name}卫生院", (f"{bare}卫生院",), t.lon, t.lat,
                                ("primary_care",), False, True, note))  # fmt: skip
    return tuple(rows)


def rural_seats(raw: RawData):  # noqa: ANN201 - tuple[RawPlace, ...]
    """Return the township seats outside the county town (towns and xiang), by code."""
    return tuple(t for t in raw.towns if t.name not in URBAN_SUBDISTRICTS)


def health_centre_id(town: str) -> str:
    """Return the facility id of a township's health centre."""
    bare = pinyin(bare_town_name(town))
    return "shuangfupu-chc" if bare == "shuangfupu" else f"{bare}-hc"


def station_id(town: str) -> str:
    """Return the station id of a township's substation or point: its bare pinyin name."""
    return pinyin(bare_town_name(town))


@dataclass(frozen=True, slots=True)
class SubstationChoice:
    """The substations chosen, one per block, and what the choice weighed."""

    substations: tuple[str, ...]  # in block order
    mean_time_s: float  # demand-weighted mean time to the nearest station, this layout
    best_mean_time_s: float  # the same for the best one-per-block layout (p-median)
    misfit: float  # the misfit of this layout (smaller is better)
    near_optimal: int  # layouts within the slack of the best mean time


def choose_substations(
    blocks: Mapping[str, Sequence[str]], fixed: Collection[str], base_time_s: np.ndarray,
    cand_time_s: Mapping[str, np.ndarray], weights: np.ndarray, *, slack: float,
    misfit: Callable[[np.ndarray], float],
) -> SubstationChoice:  # fmt: skip
    """Choose one candidate per block: near-optimal for demand, then the best fit (exhaustive).

    Every layout with one candidate per block is scored by the planner's exhaustive p-median
    (`simulation.plan_enumerate.enumerate_choices`; a block holding a `fixed` candidate keeps
    it). Those whose demand-weighted mean time from the nearest station is within `slack` of
    the best (the p-median over one-per-block layouts) are kept; among them the smallest
    ``misfit(nearest_time_s)`` wins, then the smaller mean time, then the first in block order.

    Parameters
    ----------
    blocks
        Block name -> candidate names (disjoint).
    fixed
        Candidates that are substations whatever the choice (at most one per block).
    base_time_s
        Time (s) from the nearest station outside the blocks (the centre) to each demand point.
    cand_time_s
        Time (s) from each candidate to each demand point.
    weights
        Demand weight of each point.
    slack
        Relative slack on the mean time (0.05: within 5 % of the best).
    misfit
        Nearest-station times (s) per point -> how far the layout is from the observations.

    Raises
    ------
    BuildError
        A block is empty, blocks overlap, a block holds two fixed candidates, or the times or
        weights are not a valid p-median problem (negative times, weights all zero).
    """
    seen: set[str] = set()
    choices = []
    for name, members in blocks.items():
        if not members:
            raise BuildError(f"substation block {name!r}: no candidate")
        if seen & set(members):
            raise BuildError(f"substation block {name!r}: {sorted(seen & set(members))} already in another block")
        seen |= set(members)
        pinned = [c for c in members if c in fixed]
        if len(pinned) > 1:
            raise BuildError(f"substation block {name!r}: fixed {pinned}, expected at most one")
        choices.append(pinned or list(members))
    names = [c for members in choices for c in members]
    try:
        problem = _pmedian_problem(names, base_time_s, cand_time_s, weights)
        # Sites 1.. are the candidates block by block, so lexicographic order is block order.
        index_blocks, start = [], 1
        for members in choices:
            index_blocks.append(range(start, start + len(members)))
            start += len(members)
        scored = enumerate_choices(problem, Objective.PMEDIAN, len(index_blocks), blocks=index_blocks)
    except PlanError as e:
        raise BuildError(f"substation choice: {e}") from e
    best = min(c.value for c in scored)
    limit = best * (1.0 + slack)
    # The solver ranks by mean time, equal means (up to rounding) in block order.
    near = [
        (misfit(nearest_travel_s(problem, c.chosen)), c.rank, c)
        for c in scored
        if c.value <= limit or same_value(c.value, limit)
    ]
    fit, _, pick = min(near)
    layout = tuple(names[j - 1] for j in pick.chosen)
    return SubstationChoice(layout, pick.value, best, float(fit), len(near))


def _pmedian_problem(
    names: Sequence[str], base_time_s: np.ndarray, cand_time_s: Mapping[str, np.ndarray], weights: np.ndarray
) -> PlanProblem:
    """Return the planner's problem: the base station always open (site 0), then the candidates.

    Only the travel times and weights matter to the p-median: the sites' coordinates are NaN
    (not known here, never read) and the arrival targets are unbounded.
    """
    sites = [PlanSite("base", "base", math.nan, math.nan, kind="centre", fixed=True, candidate=False)]
    sites += [PlanSite(f"candidate-{j}", name, math.nan, math.nan) for j, name in enumerate(names, start=1)]
    travel = np.vstack([np.asarray(base_time_s, dtype=float)] + [np.asarray(cand_time_s[n], dtype=float) for n in names])
    return PlanProblem(
        sites=tuple(sites),
        weight=np.asarray(weights, dtype=float),
        target_s=np.full(travel.shape[1], math.inf),
        travel_s=travel,
        ambulances=0,
    )
