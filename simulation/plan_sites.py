"""The sites of a planning problem, from a county: candidates, fixed stations and kept points.

Candidates come from the county's stations and township seats or from a CSV file; the fixed
stations are named by id, name, alias or hospital; the base layout's township points that hold
ambulances are kept with them (`simulation.plan` explains the three sorts of site).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dispatch.gps import distance_m
from simulation.plan_problem import PlanError, PlanSite

# A town place within this distance of a station is that station's township (no new candidate).
SAME_PLACE_M = 1000.0


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
            near = min((distance_m(place.lon, place.lat, s.lon, s.lat) for s in county.stations), default=math.inf)
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


__all__ = ["SAME_PLACE_M", "candidate_sites", "problem_sites", "resolve_station"]
