"""The centers' side of the dispatch log: milestones, destinations and ECGs of each patient.

A patient is a 120 call (``patient_id`` = call id). Three event types live in the dispatch log beside
the dispatch events, numbered in the same sequence:

- ``MilestoneRecorded`` ``{"milestone": Milestone.to_dict()}``: a milestone or a correction
  (`centers.milestones`; corrections are new events, never overwrites);
- ``DestinationChosen`` ``{"call_id", "hospital_id", "reason_code", "reason", "bypass_ed",
  "transfer_to", "expected_fmc_to_device_s", "policy_hospital_id", "screening", "by", "at"}``;
- ``EcgAttached`` ``{"call_id", "attachment": EcgAttachment.to_dict(), "by", "at"}`` (the bytes are a
  blob in the store).

No I/O here: the service appends the events; this fold checks them first and keeps the records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from centers.milestones import Milestone, MilestoneKind, PatientRecord
from dispatch.store import StateRow

MILESTONE = "MilestoneRecorded"
DESTINATION = "DestinationChosen"
ECG = "EcgAttached"


@dataclass
class Patient:
    """What the centers know of one patient."""

    record: PatientRecord
    destination: dict[str, Any] | None = None
    ecg: list[dict[str, Any]] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """Return the patient as the API and the centers' pages show it."""
        return {
            "patient_id": self.record.patient_id,
            "destination": self.destination,
            "ecg": list(self.ecg),
            "milestones": [_milestone_view(m) for m in self.record.timeline()],
            "history": [m.to_dict() for m in self.record.history],
        }


def _milestone_view(m: Milestone) -> dict[str, Any]:
    out = m.to_dict()
    out["label_zh"] = m.kind.label_zh
    out["label_en"] = m.kind.label_en
    return out


def patient_of(event: dict[str, Any]) -> str:
    """The patient (call id) an event is about."""
    return event.get("call_id") or event["milestone"]["patient_id"]


def followed_by(patient: Patient, event: dict[str, Any]) -> Patient:
    """Return the patient after one event; ``patient`` is left unchanged."""
    kind = event["type"]
    if kind == MILESTONE:
        return Patient(patient.record.apply(Milestone.from_dict(event["milestone"])), patient.destination,
                       patient.ecg)
    if kind == DESTINATION:
        return Patient(patient.record, {k: v for k, v in event.items() if k != "type"}, patient.ecg)
    if kind == ECG:
        return Patient(patient.record, patient.destination, [*patient.ecg, event["attachment"]])
    raise ValueError(f"type: not a patient event: {kind!r}")


class PatientsFold:
    """Keeps every patient's record; the service's side fold for the three event types."""

    types = frozenset({MILESTONE, DESTINATION, ECG})

    def __init__(self) -> None:
        self.patients: dict[str, Patient] = {}
        self.attachment_owner: dict[str, str] = {}  # attachment id -> call id

    def patient(self, call_id: str) -> Patient:
        found = self.patients.get(call_id)
        return found if found is not None else Patient(PatientRecord.empty(call_id))

    def check(self, event: dict[str, Any]) -> None:
        """Refuse an event that does not fit (raises `centers.errors` subclasses with the reason)."""
        followed_by(self.patient(patient_of(event)), event)

    def apply(self, seq: int, event: dict[str, Any]) -> None:
        call_id = patient_of(event)
        self.patients[call_id] = followed_by(self.patient(call_id), event)
        if event.get("type") == ECG:
            self.attachment_owner[event["attachment"]["id"]] = call_id

    def owner_of_attachment(self, attachment_id: str) -> str | None:
        """Return the call an ECG attachment belongs to, or None."""
        return self.attachment_owner.get(attachment_id)

    def rows(self, events: list[dict[str, Any]]) -> list[StateRow]:
        """Current-state rows of the patients the events touch, as they will be after them."""
        after: dict[str, Patient] = {}
        for event in events:
            call_id = patient_of(event)
            after[call_id] = followed_by(after.get(call_id) or self.patient(call_id), event)
        return [StateRow("patient", cid, after[cid].view()) for cid in sorted(after)]

    def call_extras(self, call_id: str) -> dict[str, Any]:
        """A call's destination, for its view (consoles and the center's websocket audience)."""
        p = self.patients.get(call_id)
        dest = p.destination if p is not None else None
        return {"destination": dest, "destination_hospital_id": dest["hospital_id"] if dest else None}

    def has(self, call_id: str, kind: MilestoneKind) -> bool:
        p = self.patients.get(call_id)
        return p is not None and p.record.has(kind)

    def milestones(self) -> list[Milestone]:
        """Every milestone event, patient by patient, each patient's in log order (for the quality report)."""
        return [m for p in self.patients.values() for m in p.record.history]
