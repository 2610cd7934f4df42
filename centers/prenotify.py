"""Pre-notification of a center: which milestones trigger it, what it says, the ECG it carries.

When a crew marks STEMI or stroke suspected, transmits an ECG or activates the cath lab, the destination
center is told at once (the Ruijin "admitted on boarding" / 上车即入院 model, seed 003; the Haining
"diagnosis made, straight to the operating room" model, seed 004). The service sends the dict built here
over the center's websocket; the center's acknowledgement comes back as a ``center_acknowledged``
milestone, itself audited.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from centers.destination import DestinationDecision
from centers.errors import PrenotificationError
from centers.intervals import pathway
from centers.milestones import Milestone, MilestoneKind, PatientRecord, Recorder, RecorderRole, TimeQuality

LOCAL_TZ = ZoneInfo("Asia/Shanghai")

PRENOTIFY_KINDS: frozenset[MilestoneKind] = frozenset({
    MilestoneKind.STEMI_SUSPECTED,
    MilestoneKind.STEMI_DIAGNOSED,
    MilestoneKind.STROKE_SUSPECTED,
    MilestoneKind.STROKE_DIAGNOSED,
    MilestoneKind.ECG_TRANSMITTED,
    MilestoneKind.CATHLAB_ACTIVATED,
})

# The ECG formats a 12-lead monitor exports, with the leading bytes each must start with: the upload
# is refused if the bytes do not match the declared type, whatever the file name says.
ECG_CONTENT_TYPES: Mapping[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
}
# A 12-lead PDF or photograph is well under 2 MB; 5 MB leaves room for a high-resolution photo taken
# by a phone while refusing video or whole-record uploads over a mobile link.
MAX_ECG_BYTES = 5 * 1024 * 1024


def should_prenotify(milestone_kind: MilestoneKind | str) -> bool:
    """Return whether recording this milestone kind pre-notifies the destination center."""
    return MilestoneKind.parse(milestone_kind, "milestone_kind") in PRENOTIFY_KINDS


@dataclass(frozen=True, slots=True)
class EcgAttachment:
    """A checked ECG upload (the bytes are stored by the service; this is their description)."""

    id: str
    content_type: str
    size_bytes: int
    sha256: str

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {"id": self.id, "content_type": self.content_type, "size_bytes": self.size_bytes, "sha256": self.sha256}


def check_ecg_attachment(data: bytes, content_type: str, *, attachment_id: str,
                         max_bytes: int = MAX_ECG_BYTES) -> EcgAttachment:
    """Check an ECG upload's size and type and describe it.

    Raises
    ------
    PrenotificationError
        Empty, larger than ``max_bytes``, of a type not in ``ECG_CONTENT_TYPES``, or whose bytes do not
        start as the declared type does.
    """
    ctype = (content_type or "").split(";")[0].strip().lower()
    if ctype not in ECG_CONTENT_TYPES:
        raise PrenotificationError(
            f"ecg content_type: {content_type!r} is not accepted; expected one of {', '.join(ECG_CONTENT_TYPES)}"
        )
    size = len(data)
    if size == 0:
        raise PrenotificationError("ecg: the upload is empty; expected the ECG file")
    if size > max_bytes:
        raise PrenotificationError(f"ecg: {size} bytes is too large; expected at most {max_bytes} bytes")
    if not any(data.startswith(magic) for magic in ECG_CONTENT_TYPES[ctype]):
        raise PrenotificationError(
            f"ecg: the content does not look like {ctype} (starts with {data[:8]!r}); expected a real {ctype} file"
        )
    return EcgAttachment(attachment_id, ctype, size, hashlib.sha256(data).hexdigest())


def prenotification(
    patient: PatientRecord,
    eta_s: float,
    *,
    hospital_id: str,
    now: datetime,
    decision: DestinationDecision | None = None,
    unit_id: str | None = None,
    ecg: Sequence[EcgAttachment] = (),
    screening: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the content of an incoming-patient notice for the destination center.

    Parameters
    ----------
    patient
        The patient's record; its current milestones are sent, oldest first.
    eta_s
        Expected time to the hospital door, seconds.
    hospital_id
        The center notified.
    now
        The time of sending (tz-aware); the expected arrival is ``now + eta_s``.
    decision
        The destination decision, for its reason, ED bypass and planned transfer.
    unit_id, ecg, screening
        The transporting unit, checked ECG attachments, stroke screening fields (BE-FAST, RACE, LAMS …).

    Raises
    ------
    PrenotificationError
        ``eta_s`` is negative or not finite, or ``now`` has no time zone.
    """
    if not isinstance(eta_s, (int, float)) or not math.isfinite(eta_s) or eta_s < 0:
        raise PrenotificationError(f"eta_s: expected a finite number of seconds >= 0, got {eta_s!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise PrenotificationError(f"now: {now.isoformat()} has no time zone; expected a tz-aware time")
    if not hospital_id:
        raise PrenotificationError(f"hospital_id: expected a hospital id, got {hospital_id!r}")
    now = now.astimezone(timezone.utc)
    arrival = now + timedelta(seconds=float(eta_s))
    p = pathway(patient)
    return {
        "type": "incoming_patient",
        "patient_id": patient.patient_id,
        "hospital_id": hospital_id,
        "unit_id": unit_id,
        "pathway": p.value if p else None,
        "sent_at": _iso(now),
        "eta_s": float(eta_s),
        "expected_arrival_at": _iso(arrival),
        "expected_arrival_local": arrival.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M"),
        "bypass_ed": bool(decision.bypass_ed) if decision else False,
        "transfer_to": decision.transfer_to if decision else None,
        "reason_code": decision.reason_code.value if decision else None,
        "reason": decision.reason if decision else None,
        "milestones": [_milestone_summary(m) for m in patient.timeline()],
        "ecg": [a.to_dict() for a in ecg],
        "screening": dict(screening or {}),
    }


def acknowledgement(patient_id: str, hospital_id: str, *, milestone_id: str, by: Recorder, at: datetime,
                    recorded_at: datetime | None = None) -> Milestone:
    """Return the ``center_acknowledged`` milestone of a center acknowledging a pre-notification.

    Raises
    ------
    MilestoneError
        A field is malformed (see ``Milestone``).
    PrenotificationError
        ``by`` is not center staff.
    """
    if by.role not in (RecorderRole.CENTER_STAFF, RecorderRole.SYSTEM):
        raise PrenotificationError(f"by.role: {by.role.value!r} cannot acknowledge for a center; expected center_staff")
    return Milestone(
        id=milestone_id, patient_id=patient_id, kind=MilestoneKind.CENTER_ACKNOWLEDGED, at=at, recorded_by=by,
        recorded_at=recorded_at or at, time_quality=TimeQuality.EXACT, hospital_id=hospital_id,
    )


def _milestone_summary(m: Milestone) -> dict[str, Any]:
    return {
        "id": m.id,
        "kind": m.kind.value,
        "label_zh": m.kind.label_zh,
        "label_en": m.kind.label_en,
        "at": _iso(m.at),
        "time_quality": m.time_quality.value,
        "recorded_by": {"role": m.recorded_by.role.value, "id": m.recorded_by.id},
        "hospital_id": m.hospital_id,
    }


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
