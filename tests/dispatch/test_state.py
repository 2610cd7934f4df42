"""apply/fold: the transition table, a whole call lifecycle, and every refusal."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

import pytest

from dispatch.errors import (
    CallStateError,
    DuplicateIdError,
    IllegalTransitionError,
    UnitBusyError,
    UnknownIdError,
    ValidationError,
)
from dispatch.events import (
    AssignmentAccepted,
    AssignmentDeclined,
    CallCancelled,
    CallClosed,
    CallReceived,
    UnitAssigned,
    UnitRegistered,
    UnitStatusChanged,
)
from dispatch.model import BUSY_STATUSES, UNIT_TRANSITIONS, CallStatus, State, UnitStatus
from dispatch.state import apply, fold

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
S = UnitStatus
DISPATCHER = "dispatcher:alice"
STATION = (112.5517, 28.2778)  # Ningxiang county town


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def register(unit_id: str = "renmin-1", *, status: UnitStatus = S.AVAILABLE_AT_STATION, capability: str = "als"):
    return UnitRegistered(
        at=T0, by="system", unit_id=unit_id, station_id=unit_id.rsplit("-", 1)[0],
        station_location=STATION, capability=capability, status=status,
    )


def receive(call_id: str = "c1", *, priority: int = 1, received_s: float = 0.0):
    return CallReceived(
        at=t(received_s + 30), by=DISPATCHER, call_id=call_id, location=(112.60, 28.30),
        complaint="chest_pain", priority=priority, received_at=t(received_s), caller_phone="13800000000",
    )


def assign(call_id: str = "c1", unit_id: str = "renmin-1", **kw):
    return UnitAssigned(at=t(60), by=DISPATCHER, call_id=call_id, unit_id=unit_id, **kw)


def status(unit_id: str, new: UnitStatus, at_s: float = 120.0, reason: str | None = None):
    return UnitStatusChanged(at=t(at_s), by=f"crew:{unit_id}", unit_id=unit_id, status=new, reason=reason)


def accept(call_id: str = "c1", unit_id: str = "renmin-1"):
    return AssignmentAccepted(at=t(70), by=f"crew:{unit_id}", call_id=call_id, unit_id=unit_id)


def decline(call_id: str = "c1", unit_id: str = "renmin-1", reason: str = "vehicle fault"):
    return AssignmentDeclined(at=t(70), by=f"crew:{unit_id}", call_id=call_id, unit_id=unit_id, reason=reason)


# Legal event paths that put unit renmin-1 into each status (the busy ones hold call c1).
_PATHS = {
    S.AVAILABLE_AT_STATION: [register()],
    S.AVAILABLE_MOBILE: [register(status=S.AVAILABLE_MOBILE)],
    S.OUT_OF_SERVICE: [register(status=S.OUT_OF_SERVICE)],
    S.RETURNING: [register(status=S.AVAILABLE_MOBILE), status("renmin-1", S.RETURNING)],
    S.DISPATCHED: [register(), receive(), assign()],
    S.EN_ROUTE: [register(), receive(), assign(), accept()],
    S.ON_SCENE: [register(), receive(), assign(), accept(), status("renmin-1", S.ON_SCENE)],
    S.TRANSPORTING: [
        register(), receive(), assign(), accept(), status("renmin-1", S.ON_SCENE),
        status("renmin-1", S.TRANSPORTING),
    ],
    S.AT_HOSPITAL: [
        register(), receive(), assign(), accept(), status("renmin-1", S.ON_SCENE),
        status("renmin-1", S.TRANSPORTING), status("renmin-1", S.AT_HOSPITAL),
    ],
}


def unit_in(s: UnitStatus) -> State:
    state = fold(_PATHS[s])
    assert state.units["renmin-1"].status is s
    return state


@pytest.mark.parametrize("old,new", list(itertools.product(UnitStatus, UnitStatus)), ids=lambda s: s.value)
def test_transition_table_allows_exactly_its_moves(old: UnitStatus, new: UnitStatus) -> None:
    state = unit_in(old)
    event = status("renmin-1", new, at_s=500)
    if new in UNIT_TRANSITIONS[old]:
        after = apply(state, event)
        unit = after.units["renmin-1"]
        assert unit.status is new
        assert (unit.current_call is not None) == (new in BUSY_STATUSES)
    else:
        with pytest.raises(IllegalTransitionError) as err:
            apply(state, event)
        assert f"unit renmin-1 cannot go from {old.value} to {new.value}" in str(err.value)


def test_every_status_has_a_table_row_and_no_move_to_itself() -> None:
    assert set(UNIT_TRANSITIONS) == set(UnitStatus)
    for old, targets in UNIT_TRANSITIONS.items():
        assert old not in targets
        assert S.DISPATCHED not in targets


def test_whole_call_lifecycle() -> None:
    events = [
        register("renmin-1"),
        register("liushahe-1", capability="bls"),
        receive("c1"),
        assign("c1", "renmin-1", recommended_unit_id="renmin-1"),
        accept("c1", "renmin-1"),
        status("renmin-1", S.ON_SCENE, 600),
        status("renmin-1", S.TRANSPORTING, 1200),
        status("renmin-1", S.AT_HOSPITAL, 1800),
        status("renmin-1", S.RETURNING, 2400),
        status("renmin-1", S.AVAILABLE_AT_STATION, 3000),
    ]
    states = list(itertools.accumulate(events, apply, initial=State()))
    # After the call is received it waits; assignment takes it out of the queue.
    assert states[3].queue == ("c1",)
    assert states[3].calls["c1"].status is CallStatus.QUEUED
    assert states[4].queue == ()
    assert states[4].units["renmin-1"].status is S.DISPATCHED
    assert states[5].current_assignment("c1").accepted_at == t(70)
    at_hospital = states[8]
    assert at_hospital.calls["c1"].status is CallStatus.ASSIGNED
    assert at_hospital.units["renmin-1"].current_call == "c1"
    done = states[9]
    call = done.calls["c1"]
    assert (call.status, call.ended_at, call.end_reason) == (CallStatus.CLOSED, t(2400), "finished")
    assert done.units["renmin-1"].current_call is None
    assert done.current_assignment("c1") is None
    (only,) = done.assignments["c1"]
    assert (only.ended_at, only.end_reason, only.overridden) == (t(2400), "finished", False)
    final = states[-1]
    assert final.units["renmin-1"].status is S.AVAILABLE_AT_STATION
    assert final.seq == len(events)
    assert final == fold(events)
    # The other unit never moved.
    assert final.units["liushahe-1"] == states[2].units["liushahe-1"]


def test_apply_leaves_the_old_state_unchanged() -> None:
    before = fold([register(), receive()])
    snapshot = (dict(before.calls), dict(before.units), dict(before.assignments), before.queue, before.seq)
    after = apply(before, assign())
    assert (dict(before.calls), dict(before.units), dict(before.assignments), before.queue, before.seq) == snapshot
    assert after.calls["c1"].status is CallStatus.ASSIGNED
    with pytest.raises(TypeError):
        before.calls["c2"] = before.calls["c1"]  # type: ignore[index]


def test_a_refused_event_changes_nothing() -> None:
    state = fold([register(), receive()])
    with pytest.raises(IllegalTransitionError):
        apply(state, status("renmin-1", S.ON_SCENE))
    assert state == fold([register(), receive()])


def test_decline_returns_the_unit_to_its_prior_status_and_the_call_to_the_head_of_its_priority() -> None:
    state = fold(
        [
            register("renmin-1", status=S.AVAILABLE_MOBILE),
            receive("old-p1", priority=1, received_s=0),
            receive("c1", priority=2, received_s=10),
            receive("p2-older", priority=2, received_s=5),
            receive("p2-newer", priority=2, received_s=20),
            receive("p3", priority=3, received_s=1),
        ]
    )
    assert state.queue == ("old-p1", "p2-older", "c1", "p2-newer", "p3")
    state = apply(state, assign("c1", "renmin-1"))
    assert state.units["renmin-1"].status is S.DISPATCHED
    state = apply(state, decline("c1", "renmin-1", reason="crew still decontaminating"))
    assert state.units["renmin-1"].status is S.AVAILABLE_MOBILE
    assert state.units["renmin-1"].current_call is None
    # Ahead of the older fresh priority-2 call, still behind priority 1.
    assert state.queue == ("old-p1", "c1", "p2-older", "p2-newer", "p3")
    assert state.calls["c1"].requeued
    last = state.assignments["c1"][-1]
    assert (last.declined_at, last.declined_reason) == (t(70), "crew still decontaminating")
    assert state.current_assignment("c1") is None


@pytest.mark.parametrize("stage", [S.DISPATCHED, S.EN_ROUTE, S.ON_SCENE, S.TRANSPORTING])
def test_a_breakdown_puts_the_call_back_in_the_queue(stage: UnitStatus) -> None:
    state = apply(unit_in(stage), status("renmin-1", S.OUT_OF_SERVICE, 900, reason="flat tyre"))
    assert state.units["renmin-1"].status is S.OUT_OF_SERVICE
    assert state.queue == ("c1",)
    assert state.calls["c1"].status is CallStatus.QUEUED
    assert state.assignments["c1"][-1].end_reason == "flat tyre"


def test_going_out_of_service_at_the_hospital_finishes_the_call() -> None:
    state = apply(unit_in(S.AT_HOSPITAL), status("renmin-1", S.OUT_OF_SERVICE, 900))
    assert state.calls["c1"].status is CallStatus.CLOSED
    assert state.queue == ()


def test_on_scene_without_transport_finishes_the_call() -> None:
    state = apply(unit_in(S.ON_SCENE), status("renmin-1", S.AVAILABLE_MOBILE, 900))
    assert state.calls["c1"].status is CallStatus.CLOSED
    assert state.units["renmin-1"].status is S.AVAILABLE_MOBILE


def test_cancel_a_queued_call() -> None:
    state = apply(fold([receive()]), CallCancelled(at=t(90), by=DISPATCHER, call_id="c1", reason="duplicate call"))
    call = state.calls["c1"]
    assert (call.status, call.end_reason, state.queue) == (CallStatus.CANCELLED, "duplicate call", ())


@pytest.mark.parametrize(
    "stage,prior,stood_down",
    [
        (S.DISPATCHED, S.AVAILABLE_AT_STATION, S.AVAILABLE_AT_STATION),
        (S.DISPATCHED, S.RETURNING, S.RETURNING),
        (S.EN_ROUTE, S.AVAILABLE_AT_STATION, S.AVAILABLE_MOBILE),
    ],
)
def test_cancel_stands_the_unit_down(stage: UnitStatus, prior: UnitStatus, stood_down: UnitStatus) -> None:
    events = [register(status=S.AVAILABLE_MOBILE), status("renmin-1", prior)] if prior is S.RETURNING else [register()]
    events += [receive(), assign()] + ([accept()] if stage is S.EN_ROUTE else [])
    state = apply(fold(events), CallCancelled(at=t(90), by=DISPATCHER, call_id="c1", reason="caller cancelled"))
    assert state.units["renmin-1"].status is stood_down
    assert state.units["renmin-1"].current_call is None
    assert state.assignments["c1"][-1].end_reason == "cancelled"
    assert state.calls["c1"].status is CallStatus.CANCELLED


def test_cancel_refused_once_the_unit_is_on_scene() -> None:
    with pytest.raises(CallStateError, match="call c1 cannot be cancelled: unit renmin-1 is on_scene"):
        apply(unit_in(S.ON_SCENE), CallCancelled(at=t(900), by=DISPATCHER, call_id="c1", reason="x"))


def test_close_a_queued_call_needs_a_reason() -> None:
    state = fold([receive()])
    with pytest.raises(ValidationError, match="reason is required to close call c1"):
        apply(state, CallClosed(at=t(90), by=DISPATCHER, call_id="c1"))
    closed = apply(state, CallClosed(at=t(90), by=DISPATCHER, call_id="c1", reason="telephone advice"))
    assert (closed.calls["c1"].status, closed.queue) == (CallStatus.CLOSED, ())


def test_close_an_assigned_call_on_scene_keeps_the_unit_busy_until_it_clears() -> None:
    state = apply(unit_in(S.ON_SCENE), CallClosed(at=t(900), by=DISPATCHER, call_id="c1"))
    assert state.calls["c1"].status is CallStatus.CLOSED
    assert state.units["renmin-1"].current_call == "c1"
    state = apply(state, status("renmin-1", S.RETURNING, 1000))
    assert state.calls["c1"].ended_at == t(900)  # the dispatcher's close stands
    assert state.assignments["c1"][-1].end_reason == "finished"


def test_close_refused_while_the_unit_is_en_route() -> None:
    with pytest.raises(CallStateError, match="while unit renmin-1 is en_route; cancel it instead"):
        apply(unit_in(S.EN_ROUTE), CallClosed(at=t(90), by=DISPATCHER, call_id="c1"))


@pytest.mark.parametrize("first", ["close", "cancel"])
def test_closing_or_cancelling_an_ended_call_is_refused(first: str) -> None:
    close = CallClosed(at=t(90), by=DISPATCHER, call_id="c1", reason="telephone advice")
    cancel = CallCancelled(at=t(90), by=DISPATCHER, call_id="c1", reason="hoax")
    state = apply(fold([receive()]), close if first == "close" else cancel)
    word = "closed" if first == "close" else "cancelled"
    for again in (close, cancel):
        with pytest.raises(CallStateError, match=f"call c1 is already {word}"):
            apply(state, again)
    with pytest.raises(CallStateError, match=f"call c1 is {word}; only a queued call can be assigned"):
        apply(fold([register()], state), assign())


def test_assigning_a_busy_unit_is_refused() -> None:
    state = fold([register(), receive("c1"), receive("c2"), assign("c1")])
    with pytest.raises(UnitBusyError, match=r"unit renmin-1 is dispatched \(call c1\), not available for call c2"):
        apply(state, assign("c2"))


def test_assigning_an_assigned_call_is_refused() -> None:
    state = fold([register("a-1"), register("b-1"), receive(), assign("c1", "a-1")])
    with pytest.raises(CallStateError, match="call c1 is already assigned to unit a-1"):
        apply(state, assign("c1", "b-1"))


@pytest.mark.parametrize(
    "event,message",
    [
        (assign("nope", "renmin-1"), "call_id 'nope': no such call"),
        (assign("c1", "ghost-1"), "unit_id 'ghost-1': no such unit"),
        (assign("c1", "renmin-1", recommended_unit_id="ghost-1", override_reason="closer"), "unit_id 'ghost-1'"),
        (status("ghost-1", S.AVAILABLE_MOBILE), "unit_id 'ghost-1': no such unit"),
        (CallCancelled(at=T0, by=DISPATCHER, call_id="nope", reason="x"), "call_id 'nope'"),
        (accept("c1", "ghost-1"), "unit_id 'ghost-1'"),
    ],
)
def test_unknown_ids_are_refused(event, message: str) -> None:
    with pytest.raises(UnknownIdError, match=message):
        apply(fold([register(), receive()]), event)


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(DuplicateIdError, match="unit_id 'renmin-1': unit is already registered"):
        fold([register(), register()])
    with pytest.raises(DuplicateIdError, match="call_id 'c1': call already exists"):
        fold([receive(), receive()])


def test_crew_answers_must_match_the_assignment() -> None:
    state = fold([register("a-1"), register("b-1"), receive(), assign("c1", "a-1")])
    with pytest.raises(CallStateError, match="call c1 is not assigned to unit b-1"):
        apply(state, accept("c1", "b-1"))
    accepted = apply(state, accept("c1", "a-1"))
    with pytest.raises(CallStateError, match="unit a-1 already accepted call c1"):
        apply(accepted, accept("c1", "a-1"))
    with pytest.raises(CallStateError, match="unit a-1 already accepted call c1"):
        apply(accepted, decline("c1", "a-1"))


def test_override_is_recorded() -> None:
    state = fold(
        [
            register("a-1"), register("b-1"), receive(),
            assign("c1", "b-1", recommended_unit_id="a-1", override_reason="a-1 crew reports traffic jam"),
        ]
    )
    a = state.current_assignment("c1")
    assert (a.unit_id, a.recommended_unit_id, a.override_reason, a.overridden) == (
        "b-1", "a-1", "a-1 crew reports traffic jam", True,
    )
    assert a.assigned_by == DISPATCHER


def test_seq_is_given_or_counted_and_must_grow() -> None:
    state = apply(State(), register(), seq=41)
    assert state.seq == 41
    assert apply(state, receive()).seq == 42
    with pytest.raises(ValidationError, match="seq must be greater than the state's last seq 41, got 41"):
        apply(state, receive(), seq=41)
    assert fold([(100, register("a-1")), (105, register("b-1"))]).seq == 105


def test_fold_notes_which_event_failed() -> None:
    with pytest.raises(IllegalTransitionError) as err:
        fold([register(), status("renmin-1", S.ON_SCENE)])
    assert "while applying event seq 2 (UnitStatusChanged)" in err.value.__notes__


def test_fold_matches_repeated_apply() -> None:
    events = _PATHS[S.AT_HOSPITAL] + [status("renmin-1", S.RETURNING, 5000), receive("c2", priority=3)]
    stepwise = State()
    for e in events:
        stepwise = apply(stepwise, e)
    assert fold(events) == stepwise
    # Folding on from a mid-way state gives the same result.
    assert fold(events[4:], fold(events[:4])) == stepwise
