from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from tests.centers.centers_testlib import FIXTURE, STAFF, T0, ms

from centers.errors import MilestoneError, MilestoneOrderError
from centers.milestones import (ORDER_PAIRS, Milestone, MilestoneKind, PatientRecord, Recorder, RecorderRole,
                                TimeQuality, fold_patients)

K = MilestoneKind


def record(*events: Milestone, patient: str = "p") -> PatientRecord:
    r = PatientRecord.empty(patient)
    for e in events:
        r = r.apply(e)
    return r


def test_kinds_have_unique_codes_and_both_labels():
    codes = [k.value for k in K]
    assert len(codes) == len(set(codes))
    for k in K:
        assert k.label_zh and k.label_en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in k.label_zh), k
    assert K.parse("door_in") is K.DOOR_IN
    with pytest.raises(MilestoneError, match="'door' is not a milestone kind"):
        K.parse("door")


def test_center_acknowledged_is_a_kind():
    assert K("center_acknowledged").label_zh == "中心确认预警"


def test_order_closure_reaches_through_unrecorded_milestones():
    assert (K.DOOR_IN, K.BALLOON) in ORDER_PAIRS
    assert (K.FIRST_MEDICAL_CONTACT, K.BALLOON) in ORDER_PAIRS
    assert (K.TRANSFER_DOOR_IN, K.PUNCTURE) in ORDER_PAIRS
    assert not any(a is b for a, b in ORDER_PAIRS)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"at": datetime(2024, 3, 5, 2, 0)}, "at: .* has no time zone"),
        ({"time_quality": TimeQuality.UNKNOWN}, "time_quality is 'unknown' but at is"),
        ({"at": None, "time_quality": TimeQuality.EXACT}, "at is missing but time_quality is 'exact'"),
        ({"at": T0 + timedelta(minutes=10)}, "after recorded_at"),
        ({"retracts": True}, "retracts is set but corrects is missing"),
        ({"patient_id": ""}, "patient_id: expected a non-empty string"),
        ({"kind": "balloon_inflated"}, "not a milestone kind"),
    ],
)
def test_malformed_milestones_are_refused_with_the_field_named(kwargs, match):
    base = dict(id="x", patient_id="p", kind=K.DOOR_IN, at=T0, recorded_by=STAFF, recorded_at=T0)
    with pytest.raises(MilestoneError, match=match):
        Milestone(**{**base, **kwargs})


def test_times_are_normalised_to_utc():
    shanghai = timezone(timedelta(hours=8))
    m = Milestone("x", "p", K.DOOR_IN, datetime(2024, 3, 5, 10, 0, tzinfo=shanghai), STAFF,
                  datetime(2024, 3, 5, 10, 1, tzinfo=shanghai))
    assert m.at == T0 and m.at.tzinfo is timezone.utc


def test_balloon_before_door_is_refused_naming_both():
    r = record(ms("door_in", 30, id="door"))
    with pytest.raises(MilestoneOrderError) as e:
        r.apply(ms("balloon", 20, id="bal"))
    msg = str(e.value)
    assert "balloon at 2024-03-05T02:20:00Z is before door_in at 2024-03-05T02:30:00Z" in msg
    assert "milestone door" in msg and "expected balloon at or after door_in" in msg


def test_order_is_checked_whichever_milestone_comes_first():
    r = record(ms("balloon", 20))
    with pytest.raises(MilestoneOrderError, match="balloon .* is before door_in"):
        r.apply(ms("door_in", 30))


def test_equal_times_are_in_order():
    r = record(ms("first_medical_contact", 0), ms("door_in", 0), ms("first_ecg", 0))
    assert r.time("door_in") == r.time("first_medical_contact") == T0


def test_correction_is_a_new_event_and_the_history_keeps_both():
    r = record(ms("door_in", 30, id="d1"), ms("door_in", 25, id="d2", corrects="d1", recorded_minute=60))
    assert r.current("door_in").id == "d2"
    assert r.time(K.DOOR_IN) == T0 + timedelta(minutes=25)
    assert [m.id for m in r.history] == ["d1", "d2"]
    assert [m.id for m in r.corrections_of("d1")] == ["d2"]


def test_a_correction_is_checked_against_the_rest_of_the_timeline():
    r = record(ms("door_in", 30, id="d1"), ms("balloon", 60, id="b"))
    with pytest.raises(MilestoneOrderError, match="balloon at .* is before door_in at 2024-03-05T03:10:00Z"):
        r.apply(ms("door_in", 70, corrects="d1", recorded_minute=90))
    # The old value does not block its own correction.
    r2 = r.apply(ms("door_in", 50, corrects="d1", recorded_minute=90))
    assert r2.time("door_in") == T0 + timedelta(minutes=50)


def test_a_second_value_without_correction_is_refused():
    r = record(ms("door_in", 30, id="d1"))
    with pytest.raises(MilestoneError, match=r"door_in is already recorded .* as d1 .* expected a correction \(corrects='d1'\)"):
        r.apply(ms("door_in", 31))


def test_only_the_latest_value_can_be_corrected():
    r = record(ms("door_in", 30, id="d1"), ms("door_in", 29, id="d2", corrects="d1"))
    with pytest.raises(MilestoneError, match="d1 was already corrected by d2; correct d2 instead"):
        r.apply(ms("door_in", 28, corrects="d1"))


def test_corrections_must_keep_the_kind_and_the_patient():
    r = record(ms("door_in", 30, id="d1"))
    with pytest.raises(MilestoneError, match="a balloon cannot correct d1, a door_in"):
        r.apply(ms("balloon", 40, corrects="d1"))
    with pytest.raises(MilestoneError, match="'nope', which is not a milestone of patient p"):
        r.apply(ms("door_in", 40, corrects="nope"))
    with pytest.raises(MilestoneError, match="patient_id 'q' does not match"):
        r.apply(ms("balloon", 40, patient="q"))
    with pytest.raises(MilestoneError, match="id already recorded"):
        r.apply(ms("balloon", 40, id="d1"))


def test_a_retraction_removes_the_current_value_but_not_the_history():
    r = record(ms("thrombolysis_start", 10, id="t1"), ms("thrombolysis_start", None, id="t2", corrects="t1",
                                                           retracts=True))
    assert r.current("thrombolysis_start") is None and not r.has("thrombolysis_start")
    assert len(r.history) == 2


def test_repeatable_kinds_keep_every_value_and_the_earliest_is_current():
    r = record(ms("first_ecg", 5), ms("ecg_transmitted", 9), ms("ecg_transmitted", 7))
    assert r.time("ecg_transmitted") == T0 + timedelta(minutes=7)
    assert len(r.all_current("ecg_transmitted")) == 2


def test_unknown_and_approximate_times_are_kept_but_not_audited_or_ordered():
    r = record(ms("door_in", 30), ms("symptom_onset", 45, quality=TimeQuality.APPROXIMATE),
               ms("last_known_well", None))
    assert r.has("symptom_onset") and r.time("symptom_onset") is None
    assert r.current("last_known_well").time_quality is TimeQuality.UNKNOWN


def test_dict_round_trip_and_field_errors():
    m = ms("door_in", 30, hospital="renmin", by=STAFF)
    assert Milestone.from_dict(json.loads(json.dumps(m.to_dict()))) == m
    d = m.to_dict()
    with pytest.raises(MilestoneError, match="at: '2024-13-01' is not an ISO 8601 time"):
        Milestone.from_dict({**d, "at": "2024-13-01"})
    with pytest.raises(MilestoneError, match="missing field"):
        Milestone.from_dict({"id": "x"})
    with pytest.raises(MilestoneError, match="recorded_by.role: 'nurse' is not valid"):
        Milestone.from_dict({**d, "recorded_by": {"role": "nurse", "id": "n"}})
    assert Milestone.from_dict({**d, "at": None, "time_quality": None}).time_quality is TimeQuality.UNKNOWN


def test_recorder_needs_an_id():
    with pytest.raises(MilestoneError, match="recorded_by.id"):
        Recorder(RecorderRole.CREW, "")


def test_fold_of_the_fixture_keeps_good_events_and_lists_refused_ones():
    events = [Milestone.from_dict(json.loads(line)) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    folded = fold_patients(events)
    assert sorted(folded.records) == [f"p{i}" for i in range(1, 9)]
    assert [(j.milestone.id, j.milestone.kind) for j in folded.rejected] == [("p6-09", K.BALLOON), ("p6-10", K.DOOR_IN)]
    # The refused balloon did not stop the right one, recorded afterwards.
    assert folded.records["p6"].current("balloon").id == "p6-12"
    assert sum(len(r.history) for r in folded.records.values()) + 2 == len(events)
