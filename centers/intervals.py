"""Compute a patient's audited intervals from the record's current milestones.

An interval is computed only from *exact* times; a start or end that is absent, not known to the
minute or only approximate makes the interval "missing" (counted in the report's missing-milestone
rate), never a guess. Intervals that do not apply to the patient (door-to-balloon for a stroke) are
not returned at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from centers.milestones import MilestoneKind as K
from centers.milestones import PatientRecord
from centers.targets import INTERVALS, IntervalDef, Pathway, Scope, Site

_LAB = (K.PATIENT_IN_LAB, K.PUNCTURE, K.WIRE_CROSSING, K.BALLOON)


@dataclass(frozen=True, slots=True)
class IntervalResult:
    """One interval of one patient.

    ``minutes`` is None when a milestone is missing; ``missing`` then names the kinds (the preferred
    kind of each absent end). ``hospital_id`` is the hospital the interval is attributed to.
    """

    definition: IntervalDef
    patient_id: str
    minutes: float | None
    start_at: datetime | None
    end_at: datetime | None
    missing: tuple[K, ...]
    hospital_id: str | None

    @property
    def complete(self) -> bool:
        """Return whether both ends have exact times."""
        return self.minutes is not None

    @property
    def meets_target(self) -> bool | None:
        """Return whether the target is met (None when the interval is missing)."""
        return None if self.minutes is None else self.minutes <= self.definition.target_min

    @property
    def meets_stretch(self) -> bool | None:
        """Return whether the stretch goal is met (None when missing or when there is none)."""
        if self.minutes is None or self.definition.stretch_min is None:
            return None
        return self.minutes <= self.definition.stretch_min


def is_stemi(record: PatientRecord) -> bool:
    """Return whether STEMI was suspected or diagnosed."""
    return record.has(K.STEMI_SUSPECTED) or record.has(K.STEMI_DIAGNOSED)


def is_stroke(record: PatientRecord) -> bool:
    """Return whether a stroke was suspected or diagnosed."""
    return record.has(K.STROKE_SUSPECTED) or record.has(K.STROKE_DIAGNOSED)


def pathway(record: PatientRecord) -> Pathway | None:
    """Return the patient's pathway: a diagnosis wins over a suspicion, STEMI over stroke on a tie."""
    if record.has(K.STEMI_DIAGNOSED):
        return Pathway.STEMI
    if record.has(K.STROKE_DIAGNOSED):
        return Pathway.STROKE
    if record.has(K.STEMI_SUSPECTED):
        return Pathway.STEMI
    if record.has(K.STROKE_SUSPECTED):
        return Pathway.STROKE
    return None


def is_transfer(record: PatientRecord) -> bool:
    """Return whether the patient left a first hospital for another."""
    return record.has(K.DOOR_OUT) or record.has(K.TRANSFER_DOOR_IN)


def is_primary_pci(record: PatientRecord) -> bool:
    """Return whether a diagnosed STEMI went to the cath lab without thrombolysis first."""
    return (
        record.has(K.STEMI_DIAGNOSED)
        and any(record.has(k) for k in _LAB)
        and not record.has(K.THROMBOLYSIS_START)
    )


def _hospital_lysis(record: PatientRecord) -> bool:
    if not (record.has(K.STEMI_DIAGNOSED) and record.has(K.THROMBOLYSIS_START)):
        return False
    door, lysis = record.time(K.DOOR_IN), record.time(K.THROMBOLYSIS_START)
    # Thrombolysis before the door was given in the field: it has no door-to-needle time.
    return not (door is not None and lysis is not None and lysis < door)


_SCOPES: dict[Scope, Callable[[PatientRecord], bool]] = {
    Scope.STEMI: is_stemi,
    Scope.STEMI_DIAGNOSED: lambda r: r.has(K.STEMI_DIAGNOSED),
    Scope.PRIMARY_PCI: is_primary_pci,
    Scope.PRIMARY_PCI_DIRECT: lambda r: is_primary_pci(r) and not is_transfer(r),
    Scope.PRIMARY_PCI_TRANSFER: lambda r: is_primary_pci(r) and is_transfer(r),
    Scope.STEMI_TRANSFER: lambda r: is_stemi(r) and is_transfer(r),
    Scope.STEMI_HOSPITAL_LYSIS: _hospital_lysis,
    Scope.CATHLAB_ACTIVATION: lambda r: r.has(K.CATHLAB_ACTIVATED),
    Scope.DISPATCHED: lambda r: r.has(K.DISPATCH_ORDER),
    Scope.STROKE: is_stroke,
    Scope.STROKE_LYSIS: lambda r: is_stroke(r) and r.has(K.NEEDLE),
    Scope.STROKE_THROMBECTOMY: lambda r: is_stroke(r) and (r.has(K.PUNCTURE) or r.has(K.PATIENT_IN_LAB)),
}


def applies(record: PatientRecord, definition: IntervalDef) -> bool:
    """Return whether ``definition`` is audited on this patient."""
    return _SCOPES[definition.scope](record)


def site_hospital(record: PatientRecord, site: Site) -> str | None:
    """Return the hospital id of a site: the first hospital's door, or the treating center's."""
    kinds = (K.DOOR_IN,) if site is Site.FIRST_HOSPITAL else (K.TRANSFER_DOOR_IN, K.DOOR_IN)
    for kind in kinds:
        m = record.current(kind)
        if m is not None and m.hospital_id:
            return m.hospital_id
    return None


def _endpoint(record: PatientRecord, kinds: tuple[K, ...]) -> tuple[K, datetime | None]:
    # The first *recorded* kind is the endpoint, even without an exact time: a transferred patient's
    # door-to-balloon is counted from the receiving center's door, never silently from the first one.
    for kind in kinds:
        if record.has(kind):
            return kind, record.time(kind)
    return kinds[0], None


def compute_interval(record: PatientRecord, definition: IntervalDef) -> IntervalResult | None:
    """Return one interval of a patient, or None when it does not apply to them."""
    if not applies(record, definition):
        return None
    (start_kind, start), (end_kind, end) = _endpoint(record, definition.start), _endpoint(record, definition.end)
    missing = tuple(k for k, t in ((start_kind, start), (end_kind, end)) if t is None)
    minutes = None if missing else (end - start).total_seconds() / 60.0
    return IntervalResult(definition, record.patient_id, minutes, start, end, missing,
                          site_hospital(record, definition.site))


def compute_intervals(record: PatientRecord, definitions: Iterable[IntervalDef] = INTERVALS) -> list[IntervalResult]:
    """Return every applicable interval of a patient, in the order of ``definitions``."""
    out = []
    for d in definitions:
        r = compute_interval(record, d)
        if r is not None:
            out.append(r)
    return out
