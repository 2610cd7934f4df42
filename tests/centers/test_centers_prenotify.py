from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from tests.centers.centers_testlib import CREW, STAFF, T0, Hospital, ms

from centers.destination import DestinationInput, choose_destination
from centers.errors import PrenotificationError
from centers.milestones import MilestoneKind, PatientRecord
from centers.prenotify import (MAX_ECG_BYTES, PRENOTIFY_KINDS, acknowledgement, check_ecg_attachment,
                               prenotification, should_prenotify)

K = MilestoneKind
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
PDF = b"%PDF-1.7\n" + b"x" * 100


def test_which_milestones_prenotify():
    assert should_prenotify(K.STEMI_SUSPECTED) and should_prenotify("ecg_transmitted")
    assert should_prenotify("stroke_suspected") and should_prenotify(K.CATHLAB_ACTIVATED)
    assert not should_prenotify(K.DOOR_IN) and not should_prenotify("call_120")
    assert K.CENTER_ACKNOWLEDGED not in PRENOTIFY_KINDS
    with pytest.raises(Exception, match="milestone_kind: 'ecg' is not a milestone kind"):
        should_prenotify("ecg")


def patient():
    r = PatientRecord.empty("p")
    for m in (ms("call_120", 0), ms("first_medical_contact", 12), ms("first_ecg", 15), ms("stemi_suspected", 16),
              ms("ecg_transmitted", 17), ms("symptom_onset", None)):
        r = r.apply(m)
    return r


def test_prenotification_carries_eta_milestones_ecg_and_decision():
    renmin = Hospital("renmin", "宁乡市人民医院", frozenset({"ed", "pci", "thrombolysis"}), True)
    decision = choose_destination(DestinationInput("chest_pain", stemi=True, field_cathlab_activated=True,
                                                   fmc_elapsed_s=300.0), [renmin], lambda h: 1500.0)
    ecg = check_ecg_attachment(PNG, "image/png", attachment_id="ecg-1")
    now = T0 + timedelta(minutes=18)
    msg = prenotification(patient(), 1500, hospital_id="renmin", now=now, decision=decision, unit_id="renmin-1",
                          ecg=[ecg], screening={"befast": True})
    assert msg["type"] == "incoming_patient" and msg["pathway"] == "stemi"
    assert msg["expected_arrival_at"] == "2024-03-05T02:43:00Z"  # 02:18 + 25 min
    assert msg["expected_arrival_local"] == "2024-03-05 10:43"
    assert [m["kind"] for m in msg["milestones"]] == ["call_120", "first_medical_contact", "first_ecg",
                                                     "stemi_suspected", "ecg_transmitted", "symptom_onset"]
    assert msg["milestones"][-1]["at"] is None and msg["milestones"][1]["label_zh"] == "首次医疗接触"
    assert msg["bypass_ed"] is True and msg["reason_code"] == "direct_pci"
    assert msg["ecg"] == [{"id": "ecg-1", "content_type": "image/png", "size_bytes": len(PNG), "sha256": ecg.sha256}]
    assert msg["screening"] == {"befast": True}


@pytest.mark.parametrize("eta", [-1, float("nan"), float("inf")])
def test_bad_eta_is_refused(eta):
    with pytest.raises(PrenotificationError, match="eta_s: expected a finite number"):
        prenotification(patient(), eta, hospital_id="renmin", now=T0)


def test_naive_now_is_refused():
    with pytest.raises(PrenotificationError, match="now: .* has no time zone"):
        prenotification(patient(), 60, hospital_id="renmin", now=datetime(2024, 3, 5))


def test_ecg_attachments_are_size_limited_and_type_checked():
    assert check_ecg_attachment(PDF, "application/pdf; charset=binary", attachment_id="a").content_type == "application/pdf"
    with pytest.raises(PrenotificationError, match="does not look like image/png"):
        check_ecg_attachment(PDF, "image/png", attachment_id="a")
    with pytest.raises(PrenotificationError, match="'text/html' is not accepted"):
        check_ecg_attachment(b"<html>", "text/html", attachment_id="a")
    with pytest.raises(PrenotificationError, match="is empty"):
        check_ecg_attachment(b"", "image/png", attachment_id="a")
    with pytest.raises(PrenotificationError, match=f"{MAX_ECG_BYTES + 1} bytes is too large"):
        check_ecg_attachment(PNG + b"\x00" * (MAX_ECG_BYTES + 1 - len(PNG)), "image/png", attachment_id="a")


def test_acknowledgement_is_a_milestone_of_the_record():
    ack = acknowledgement("p", "renmin", milestone_id="ack-1", by=STAFF, at=T0 + timedelta(minutes=19))
    r = patient().apply(ack)
    assert r.current(K.CENTER_ACKNOWLEDGED).hospital_id == "renmin"
    assert r.time("center_acknowledged") == T0 + timedelta(minutes=19)
    with pytest.raises(PrenotificationError, match="'crew' cannot acknowledge"):
        acknowledgement("p", "renmin", milestone_id="ack-2", by=CREW, at=T0.astimezone(timezone.utc))
