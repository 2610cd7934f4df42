"""Model and event validation: values are checked when built, messages name field and value."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.errors import DispatchError, ValidationError
from dispatch.events import AssignmentDeclined, CallReceived, UnitAssigned, UnitRegistered, UnitStatusChanged
from dispatch.model import (
    Assignment,
    Call,
    CallStatus,
    Capability,
    Complaint,
    State,
    Unit,
    UnitStatus,
    check_point,
)
from ems.errors import EmsError

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
BEIJING = timezone(timedelta(hours=8))


def call(**overrides) -> Call:
    fields = dict(id="c1", location=(112.6, 28.3), complaint="stroke", priority=1, received_at=T0)
    return Call(**{**fields, **overrides})


def unit(**overrides) -> Unit:
    fields = dict(id="renmin-1", station_id="renmin", station_location=(112.55, 28.28), capability="als")
    return Unit(**{**fields, **overrides})


def test_errors_derive_from_the_project_error() -> None:
    with pytest.raises(EmsError):
        call(priority=7)
    assert issubclass(ValidationError, DispatchError)


@pytest.mark.parametrize("bad", [0, 5, 7, -1, 1.0, True, "1", None])
def test_priority_must_be_1_to_4(bad) -> None:
    with pytest.raises(ValidationError, match=f"priority must be 1–4, got {bad!r}") as err:
        call(priority=bad)
    assert err.value.field == "priority"


@pytest.mark.parametrize(
    "location,message",
    [
        ((181.0, 28.0), "location lon must be in \\[-180, 180\\], got 181.0"),
        ((112.0, -90.5), "location lat must be in \\[-90, 90\\], got -90.5"),
        ((float("nan"), 28.0), "location lon must be a finite number"),
        ((112.0,), "location must be a \\(lon, lat\\) pair"),
        ("112,28", "location must be a \\(lon, lat\\) pair"),
        ((112.0, "28"), "location lat must be a finite number, got '28'"),
    ],
)
def test_location_must_be_a_wgs84_point(location, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        call(location=location)


@given(st.floats(-180, 180), st.floats(-90, 90))
def test_every_wgs84_point_is_accepted_as_a_float_tuple(lon: float, lat: float) -> None:
    assert check_point("p", [lon, lat]) == (lon, lat)


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: abs(v) > 180))
def test_longitudes_outside_range_are_refused(lon: float) -> None:
    with pytest.raises(ValidationError, match="p lon must be in"):
        check_point("p", (lon, 0.0))


def test_datetimes_must_be_tz_aware_and_are_kept_in_utc() -> None:
    with pytest.raises(ValidationError, match="received_at must be tz-aware \\(UTC\\), got naive 2024-05-01T08:00:00"):
        call(received_at=datetime(2024, 5, 1, 8, 0))
    local = call(received_at=datetime(2024, 5, 1, 16, 0, tzinfo=BEIJING), symptom_onset=T0.astimezone(BEIJING))
    assert local.received_at == T0 and local.received_at.tzinfo is timezone.utc
    assert local.symptom_onset.tzinfo is timezone.utc


def test_enums_accept_their_values_and_refuse_others() -> None:
    assert call(complaint="obstetric").complaint is Complaint.OBSTETRIC
    with pytest.raises(ValidationError, match="complaint must be one of chest_pain, stroke, .*; got 'burn'"):
        call(complaint="burn")
    assert unit(capability="bls").capability is Capability.BLS
    assert str(UnitStatus.ON_SCENE) == "on_scene"


@pytest.mark.parametrize("bad", ["", " c1", "c 1", "x" * 65, "-c1", 17])
def test_ids_are_plain(bad) -> None:
    with pytest.raises(ValidationError, match="id must be an id of 1-64 letters"):
        call(id=bad)


@pytest.mark.parametrize("phone", ["13800000000", "+86 731 8788 0120", "0731-87880120", None])
def test_phone_numbers(phone) -> None:
    assert call(caller_phone=phone).caller_phone == phone


def test_a_bad_phone_number_is_refused() -> None:
    with pytest.raises(ValidationError, match="caller_phone must be a phone number"):
        call(caller_phone="call me")


def test_end_time_goes_with_an_ended_status() -> None:
    with pytest.raises(ValidationError, match="ended_at must be set exactly when the call is closed or cancelled"):
        call(status=CallStatus.CLOSED)
    with pytest.raises(ValidationError, match="ended_at"):
        call(ended_at=T0)
    assert call(status="cancelled", ended_at=T0, end_reason="hoax").status is CallStatus.CANCELLED


def test_queue_key_orders_by_priority_then_requeued_then_age() -> None:
    calls = [
        call(id="p2-new", priority=2, received_at=T0 + timedelta(minutes=5)),
        call(id="p2-old", priority=2),
        call(id="p2-back", priority=2, received_at=T0 + timedelta(minutes=9), requeued=True),
        call(id="p1-new", priority=1, received_at=T0 + timedelta(minutes=30)),
    ]
    assert [c.id for c in sorted(calls, key=lambda c: c.queue_key)] == ["p1-new", "p2-back", "p2-old", "p2-new"]


def test_a_unit_holds_a_call_exactly_when_busy() -> None:
    with pytest.raises(ValidationError, match="current_call must be set exactly when the unit is busy"):
        unit(status=UnitStatus.EN_ROUTE)
    with pytest.raises(ValidationError, match="current_call"):
        unit(current_call="c1")
    assert unit(status="on_scene", current_call="c1").current_call == "c1"


def test_position_comes_with_its_time() -> None:
    with pytest.raises(ValidationError, match="position and position_at must be given together"):
        unit(position=(112.5, 28.2))
    u = unit(status="available_mobile", position=(112.5, 28.2), position_at=T0)
    assert u.assignable and u.position == (112.5, 28.2)


def test_models_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        call().priority = 2  # type: ignore[misc]


def test_assignment_flags() -> None:
    a = Assignment(
        call_id="c1", unit_id="b-1", assigned_at=T0, assigned_by="dispatcher:alice", recommended_unit_id="a-1",
        override_reason="a-1 blocked by flooding", unit_prior_status="available_at_station",
    )
    assert a.active and a.overridden
    assert not dataclasses.replace(a, declined_at=T0, declined_reason="x").active
    assert not dataclasses.replace(a, recommended_unit_id=None).overridden


def test_state_mappings_are_read_only() -> None:
    state = State(calls={"c1": call()})
    with pytest.raises(TypeError):
        state.calls["c2"] = call(id="c2")  # type: ignore[index]
    assert state.queued_calls() == []  # the queue is the apply's to fill, not derived here


# -- events ------------------------------------------------------------------------------------


def test_override_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="override_reason is required when unit b-1 is sent instead of the "
                                              "recommended unit a-1") as err:
        UnitAssigned(at=T0, by="dispatcher:alice", call_id="c1", unit_id="b-1", recommended_unit_id="a-1")
    assert err.value.field == "override_reason"
    with pytest.raises(ValidationError, match="override_reason must be a non-empty string"):
        UnitAssigned(at=T0, by="dispatcher:alice", call_id="c1", unit_id="b-1", recommended_unit_id="a-1",
                     override_reason="  ")
    followed = UnitAssigned(at=T0, by="dispatcher:alice", call_id="c1", unit_id="a-1", recommended_unit_id="a-1")
    assert followed.override_reason is None


def test_a_decline_needs_a_reason() -> None:
    with pytest.raises(ValidationError, match="reason must be a non-empty string, got ''"):
        AssignmentDeclined(at=T0, by="crew:a-1", call_id="c1", unit_id="a-1", reason="")


@pytest.mark.parametrize("by", ["", "Alice", "dispatcher:", "dispatcher: alice", None])
def test_by_names_who_acted(by) -> None:
    with pytest.raises(ValidationError, match="by must be 'system' or 'role:name'"):
        UnitStatusChanged(at=T0, by=by, unit_id="a-1", status="returning")


def test_event_times_are_utc() -> None:
    e = UnitStatusChanged(at=T0.astimezone(BEIJING), by="crew:a-1", unit_id="a-1", status="returning")
    assert e.at.tzinfo is timezone.utc and e.status is UnitStatus.RETURNING
    with pytest.raises(ValidationError, match="at must be tz-aware"):
        UnitStatusChanged(at=datetime(2024, 5, 1), by="crew:a-1", unit_id="a-1", status="returning")


def test_a_unit_is_registered_available_or_out_of_service() -> None:
    with pytest.raises(ValidationError, match="status of a new unit must be one of .*; got dispatched"):
        UnitRegistered(at=T0, by="system", unit_id="a-1", station_id="a", station_location=(112.0, 28.0),
                       capability="als", status="dispatched")


def test_call_received_validates_like_a_call() -> None:
    with pytest.raises(ValidationError, match="priority must be 1–4, got 7"):
        CallReceived(at=T0, by="dispatcher:alice", call_id="c1", location=(112.6, 28.3), complaint="trauma",
                     priority=7, received_at=T0)
