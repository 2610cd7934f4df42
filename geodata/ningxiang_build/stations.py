"""Hospitals, stations and the two station layouts of Ningxiang.

The 1+5+N layout follows the published network (published_figures.toml): the 120 centre at the
People's Hospital, five substations of 3 ambulances and 6 staff (流沙河 among them), and an
emergency point with 2 staff at every other township health centre. The four substations the
sources do not name are chosen by an exact p-median on emergency-profile road travel time.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from geodata.gcj02 import gcj02_to_wgs84
from geodata.ningxiang_build.common import BuildError
from geodata.ningxiang_build.raw import URBAN_SUBDISTRICTS, RawData
from geodata.ningxiang_build.settlements import bare_town_name, pinyin


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
# Ambulances left after the substations (32 - 15 = 17): the centre keeps CENTRE_AMBULANCES for
# the county town (about a third of the demand) and the rest go one each to the township points
# chosen by greedy p-median; the other points are staffed first-aid points without a vehicle.
CENTRE_AMBULANCES = 5
# Arrival targets (published: 城区10分钟, 乡村30分钟) and the weight of time beyond them when the
# points that hold an ambulance are chosen.
URBAN_TARGET_S = 600.0
RURAL_TARGET_S = 1800.0
LATENESS_WEIGHT = 10.0
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


def choose_substations(
    candidates: Sequence[str], fixed_time_s: np.ndarray, cand_time_s: Mapping[str, np.ndarray],
    weights: np.ndarray, k: int,
) -> tuple[tuple[str, ...], float]:  # fmt: skip
    """Choose k candidates minimising the demand-weighted time to the nearest station (exact).

    Parameters
    ----------
    candidates
        Candidate names, in a fixed order.
    fixed_time_s
        Time (s) from the nearest fixed station to each demand point.
    cand_time_s
        Time (s) from each candidate to each demand point.
    weights
        Demand weight of each point.
    k
        How many to choose.

    Returns
    -------
    tuple
        The chosen candidates (in candidate order) and the weighted mean time (s).
    """
    if k > len(candidates):
        raise BuildError(f"p-median: k = {k} exceeds the {len(candidates)} candidates")
    T = np.stack([np.minimum(cand_time_s[c], fixed_time_s) for c in candidates])
    combos = np.array(list(itertools.combinations(range(len(candidates)), k)), dtype=int)
    best_cost, best = np.inf, None
    for start in range(0, len(combos), 512):
        chunk = combos[start : start + 512]
        m = T[chunk[:, 0]]
        for j in range(1, k):
            m = np.minimum(m, T[chunk[:, j]])
        cost = m @ weights
        i = int(np.argmin(cost))
        if cost[i] < best_cost - 1e-9:
            best_cost, best = float(cost[i]), chunk[i]
    assert best is not None
    return tuple(candidates[i] for i in best), best_cost / float(weights.sum())


def greedy_points(
    candidates: Sequence[str], base_time_s: np.ndarray, cand_time_s: Mapping[str, np.ndarray],
    weights: np.ndarray, k: int, target_s: np.ndarray,
) -> tuple[str, ...]:  # fmt: skip
    """Choose k candidates one at a time, each cutting the cost the most (ties: candidate order).

    The cost is the demand-weighted travel time plus LATENESS_WEIGHT times the weighted time
    beyond each place's arrival target (10 min urban, 30 min rural), so the remote townships
    that miss the target get a vehicle before the well-served ones.
    """

    def cost(t: np.ndarray) -> float:
        return float(t @ weights + LATENESS_WEIGHT * (np.maximum(t - target_s, 0.0) @ weights))

    current = base_time_s.copy()
    chosen: list[str] = []
    for _ in range(k):
        costs = [
            (cost(np.minimum(current, cand_time_s[c])), i)
            for i, c in enumerate(candidates) if c not in chosen
        ]  # fmt: skip
        _, i = min(costs)
        chosen.append(candidates[i])
        current = np.minimum(current, cand_time_s[candidates[i]])
    return tuple(c for c in candidates if c in chosen)
