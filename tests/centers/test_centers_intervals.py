from __future__ import annotations

import json

from tests.centers.centers_testlib import FIXTURE, ms
from hypothesis import given, settings
from hypothesis import strategies as st

from centers.intervals import compute_interval, compute_intervals, is_primary_pci, pathway, site_hospital
from centers.milestones import Milestone, MilestoneKind, PatientRecord, TimeQuality, fold_patients
from centers.targets import INTERVALS_BY_CODE, Pathway, Site

K = MilestoneKind


def fixture_records():
    events = [Milestone.from_dict(json.loads(line)) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
    return fold_patients(events).records


def by_code(record):
    return {r.definition.code: r for r in compute_intervals(record)}


def record(*events):
    r = PatientRecord.empty("p")
    for e in events:
        r = r.apply(e)
    return r


def test_direct_stemi_with_field_activation():
    # p1: door 02:50, balloon 03:15, FMC 02:15, activation 02:27 -> ready 02:52, order 02:01 -> departs 02:03.
    iv = by_code(fixture_records()["p1"])
    assert iv["door_to_balloon"].minutes == 25
    assert iv["door_to_wire"].minutes == 20
    assert iv["fmc_to_device_direct"].minutes == 60 and iv["fmc_to_device_direct"].meets_target
    assert iv["cathlab_activation_to_ready"].minutes == 25
    assert iv["order_to_departure"].minutes == 2
    assert iv["fmc_to_ecg"].minutes == 5 and iv["ecg_to_diagnosis"].minutes == 6
    assert iv["door_to_balloon"].meets_stretch is True
    assert "fmc_to_device_transfer" not in iv and "stroke_door_to_needle" not in iv
    assert iv["door_to_balloon"].hospital_id == "renmin"


def test_slow_stemi_misses_its_targets():
    # p2: door 10:55 -> balloon 12:30 = 95 min; FMC 10:20 -> balloon = 130; FMC -> ECG 15; order -> departs 4.
    iv = by_code(fixture_records()["p2"])
    assert (iv["door_to_balloon"].minutes, iv["door_to_balloon"].meets_target) == (95, False)
    assert (iv["fmc_to_device_direct"].minutes, iv["fmc_to_device_direct"].meets_target) == (130, False)
    assert (iv["fmc_to_ecg"].minutes, iv["fmc_to_ecg"].meets_target) == (15, False)
    assert (iv["order_to_departure"].minutes, iv["order_to_departure"].meets_target) == (4, False)
    assert (iv["cathlab_activation_to_ready"].minutes, iv["cathlab_activation_to_ready"].meets_target) == (40, False)


def test_transfer_counts_door_to_balloon_from_the_receiving_center():
    # p3: Liushahe door 03:00 -> door-out 03:40 (40); renmin door 04:30 -> balloon 04:55 (25); FMC 03:00 -> 115.
    r = fixture_records()["p3"]
    iv = by_code(r)
    assert iv["door_to_balloon"].minutes == 25 and iv["door_to_balloon"].hospital_id == "renmin"
    assert iv["door_in_door_out"].minutes == 40 and iv["door_in_door_out"].hospital_id == "liushahe-hc"
    assert iv["door_in_door_out"].meets_target is False
    assert iv["fmc_to_device_transfer"].minutes == 115 and iv["fmc_to_device_transfer"].meets_target
    assert "fmc_to_device_direct" not in iv
    assert site_hospital(r, Site.FIRST_HOSPITAL) == "liushahe-hc"
    assert site_hospital(r, Site.TREATING_HOSPITAL) == "renmin"


def test_stroke_with_thrombectomy():
    # p4: door 06:10, CT 06:28 (18), needle 06:50 (40), puncture 07:25 (75).
    r = fixture_records()["p4"]
    iv = by_code(r)
    assert pathway(r) is Pathway.STROKE
    assert [iv[c].minutes for c in ("stroke_door_to_ct", "stroke_door_to_needle", "stroke_door_to_puncture")] == [18, 40, 75]
    assert iv["stroke_door_to_needle"].meets_stretch is True
    assert "door_to_balloon" not in iv


def test_missing_ct_and_corrected_needle():
    # p5: door 12:40; needle first entered 13:10, corrected to 13:30 -> 50 min; no CT time at all.
    iv = by_code(fixture_records()["p5"])
    assert iv["stroke_door_to_needle"].minutes == 50
    assert (iv["stroke_door_to_needle"].meets_target, iv["stroke_door_to_needle"].meets_stretch) == (True, False)
    ct = iv["stroke_door_to_ct"]
    assert ct.minutes is None and ct.missing == (K.HEAD_CT_START,) and ct.meets_target is None


def test_refused_balloon_does_not_count():
    # p6: the balloon at 08:30 (before the door at 08:45) was refused; the one at 09:40 counts: 55 min.
    iv = by_code(fixture_records()["p6"])
    assert iv["door_to_balloon"].minutes == 55
    assert iv["door_to_wire"].missing == (K.WIRE_CROSSING,)


def test_an_approximate_end_is_missing_not_guessed():
    r = record(ms("stroke_suspected", 0), ms("door_in", 10), ms("head_ct_start", 30, quality=TimeQuality.APPROXIMATE))
    res = compute_interval(r, INTERVALS_BY_CODE["stroke_door_to_ct"])
    assert res.minutes is None and res.missing == (K.HEAD_CT_START,)


def test_transfer_door_without_time_does_not_fall_back_to_the_first_door():
    r = record(ms("first_medical_contact", 0), ms("first_ecg", 3), ms("stemi_diagnosed", 8), ms("door_in", 10),
               ms("door_out", 30), ms("transfer_door_in", None), ms("balloon", 90))
    res = compute_interval(r, INTERVALS_BY_CODE["door_to_balloon"])
    assert res.minutes is None and res.missing == (K.TRANSFER_DOOR_IN,)


def test_field_thrombolysis_has_no_door_to_needle_and_is_not_primary_pci():
    base = (ms("first_medical_contact", 0), ms("first_ecg", 3), ms("stemi_diagnosed", 8))
    field = record(*base, ms("thrombolysis_start", 20), ms("door_in", 40), ms("balloon", 200))
    assert compute_interval(field, INTERVALS_BY_CODE["stemi_door_to_needle"]) is None
    assert not is_primary_pci(field)
    assert compute_interval(field, INTERVALS_BY_CODE["door_to_balloon"]) is None
    hospital = record(*base, ms("door_in", 40), ms("thrombolysis_start", 65))
    assert compute_interval(hospital, INTERVALS_BY_CODE["stemi_door_to_needle"]).minutes == 25


def test_pathway_prefers_a_diagnosis():
    assert pathway(record(ms("stemi_suspected", 0), ms("stroke_diagnosed", 5))) is Pathway.STROKE
    assert pathway(record(ms("call_120", 0))) is None


# Random patients: a random set of milestones at random minutes, recorded in random order, then random
# corrections, retractions and repeats. Whatever the fold accepts must give no negative interval: the
# property the order rules exist for.
_kinds = st.sampled_from(list(K))


@st.composite
def _event_streams(draw):
    base = draw(st.dictionaries(_kinds, st.integers(0, 240), min_size=4))
    order = draw(st.permutations(list(base)))
    extras = draw(st.lists(st.tuples(_kinds, st.one_of(st.none(), st.integers(0, 240)),
                                     st.sampled_from(["new", "correct", "retract"])), max_size=8))
    return [(k, base[k], "new") for k in order] + extras


@settings(max_examples=120, deadline=None)
@given(_event_streams())
def test_no_accepted_patient_has_a_negative_interval(events):
    milestones, last_of_kind = [], {}
    for i, (kind, minute, action) in enumerate(events):
        corrects = last_of_kind.get(kind) if action != "new" else None
        m = ms(kind, minute, id=f"e{i}", corrects=corrects, retracts=action == "retract" and corrects is not None,
               hospital="renmin" if kind in (K.DOOR_IN, K.TRANSFER_DOOR_IN) else None, recorded_minute=1000)
        milestones.append(m)
        last_of_kind[kind] = m.id
    folded = fold_patients(milestones)
    for r in folded.records.values():
        for res in compute_intervals(r):
            assert res.minutes is None or res.minutes >= 0, (res.definition.code, r.timeline())
