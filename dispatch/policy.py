"""Recommend units for a call and serve the queue: plain functions the service and simulator share.

Ranking rule
------------
Each assignable unit (``available_at_station``, ``available_mobile``, ``returning``) is timed
from its *source*: a mobile or returning unit from its last GPS fix when the fix is fresh
(``gps.stale_after_s``), every other unit (and a mobile one with no fresh fix) from its station.
Its arrival estimate is ``eta_s = turnout_s[status] + travel_s`` (``dispatch.turnout_s``; travel
from ONE call of ``router.eta_to``, all candidates as sources). Units the router cannot reach
within ``routing.max_eta_s`` are left out and counted in `Ranking.unreachable`.

A position that cannot be routed never stops the ranking (a fault is a value): a mobile or
returning unit with no fix, a stale fix, a fix that is not a WGS84 point, or a fix the router
refuses (farther than ``routing.max_snap_distance_m`` from a road, outside the county) is timed
from its station instead; a unit whose station the router refuses is left out. Each such unit is
listed in `Ranking.unroutable` with a code (`UnroutableReason`) and a sentence for the dispatcher.
A refused fix costs one more ``eta_to`` call (the router refuses a point before it searches).

Capability matching by priority (`PREFERRED_CAPABILITY`):

- priority 1 (life-threatening) prefers ALS: an ALS unit whose ``eta_s`` is within
  ``preference_margin_s`` of the fastest unit of any capability ranks first. Only when no ALS
  unit can arrive within that margin does a BLS unit lead (the fastest unit then ranks first).
- priority 2: no preference, the fastest unit leads.
- priorities 3 and 4 prefer BLS by the same rule, to keep ALS units free for life threats
  (tiered response).

Within a tier units rank by ``eta_s``, ties broken by unit id. The margin is a dispatch policy
setting for the county's medical director, not a clinical threshold; the default (300 s) is a
starting point, not a published value.

Queue
-----
A call waits in ``State.queue`` until a unit is assigned, ordered by priority (1 first), calls
given back (declined, breakdown) first within a priority, then age (``received_at``). When a
unit frees up it is offered the head of the queue (`call_for_freed_unit`) whatever its
capability: for a waiting call the first free unit beats none, and the dispatcher may still
hold it for a better one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Protocol, Sequence, overload

from dispatch.errors import PolicyError, UnitBusyError, UnknownIdError
from dispatch.model import (
    ASSIGNABLE_STATUSES,
    Call,
    Capability,
    Point,
    State,
    Unit,
    UnitStatus,
    check_utc,
)
from ems.errors import EmsError

__all__ = [
    "PREFERRED_CAPABILITY",
    "Candidate",
    "DispatchConfig",
    "EtaLike",
    "Ranking",
    "Recommendation",
    "RouteLike",
    "RouterLike",
    "Unroutable",
    "UnroutableReason",
    "call_for_freed_unit",
    "candidates_for",
    "choose_unit_for_freed",
    "next_call_for",
    "rank_units",
    "recommend",
]

#: The capability each priority prefers (None: any, fastest first). See the module docstring.
PREFERRED_CAPABILITY: Mapping[int, Capability | None] = MappingProxyType(
    {1: Capability.ALS, 2: None, 3: Capability.BLS, 4: Capability.BLS}
)


# -- what the policy needs from a router ------------------------------------------------------


class EtaLike(Protocol):
    """A travel estimate from one source to the target."""

    @property
    def eta_s(self) -> float: ...

    @property
    def distance_m(self) -> float: ...


class RouteLike(Protocol):
    """A route between two points."""

    @property
    def distance_m(self) -> float: ...

    @property
    def travel_time_s(self) -> float: ...

    def geojson(self) -> dict[str, Any]: ...


class RouterLike(Protocol):
    """Anything that times many sources to one target and draws a route (``routing.engine.Router``).

    When ``eta_to`` refuses a point it raises an `EmsError` naming it in ``lon`` and ``lat``
    attributes (``routing.errors.SnapError``, with ``distance_m``, how far off the network the
    point is): the policy then times that unit from its station, or leaves it out. Any other error
    (the call's own location refused, a bad hour) is raised.
    """

    def eta_to(
        self, target: Point, sources: Sequence[Point], *, max_eta_s: float | None = None, hour: int | None = None
    ) -> Sequence[EtaLike | None]: ...

    def route(self, a: Point, b: Point, *, hour: int | None = None) -> RouteLike: ...


# -- configuration -----------------------------------------------------------------------------

_DEFAULT_TURNOUT_S = MappingProxyType(
    {
        # Defaults mirror config.toml [dispatch.turnout_s]: a crew at the station must reach the
        # vehicle; a mobile crew is already in it.
        UnitStatus.AVAILABLE_AT_STATION: 60.0,
        UnitStatus.AVAILABLE_MOBILE: 15.0,
        UnitStatus.RETURNING: 15.0,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DispatchConfig:
    """Settings of the recommendation policy.

    Parameters
    ----------
    top_n
        How many ranked units a recommendation returns (``dispatch.top_n``).
    turnout_s
        Delay before a unit moves, by its status when dispatched (``dispatch.turnout_s``); every
        assignable status must have one.
    preference_margin_s
        How much later than the fastest unit a unit of the preferred capability may arrive and
        still rank first (``dispatch.preference_margin_s``).
    gps_stale_after_s
        A fix older than this is not used as a source (``gps.stale_after_s``).
    max_eta_s
        Units farther than this are unreachable (``routing.max_eta_s``); None: no bound.
    """

    top_n: int = 5
    turnout_s: Mapping[UnitStatus, float] = field(default_factory=lambda: _DEFAULT_TURNOUT_S)
    preference_margin_s: float = 300.0
    gps_stale_after_s: float = 600.0
    max_eta_s: float | None = 5400.0

    def __post_init__(self) -> None:
        if isinstance(self.top_n, bool) or not isinstance(self.top_n, int) or self.top_n < 1:
            raise PolicyError(f"dispatch.top_n must be an integer >= 1, got {self.top_n!r}")
        turnout: dict[UnitStatus, float] = {}
        for key, value in self.turnout_s.items():
            try:
                status = UnitStatus(key)
            except ValueError:
                status = None
            if status not in ASSIGNABLE_STATUSES:
                allowed = ", ".join(sorted(s.value for s in ASSIGNABLE_STATUSES))
                raise PolicyError(f"dispatch.turnout_s: key {key!r} is not an assignable status ({allowed})")
            turnout[status] = _non_negative(f"dispatch.turnout_s.{status.value}", value)  # type: ignore[index]
        missing = sorted(s.value for s in ASSIGNABLE_STATUSES - turnout.keys())
        if missing:
            raise PolicyError(f"dispatch.turnout_s: missing a value for {', '.join(missing)}")
        object.__setattr__(self, "turnout_s", MappingProxyType(turnout))
        _non_negative("dispatch.preference_margin_s", self.preference_margin_s)
        _non_negative("gps.stale_after_s", self.gps_stale_after_s)
        if self.max_eta_s is not None and _non_negative("routing.max_eta_s", self.max_eta_s) == 0:
            raise PolicyError("routing.max_eta_s must be > 0, got 0")

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DispatchConfig:
        """Build the policy settings from a loaded ``config.toml`` (see `ems.config.load_config`).

        Missing keys take the class defaults.
        """
        dispatch = config.get("dispatch", {}) or {}
        kwargs: dict[str, Any] = {}
        if "top_n" in dispatch:
            kwargs["top_n"] = dispatch["top_n"]
        if "turnout_s" in dispatch:
            kwargs["turnout_s"] = dispatch["turnout_s"]
        if "preference_margin_s" in dispatch:
            kwargs["preference_margin_s"] = dispatch["preference_margin_s"]
        gps = config.get("gps", {}) or {}
        if "stale_after_s" in gps:
            kwargs["gps_stale_after_s"] = gps["stale_after_s"]
        routing = config.get("routing", {}) or {}
        if "max_eta_s" in routing:
            kwargs["max_eta_s"] = routing["max_eta_s"]
        return cls(**kwargs)


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PolicyError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


_DEFAULT_CONFIG = DispatchConfig()


# -- results -----------------------------------------------------------------------------------


class Candidate(NamedTuple):
    """A unit that may be sent, with the point it is timed from.

    ``source`` is ``"gps"`` (its last fresh fix) or ``"station"``.
    """

    unit_id: str
    capability: Capability
    status: UnitStatus
    point: Point
    source: str


@dataclass(frozen=True, slots=True)
class Recommendation:
    """One ranked option: a unit and when it would arrive.

    ``eta_s = turnout_s + travel_s``; ``distance_m`` is the road distance from ``source``;
    ``preferred`` is True when the unit has the capability its call's priority prefers and
    arrives within the margin (it then ranks in the first tier); ``route`` is drawn only for
    the options returned by `recommend`.
    """

    unit_id: str
    eta_s: float
    distance_m: float
    turnout_s: float
    travel_s: float
    source: str
    capability: Capability
    preferred: bool
    route: RouteLike | None = None


class UnroutableReason(str, Enum):
    """Why a unit was not timed from where the ranking rule would time it (see `Unroutable`)."""

    GPS_MISSING = "gps_missing"            # mobile or returning, and no fix yet: from its station
    GPS_STALE = "gps_stale"                # its last fix is older than gps.stale_after_s: from its station
    GPS_INVALID = "gps_invalid"            # its last fix is not a finite WGS84 (lon, lat): from its station
    GPS_OFF_ROAD = "gps_off_road"          # the router refused its last fix: from its station
    STATION_OFF_ROAD = "station_off_road"  # the router refused its station: left out
    BEYOND_MAX_ETA = "beyond_max_eta"      # no road route within routing.max_eta_s: left out

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class Unroutable:
    """A unit timed from its station instead of its last fix, or left out, and why.

    Attributes
    ----------
    unit_id
        The unit.
    reason
        The first fault met (a unit whose fix fails and whose station fails too keeps the fix's).
    message
        One sentence for the dispatcher, ending with what was done ("ranked from its station",
        "left out").
    source
        Where the unit was timed from instead (``"station"``), or None when it was left out.
    distance_m
        How far off the road network the router found the refused point (from the nearest road,
        or from the county boundary for a point outside it), when it said.
    """

    unit_id: str
    reason: UnroutableReason
    message: str
    source: str | None
    distance_m: float | None = None


@dataclass(frozen=True, slots=True)
class Ranking(Sequence[Recommendation]):
    """The ranked options (best first), and the units the router could not reach.

    Behaves as a sequence of `Recommendation`. ``considered`` counts the candidate units timed.
    ``unreachable`` holds the ids of the units left out; ``unroutable`` says, for every unit left
    out or timed from its station instead of its last fix, why (one entry per unit, in the order
    the units were given).
    """

    options: tuple[Recommendation, ...]
    unreachable: tuple[str, ...] = ()
    considered: int = 0
    unroutable: tuple[Unroutable, ...] = ()

    @overload
    def __getitem__(self, i: int) -> Recommendation: ...

    @overload
    def __getitem__(self, i: slice) -> tuple[Recommendation, ...]: ...

    def __getitem__(self, i):  # type: ignore[no-untyped-def]
        return self.options[i]

    def __len__(self) -> int:
        return len(self.options)

    def __iter__(self) -> Iterator[Recommendation]:
        return iter(self.options)

    @property
    def best(self) -> Recommendation | None:
        """The first option, or None when no unit can be sent."""
        return self.options[0] if self.options else None


# -- ranking -----------------------------------------------------------------------------------


def candidates_for(
    units: Iterable[Unit],
    *,
    now: datetime,
    config: DispatchConfig | None = None,
    positions: Mapping[str, tuple[Point, datetime]] | None = None,
) -> list[Candidate]:
    """Return the assignable units with the point each is timed from, in the order given.

    Parameters
    ----------
    units
        Units of any status (e.g. ``state.units.values()``); busy and out-of-service ones are
        skipped.
    now
        The time of the decision (tz-aware); fixes older than ``config.gps_stale_after_s`` are
        not used.
    positions
        Latest fixes by unit id, ``((lon, lat), at)``, overriding ``Unit.position``.

    A mobile or returning unit with no fix, a stale one or one that is not a finite WGS84 point
    is timed from its station (`recommend` says why in `Ranking.unroutable`).
    """
    return [source.candidate for source in _sources(units, now=now, config=config, positions=positions)]


class _Fault(NamedTuple):
    """Why a unit is not timed where the rule would time it: the code, and a phrase for the dispatcher."""

    reason: UnroutableReason
    what: str
    distance_m: float | None = None


class _Source(NamedTuple):
    """An assignable unit as the ranking starts from it: its candidate, its station, its fix's fault."""

    candidate: Candidate
    station: Point
    fault: _Fault | None


def _sources(
    units: Iterable[Unit],
    *,
    now: datetime,
    config: DispatchConfig | None,
    positions: Mapping[str, tuple[Point, datetime]] | None,
) -> list[_Source]:
    config = config or _DEFAULT_CONFIG
    now = check_utc("now", now)
    stale_after_s = config.gps_stale_after_s
    fresh_since = now - timedelta(seconds=stale_after_s)
    out: list[_Source] = []
    for unit in units:
        status = unit.status
        if status not in ASSIGNABLE_STATUSES:
            continue
        point: Point = unit.station_location
        source = "station"
        fault = None
        if status is not UnitStatus.AVAILABLE_AT_STATION:
            fix = positions.get(unit.id) if positions is not None else None
            pos, pos_at = fix if fix is not None else (unit.position, unit.position_at)
            if pos is None or pos_at is None:
                fault = _Fault(UnroutableReason.GPS_MISSING, "no GPS fix yet")
            elif pos_at < fresh_since:
                age = _duration((now - pos_at).total_seconds())
                fault = _Fault(UnroutableReason.GPS_STALE,
                               f"last fix {age} old, older than {_duration(stale_after_s)} (gps.stale_after_s)")
            elif not _is_wgs84(pos):
                fault = _Fault(UnroutableReason.GPS_INVALID,
                               f"last fix {pos!r:.60} is not a finite (lon, lat) within ±180°, ±90°")
            else:
                point, source = pos, "gps"
        out.append(_Source(Candidate(unit.id, unit.capability, status, point, source), unit.station_location, fault))
    return out


def _is_wgs84(point: object) -> bool:
    try:
        lon, lat = float(point[0]), float(point[1])  # type: ignore[index]
    except (TypeError, ValueError, IndexError, KeyError):
        return False
    return math.isfinite(lon) and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0


def _duration(seconds: float) -> str:
    """Return a duration as a dispatcher reads it: ``45 s``, ``14 min``, ``10 min 1 s``, ``5 h``, ``3 days``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        minutes, rest = divmod(int(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.0f} days"


def _time(
    router: RouterLike, target: Point, sources: Sequence[_Source], config: DispatchConfig, hour: int | None
) -> tuple[list[Candidate], list[EtaLike | None], dict[int, _Fault], dict[int, _Fault]]:
    """Time every source with ONE ``eta_to`` call, again without each point the router refuses.

    A refused fix is replaced by the unit's station, a refused station leaves the unit out. Returns
    the candidates as timed, their estimates (None: unreachable or left out), the faults of the
    units not timed from their fix (by index) and the units left out for a refused station.
    """
    candidates = [s.candidate for s in sources]
    faults = {i: s.fault for i, s in enumerate(sources) if s.fault is not None}
    refused: dict[int, _Fault] = {}
    timed = list(range(len(candidates)))
    # Each pass either answers or moves at least one unit to its station or out: at most 2n + 1.
    while True:
        try:
            answered = router.eta_to(target, [candidates[i].point for i in timed], max_eta_s=config.max_eta_s,
                                     hour=hour)
            break
        except EmsError as e:
            lon, lat = getattr(e, "lon", None), getattr(e, "lat", None)
            hit = [i for i in timed if _is_point(candidates[i].point, lon, lat)]
            if not hit:
                raise  # not one of the units' points (the call's location, a bad hour): not ours to hide
            distance_m = getattr(e, "distance_m", None)
            off = (f"is {distance_m / 1000:.1f} km off the road network"
                   if isinstance(distance_m, (int, float)) and math.isfinite(distance_m)
                   else "cannot be placed on the road network")
            for i in hit:
                cand = candidates[i]
                if cand.source == "gps":
                    faults[i] = _Fault(UnroutableReason.GPS_OFF_ROAD, f"last fix {off}", distance_m)
                    candidates[i] = cand._replace(point=sources[i].station, source="station")
                else:
                    refused[i] = _Fault(UnroutableReason.STATION_OFF_ROAD, f"its station {off}", distance_m)
            timed = [i for i in timed if i not in refused]
    if len(answered) != len(timed):
        raise PolicyError(f"etas must match candidates one to one: {len(answered)} etas for {len(timed)} candidates")
    etas: list[EtaLike | None] = [None] * len(candidates)
    for i, eta in zip(timed, answered):
        etas[i] = eta
    return candidates, etas, faults, refused


def _is_point(point: Point, lon: object, lat: object) -> bool:
    """Whether ``point`` is exactly ``(lon, lat)`` as a router names a point it refused."""
    if isinstance(lon, bool) or isinstance(lat, bool) or not isinstance(lon, (int, float)) \
            or not isinstance(lat, (int, float)):
        return False
    try:
        return float(point[0]) == lon and float(point[1]) == lat
    except (TypeError, ValueError, IndexError):
        return False


def rank_units(
    priority: int,
    candidates: Sequence[Candidate],
    etas: Sequence[EtaLike | None],
    config: DispatchConfig | None = None,
    *,
    top_n: int | None = None,
) -> Ranking:
    """Rank candidates from precomputed travel estimates (no router, no routes).

    Parameters
    ----------
    priority
        The call's priority, 1-4 (chooses the preferred capability).
    candidates
        From `candidates_for` (or built by the caller).
    etas
        Travel from each candidate's point to the call, aligned with `candidates`; None marks
        an unreachable unit.
    config
        Turnout delays and the preference margin; the defaults when None.
    top_n
        How many options to return; ``config.top_n`` when None.

    Returns
    -------
    Ranking
        Options best first (see the module docstring for the rule) with ``route`` None; the
        unreachable units in ``unreachable`` and, with why, in ``unroutable``.

    Raises
    ------
    PolicyError
        `etas` and `candidates` differ in length, `top_n` < 1, or a bad priority.
    """
    config = config or _DEFAULT_CONFIG
    return _rank(priority, candidates, etas, config, _top_n(top_n, config), None)


def _rank(
    priority: int,
    candidates: Sequence[Candidate],
    etas: Sequence[EtaLike | None],
    config: DispatchConfig,
    n: int,
    route_to: Callable[[Point], RouteLike] | None,
    faults: Mapping[int, _Fault] = MappingProxyType({}),
    refused: Mapping[int, _Fault] = MappingProxyType({}),
) -> Ranking:
    if priority not in PREFERRED_CAPABILITY:
        raise PolicyError(f"priority must be 1–4, got {priority!r}")
    if len(etas) != len(candidates):
        raise PolicyError(f"etas must match candidates one to one: {len(etas)} etas for {len(candidates)} candidates")
    turnout = config.turnout_s
    # Rows (total_s, unit_id, index): unit ids are unique, so sorting never compares further.
    rows: list[tuple[float, str, int]] = []
    unreachable: list[str] = []
    notes: list[Unroutable] = []
    for i, (cand, eta) in enumerate(zip(candidates, etas)):
        if eta is None:
            unreachable.append(cand.unit_id)
            notes.append(_left_out(cand, faults.get(i), refused.get(i), config))
        else:
            rows.append((eta.eta_s + turnout[cand.status], cand.unit_id, i))
            if faults and i in faults:
                fault = faults[i]
                notes.append(Unroutable(cand.unit_id, fault.reason, f"{fault.what}; ranked from its station",
                                        cand.source, fault.distance_m))
    preferred_cap = PREFERRED_CAPABILITY[priority]
    chosen: list[tuple[bool, tuple[float, str, int]]]
    if rows and preferred_cap is not None:
        limit = min(rows)[0] + config.preference_margin_s
        tiered = [
            (0 if (candidates[i].capability is preferred_cap and total <= limit) else 1, total, uid, i)
            for total, uid, i in rows
        ]
        tiered.sort()
        chosen = [(tier == 0, (total, uid, i)) for tier, total, uid, i in tiered[:n]]
    else:
        rows.sort()
        chosen = [(False, row) for row in rows[:n]]
    options = []
    for preferred, (total, _, i) in chosen:
        cand, eta = candidates[i], etas[i]
        options.append(
            Recommendation(
                unit_id=cand.unit_id,
                eta_s=total,
                distance_m=eta.distance_m,  # type: ignore[union-attr]
                turnout_s=turnout[cand.status],
                travel_s=eta.eta_s,  # type: ignore[union-attr]
                source=cand.source,
                capability=cand.capability,
                preferred=preferred,
                route=None if route_to is None else route_to(cand.point),
            )
        )
    return Ranking(tuple(options), tuple(unreachable), len(candidates), tuple(notes))


def _left_out(cand: Candidate, fault: _Fault | None, refused: _Fault | None, config: DispatchConfig) -> Unroutable:
    """Say why a unit with no estimate is left out (after its fix's fault, when it had one)."""
    if refused is None:
        place = "its last fix" if cand.source == "gps" else "its station"
        within = "" if config.max_eta_s is None else f" within {_duration(config.max_eta_s)} (routing.max_eta_s)"
        refused = _Fault(UnroutableReason.BEYOND_MAX_ETA, f"no road route from {place} to the call{within}")
    first = fault or refused
    what = refused.what if fault is None else f"{fault.what}; {refused.what}"
    return Unroutable(cand.unit_id, first.reason, f"{what}: left out", None, first.distance_m)


def _top_n(top_n: int | None, config: DispatchConfig) -> int:
    if top_n is None:
        return config.top_n
    if isinstance(top_n, bool) or not isinstance(top_n, int) or top_n < 1:
        raise PolicyError(f"top_n must be an integer >= 1, got {top_n!r}")
    return top_n


def recommend(
    call: Call,
    units: Iterable[Unit],
    router: RouterLike,
    *,
    now: datetime,
    config: DispatchConfig | None = None,
    top_n: int | None = None,
    positions: Mapping[str, tuple[Point, datetime]] | None = None,
    hour: int | None = None,
) -> Ranking:
    """Rank the units that may be sent to `call`, best first, with routes for the top `top_n`.

    Parameters
    ----------
    call
        The call (its ``location`` and ``priority`` are used).
    units
        All units (e.g. ``state.units.values()``); only assignable ones are considered.
    router
        Times all candidates with ONE ``eta_to(call.location, sources, max_eta_s=...)`` call
        (one more per point it refuses) and draws ``route(source, call.location)`` for each
        returned option.
    now
        The time of the decision (tz-aware), for GPS freshness.
    config
        Policy settings; `DispatchConfig` defaults when None.
    top_n
        How many options; ``config.top_n`` when None.
    positions
        Latest GPS fixes by unit id, ``((lon, lat), at)``, overriding ``Unit.position``.
    hour
        The county's local hour, for the router's time-of-day factor (None: no factor).

    Returns
    -------
    Ranking
        A sequence of `Recommendation` (empty when no unit is free or reachable: the call then
        waits in the queue), with ``unreachable`` unit ids and, in ``unroutable``, every unit
        left out or timed from its station instead of its fix, with why. A unit whose position
        the router refuses is one of these, never an error.

    Raises
    ------
    PolicyError
        Bad `top_n`, or the router answered a different number of estimates than sources.
    EmsError
        Whatever the router raises about anything but a unit's point (e.g. the call's location).
    """
    config = config or _DEFAULT_CONFIG
    n = _top_n(top_n, config)
    sources = _sources(units, now=now, config=config, positions=positions)
    if not sources:
        return Ranking((), (), 0)
    target = call.location
    candidates, etas, faults, refused = _time(router, target, sources, config, hour)
    return _rank(call.priority, candidates, etas, config, n, lambda source: router.route(source, target, hour=hour),
                 faults, refused)


# -- the queue ---------------------------------------------------------------------------------


def next_call_for(state: State) -> Call | None:
    """Return the call to offer the next unit that frees up (the head of the queue), or None."""
    return state.calls[state.queue[0]] if state.queue else None


def call_for_freed_unit(state: State, unit_id: str) -> Call | None:
    """Return the waiting call a unit that has just become available should be offered.

    The head of the queue (priority, then requeued first, then age), or None when no call
    waits. The caller assigns it with ``UnitAssigned`` (``recommended_unit_id`` None).

    Raises
    ------
    UnknownIdError
        No such unit.
    UnitBusyError
        The unit is not available.
    """
    try:
        unit = state.units[unit_id]
    except KeyError:
        raise UnknownIdError(f"unit_id {unit_id!r}: no such unit") from None
    if unit.status not in ASSIGNABLE_STATUSES:
        raise UnitBusyError(f"unit {unit_id} is {unit.status}, not available to take a queued call")
    return next_call_for(state)


#: The name the design notes use for `call_for_freed_unit`.
choose_unit_for_freed = call_for_freed_unit
