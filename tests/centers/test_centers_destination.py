from __future__ import annotations

import dataclasses

import pytest
from tests.centers.centers_testlib import Hospital
from hypothesis import given, settings
from hypothesis import strategies as st

from centers.destination import (COMPLAINTS, DestinationConfig, DestinationInput, ReasonCode, choose_destination,
                                 deciding_hospitals, lvo_screen_positive)
from centers.errors import DestinationError

MIN = 60.0
RENMIN = Hospital("renmin", "宁乡市人民医院",
                  frozenset({"ed", "pci", "thrombolysis", "thrombectomy", "chest_pain_center", "stroke_center"}), True)
LIUSHAHE = Hospital("liushahe-hc", "流沙河中心卫生院", frozenset({"ed", "thrombolysis"}))
CLINIC = Hospital("clinic", "村卫生室", frozenset())  # no ED: never a destination by policy
DAYTIME_PCI = Hospital("daytime", "日间PCI医院", frozenset({"ed", "pci", "thrombolysis"}), pci_24_7=False)
HOSPITALS = (RENMIN, LIUSHAHE, CLINIC, DAYTIME_PCI)


def times(**minutes):
    table = {k.replace("_", "-") if k == "liushahe_hc" else k: v * MIN for k, v in minutes.items()}
    calls = []

    def travel(hospital_id):
        calls.append(hospital_id)
        return table.get(hospital_id)

    travel.calls = calls
    return travel


def test_stemi_within_120_goes_to_pci_and_the_estimate_is_documented_sum():
    # 20 min since FMC + 10 min left on scene + 40 min transport + 30 min door-to-device = 100 min.
    p = DestinationInput("chest_pain", stemi=True, fmc_elapsed_s=20 * MIN, scene_time_left_s=10 * MIN)
    d = choose_destination(p, HOSPITALS, times(renmin=40, liushahe_hc=5, clinic=1))
    assert (d.hospital_id, d.reason_code, d.bypass_ed, d.transfer_to) == ("renmin", ReasonCode.DIRECT_PCI, False, None)
    assert d.expected_fmc_to_device_s == 100 * MIN
    assert "120" in d.reason_zh and "120" in d.reason_en and " / " in d.reason


def test_field_activated_stemi_bypasses_the_ed_and_uses_the_shorter_door_to_device():
    p = DestinationInput("chest_pain", stemi=True, fmc_elapsed_s=15 * MIN, field_cathlab_activated=True)
    d = choose_destination(p, HOSPITALS, times(renmin=80, liushahe_hc=5))
    # 15 + 0 + 80 + 20 (lab waiting) = 115 min: direct, straight to the cath lab; with the 30-minute
    # pre-notified assumption it would be 125 and go to lysis.
    assert (d.hospital_id, d.bypass_ed, d.expected_fmc_to_device_s) == ("renmin", True, 115 * MIN)


def test_stemi_beyond_120_goes_to_lysis_then_transfer():
    # 20 + 10 + 75 + 30 = 135 min > 120.
    p = DestinationInput("chest_pain", stemi=True, fmc_elapsed_s=20 * MIN, scene_time_left_s=10 * MIN)
    d = choose_destination(p, HOSPITALS, times(renmin=75, liushahe_hc=10))
    assert (d.hospital_id, d.reason_code, d.transfer_to) == ("liushahe-hc", ReasonCode.LYSIS_THEN_TRANSFER, "renmin")
    assert d.expected_fmc_to_device_s == 135 * MIN
    assert d.bypass_ed is False


def test_the_120_minute_limit_is_inclusive():
    p = DestinationInput("chest_pain", stemi=True, fmc_elapsed_s=30 * MIN)
    assert choose_destination(p, HOSPITALS, times(renmin=60, liushahe_hc=5)).hospital_id == "renmin"
    assert choose_destination(p, HOSPITALS, times(renmin=61, liushahe_hc=5)).hospital_id == "liushahe-hc"


def test_stemi_fallbacks():
    p = DestinationInput("chest_pain", stemi=True, fmc_elapsed_s=60 * MIN)
    # 60 + 90 + 30 = 180 min, but the PCI center is also the nearest thrombolysis hospital.
    over = choose_destination(p, (RENMIN, LIUSHAHE), times(renmin=90, liushahe_hc=95))
    assert (over.hospital_id, over.reason_code, over.transfer_to) == ("renmin", ReasonCode.PCI_OVER_LIMIT, None)
    no_pci = choose_destination(p, (LIUSHAHE, CLINIC), times(liushahe_hc=30, clinic=2))
    assert (no_pci.hospital_id, no_pci.reason_code) == ("liushahe-hc", ReasonCode.NO_PCI_REACHABLE)


def test_daytime_pci_lab_counts_only_when_configured():
    p = DestinationInput("chest_pain", stemi=True)
    travel = times(renmin=50, daytime=10, liushahe_hc=5)
    assert choose_destination(p, HOSPITALS, travel).hospital_id == "renmin"
    cfg = DestinationConfig(require_pci_24_7=False)
    assert choose_destination(p, HOSPITALS, travel, config=cfg).hospital_id == "daytime"


def test_chest_pain_without_stemi_and_other_complaints_go_to_the_nearest_ed():
    for complaint in ("chest_pain", "trauma", "obstetric", "pediatric", "other"):
        d = choose_destination(DestinationInput(complaint), HOSPITALS, times(renmin=30, liushahe_hc=12, clinic=2))
        assert (d.hospital_id, d.reason_code) == ("liushahe-hc", ReasonCode.NEAREST_ED)


def lvo(**kw):
    return DestinationInput("stroke", befast_positive=True, race_score=6, lkw_elapsed_s=3 * 3600.0, **kw)


def test_lvo_stroke_goes_to_thrombectomy_when_it_adds_at_most_15_minutes():
    d = choose_destination(lvo(), HOSPITALS, times(renmin=25, liushahe_hc=10))
    assert (d.hospital_id, d.reason_code) == ("renmin", ReasonCode.LVO_THROMBECTOMY)
    d = choose_destination(lvo(), HOSPITALS, times(renmin=26, liushahe_hc=10))
    assert (d.hospital_id, d.reason_code, d.transfer_to) == ("liushahe-hc", ReasonCode.LVO_NEAREST_LYSIS, "renmin")


@pytest.mark.parametrize("patient", [
    DestinationInput("stroke", befast_positive=True, race_score=4, lkw_elapsed_s=3600.0),  # RACE below 5
    DestinationInput("stroke", befast_positive=False, race_score=8, lkw_elapsed_s=3600.0),  # BE-FAST negative
    DestinationInput("stroke", befast_positive=True, lams_score=5, lkw_elapsed_s=25 * 3600.0),  # beyond 24 h
    DestinationInput("stroke", befast_positive=True, lams_score=5),  # last known well unknown
])
def test_other_strokes_go_to_the_nearest_thrombolysis_hospital(patient):
    d = choose_destination(patient, HOSPITALS, times(renmin=20, liushahe_hc=10))
    assert (d.hospital_id, d.reason_code) == ("liushahe-hc", ReasonCode.STROKE_NEAREST_LYSIS)


def test_lvo_screen_uses_race_or_lams():
    assert lvo_screen_positive(DestinationInput("stroke", befast_positive=True, lams_score=4))
    assert not lvo_screen_positive(DestinationInput("stroke", befast_positive=True, lams_score=3, race_score=4))
    assert not lvo_screen_positive(DestinationInput("stroke", befast_positive=None, lams_score=5))


def test_patient_choice_overrides_with_its_reason_and_keeps_the_policy_choice():
    p = DestinationInput("chest_pain", stemi=True, field_cathlab_activated=True, patient_choice="liushahe-hc",
                         choice_reason="家属要求就近 / family asks for the nearest")
    d = choose_destination(p, HOSPITALS, times(renmin=30, liushahe_hc=10))
    assert (d.hospital_id, d.reason_code, d.policy_hospital_id, d.bypass_ed) == (
        "liushahe-hc", ReasonCode.PATIENT_CHOICE, "renmin", False)
    assert "家属要求就近" in d.reason_zh and "family asks" in d.reason_en


def test_patient_choice_needs_a_reason_and_a_reachable_hospital():
    with pytest.raises(DestinationError, match="choice_reason: .*needs a recorded reason"):
        DestinationInput("other", patient_choice="renmin", choice_reason=" ")
    p = DestinationInput("other", patient_choice="changsha", choice_reason="family")
    with pytest.raises(DestinationError, match="patient_choice: 'changsha' is not a reachable hospital"):
        choose_destination(p, HOSPITALS, times(renmin=30))


def test_bad_inputs_are_named():
    with pytest.raises(DestinationError, match="complaint: 'cardiac' is not known"):
        DestinationInput("cardiac")
    with pytest.raises(DestinationError, match="fmc_elapsed_s"):
        DestinationInput("chest_pain", fmc_elapsed_s=-1)
    with pytest.raises(DestinationError, match="none is reachable"):
        choose_destination(DestinationInput("other"), HOSPITALS, times())
    with pytest.raises(DestinationError, match=r"travel_time_s\('renmin'\): expected seconds >= 0"):
        choose_destination(DestinationInput("other"), HOSPITALS, lambda h: -5.0)
    with pytest.raises(DestinationError, match="unknown key"):
        DestinationConfig.from_mapping({"fmc_to_device_limit": 7200})
    assert DestinationConfig.from_mapping({"thrombectomy_extra_limit_s": 600}).thrombectomy_extra_limit_s == 600


def test_no_capable_center_falls_back_to_the_nearest_ed_and_names_why():
    d = choose_destination(DestinationInput("stroke", befast_positive=True, race_score=7, lkw_elapsed_s=60.0),
                           (CLINIC, Hospital("ed-only", "急诊", frozenset({"ed"}))), times(clinic=1, **{"ed-only": 9}))
    assert (d.hospital_id, d.reason_code) == ("ed-only", ReasonCode.NO_CAPABLE_REACHABLE)


def test_travel_time_is_asked_once_per_hospital_and_alternatives_are_ranked():
    travel = times(renmin=30, liushahe_hc=10, clinic=2)
    d = choose_destination(lvo(), HOSPITALS, travel)
    assert sorted(travel.calls) == sorted(h.id for h in HOSPITALS)
    assert [a.hospital_id for a in d.alternatives] == ["clinic", "liushahe-hc", "renmin"]


_hospital = st.builds(
    Hospital, id=st.text("abcdefgh", min_size=1, max_size=3), name=st.just("h"),
    capabilities=st.frozensets(st.sampled_from(["ed", "pci", "thrombolysis", "thrombectomy"])), pci_24_7=st.booleans(),
)
_patient = st.builds(
    DestinationInput, complaint=st.sampled_from(COMPLAINTS), stemi=st.booleans(),
    fmc_elapsed_s=st.floats(0, 7200), scene_time_left_s=st.floats(0, 1800), field_cathlab_activated=st.booleans(),
    befast_positive=st.one_of(st.none(), st.booleans()), race_score=st.one_of(st.none(), st.integers(0, 9)),
    lams_score=st.one_of(st.none(), st.integers(0, 5)), lkw_elapsed_s=st.one_of(st.none(), st.floats(0, 200000)),
)


@settings(max_examples=80, deadline=None)
@given(_patient, st.lists(_hospital, min_size=1, max_size=6, unique_by=lambda h: h.id),
       st.lists(st.one_of(st.none(), st.floats(0, 7200)), min_size=6, max_size=6))
def test_decisions_are_reachable_and_consistent(patient, hospitals, tt):
    table = {h.id: t for h, t in zip(hospitals, tt)}
    if all(v is None for v in table.values()):
        with pytest.raises(DestinationError):
            choose_destination(patient, hospitals, table.get)
        return
    d = choose_destination(patient, hospitals, table.get)
    caps = {h.id: h.capabilities for h in hospitals}
    assert table[d.hospital_id] is not None
    assert d.bypass_ed <= (patient.field_cathlab_activated and "pci" in caps[d.hospital_id])
    assert d.transfer_to is None or d.transfer_to != d.hospital_id
    if d.reason_code in (ReasonCode.DIRECT_PCI, ReasonCode.PCI_OVER_LIMIT):
        assert "pci" in caps[d.hospital_id]
    if d.reason_code is ReasonCode.NEAREST_ED:
        nearest_ed = min(table[h] for h in table if table[h] is not None and "ed" in caps[h])
        assert table[d.hospital_id] == nearest_ed


_time = st.one_of(st.none(), st.sampled_from([0.0, 600.0, 900.0, 1500.0]), st.floats(0, 7200))


@settings(max_examples=150, deadline=None)
@given(_patient, st.lists(_hospital, min_size=1, max_size=8, unique_by=lambda h: h.id),
       st.lists(_time, min_size=8, max_size=8), st.booleans())
def test_the_deciding_hospitals_give_the_decision_of_all(patient, hospitals, tt, require_pci_24_7):
    table = {h.id: t for h, t in zip(hospitals, tt)}
    config = DestinationConfig(require_pci_24_7=require_pci_24_7)
    few = deciding_hospitals(hospitals, table.get, config=config)
    if all(v is None for v in table.values()):
        assert few == ()
        return
    full = choose_destination(patient, hospitals, table.get, config=config)
    short = choose_destination(patient, few, table.get, config=config)
    # At most the nearest of each kind the policy reads (ED, lysis, PCI, thrombectomy) and the nearest of all.
    assert 1 <= len(few) <= 5
    assert dataclasses.replace(short, alternatives=full.alternatives) == full
    kept = {h.id for h in few}
    assert short.alternatives == [a for a in full.alternatives if a.hospital_id in kept]


def test_deciding_hospitals_are_the_nearest_of_each_kind():
    travel = times(renmin=30, liushahe_hc=10, clinic=2, daytime=20)
    # Clinic: nearest of all; liushahe: nearest ED and lysis; renmin: 24/7 PCI and thrombectomy.
    assert [h.id for h in deciding_hospitals(HOSPITALS, travel)] == ["clinic", "liushahe-hc", "renmin"]
    daytime_ok = DestinationConfig(require_pci_24_7=False)
    assert [h.id for h in deciding_hospitals(HOSPITALS, travel, config=daytime_ok)] == [
        "clinic", "liushahe-hc", "daytime", "renmin"]
