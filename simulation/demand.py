"""The call generator: when, where and what, drawn up front with one random stream per purpose.

Arrivals are a Poisson process whose rate is ``calls_per_day`` shaped by an hourly profile and a
weekday factor (piecewise constant by hour: the count of each hour is Poisson, the times uniform
within it). Locations come from the county's demand model (``places.csv`` ``demand_weight``) or
from a CSV of past calls. Every random quantity of a call (complaint, priority, transport,
STEMI, service times) is drawn here, per call, from a stream seeded by ``(seed, replication,
purpose)``: two layouts run with the same seed see exactly the same calls and the same service
times (common random numbers), so their difference is the layout's, not the dice's.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from dispatch.model import Complaint, UnitStatus
from simulation.config import SimulationConfig
from simulation.errors import DemandError
from simulation.travel import DemandPoints

DAY_S = 86_400.0
HOUR_S = 3_600.0

# Stream ids: never renumber (seeded runs would change).
STREAM_ARRIVALS = 1
STREAM_LOCATIONS = 2
STREAM_COMPLAINTS = 3
STREAM_SERVICE = 4


def stream(seed: int, replication: int, purpose: int) -> np.random.Generator:
    """Return the random stream for ``purpose`` in replication ``replication`` of run ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(replication), int(purpose)]))


@dataclass(frozen=True, eq=False)
class CallPlan:
    """The calls of one replication, as arrays aligned by call number (sorted by time).

    Attributes
    ----------
    t_s
        Time of each call (s since the start of day 0, local time).
    point
        Index of the demand point.
    complaint, priority
        Index into ``complaints``; priority 1-4.
    transport, stemi, cathlab_from_field, lvo, lkw_in_window
        Booleans drawn from the complaint's probabilities.
    call_processing_s, on_scene_s, handover_s
        Durations.
    turnout_s
        Per assignable status, the turnout the call gets if a unit in that status takes it.
    """

    t_s: np.ndarray
    point: np.ndarray
    complaint: np.ndarray
    priority: np.ndarray
    transport: np.ndarray
    stemi: np.ndarray
    cathlab_from_field: np.ndarray
    lvo: np.ndarray
    lkw_in_window: np.ndarray
    call_processing_s: np.ndarray
    on_scene_s: np.ndarray
    handover_s: np.ndarray
    turnout_s: Mapping[UnitStatus, np.ndarray]
    complaints: tuple[Complaint, ...]

    @property
    def n(self) -> int:
        """Number of calls."""
        return int(self.t_s.size)


def arrival_times(config: SimulationConfig, days: float, rng: np.random.Generator) -> np.ndarray:
    """Draw the call times (s) of ``days`` days from the hourly and weekday profile."""
    if not days > 0:
        raise DemandError(f"days must be > 0, got {days!r}")
    hours = int(np.ceil(days * 24))
    hp = np.asarray(config.hourly_profile, dtype=float)
    hp = hp / hp.mean()
    wf = np.asarray(config.weekday_factor, dtype=float)
    wf = wf / wf.mean()
    h = np.arange(hours)
    weekday = (config.start_weekday + h // 24) % 7
    rate = config.calls_per_day / 24.0 * hp[h % 24] * wf[weekday]
    # The last hour may be partial.
    span = np.minimum(HOUR_S, days * DAY_S - h * HOUR_S)
    counts = rng.poisson(rate * span / HOUR_S)
    starts = np.repeat(h * HOUR_S, counts)
    t = starts + rng.uniform(0.0, 1.0, counts.sum()) * np.repeat(span, counts)
    t.sort()
    return t


def plan_calls(
    config: SimulationConfig,
    points: DemandPoints,
    *,
    days: float,
    seed: int,
    replication: int,
    times_s: np.ndarray | None = None,
) -> CallPlan:
    """Draw every call of one replication.

    Parameters
    ----------
    config
        Rates, the complaint mix and service-time distributions.
    points
        Where calls come from (``weight``).
    days
        Length of the run.
    seed, replication
        Seed the streams (common random numbers across layouts).
    times_s
        Use these call times instead of drawing them (tests, replays).
    """
    t = arrival_times(config, days, stream(seed, replication, STREAM_ARRIVALS)) if times_s is None else np.sort(
        np.asarray(times_s, dtype=float)
    )
    n = t.size
    loc_rng = stream(seed, replication, STREAM_LOCATIONS)
    point = loc_rng.choice(points.n, size=n, p=points.weight) if n else np.zeros(0, dtype=np.int64)

    complaints = tuple(config.complaints)
    specs = [config.complaints[c] for c in complaints]
    shares = np.array([s.share for s in specs], dtype=float)
    c_rng = stream(seed, replication, STREAM_COMPLAINTS)
    complaint = c_rng.choice(len(complaints), size=n, p=shares / shares.sum())
    # One uniform per call and purpose, mapped through each complaint's probabilities, so the
    # draws of one call do not depend on the other calls' complaints.
    u = c_rng.uniform(size=(6, n))
    pw = np.array([np.cumsum(s.priority_weights) / sum(s.priority_weights) for s in specs])
    priority = (u[0][:, None] > pw[complaint][:, :3]).sum(axis=1).astype(np.int8) + 1

    def prob(name: str) -> np.ndarray:
        return np.array([getattr(s, name) for s in specs])[complaint]

    transport = u[1] < prob("transport")
    stemi = u[2] < prob("stemi")
    cathlab = stemi & (u[3] < prob("cathlab_from_field"))
    lvo = u[4] < prob("lvo")
    lkw = u[5] < prob("lkw_in_window")

    service = config.service
    seq = np.random.SeedSequence([int(seed), int(replication), STREAM_SERVICE])
    children = seq.spawn(3 + len(service.turnout))
    rngs = [np.random.default_rng(c) for c in children]
    turnout = {
        status: dist.sample(rngs[3 + i], n) for i, (status, dist) in enumerate(sorted(service.turnout.items()))
    }
    return CallPlan(
        t_s=t,
        point=np.asarray(point, dtype=np.int64),
        complaint=np.asarray(complaint, dtype=np.int64),
        priority=priority,
        transport=transport,
        stemi=stemi,
        cathlab_from_field=cathlab,
        lvo=lvo,
        lkw_in_window=lkw,
        call_processing_s=service.call_processing.sample(rngs[0], n),
        on_scene_s=service.on_scene.sample(rngs[1], n),
        handover_s=service.handover.sample(rngs[2], n),
        turnout_s=MappingProxyType(turnout),
        complaints=complaints,
    )


def county_demand(places: Iterable[Any]) -> DemandPoints:
    """Return the demand points of a county: its places with ``demand_weight`` > 0.

    Raises
    ------
    DemandError
        No place has a positive demand weight.
    """
    chosen = [p for p in places if p.demand_weight > 0]
    if not chosen:
        raise DemandError("places.csv: no place has demand_weight > 0; the demand model is empty")
    return DemandPoints(
        ids=tuple(p.id for p in chosen),
        names=tuple(p.name for p in chosen),
        townships=tuple(p.township or p.name for p in chosen),
        lon=np.array([p.lon for p in chosen]),
        lat=np.array([p.lat for p in chosen]),
        urban=np.array([bool(p.urban) for p in chosen]),
        weight=np.array([p.demand_weight for p in chosen]),
    )


def read_calls_csv(path: str | Path, places: Sequence[Any] = ()) -> DemandPoints:
    """Read past calls (one row each: ``lon``, ``lat``; optional ``township``, ``urban``, ``weight``).

    Calls at the same coordinates become one point weighted by their count (or summed
    ``weight``). A row without ``township`` or ``urban`` takes them from the nearest place of
    ``places`` (the county's ``places.csv``).

    Raises
    ------
    DemandError
        The file is missing, lacks lon/lat, or a value is not a number; the message gives the line.
    """
    path = Path(path)
    rows: dict[tuple[float, float], list[Any]] = {}
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.DictReader(f)
            fields = reader.fieldnames or []
            if "lon" not in fields or "lat" not in fields:
                raise DemandError(f"{path}: columns lon and lat are required, got {', '.join(fields) or 'none'}")
            for line, row in enumerate(reader, start=2):
                try:
                    lon, lat = float(row["lon"]), float(row["lat"])
                    weight = float(row["weight"]) if row.get("weight") not in (None, "") else 1.0
                except ValueError:
                    raise DemandError(f"{path}: line {line}: lon, lat and weight must be numbers, got {row!r}") from None
                if not (-180 <= lon <= 180 and -90 <= lat <= 90) or weight < 0:
                    raise DemandError(f"{path}: line {line}: ({lon}, {lat}) is not WGS84 lon, lat or weight < 0")
                urban_raw = (row.get("urban") or "").strip()
                if urban_raw not in ("", "0", "1"):
                    raise DemandError(f"{path}: line {line}: urban must be 0 or 1, got {urban_raw!r}")
                entry = rows.setdefault((lon, lat), [0.0, (row.get("township") or "").strip(), urban_raw])
                entry[0] += weight
    except FileNotFoundError:
        raise DemandError(f"{path}: file not found") from None
    except UnicodeDecodeError as e:
        raise DemandError(f"{path}: not UTF-8 text ({e})") from e
    if not rows:
        raise DemandError(f"{path}: no calls")
    coords = np.array(list(rows), dtype=float)
    nearest: np.ndarray | None = None
    if places:
        from scipy.spatial import cKDTree

        kx = np.cos(np.radians(coords[:, 1].mean()))
        tree = cKDTree(np.array([(p.lon * kx, p.lat) for p in places]))
        nearest = tree.query(np.column_stack([coords[:, 0] * kx, coords[:, 1]]))[1]
    townships, urban = [], []
    for i, (weight, township, urban_raw) in enumerate(rows.values()):
        place = places[int(nearest[i])] if nearest is not None else None
        townships.append(township or (place.township or place.name if place is not None else ""))
        urban.append(urban_raw == "1" if urban_raw else bool(place.urban) if place is not None else False)
    return DemandPoints(
        ids=tuple(f"call-{i}" for i in range(len(rows))),
        names=tuple(f"({lon:.5f}, {lat:.5f})" for lon, lat in coords),
        townships=tuple(townships),
        lon=coords[:, 0],
        lat=coords[:, 1],
        urban=np.array(urban),
        weight=np.array([r[0] for r in rows.values()]),
    )
