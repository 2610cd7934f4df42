"""Events <-> JSON-able dicts: round trip, field-naming errors, a checked-in event log."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.codec import event_from_dict, event_to_dict, to_dict
from dispatch.errors import CodecError
from dispatch.events import (
    EVENT_TYPES,
    AssignmentAccepted,
    AssignmentDeclined,
    CallCancelled,
    CallClosed,
    CallReceived,
    UnitAssigned,
    UnitRegistered,
    UnitStatusChanged,
)
from dispatch.model import REGISTRABLE_STATUSES, CallStatus, Capability, Complaint, UnitStatus
from dispatch.state import fold

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dispatch"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)
whos = st.from_regex(r"(system|(dispatcher|crew|simulator):[a-z0-9-]{1,12})", fullmatch=True)
times = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]),
)
points = st.tuples(st.floats(-180, 180), st.floats(-90, 90))
reasons = st.text(min_size=1, max_size=40).filter(lambda s: s.strip())
phones = st.from_regex(r"\+?[0-9][0-9 -]{2,20}", fullmatch=True)
base = {"at": times, "by": whos}

events = st.one_of(
    st.builds(UnitRegistered, **base, unit_id=ids, station_id=ids, station_location=points,
              capability=st.sampled_from(Capability), status=st.sampled_from(sorted(REGISTRABLE_STATUSES)),
              device_id=st.none() | ids),
    st.builds(CallReceived, **base, call_id=ids, location=points, complaint=st.sampled_from(Complaint),
              priority=st.integers(1, 4), received_at=times, symptom_onset=st.none() | times,
              caller_phone=st.none() | phones, notes=st.text(max_size=60), place_name=st.none() | st.text(max_size=20)),
    ids.flatmap(lambda unit: st.builds(
        UnitAssigned, **base, call_id=ids, unit_id=st.just(unit), recommended_unit_id=st.none() | st.just(unit),
        override_reason=st.none() | reasons)),
    ids.flatmap(lambda unit: st.builds(
        UnitAssigned, **base, call_id=ids, unit_id=st.just(unit),
        recommended_unit_id=ids.filter(lambda other: other != unit), override_reason=reasons)),
    st.builds(AssignmentAccepted, **base, call_id=ids, unit_id=ids),
    st.builds(AssignmentDeclined, **base, call_id=ids, unit_id=ids, reason=reasons),
    st.builds(UnitStatusChanged, **base, unit_id=ids, status=st.sampled_from(UnitStatus), reason=st.none() | reasons),
    st.builds(CallCancelled, **base, call_id=ids, reason=reasons),
    st.builds(CallClosed, **base, call_id=ids, reason=st.none() | reasons),
)


@given(events)
@settings(max_examples=100)
def test_round_trip_through_json(event) -> None:
    encoded = event_to_dict(event)
    wire = json.loads(json.dumps(encoded, ensure_ascii=False, allow_nan=False))
    assert wire == encoded
    assert event_from_dict(wire) == event
    assert encoded["at"].endswith("Z")


def test_every_event_type_is_covered() -> None:
    assert set(EVENT_TYPES) == {
        "UnitRegistered", "CallReceived", "UnitAssigned", "AssignmentAccepted", "AssignmentDeclined",
        "UnitStatusChanged", "CallCancelled", "CallClosed",
    }


def _received(**overrides) -> dict:
    event = CallReceived(at=T0, by="dispatcher:alice", call_id="c1", location=(112.6, 28.3), complaint="stroke",
                         priority=1, received_at=T0)
    return {**event_to_dict(event), **overrides}


def test_the_wire_format() -> None:
    d = _received(symptom_onset="2024-05-01T15:30:00+08:00")
    assert (d["type"], d["at"], d["location"], d["complaint"], d["caller_phone"]) == (
        "CallReceived", "2024-05-01T08:00:00Z", [112.6, 28.3], "stroke", None,
    )
    assert event_from_dict(d).symptom_onset == datetime(2024, 5, 1, 7, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "data,field,message",
    [
        ({"call_id": "c1"}, "type", "type: expected one of UnitRegistered, "),
        ({"type": "CallTeleported"}, "type", "got 'CallTeleported'"),
        (_received(colour="red"), "colour", "CallReceived.colour: unknown field"),
        ({k: v for k, v in _received().items() if k != "received_at"}, "received_at",
         "CallReceived.received_at: missing"),
        (_received(priority=7), "priority", "CallReceived.priority: priority must be 1–4, got 7"),
        (_received(priority="1"), "priority", "CallReceived.priority: expected an integer, got '1'"),
        (_received(at="2024-05-01T08:00:00"), "at", "CallReceived.at: at must be tz-aware \\(UTC\\), got naive"),
        (_received(at="yesterday"), "at", "CallReceived.at: expected an ISO 8601 datetime, got 'yesterday'"),
        (_received(at=None), "at", "CallReceived.at: expected an ISO 8601 datetime string, got None"),
        (_received(location=[112.6]), "location", "CallReceived.location: expected \\[lon, lat\\]"),
        (_received(location=[200.0, 28.0]), "location", "location lon must be in \\[-180, 180\\], got 200.0"),
        (_received(complaint="burn"), "complaint", "CallReceived.complaint: expected one of chest_pain"),
        (_received(by="Alice Smith"), "by", "CallReceived.by: by must be 'system' or 'role:name'"),
    ],
)
def test_decoding_errors_name_the_field(data, field: str, message: str) -> None:
    with pytest.raises(CodecError, match=message) as err:
        event_from_dict(data)
    assert err.value.field == field


def test_decoding_refuses_a_non_object() -> None:
    with pytest.raises(CodecError, match="event must be an object, got list"):
        event_from_dict([])  # type: ignore[arg-type]


def test_the_checked_in_event_log_decodes_folds_and_reencodes() -> None:
    lines = (FIXTURES / "lifecycle.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    log = [(r["seq"], event_from_dict(r["event"])) for r in records]
    assert [event_to_dict(e) for _, e in log] == [r["event"] for r in records]
    state = fold(log)
    assert state.seq == records[-1]["seq"]
    first, second = state.calls["20240501-0001"], state.calls["20240501-0002"]
    assert (first.status, first.end_reason, first.notes) == (CallStatus.CLOSED, "finished", "胸痛30分钟，大汗")
    assert second.status is CallStatus.CANCELLED
    assert state.assignments["20240501-0002"][0].declined_reason == "车辆故障 vehicle fault"
    assert {u.id: u.status for u in state.units.values()} == {
        "renmin-1": UnitStatus.AVAILABLE_AT_STATION, "liushahe-1": UnitStatus.OUT_OF_SERVICE,
    }
    assert state.queue == ()


def test_to_dict_renders_model_values() -> None:
    lines = (FIXTURES / "lifecycle.jsonl").read_text(encoding="utf-8").splitlines()
    state = fold((r["seq"], event_from_dict(r["event"])) for r in map(json.loads, lines))
    call = to_dict(state.calls["20240501-0001"])
    assert (call["location"], call["status"], call["received_at"]) == (
        [112.5863, 28.2541], "closed", "2024-05-01T00:12:05Z",
    )
    assignment = to_dict(state.assignments["20240501-0001"][0])
    assert assignment["unit_prior_status"] == "available_at_station"
    json.dumps([call, assignment, to_dict(state.units["renmin-1"])])
    with pytest.raises(CodecError, match="value must be a dispatch dataclass instance, got dict"):
        to_dict({})
