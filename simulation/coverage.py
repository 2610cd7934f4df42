"""Static coverage: expected arrival from the nearest station, by region and by settlement.

The seed (宁乡市：构建立体化急诊急救体系) gives the worst arrivals after the 1+5+N reform by part of
the county: north-west 28, west 23, south 11, south-east 17, central 11 minutes. The regions
are not defined there; here they are sets of townships (``DEFAULT_REGIONS``, overridable in
``[simulation.regions]``), and a region's "worst arrival" is the **largest** travel time from
the nearest station of the layout over the region's real settlements: township seats and
villages of ``places.csv`` (kinds ``town`` and ``village``; the generated hamlets between them
are left out, they are not places the seed could have timed). Travel only: no turnout, no
call processing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from simulation.errors import SimulationConfigError

# Townships of Ningxiang by part of the county (township seat coordinates of the adcode dataset):
# the north-west is the 沩山 range and the 黄材 reservoir; the west the Xuefeng foothills around
# 流沙河; the south the 灰汤 / 东湖塘 basin; the south-east 道林 / 花明楼 / 大屯营; the centre the
# band between the county town and the hills.
DEFAULT_REGIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "northwest": ("沩山乡", "黄材镇"),
        "west": ("龙田镇", "巷子口镇", "沙田乡", "流沙河镇", "青山桥镇"),
        "south": ("灰汤镇", "东湖塘镇"),
        "southeast": ("道林镇", "花明楼镇", "大屯营镇"),
        "central": ("双凫铺镇", "横市镇", "大成桥镇", "喻家坳乡", "老粮仓镇", "煤炭坝镇", "坝塘镇"),
    }
)
REAL_PLACE_KINDS = frozenset({"town", "village"})


@dataclass(frozen=True, slots=True)
class RegionArrival:
    """The worst expected arrival of a region and where it is."""

    region: str
    worst_min: float
    place_id: str
    place_name: str
    settlements: int


def regions_from_config(config: Mapping[str, Any] | None) -> Mapping[str, tuple[str, ...]]:
    """Return ``[simulation.regions]`` (region -> townships), or the defaults."""
    raw = ((config or {}).get("simulation") or {}).get("regions")
    if raw is None:
        return DEFAULT_REGIONS
    if not isinstance(raw, Mapping) or not all(
        isinstance(v, list) and all(isinstance(t, str) for t in v) for v in raw.values()
    ):
        raise SimulationConfigError(f"simulation.regions must map a region to a list of township names, got {raw!r}")
    return MappingProxyType({k: tuple(v) for k, v in raw.items()})


def worst_arrivals(
    places: Sequence[Any],
    station_to_place_s: np.ndarray,
    regions: Mapping[str, Sequence[str]] = DEFAULT_REGIONS,
) -> dict[str, RegionArrival]:
    """Return, per region, the largest nearest-station travel time over its real settlements.

    Parameters
    ----------
    places
        ``geodata.county.Place`` rows (``id``, ``name``, ``kind``, ``township``).
    station_to_place_s
        ``(n_stations, n_places)`` travel times from each station of the layout to each place.
    regions
        Region -> township names.

    Raises
    ------
    SimulationConfigError
        A region has no real settlement in ``places`` (a misspelt township).
    """
    nearest = np.min(station_to_place_s, axis=0)
    out = {}
    for region, townships in regions.items():
        wanted = set(townships)
        idx = [
            i for i, p in enumerate(places)
            if (p.township in wanted or p.name in wanted) and str(getattr(p.kind, "value", p.kind)) in REAL_PLACE_KINDS
        ]  # fmt: skip
        if not idx:
            raise SimulationConfigError(
                f"simulation.regions.{region}: no town or village of places.csv is in {sorted(wanted)}"
            )
        times = nearest[idx]
        k = int(np.argmax(times))
        place = places[idx[k]]
        out[region] = RegionArrival(region, float(times[k]) / 60.0, place.id, place.name, len(idx))
    return out


__all__ = ["DEFAULT_REGIONS", "RegionArrival", "regions_from_config", "worst_arrivals"]
