"""Places of the county: real seats and villages, generated settlements, the demand model."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from pypinyin import lazy_pinyin
from scipy.spatial import cKDTree

from simulation.ningxiang_build.common import BuildError, LocalProjection
from simulation.ningxiang_build.raw import URBAN_SUBDISTRICTS, RawData, RawPlace
from simulation.ningxiang_build.roads import Network

# Relative population a settlement of each urban-rural class stands for (ur_code; None: unknown).
# Assumption (docs/ningxiang.md): a main-urban block or a town centre holds several times the
# people of a rural hamlet; the figures are proxies, not census counts.
POPULATION_PROXY: Mapping[int | None, float] = {
    111: 8.0,  # main urban area (county town blocks and sub-district seats)
    112: 4.0,  # urban-rural fringe
    121: 12.0,  # town centre (the seat stands for the whole town core)
    122: 2.0,  # town fringe
    123: 2.0,  # special area
    210: 1.5,  # village centre
    220: 1.0,  # village
    None: 1.0,
}
URBAN_UR_CODES = frozenset({111, 112, 121, 122})
# Every CITY_BLOCK_EVERY-th street-grid junction of the county town is a settlement (a block).
CITY_BLOCK_EVERY = 4
# Blocks within this share of the town ellipse's radii are main urban (111), others fringe (112).
CITY_CORE_RADIUS = 0.7
# Generated hamlets this close (m) to a seat are town fringe (122), farther ones villages (220).
TOWN_FRINGE_M = 1500.0
# The county-seat row (kind county) carries no demand.
WEIGHT_DECIMALS = 10


@dataclass(frozen=True, slots=True)
class PlaceRow:
    """A row of places.csv."""

    id: str
    name: str
    name_pinyin: str
    kind: str
    township: str
    lon: float
    lat: float
    ur_code: int | None
    demand_weight: float
    source: str

    @property
    def urban(self) -> int:
        """Return 1 for the urban classes (10-minute target), 0 otherwise."""
        return int(self.ur_code in URBAN_UR_CODES)


def pinyin(text: str) -> str:
    """Return the toneless pinyin of a Chinese name, lower case, without spaces."""
    return "".join(lazy_pinyin(text)).lower().replace("ü", "v")


def bare_town_name(name: str) -> str:
    """Return a township's name without its suffix (街道, 镇, 乡): 流沙河镇 -> 流沙河."""
    for suffix in ("街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def village_name(name: str) -> str:
    """Return a village's name without the committee suffix: 珊瑚村委会 -> 珊瑚村."""
    for suffix, repl in (("社区居委会", "社区"), ("村委会", "村"), ("居委会", "社区")):
        if name.endswith(suffix):
            return name[: -len(suffix)] + repl
    return name


def build_places(raw: RawData, net: Network, proj: LocalProjection) -> tuple[PlaceRow, ...]:
    """Return every place (county, seats, villages, generated) with its demand weight.

    Raises
    ------
    BuildError
        Two places would get the same id.
    """
    rows: list[PlaceRow] = []
    county = raw.county
    rows.append(PlaceRow("ningxiang", "宁乡市", "ningxiangshi", "county", "", county.lon, county.lat,
                         None, 0.0, "adcode"))  # fmt: skip
    for t in raw.towns:
        bare = bare_town_name(t.name)
        rows.append(PlaceRow(pinyin(bare), t.name, pinyin(t.name), "town", t.name, t.lon, t.lat,
                             t.ur_code, 0.0, t.source))  # fmt: skip
    for v in raw.villages:
        short = village_name(v.name)
        rows.append(PlaceRow(pinyin(short), short, pinyin(short), "village", v.township, v.lon, v.lat,
                             v.ur_code, 0.0, "adcode"))  # fmt: skip
    rows.extend(_generated(raw, net, proj))
    rows = _weighted(rows)
    ids = [r.id for r in rows]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        # Same-named villages in different townships: qualify with the township.
        fixed = []
        for r in rows:
            if r.id in dup and r.kind == "village":
                r = PlaceRow(f"{r.id}-{pinyin(bare_town_name(r.township))}", *_rest(r))
            fixed.append(r)
        rows = fixed
        ids = [r.id for r in rows]
        if len(set(ids)) != len(ids):
            raise BuildError(f"places: ids not unique even when qualified: {sorted(set(dup))}")
    return tuple(rows)


def _rest(r: PlaceRow) -> tuple:
    return (r.name, r.name_pinyin, r.kind, r.township, r.lon, r.lat, r.ur_code, r.demand_weight, r.source)


def _generated(raw: RawData, net: Network, proj: LocalProjection) -> list[PlaceRow]:
    seats: list[RawPlace] = list(raw.towns)
    sx, sy = proj.to_xy([t.lon for t in seats], [t.lat for t in seats])
    tree = cKDTree(np.column_stack([sx, sy]))
    urban = [i for i, t in enumerate(seats) if t.name in URBAN_SUBDISTRICTS]
    urban_tree = cKDTree(np.column_stack([sx[urban], sy[urban]]))
    cx, cy = net.city_centre_xy
    ax, ay = net.city_axes_m
    out: list[PlaceRow] = []
    counters: dict[str, int] = {}

    def add(node: int, township: str, ur: int, label: str) -> None:
        counters[township] = counters.get(township, 0) + 1
        n = counters[township]
        name = f"{township}{label}{n:03d}"
        lon, lat = proj.to_lonlat(net.x[node], net.y[node])
        out.append(PlaceRow(f"g{len(out) + 1:04d}", name, pinyin(name), "generated", township,
                            float(lon), float(lat), ur, 0.0, "generated"))  # fmt: skip

    grid = np.flatnonzero(net.kind == 0)
    for node in grid[::CITY_BLOCK_EVERY].tolist():
        _, k = urban_tree.query([net.x[node], net.y[node]])
        r = np.hypot((net.x[node] - cx) / ax, (net.y[node] - cy) / ay)
        add(node, seats[urban[int(k)]].name, 111 if r < CITY_CORE_RADIUS else 112, "街区")
    for node in net.hamlet_nodes:
        d, k = tree.query([net.x[node], net.y[node]])
        add(node, seats[int(k)].name, 122 if d < TOWN_FRINGE_M else 220, "居民点")
    return out


def _weighted(rows: list[PlaceRow]) -> list[PlaceRow]:
    raw_w = np.array([0.0 if r.kind == "county" else POPULATION_PROXY.get(r.ur_code, 1.0) for r in rows])
    w = np.round(raw_w / raw_w.sum(), WEIGHT_DECIMALS)
    # Put the rounding residue on the heaviest place so the column sums to 1 in decimal.
    w[int(np.argmax(w))] += round(1.0 - float(w.sum()), WEIGHT_DECIMALS)
    return [PlaceRow(r.id, *_rest(r)[:7], float(wi), r.source) for r, wi in zip(rows, w, strict=True)]
