"""The dispatch model: calls, units, assignments and the state that holds them.

Everything here is a value: frozen dataclasses and enums, validated when built, with no I/O and
no clock. Points are WGS84 ``(lon, lat)`` tuples (GeoJSON order); datetimes are tz-aware and
normalised to UTC; durations are seconds.

Priorities
----------
Calls are graded 1-4 at intake, 1 most urgent. The grading follows the four levels Chinese 120
centres commonly use for call triage (危重 / 急重 / 紧急 / 非紧急):

1. life-threatening: cardiac arrest, chest pain suspected STEMI, stroke within the treatment
   window, major trauma, obstetric haemorrhage;
2. emergency, potentially life-threatening;
3. urgent, stable;
4. non-urgent (inter-facility transfers, minor complaints).

Which capability each priority wants, and when a lower capability may stand in, is a rule of
the recommendation policy (`dispatch.policy`).

Unit statuses
-------------
``UNIT_TRANSITIONS`` below is the table of moves a crew (or the dispatcher) may report with
``UnitStatusChanged``. The other moves belong to assignment events and are not in the table::

    available_at_station | available_mobile | returning --UnitAssigned--> dispatched
    dispatched --AssignmentAccepted--> en_route
    dispatched --AssignmentDeclined--> the status it had before the assignment
    dispatched --CallCancelled--> the status it had before the assignment
    en_route   --CallCancelled--> available_mobile   (stood down on the road)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from enum import Enum
from types import MappingProxyType
from typing import Mapping, TypeVar

from dispatch.errors import ValidationError

_T = TypeVar("_T")

Point = tuple[float, float]
"""A WGS84 ``(lon, lat)`` pair in degrees."""

UTC = timezone.utc


class UnitStatus(str, Enum):
    """Where a unit is in its work cycle."""

    AVAILABLE_AT_STATION = "available_at_station"
    AVAILABLE_MOBILE = "available_mobile"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    TRANSPORTING = "transporting"
    AT_HOSPITAL = "at_hospital"
    RETURNING = "returning"
    OUT_OF_SERVICE = "out_of_service"

    def __str__(self) -> str:
        return self.value


class Complaint(str, Enum):
    """The caller's chief complaint, as the call-taker classifies it."""

    CHEST_PAIN = "chest_pain"
    STROKE = "stroke"
    TRAUMA = "trauma"
    OBSTETRIC = "obstetric"
    PEDIATRIC = "pediatric"
    OTHER = "other"

    def __str__(self) -> str:
        return self.value


class CallStatus(str, Enum):
    """Where a call is in its life.

    ``queued``: received and waiting for a unit (every call starts here; it leaves the queue
    when a unit is assigned). ``assigned``: a unit holds it. ``closed``: the job is done (the
    unit cleared from the scene or the hospital, or the dispatcher closed it, e.g. after
    telephone advice). ``cancelled``: withdrawn before a unit reached the patient (duplicate,
    hoax, the caller found other transport).
    """

    QUEUED = "queued"
    ASSIGNED = "assigned"
    CLOSED = "closed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class Capability(str, Enum):
    """What a unit can do for a patient.

    ``als``: advanced life support: a doctor or paramedic crew with a monitor/defibrillator,
    drugs, airway management and 12-lead ECG transmission to the chest pain centre.
    ``bls``: basic life support: oxygen, AED, immobilisation, transport.

    Priority 1 prefers ALS and falls back to BLS only when no ALS unit can arrive within a
    configurable margin of the fastest unit; priority 2 takes the fastest unit; priorities 3-4
    prefer BLS to keep ALS free (the rule and its margin: `dispatch.policy`).
    """

    ALS = "als"
    BLS = "bls"

    def __str__(self) -> str:
        return self.value


#: Statuses from which a unit may take a new call.
ASSIGNABLE_STATUSES: frozenset[UnitStatus] = frozenset(
    {UnitStatus.AVAILABLE_AT_STATION, UnitStatus.AVAILABLE_MOBILE, UnitStatus.RETURNING}
)

#: Statuses in which a unit holds a call (``Unit.current_call`` is set exactly in these).
BUSY_STATUSES: frozenset[UnitStatus] = frozenset(
    {
        UnitStatus.DISPATCHED,
        UnitStatus.EN_ROUTE,
        UnitStatus.ON_SCENE,
        UnitStatus.TRANSPORTING,
        UnitStatus.AT_HOSPITAL,
    }
)

_S = UnitStatus
#: Moves a unit may make with ``UnitStatusChanged``: status -> the statuses it may go to.
#: Leaving ``on_scene`` or ``at_hospital`` for an available status finishes the call. Going
#: out of service from dispatched, en_route, on_scene or transporting (a breakdown) puts the
#: call back at the head of the queue for its priority; from at_hospital the call is finished.
UNIT_TRANSITIONS: Mapping[UnitStatus, frozenset[UnitStatus]] = MappingProxyType(
    {
        _S.AVAILABLE_AT_STATION: frozenset({_S.AVAILABLE_MOBILE, _S.OUT_OF_SERVICE}),
        _S.AVAILABLE_MOBILE: frozenset({_S.AVAILABLE_AT_STATION, _S.RETURNING, _S.OUT_OF_SERVICE}),
        _S.DISPATCHED: frozenset({_S.OUT_OF_SERVICE}),
        _S.EN_ROUTE: frozenset({_S.ON_SCENE, _S.OUT_OF_SERVICE}),
        _S.ON_SCENE: frozenset(
            {_S.TRANSPORTING, _S.AVAILABLE_MOBILE, _S.RETURNING, _S.AVAILABLE_AT_STATION, _S.OUT_OF_SERVICE}
        ),
        _S.TRANSPORTING: frozenset({_S.AT_HOSPITAL, _S.OUT_OF_SERVICE}),
        _S.AT_HOSPITAL: frozenset(
            {_S.RETURNING, _S.AVAILABLE_MOBILE, _S.AVAILABLE_AT_STATION, _S.OUT_OF_SERVICE}
        ),
        _S.RETURNING: frozenset({_S.AVAILABLE_AT_STATION, _S.AVAILABLE_MOBILE, _S.OUT_OF_SERVICE}),
        _S.OUT_OF_SERVICE: frozenset({_S.AVAILABLE_AT_STATION, _S.AVAILABLE_MOBILE}),
    }
)
del _S

#: Statuses a unit may be registered with.
REGISTRABLE_STATUSES: frozenset[UnitStatus] = frozenset(
    {UnitStatus.AVAILABLE_AT_STATION, UnitStatus.AVAILABLE_MOBILE, UnitStatus.OUT_OF_SERVICE}
)

# Ids travel in URLs, logs and websocket messages: keep them plain.
_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_PHONE_RE = re.compile(r"\+?[0-9][0-9 -]{2,31}")
_BY_RE = re.compile(r"[a-z][a-z0-9_-]*(:\S.{0,126})?")


# --------------------------------------------------------------------------------------------
# Validators shared by the model and the events. Each returns the normalised value.


def check_id(name: str, value: object) -> str:
    """Return `value` if it is a plain id (letters, digits, ``._:-``; at most 64 chars)."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise ValidationError(
            name, f"{name} must be an id of 1-64 letters, digits or ._:- (not starting with one), got {value!r}"
        )
    return value


def check_optional_id(name: str, value: object) -> str | None:
    """Return `value` if it is None or a plain id."""
    return None if value is None else check_id(name, value)


def check_point(name: str, value: object) -> Point:
    """Return `value` as a ``(lon, lat)`` tuple of floats inside WGS84 ranges."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:  # type: ignore[arg-type]
        raise ValidationError(name, f"{name} must be a (lon, lat) pair, got {value!r}")
    lon, lat = value  # type: ignore[misc]
    for part, v in (("lon", lon), ("lat", lat)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValidationError(name, f"{name} {part} must be a finite number, got {v!r}")
    if not -180.0 <= lon <= 180.0:
        raise ValidationError(name, f"{name} lon must be in [-180, 180], got {lon}")
    if not -90.0 <= lat <= 90.0:
        raise ValidationError(name, f"{name} lat must be in [-90, 90], got {lat}")
    return (float(lon), float(lat))


def check_optional_point(name: str, value: object) -> Point | None:
    """Return `value` as a point, or None."""
    return None if value is None else check_point(name, value)


def check_utc(name: str, value: object) -> datetime:
    """Return `value` converted to UTC; refuse anything but a tz-aware datetime."""
    if not isinstance(value, datetime):
        raise ValidationError(name, f"{name} must be a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(name, f"{name} must be tz-aware (UTC), got naive {value.isoformat()}")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def check_optional_utc(name: str, value: object) -> datetime | None:
    """Return `value` in UTC, or None."""
    return None if value is None else check_utc(name, value)


def check_priority(value: object) -> int:
    """Return `value` if it is an int priority 1-4."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise ValidationError("priority", f"priority must be 1–4, got {value!r}")
    return value


def check_text(name: str, value: object, *, max_len: int = 2000, optional: bool = False) -> str | None:
    """Return `value` if it is a string of at most `max_len` characters (or None if optional)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise ValidationError(name, f"{name} must be a string, got {value!r}")
    if len(value) > max_len:
        raise ValidationError(name, f"{name} must be at most {max_len} characters, got {len(value)}")
    return value


def check_reason(name: str, value: object) -> str:
    """Return `value` if it is a non-blank string of at most 500 characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(name, f"{name} must be a non-empty string, got {value!r}")
    return check_text(name, value, max_len=500)  # type: ignore[return-value]


def check_phone(name: str, value: object) -> str | None:
    """Return `value` if it is None or a phone number (digits, optional +, spaces, dashes)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _PHONE_RE.fullmatch(value):
        raise ValidationError(name, f"{name} must be a phone number like +86 731 8788 0120, got {value!r}")
    return value


def check_by(value: object) -> str:
    """Return `value` if it names who acted: ``system`` or ``role:name`` (``dispatcher:alice``)."""
    if not isinstance(value, str) or not _BY_RE.fullmatch(value):
        raise ValidationError("by", f"by must be 'system' or 'role:name' such as 'dispatcher:alice', got {value!r}")
    return value


def check_enum(name: str, enum: type[Enum], value: object) -> Enum:
    """Return `value` as a member of `enum` (a member or its string value)."""
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(m.value for m in enum)
        raise ValidationError(name, f"{name} must be one of {allowed}; got {value!r}") from None


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _evolve(obj: _T, **changes: object) -> _T:
    """Return a copy of the frozen dataclass `obj` with `changes`, skipping validation.

    For the state fold only, where every changed value is already validated (it comes from a
    validated event or is a member of an enum); `dataclasses.replace` would re-run every check
    and dominates the cost of replaying a log.
    """
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    new = object.__new__(cls)
    for name in names:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(obj, name))
    return new


# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    """A 120 call: where, what, how urgent, and where it stands.

    Parameters
    ----------
    id
        The call's id (given by the service).
    location
        The patient's ``(lon, lat)``.
    complaint, priority
        Chief complaint; priority 1 (life-threatening) to 4 (non-urgent).
    received_at
        When the call was answered (UTC); the queue's age order.
    symptom_onset
        When the symptoms began, if the caller knows (chest pain and stroke clocks start here).
    caller_phone, notes, place_name
        Caller's number (None when withheld), free text, the place as said or chosen in the
        gazetteer.
    status
        See `CallStatus`.
    requeued
        True once the call went back to the queue (declined, or its unit broke down): it is then
        served before fresh calls of the same priority.
    ended_at, end_reason
        When and why the call was closed or cancelled.
    """

    id: str
    location: Point
    complaint: Complaint
    priority: int
    received_at: datetime
    symptom_onset: datetime | None = None
    caller_phone: str | None = None
    notes: str = ""
    place_name: str | None = None
    status: CallStatus = CallStatus.QUEUED
    requeued: bool = False
    ended_at: datetime | None = None
    end_reason: str | None = None

    def __post_init__(self) -> None:
        check_id("id", self.id)
        _set(self, "location", check_point("location", self.location))
        _set(self, "complaint", check_enum("complaint", Complaint, self.complaint))
        check_priority(self.priority)
        _set(self, "received_at", check_utc("received_at", self.received_at))
        _set(self, "symptom_onset", check_optional_utc("symptom_onset", self.symptom_onset))
        check_phone("caller_phone", self.caller_phone)
        check_text("notes", self.notes)
        check_text("place_name", self.place_name, max_len=200, optional=True)
        _set(self, "status", check_enum("status", CallStatus, self.status))
        _set(self, "ended_at", check_optional_utc("ended_at", self.ended_at))
        if (self.ended_at is None) != (self.status in (CallStatus.QUEUED, CallStatus.ASSIGNED)):
            raise ValidationError(
                "ended_at", f"ended_at must be set exactly when the call is closed or cancelled; status is {self.status}"
            )

    @property
    def queue_key(self) -> tuple[int, int, datetime, str]:
        """Order of service for waiting calls: priority, requeued calls first, age, id."""
        return (self.priority, 0 if self.requeued else 1, self.received_at, self.id)


@dataclass(frozen=True, slots=True, kw_only=True)
class Unit:
    """An ambulance with its crew.

    Parameters
    ----------
    id, station_id, station_location
        The unit (``renmin-1``), its home station and the station's ``(lon, lat)``.
    capability
        See `Capability`.
    status
        See `UnitStatus`.
    position, position_at
        The last GPS fix and its time (both or neither). Positions are not events: the state
        built by `dispatch.state.apply` leaves them None, and the service fills them from its
        latest-position table when it asks for a recommendation.
    device_id
        The GPS device reporting for this unit, if any.
    current_call
        The call the unit holds; set exactly when its status is in `BUSY_STATUSES`.
    """

    id: str
    station_id: str
    station_location: Point
    capability: Capability
    status: UnitStatus = UnitStatus.AVAILABLE_AT_STATION
    position: Point | None = None
    position_at: datetime | None = None
    device_id: str | None = None
    current_call: str | None = None

    def __post_init__(self) -> None:
        check_id("id", self.id)
        check_id("station_id", self.station_id)
        _set(self, "station_location", check_point("station_location", self.station_location))
        _set(self, "capability", check_enum("capability", Capability, self.capability))
        _set(self, "status", check_enum("status", UnitStatus, self.status))
        _set(self, "position", check_optional_point("position", self.position))
        _set(self, "position_at", check_optional_utc("position_at", self.position_at))
        if (self.position is None) != (self.position_at is None):
            raise ValidationError("position_at", "position and position_at must be given together")
        check_optional_id("device_id", self.device_id)
        check_optional_id("current_call", self.current_call)
        if (self.current_call is not None) != (self.status in BUSY_STATUSES):
            raise ValidationError(
                "current_call",
                f"unit {self.id}: current_call must be set exactly when the unit is busy; "
                f"status {self.status}, current_call {self.current_call!r}",
            )

    @property
    def assignable(self) -> bool:
        """True when the unit may take a new call."""
        return self.status in ASSIGNABLE_STATUSES


@dataclass(frozen=True, slots=True, kw_only=True)
class Assignment:
    """A unit sent to a call, and what became of it.

    Parameters
    ----------
    call_id, unit_id, assigned_at, assigned_by
        Who was sent where, when and by whom.
    recommended_unit_id
        The unit the policy ranked first when the dispatcher chose, if a recommendation was shown.
    override_reason
        Why the dispatcher sent another unit than the recommended one (required then).
    unit_prior_status
        The unit's status before the assignment (where a decline or stand-down sends it back).
    accepted_at, declined_at, declined_reason
        The crew's answer.
    ended_at, end_reason
        When the unit left the call, and why (``finished``, ``cancelled``, ``out_of_service``...).
    """

    call_id: str
    unit_id: str
    assigned_at: datetime
    assigned_by: str
    recommended_unit_id: str | None
    override_reason: str | None
    unit_prior_status: UnitStatus
    accepted_at: datetime | None = None
    declined_at: datetime | None = None
    declined_reason: str | None = None
    ended_at: datetime | None = None
    end_reason: str | None = None

    def __post_init__(self) -> None:
        check_id("call_id", self.call_id)
        check_id("unit_id", self.unit_id)
        _set(self, "assigned_at", check_utc("assigned_at", self.assigned_at))
        check_by(self.assigned_by)
        check_optional_id("recommended_unit_id", self.recommended_unit_id)
        _set(self, "unit_prior_status", check_enum("unit_prior_status", UnitStatus, self.unit_prior_status))
        _set(self, "accepted_at", check_optional_utc("accepted_at", self.accepted_at))
        _set(self, "declined_at", check_optional_utc("declined_at", self.declined_at))
        _set(self, "ended_at", check_optional_utc("ended_at", self.ended_at))

    @property
    def active(self) -> bool:
        """True while the unit still holds the call (not declined, not ended)."""
        return self.declined_at is None and self.ended_at is None

    @property
    def overridden(self) -> bool:
        """True when the dispatcher sent another unit than the recommended one."""
        return self.recommended_unit_id is not None and self.recommended_unit_id != self.unit_id


def _frozen_map(value: Mapping) -> Mapping:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True)
class State:
    """Everything the dispatch core knows, as of the event numbered `seq`.

    Build it with `dispatch.state.fold` or `dispatch.state.apply`; never mutate it (its
    mappings are read-only views).

    Attributes
    ----------
    calls
        Every call by id, closed and cancelled ones included.
    units
        Every registered unit by id.
    assignments
        Per call id, its assignments in order (declined ones included); the last is the
        current one when `Assignment.active`.
    queue
        Ids of the calls waiting for a unit, in order of service (`Call.queue_key`).
    seq
        The sequence number of the last event applied (0 for the empty state).
    """

    calls: Mapping[str, Call] = field(default_factory=lambda: MappingProxyType({}))
    units: Mapping[str, Unit] = field(default_factory=lambda: MappingProxyType({}))
    assignments: Mapping[str, tuple[Assignment, ...]] = field(default_factory=lambda: MappingProxyType({}))
    queue: tuple[str, ...] = ()
    seq: int = 0

    def __post_init__(self) -> None:
        _set(self, "calls", _frozen_map(self.calls))
        _set(self, "units", _frozen_map(self.units))
        _set(self, "assignments", _frozen_map(self.assignments))
        _set(self, "queue", tuple(self.queue))

    def current_assignment(self, call_id: str) -> Assignment | None:
        """Return the call's active assignment, or None."""
        history = self.assignments.get(call_id)
        if history and history[-1].active:
            return history[-1]
        return None

    def queued_calls(self) -> list[Call]:
        """Return the waiting calls in order of service."""
        return [self.calls[c] for c in self.queue]
