"""Fold dispatch events into state: ``apply(state, event) -> state`` and ``fold(events)``.

Pure: no clock (every time comes from the event), no I/O. `apply` returns a new `State` and
leaves the old one untouched; an event that does not fit the state raises a `DispatchError`
subclass and changes nothing.

What each event does
--------------------
``UnitRegistered``
    Adds a unit (duplicate ids refused).
``CallReceived``
    Adds a call, status ``queued``, into the queue by `Call.queue_key` (priority, then age).
``UnitAssigned``
    A queued call and an assignable unit (``available_at_station``, ``available_mobile``,
    ``returning``): the unit goes ``dispatched``, the call ``assigned`` and leaves the queue.
``AssignmentAccepted``
    ``dispatched`` -> ``en_route``.
``AssignmentDeclined``
    The unit goes back to the status it had before the assignment; the call goes back to the
    queue at the head of its priority (requeued calls are served before fresh ones of the same
    priority, oldest first).
``UnitStatusChanged``
    A move of `dispatch.model.UNIT_TRANSITIONS`, else `IllegalTransitionError` naming both
    statuses. Leaving ``on_scene`` or ``at_hospital`` for an available status (or
    ``at_hospital`` for ``out_of_service``) finishes the call: the assignment ends and the call
    closes. Going ``out_of_service`` from ``dispatched``, ``en_route``, ``on_scene`` or
    ``transporting`` is a breakdown: the call goes back to the head of its priority in the queue.
``CallCancelled``
    A queued call, or an assigned one whose unit has not reached the scene: the unit is stood
    down (``dispatched`` -> its prior status, ``en_route`` -> ``available_mobile``).
``CallClosed``
    A queued call (a reason is required), or an assigned one whose unit is ``on_scene`` or
    later (the unit stays busy until it reports itself available).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from types import MappingProxyType
from typing import Iterable

from dispatch.errors import (
    CallStateError,
    DispatchError,
    DuplicateIdError,
    IllegalTransitionError,
    UnitBusyError,
    UnknownIdError,
    ValidationError,
)
from dispatch.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    BaseEvent,
    CallCancelled,
    CallClosed,
    CallReceived,
    UnitAssigned,
    UnitRegistered,
    UnitStatusChanged,
)
from dispatch.model import (
    ASSIGNABLE_STATUSES,
    BUSY_STATUSES,
    UNIT_TRANSITIONS,
    Assignment,
    Call,
    CallStatus,
    State,
    Unit,
    UnitStatus,
    _evolve,
)

__all__ = ["apply", "fold"]

_FINISHING_FROM = frozenset({UnitStatus.ON_SCENE, UnitStatus.AT_HOSPITAL})
_AVAILABLE = ASSIGNABLE_STATUSES
_CLOSABLE_UNIT_STATUSES = frozenset({UnitStatus.ON_SCENE, UnitStatus.TRANSPORTING, UnitStatus.AT_HOSPITAL})


def _view(value: Mapping) -> Mapping:
    return value if isinstance(value, MappingProxyType) else MappingProxyType(value)


class _Draft:
    """Mutable working copy of a State; copies each mapping on its first write."""

    __slots__ = ("calls", "units", "assignments", "queue", "seq", "_owned")

    def __init__(self, state: State) -> None:
        self.calls = state.calls
        self.units = state.units
        self.assignments = state.assignments
        self.queue: tuple[str, ...] | list[str] = state.queue
        self.seq = state.seq
        self._owned: set[str] = set()

    def _own(self, name: str) -> dict | list:
        if name not in self._owned:
            value = getattr(self, name)
            # ``copy()`` of a read-only view copies the dict behind it at C speed; ``dict(view)``
            # would walk it through the mapping protocol (~45x slower on a year of calls).
            setattr(self, name, list(value) if name == "queue" else value.copy())
            self._owned.add(name)
        return getattr(self, name)

    def put_call(self, call: Call) -> None:
        self._own("calls")[call.id] = call  # type: ignore[index]

    def put_unit(self, unit: Unit) -> None:
        # The one invariant the handlers could break; `_evolve` does not re-check it.
        if (unit.current_call is not None) != (unit.status in BUSY_STATUSES):
            raise AssertionError(f"unit {unit.id}: status {unit.status} with current_call {unit.current_call!r}")
        self._own("units")[unit.id] = unit  # type: ignore[index]

    def put_assignment(self, assignment: Assignment, *, new: bool) -> None:
        history = self.assignments.get(assignment.call_id, ())
        history = history + (assignment,) if new else history[:-1] + (assignment,)
        self._own("assignments")[assignment.call_id] = history  # type: ignore[index]

    def enqueue(self, call_id: str) -> None:
        calls = self.calls
        bisect.insort(self._own("queue"), call_id, key=lambda c: calls[c].queue_key)  # type: ignore[arg-type]

    def dequeue(self, call_id: str) -> None:
        self._own("queue").remove(call_id)  # type: ignore[union-attr]

    def freeze(self) -> State:
        """Return the state; the draft's own dicts are handed over as read-only views, not copied
        again (a later write to the draft copies afresh)."""
        state = State(
            calls=_view(self.calls), units=_view(self.units), assignments=_view(self.assignments),
            queue=tuple(self.queue), seq=self.seq,
        )
        self._owned = set()
        self.calls, self.units, self.assignments = state.calls, state.units, state.assignments
        return state

    # -- look-ups that fail with clear messages --------------------------------------------

    def call(self, call_id: str) -> Call:
        try:
            return self.calls[call_id]
        except KeyError:
            raise UnknownIdError(f"call_id {call_id!r}: no such call") from None

    def unit(self, unit_id: str) -> Unit:
        try:
            return self.units[unit_id]
        except KeyError:
            raise UnknownIdError(f"unit_id {unit_id!r}: no such unit") from None

    def active_assignment(self, call: Call, unit: Unit) -> Assignment:
        history = self.assignments.get(call.id, ())
        current = history[-1] if history and history[-1].active else None
        if current is None or current.unit_id != unit.id:
            holder = f"unit {current.unit_id}" if current else "no unit"
            raise CallStateError(f"call {call.id} is not assigned to unit {unit.id} (it is held by {holder})")
        return current


def apply(state: State, event: BaseEvent, *, seq: int | None = None) -> State:
    """Return the state after `event`; `state` is left unchanged.

    Parameters
    ----------
    state
        The state before the event.
    event
        Any event of `dispatch.events`.
    seq
        The event's sequence number in the log; ``state.seq + 1`` when None. Must grow.

    Raises
    ------
    DispatchError
        A subclass naming the ids and statuses involved when the event does not fit the state
        (unknown id, illegal transition, busy unit, call in the wrong status).
    """
    draft = _Draft(state)
    _apply(draft, event, seq)
    return draft.freeze()


def fold(events: Iterable[BaseEvent | tuple[int, BaseEvent]], initial: State | None = None) -> State:
    """Return the state after applying `events` in order to `initial` (the empty state if None).

    Items are events (numbered on from ``initial.seq``) or ``(seq, event)`` pairs from the log.
    Faster than repeated `apply`: one working copy for the whole sequence.

    Raises
    ------
    DispatchError
        As `apply`; a note on the exception gives the sequence number and type of the event.
    """
    draft = _Draft(initial if initial is not None else State())
    for item in events:
        seq, event = item if isinstance(item, tuple) else (None, item)
        try:
            _apply(draft, event, seq)
        except DispatchError as e:
            e.add_note(f"while applying event seq {seq if seq is not None else draft.seq + 1} ({type(event).__name__})")
            raise
    return draft.freeze()


def _apply(draft: _Draft, event: BaseEvent, seq: int | None) -> None:
    if seq is None:
        seq = draft.seq + 1
    elif seq <= draft.seq:
        raise ValidationError("seq", f"seq must be greater than the state's last seq {draft.seq}, got {seq}")
    handler = _HANDLERS.get(type(event))
    if handler is None:
        raise ValidationError("event", f"event must be a dispatch event, got {type(event).__name__}")
    handler(draft, event)
    draft.seq = seq


# -- handlers, one per event kind --------------------------------------------------------------


def _unit_registered(d: _Draft, e: UnitRegistered) -> None:
    if e.unit_id in d.units:
        raise DuplicateIdError(f"unit_id {e.unit_id!r}: unit is already registered")
    d.put_unit(
        Unit(
            id=e.unit_id,
            station_id=e.station_id,
            station_location=e.station_location,
            capability=e.capability,
            status=e.status,
            device_id=e.device_id,
        )
    )


def _call_received(d: _Draft, e: CallReceived) -> None:
    if e.call_id in d.calls:
        raise DuplicateIdError(f"call_id {e.call_id!r}: call already exists")
    d.put_call(
        Call(
            id=e.call_id,
            location=e.location,
            complaint=e.complaint,
            priority=e.priority,
            received_at=e.received_at,
            symptom_onset=e.symptom_onset,
            caller_phone=e.caller_phone,
            notes=e.notes,
            place_name=e.place_name,
        )
    )
    d.enqueue(e.call_id)


def _unit_assigned(d: _Draft, e: UnitAssigned) -> None:
    call = d.call(e.call_id)
    unit = d.unit(e.unit_id)
    if e.recommended_unit_id is not None:
        d.unit(e.recommended_unit_id)
    if call.status is CallStatus.ASSIGNED:
        holder = d.assignments[call.id][-1].unit_id
        raise CallStateError(f"call {call.id} is already assigned to unit {holder}")
    if call.status is not CallStatus.QUEUED:
        raise CallStateError(f"call {call.id} is {call.status}; only a queued call can be assigned")
    if unit.status not in ASSIGNABLE_STATUSES:
        held = f" (call {unit.current_call})" if unit.current_call else ""
        raise UnitBusyError(f"unit {unit.id} is {unit.status}{held}, not available for call {call.id}")
    d.put_unit(_evolve(unit, status=UnitStatus.DISPATCHED, current_call=call.id))
    d.put_call(_evolve(call, status=CallStatus.ASSIGNED))
    d.dequeue(call.id)
    d.put_assignment(
        Assignment(
            call_id=call.id,
            unit_id=unit.id,
            assigned_at=e.at,
            assigned_by=e.by,
            recommended_unit_id=e.recommended_unit_id,
            override_reason=e.override_reason,
            unit_prior_status=unit.status,
        ),
        new=True,
    )


def _assignment_answer_checks(d: _Draft, call_id: str, unit_id: str, target: UnitStatus) -> tuple[Call, Unit, Assignment]:
    call = d.call(call_id)
    unit = d.unit(unit_id)
    assignment = d.active_assignment(call, unit)
    if assignment.accepted_at is not None:
        raise CallStateError(
            f"unit {unit.id} already accepted call {call.id} at {assignment.accepted_at.isoformat()}"
        )
    if unit.status is not UnitStatus.DISPATCHED:
        raise IllegalTransitionError(f"unit {unit.id} cannot go from {unit.status} to {target}")
    return call, unit, assignment


def _assignment_accepted(d: _Draft, e: AssignmentAccepted) -> None:
    call, unit, assignment = _assignment_answer_checks(d, e.call_id, e.unit_id, UnitStatus.EN_ROUTE)
    d.put_unit(_evolve(unit, status=UnitStatus.EN_ROUTE))
    d.put_assignment(_evolve(assignment, accepted_at=e.at), new=False)


def _assignment_declined(d: _Draft, e: AssignmentDeclined) -> None:
    call, unit, assignment = _assignment_answer_checks(d, e.call_id, e.unit_id, UnitStatus.DISPATCHED)
    d.put_unit(_evolve(unit, status=assignment.unit_prior_status, current_call=None))
    d.put_assignment(_evolve(assignment, declined_at=e.at, declined_reason=e.reason), new=False)
    _requeue(d, call)


def _unit_status_changed(d: _Draft, e: UnitStatusChanged) -> None:
    unit = d.unit(e.unit_id)
    old, new = unit.status, e.status
    if new not in UNIT_TRANSITIONS[old]:
        hint = ""
        if new is UnitStatus.DISPATCHED:
            hint = " (a unit is dispatched by assigning it to a call)"
        elif old is UnitStatus.DISPATCHED and new is UnitStatus.EN_ROUTE:
            hint = " by a status report (the crew accepts the assignment instead)"
        elif old is UnitStatus.DISPATCHED and new in ASSIGNABLE_STATUSES:
            hint = " by a status report (the crew declines the assignment instead)"
        raise IllegalTransitionError(f"unit {unit.id} cannot go from {old} to {new}{hint}")
    if unit.current_call is None:
        d.put_unit(_evolve(unit, status=new))
        return
    call = d.calls[unit.current_call]
    assignment = d.active_assignment(call, unit)
    finished = (old in _FINISHING_FROM and new in _AVAILABLE) or (
        old is UnitStatus.AT_HOSPITAL and new is UnitStatus.OUT_OF_SERVICE
    )
    if finished:
        d.put_unit(_evolve(unit, status=new, current_call=None))
        d.put_assignment(_evolve(assignment, ended_at=e.at, end_reason="finished"), new=False)
        if call.status is CallStatus.ASSIGNED:
            d.put_call(_evolve(call, status=CallStatus.CLOSED, ended_at=e.at, end_reason="finished"))
    elif new is UnitStatus.OUT_OF_SERVICE:
        d.put_unit(_evolve(unit, status=new, current_call=None))
        reason = e.reason or "out_of_service"
        d.put_assignment(_evolve(assignment, ended_at=e.at, end_reason=reason), new=False)
        if call.status is CallStatus.ASSIGNED:
            _requeue(d, call)
    else:
        d.put_unit(_evolve(unit, status=new))


def _call_cancelled(d: _Draft, e: CallCancelled) -> None:
    call = d.call(e.call_id)
    if call.status is CallStatus.QUEUED:
        d.dequeue(call.id)
    elif call.status is CallStatus.ASSIGNED:
        assignment = d.assignments[call.id][-1]
        unit = d.units[assignment.unit_id]
        if unit.status is UnitStatus.DISPATCHED:
            stood_down = assignment.unit_prior_status
        elif unit.status is UnitStatus.EN_ROUTE:
            stood_down = UnitStatus.AVAILABLE_MOBILE
        else:
            raise CallStateError(
                f"call {call.id} cannot be cancelled: unit {unit.id} is {unit.status}; close the call instead"
            )
        d.put_unit(_evolve(unit, status=stood_down, current_call=None))
        d.put_assignment(_evolve(assignment, ended_at=e.at, end_reason="cancelled"), new=False)
    else:
        raise CallStateError(f"call {call.id} is already {call.status}")
    d.put_call(_evolve(call, status=CallStatus.CANCELLED, ended_at=e.at, end_reason=e.reason))


def _call_closed(d: _Draft, e: CallClosed) -> None:
    call = d.call(e.call_id)
    if call.status is CallStatus.QUEUED:
        if e.reason is None:
            raise ValidationError("reason", f"reason is required to close call {call.id}, which no unit attended")
        d.dequeue(call.id)
    elif call.status is CallStatus.ASSIGNED:
        unit = d.units[d.assignments[call.id][-1].unit_id]
        if unit.status not in _CLOSABLE_UNIT_STATUSES:
            raise CallStateError(
                f"call {call.id} cannot be closed while unit {unit.id} is {unit.status}; cancel it instead"
            )
    else:
        raise CallStateError(f"call {call.id} is already {call.status}")
    d.put_call(_evolve(call, status=CallStatus.CLOSED, ended_at=e.at, end_reason=e.reason or "closed"))


def _requeue(d: _Draft, call: Call) -> None:
    d.put_call(_evolve(call, status=CallStatus.QUEUED, requeued=True))
    d.enqueue(call.id)


_HANDLERS = {
    UnitRegistered: _unit_registered,
    CallReceived: _call_received,
    UnitAssigned: _unit_assigned,
    AssignmentAccepted: _assignment_accepted,
    AssignmentDeclined: _assignment_declined,
    UnitStatusChanged: _unit_status_changed,
    CallCancelled: _call_cancelled,
    CallClosed: _call_closed,
}
