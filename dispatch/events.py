"""Dispatch events: one frozen dataclass per fact, validated when built.

Every event carries ``at`` (tz-aware, normalised to UTC: when the fact happened) and ``by``
(who stated it: ``system``, ``dispatcher:alice``, ``crew:renmin-1``). The store appends them;
`dispatch.state.apply` folds them into a `dispatch.model.State`.

Design choices
--------------
- GPS positions are not events (the service keeps the latest fix per unit apart).
- There is no ``CallQueued`` event: every received call waits in the queue until a unit is
  assigned, so the queue is derived from ``CallReceived``, ``UnitAssigned`` and the events that
  give a call back (a decline, a breakdown).
- Units come from the station layout at start, one ``UnitRegistered`` each.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Union

from dispatch.errors import ValidationError
from dispatch.model import (
    REGISTRABLE_STATUSES,
    Capability,
    Complaint,
    Point,
    UnitStatus,
    _set,
    check_by,
    check_enum,
    check_id,
    check_optional_id,
    check_optional_utc,
    check_phone,
    check_point,
    check_priority,
    check_reason,
    check_text,
    check_utc,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BaseEvent:
    """Fields every event carries: when (``at``, UTC) and who (``by``)."""

    at: datetime
    by: str

    def __post_init__(self) -> None:
        _set(self, "at", check_utc("at", self.at))
        check_by(self.by)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitRegistered(BaseEvent):
    """A unit joins the fleet (from the station layout at start)."""

    unit_id: str
    station_id: str
    station_location: Point
    capability: Capability
    status: UnitStatus = UnitStatus.AVAILABLE_AT_STATION
    device_id: str | None = None

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("unit_id", self.unit_id)
        check_id("station_id", self.station_id)
        _set(self, "station_location", check_point("station_location", self.station_location))
        _set(self, "capability", check_enum("capability", Capability, self.capability))
        _set(self, "status", check_enum("status", UnitStatus, self.status))
        if self.status not in REGISTRABLE_STATUSES:
            allowed = ", ".join(sorted(s.value for s in REGISTRABLE_STATUSES))
            raise ValidationError("status", f"status of a new unit must be one of {allowed}; got {self.status}")
        check_optional_id("device_id", self.device_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallReceived(BaseEvent):
    """A call-taker records a call; it joins the queue.

    ``received_at`` is when the phone was answered (the queue's age), ``at`` when the call was
    recorded; they differ by the time the interview took.
    """

    call_id: str
    location: Point
    complaint: Complaint
    priority: int
    received_at: datetime
    symptom_onset: datetime | None = None
    caller_phone: str | None = None
    notes: str = ""
    place_name: str | None = None

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("call_id", self.call_id)
        _set(self, "location", check_point("location", self.location))
        _set(self, "complaint", check_enum("complaint", Complaint, self.complaint))
        check_priority(self.priority)
        _set(self, "received_at", check_utc("received_at", self.received_at))
        _set(self, "symptom_onset", check_optional_utc("symptom_onset", self.symptom_onset))
        check_phone("caller_phone", self.caller_phone)
        check_text("notes", self.notes)
        check_text("place_name", self.place_name, max_len=200, optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitAssigned(BaseEvent):
    """The dispatcher sends a unit to a call.

    ``recommended_unit_id`` is the unit the policy ranked first when a recommendation was shown
    (None otherwise, e.g. a queued call offered to a unit that freed up). Sending another unit is
    an override and needs ``override_reason``.
    """

    call_id: str
    unit_id: str
    recommended_unit_id: str | None = None
    override_reason: str | None = None

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("call_id", self.call_id)
        check_id("unit_id", self.unit_id)
        check_optional_id("recommended_unit_id", self.recommended_unit_id)
        if self.recommended_unit_id is not None and self.recommended_unit_id != self.unit_id:
            if self.override_reason is None:
                raise ValidationError(
                    "override_reason",
                    f"override_reason is required when unit {self.unit_id} is sent instead of the "
                    f"recommended unit {self.recommended_unit_id}",
                )
            check_reason("override_reason", self.override_reason)
        elif self.override_reason is not None:
            check_reason("override_reason", self.override_reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentAccepted(BaseEvent):
    """The crew accepts the assignment; the unit goes en route."""

    call_id: str
    unit_id: str

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("call_id", self.call_id)
        check_id("unit_id", self.unit_id)


@dataclass(frozen=True, slots=True, kw_only=True)
class AssignmentDeclined(BaseEvent):
    """The crew declines the assignment, with a reason; the call goes back to the queue."""

    call_id: str
    unit_id: str
    reason: str

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("call_id", self.call_id)
        check_id("unit_id", self.unit_id)
        check_reason("reason", self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitStatusChanged(BaseEvent):
    """A unit reports a new status (a move of `dispatch.model.UNIT_TRANSITIONS`)."""

    unit_id: str
    status: UnitStatus
    reason: str | None = None

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("unit_id", self.unit_id)
        _set(self, "status", check_enum("status", UnitStatus, self.status))
        if self.reason is not None:
            check_reason("reason", self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCancelled(BaseEvent):
    """The call is withdrawn before a unit reached the patient; its unit is stood down."""

    call_id: str
    reason: str

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("call_id", self.call_id)
        check_reason("reason", self.reason)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallClosed(BaseEvent):
    """The dispatcher closes a call.

    A waiting call may be closed with a reason (telephone advice, patient went by other means);
    an assigned call once its unit is on scene or later (the unit stays busy until it reports
    itself available). A call also closes by itself when its unit clears from the scene or the
    hospital, without this event.
    """

    call_id: str
    reason: str | None = None

    def __post_init__(self) -> None:
        BaseEvent.__post_init__(self)
        check_id("call_id", self.call_id)
        if self.reason is not None:
            check_reason("reason", self.reason)


Event = Union[
    UnitRegistered,
    CallReceived,
    UnitAssigned,
    AssignmentAccepted,
    AssignmentDeclined,
    UnitStatusChanged,
    CallCancelled,
    CallClosed,
]

#: Event classes by their ``type`` name (the codec's and the store's vocabulary).
EVENT_TYPES: dict[str, type[BaseEvent]] = {
    cls.__name__: cls
    for cls in (
        UnitRegistered,
        CallReceived,
        UnitAssigned,
        AssignmentAccepted,
        AssignmentDeclined,
        UnitStatusChanged,
        CallCancelled,
        CallClosed,
    )
}
