"""Milestones of a chest pain or stroke patient, and the patient's record as a fold of them.

A milestone is an event: *what* happened to the patient (``MilestoneKind``), *when* (a tz-aware UTC
time, or "not known to the minute"), *who* recorded it and *when it was recorded*. Events are never
changed: a wrong time is fixed by a new milestone that ``corrects`` the old one (and may ``retract``
it, "this did not happen"), so the audit trail keeps every value anyone ever entered.

``PatientRecord`` folds the events of one patient. ``apply`` checks each new event against the
current timeline: times that cannot be in that order (balloon before door, door before first
medical contact …) are refused with a ``MilestoneOrderError`` that names both milestones and times.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from centers.errors import MilestoneError, MilestoneOrderError

# A milestone may be stamped slightly after the moment it is recorded: the recording device's clock
# and the time source the crew reads from (monitor, ECG machine) are not synchronised. Two minutes
# covers ordinary drift; anything later is a typo (wrong hour or day) and is refused.
MAX_CLOCK_SKEW = timedelta(minutes=2)


class MilestoneKind(enum.Enum):
    """What happened to the patient. The value is the stable ASCII code used in files and APIs."""

    SYMPTOM_ONSET = ("symptom_onset", "发病时间", "symptom onset")
    LAST_KNOWN_WELL = ("last_known_well", "最后正常时间", "last known well")
    CALL_120 = ("call_120", "120呼救", "120 call received")
    DISPATCH_ORDER = ("dispatch_order", "调度派车", "dispatch order")
    UNIT_DEPARTED = ("unit_departed", "救护车出车", "unit departs")
    FIRST_MEDICAL_CONTACT = ("first_medical_contact", "首次医疗接触", "first medical contact (at patient)")
    FIRST_ECG = ("first_ecg", "首份心电图", "first ECG")
    ECG_TRANSMITTED = ("ecg_transmitted", "心电图远程传输", "ECG transmitted", True)
    STEMI_SUSPECTED = ("stemi_suspected", "疑似STEMI", "STEMI suspected")
    STEMI_DIAGNOSED = ("stemi_diagnosed", "确诊STEMI", "STEMI diagnosed")
    STROKE_SUSPECTED = ("stroke_suspected", "疑似卒中", "stroke suspected")
    STROKE_DIAGNOSED = ("stroke_diagnosed", "确诊缺血性卒中", "ischaemic stroke diagnosed")
    DAPT_LOADING = ("dapt_loading", "双联抗血小板负荷", "DAPT loading dose")
    THROMBOLYSIS_START = ("thrombolysis_start", "溶栓开始", "thrombolysis start (STEMI)")
    CATHLAB_ACTIVATED = ("cathlab_activated", "启动导管室", "cath lab activated")
    SCENE_DEPARTED = ("scene_departed", "离开现场", "departs scene")
    DOOR_IN = ("door_in", "到达医院大门", "hospital door-in")
    DOOR_OUT = ("door_out", "转出医院大门", "door-out (transfer)")
    TRANSFER_DOOR_IN = ("transfer_door_in", "到达接收中心大门", "door-in at receiving center")
    HEAD_CT_START = ("head_ct_start", "头颅CT开始", "head CT start")
    CATHLAB_READY = ("cathlab_ready", "导管室准备就绪", "cath lab ready")
    PATIENT_IN_LAB = ("patient_in_lab", "患者进入导管室", "patient in lab")
    PUNCTURE = ("puncture", "穿刺", "arterial puncture")
    WIRE_CROSSING = ("wire_crossing", "导丝通过", "wire crossing")
    BALLOON = ("balloon", "球囊扩张", "first balloon / device")
    NEEDLE = ("needle", "静脉溶栓给药", "needle (stroke thrombolysis)")
    CENTER_ACKNOWLEDGED = ("center_acknowledged", "中心确认预警", "center acknowledged pre-notification", True)

    def __new__(cls, code: str, label_zh: str, label_en: str, repeatable: bool = False) -> MilestoneKind:
        obj = object.__new__(cls)
        obj._value_ = code
        obj.label_zh = label_zh
        obj.label_en = label_en
        # A repeatable kind may happen several times (several ECGs sent, several acknowledgements);
        # its "current" value is the earliest. Every other kind happens once per patient.
        obj.repeatable = repeatable
        return obj

    @classmethod
    def parse(cls, value: str | MilestoneKind, field_name: str = "kind") -> MilestoneKind:
        """Return the kind named by its code (``"door_in"``), raising a clear error otherwise."""
        if isinstance(value, MilestoneKind):
            return value
        try:
            return cls(value)
        except ValueError as e:
            raise MilestoneError(
                f"{field_name}: {value!r} is not a milestone kind; expected one of "
                f"{', '.join(k.value for k in cls)}"
            ) from e


K = MilestoneKind

# Orders that must hold, as (earlier, later) pairs; equality is allowed. Only the pairs that are true
# for every patient are here: a patient who walked into a health centre and was then transferred by
# 120 has a first medical contact *before* the 120 call, so nothing ties the call to the FMC.
ORDER_RULES: tuple[tuple[MilestoneKind, MilestoneKind], ...] = (
    (K.LAST_KNOWN_WELL, K.SYMPTOM_ONSET),
    (K.SYMPTOM_ONSET, K.FIRST_MEDICAL_CONTACT),
    (K.CALL_120, K.DISPATCH_ORDER),
    (K.DISPATCH_ORDER, K.UNIT_DEPARTED),
    (K.FIRST_MEDICAL_CONTACT, K.FIRST_ECG),
    (K.FIRST_ECG, K.ECG_TRANSMITTED),
    (K.FIRST_ECG, K.STEMI_DIAGNOSED),
    (K.FIRST_ECG, K.CATHLAB_ACTIVATED),
    (K.FIRST_MEDICAL_CONTACT, K.DAPT_LOADING),
    (K.FIRST_MEDICAL_CONTACT, K.THROMBOLYSIS_START),
    (K.FIRST_MEDICAL_CONTACT, K.SCENE_DEPARTED),
    (K.FIRST_MEDICAL_CONTACT, K.DOOR_IN),
    (K.SCENE_DEPARTED, K.DOOR_IN),
    (K.DOOR_IN, K.DOOR_OUT),
    (K.DOOR_OUT, K.TRANSFER_DOOR_IN),
    (K.DOOR_IN, K.HEAD_CT_START),
    (K.HEAD_CT_START, K.NEEDLE),
    (K.DOOR_IN, K.NEEDLE),
    (K.CATHLAB_ACTIVATED, K.CATHLAB_READY),
    (K.DOOR_IN, K.PATIENT_IN_LAB),
    (K.TRANSFER_DOOR_IN, K.PATIENT_IN_LAB),
    (K.PATIENT_IN_LAB, K.PUNCTURE),
    (K.PUNCTURE, K.WIRE_CROSSING),
    (K.WIRE_CROSSING, K.BALLOON),
)


def _closure(rules: Iterable[tuple[MilestoneKind, MilestoneKind]]) -> frozenset[tuple[MilestoneKind, MilestoneKind]]:
    # The transitive closure, so that "door before balloon" is checked even when the milestones in
    # between (patient in lab, puncture, wire) were never recorded.
    later: dict[MilestoneKind, set[MilestoneKind]] = {k: set() for k in MilestoneKind}
    for a, b in rules:
        later[a].add(b)
    changed = True
    while changed:
        changed = False
        for a in MilestoneKind:
            extra = set().union(*(later[b] for b in later[a])) - later[a]
            if extra:
                later[a] |= extra
                changed = True
    pairs = frozenset((a, b) for a in later for b in later[a])
    cyclic = [a for a, b in pairs if a is b]
    if cyclic:  # pragma: no cover - a programming error in ORDER_RULES
        raise AssertionError(f"ORDER_RULES has a cycle through {cyclic}")
    return pairs


ORDER_PAIRS = _closure(ORDER_RULES)
_BEFORE: dict[MilestoneKind, tuple[MilestoneKind, ...]] = {
    k: tuple(a for a, b in ORDER_PAIRS if b is k) for k in MilestoneKind
}
_AFTER: dict[MilestoneKind, tuple[MilestoneKind, ...]] = {
    k: tuple(b for a, b in ORDER_PAIRS if a is k) for k in MilestoneKind
}


class TimeQuality(enum.Enum):
    """How well a milestone's time is known."""

    EXACT = "exact"
    APPROXIMATE = "approximate"  # an estimate ("about two hours ago"): shown, never audited
    UNKNOWN = "unknown"  # not known to the minute; ``at`` is None


class RecorderRole(enum.Enum):
    """Who recorded a milestone."""

    DISPATCHER = "dispatcher"
    CREW = "crew"
    CENTER_STAFF = "center_staff"
    SYSTEM = "system"


@dataclass(frozen=True, slots=True)
class Recorder:
    """The person (or system) that recorded a milestone."""

    role: RecorderRole
    id: str

    def __post_init__(self) -> None:
        if not isinstance(self.role, RecorderRole):
            object.__setattr__(self, "role", _parse_enum(RecorderRole, self.role, "recorded_by.role"))
        if not isinstance(self.id, str) or not self.id:
            raise MilestoneError(f"recorded_by.id: expected a non-empty string, got {self.id!r}")


@dataclass(frozen=True, slots=True)
class Milestone:
    """One milestone event of one patient.

    Attributes
    ----------
    id
        Unique id of this event (a correction refers to it).
    patient_id
        The patient (the dispatch call's patient id).
    kind
        What happened.
    at
        When, tz-aware (normalised to UTC); None when not known to the minute.
    recorded_by
        Who recorded it.
    recorded_at
        When it was recorded, tz-aware UTC.
    time_quality
        ``EXACT`` (audited), ``APPROXIMATE`` (an estimate) or ``UNKNOWN`` (``at`` is None).
    corrects
        The id of the milestone this one corrects, if any.
    retracts
        With ``corrects``: the corrected milestone did not happen (recorded in error).
    hospital_id
        Where it happened, for milestones at a hospital (door-in, door-out, CT, cath lab …).
    note
        Free text (the reason of a correction, for example).
    """

    id: str
    patient_id: str
    kind: MilestoneKind
    at: datetime | None
    recorded_by: Recorder
    recorded_at: datetime
    time_quality: TimeQuality = TimeQuality.EXACT
    corrects: str | None = None
    retracts: bool = False
    hospital_id: str | None = None
    note: str = ""

    def __post_init__(self) -> None:
        for name in ("id", "patient_id"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value:
                raise MilestoneError(f"{name}: expected a non-empty string, got {value!r}")
        object.__setattr__(self, "kind", MilestoneKind.parse(self.kind))
        if not isinstance(self.time_quality, TimeQuality):
            object.__setattr__(self, "time_quality", _parse_enum(TimeQuality, self.time_quality, "time_quality"))
        if not isinstance(self.recorded_by, Recorder):
            raise MilestoneError(f"recorded_by: expected a Recorder, got {self.recorded_by!r}")
        object.__setattr__(self, "recorded_at", _utc(self.recorded_at, "recorded_at"))
        if self.at is None:
            if self.time_quality is not TimeQuality.UNKNOWN and not self.retracts:
                raise MilestoneError(
                    f"milestone {self.id}: at is missing but time_quality is {self.time_quality.value!r}; "
                    "expected a time, or time_quality 'unknown' (not known to the minute)"
                )
        else:
            object.__setattr__(self, "at", _utc(self.at, "at"))
            if self.time_quality is TimeQuality.UNKNOWN:
                raise MilestoneError(
                    f"milestone {self.id}: time_quality is 'unknown' but at is {self.at.isoformat()}; "
                    "expected no time, or time_quality 'exact' / 'approximate'"
                )
            if self.at > self.recorded_at + MAX_CLOCK_SKEW:
                raise MilestoneError(
                    f"milestone {self.id}: at {self.at.isoformat()} is after recorded_at "
                    f"{self.recorded_at.isoformat()}; expected a time no later than when it was recorded "
                    f"(+{int(MAX_CLOCK_SKEW.total_seconds())} s clock skew)"
                )
        if self.retracts and self.corrects is None:
            raise MilestoneError(f"milestone {self.id}: retracts is set but corrects is missing; "
                                 "expected the id of the milestone being retracted")
        if self.corrects is not None and (not isinstance(self.corrects, str) or not self.corrects):
            raise MilestoneError(f"milestone {self.id}: corrects: expected a milestone id, got {self.corrects!r}")
        if self.corrects == self.id:
            raise MilestoneError(f"milestone {self.id}: corrects itself")

    @property
    def exact_at(self) -> datetime | None:
        """Return the time when it is exact (the only times audited), else None."""
        return self.at if self.time_quality is TimeQuality.EXACT else None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form (the JSON-lines and API format)."""
        return {
            "id": self.id,
            "patient_id": self.patient_id,
            "kind": self.kind.value,
            "at": _iso(self.at),
            "time_quality": self.time_quality.value,
            "recorded_by": {"role": self.recorded_by.role.value, "id": self.recorded_by.id},
            "recorded_at": _iso(self.recorded_at),
            "corrects": self.corrects,
            "retracts": self.retracts,
            "hospital_id": self.hospital_id,
            "note": self.note,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Milestone:
        """Build a milestone from its JSON form, naming the field at fault on bad input.

        ``time_quality`` defaults to ``exact`` when ``at`` is given and ``unknown`` when it is null.
        """
        if not isinstance(data, Mapping):
            raise MilestoneError(f"milestone: expected a JSON object, got {type(data).__name__}")
        missing = [k for k in ("id", "patient_id", "kind", "recorded_by", "recorded_at") if k not in data]
        if missing:
            raise MilestoneError(f"milestone {data.get('id', '?')}: missing field(s) {', '.join(missing)}")
        by = data["recorded_by"]
        if not isinstance(by, Mapping) or "role" not in by or "id" not in by:
            raise MilestoneError(f"recorded_by: expected {{'role': ..., 'id': ...}}, got {by!r}")
        at = _parse_time(data.get("at"), "at")
        quality = data.get("time_quality") or ("exact" if at is not None else "unknown")
        hospital_id = data.get("hospital_id")
        if hospital_id is not None and not isinstance(hospital_id, str):
            raise MilestoneError(f"hospital_id: expected a string or null, got {hospital_id!r}")
        retracts = data.get("retracts", False)
        if not isinstance(retracts, bool):
            raise MilestoneError(f"retracts: expected true or false, got {retracts!r}")
        return cls(
            id=data["id"],
            patient_id=data["patient_id"],
            kind=MilestoneKind.parse(data["kind"]),
            at=at,
            recorded_by=Recorder(_parse_enum(RecorderRole, by["role"], "recorded_by.role"), by["id"]),
            recorded_at=_parse_time(data["recorded_at"], "recorded_at", required=True),
            time_quality=_parse_enum(TimeQuality, quality, "time_quality"),
            corrects=data.get("corrects"),
            retracts=retracts,
            hospital_id=hospital_id,
            note=str(data.get("note") or ""),
        )


@dataclass(frozen=True)
class PatientRecord:
    """The fold of one patient's milestone events.

    ``history`` holds every accepted event in the order accepted (the audit trail); ``current(kind)``
    is the value after corrections. Build one with ``PatientRecord.empty(patient_id)`` and
    ``apply``, or ``fold_patients`` for many patients.
    """

    patient_id: str
    history: tuple[Milestone, ...] = ()
    _current: Mapping[MilestoneKind, tuple[Milestone, ...]] = field(default_factory=dict, repr=False, compare=False)
    _superseded_by: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def empty(cls, patient_id: str) -> PatientRecord:
        """Return the record of a patient with no milestone yet."""
        if not isinstance(patient_id, str) or not patient_id:
            raise MilestoneError(f"patient_id: expected a non-empty string, got {patient_id!r}")
        return cls(patient_id)

    def apply(self, m: Milestone) -> PatientRecord:
        """Return the record with ``m`` accepted.

        Raises
        ------
        MilestoneError
            ``m`` belongs to another patient, repeats an id, records a once-only kind a second time
            without correcting it, or corrects a milestone that is unknown, of another kind or already
            corrected.
        MilestoneOrderError
            ``m``'s time breaks an order that must hold against the current timeline.
        """
        if m.patient_id != self.patient_id:
            raise MilestoneError(
                f"milestone {m.id}: patient_id {m.patient_id!r} does not match the record's {self.patient_id!r}"
            )
        by_id = {h.id: h for h in self.history}
        if m.id in by_id:
            raise MilestoneError(f"milestone {m.id}: id already recorded for patient {self.patient_id}")
        current = dict(self._current)
        superseded = dict(self._superseded_by)
        effective = list(current.get(m.kind, ()))
        if m.corrects is not None:
            old = by_id.get(m.corrects)
            if old is None:
                raise MilestoneError(
                    f"milestone {m.id}: corrects {m.corrects!r}, which is not a milestone of patient {self.patient_id}"
                )
            if old.kind is not m.kind:
                raise MilestoneError(
                    f"milestone {m.id}: a {m.kind.value} cannot correct {old.id}, a {old.kind.value}; "
                    "expected a correction of the same kind (retract the wrong one and record the right one)"
                )
            if old.id in superseded:
                raise MilestoneError(
                    f"milestone {m.id}: {old.id} was already corrected by {superseded[old.id]}; "
                    f"correct {superseded[old.id]} instead"
                )
            superseded[old.id] = m.id
            effective = [e for e in effective if e.id != old.id]
        elif effective and not m.kind.repeatable:
            prev = effective[0]
            raise MilestoneError(
                f"milestone {m.id}: {m.kind.value} is already recorded for patient {self.patient_id} "
                f"as {prev.id} at {_iso(prev.at)}; expected a correction (corrects={prev.id!r})"
            )
        if not m.retracts:
            self._check_order(m, current)
            effective.append(m)
        effective.sort(key=lambda e: (e.at is None, e.at or datetime.min.replace(tzinfo=timezone.utc)))
        if effective:
            current[m.kind] = tuple(effective)
        else:
            current.pop(m.kind, None)
        return PatientRecord(self.patient_id, self.history + (m,), current, superseded)

    def _check_order(self, m: Milestone, current: Mapping[MilestoneKind, tuple[Milestone, ...]]) -> None:
        t = m.exact_at
        if t is None:
            return
        for other_kind, must_be_before in [(k, True) for k in _BEFORE[m.kind]] + [(k, False) for k in _AFTER[m.kind]]:
            others = [o for o in current.get(other_kind, ()) if o.exact_at is not None and o.id != m.corrects]
            for o in others:
                bad = o.exact_at > t if must_be_before else o.exact_at < t
                if bad:
                    first, second = (o, m) if must_be_before else (m, o)
                    raise MilestoneOrderError(
                        f"milestone {m.id}: {second.kind.value} at {_iso(second.at)} is before "
                        f"{first.kind.value} at {_iso(first.at)} (milestone {o.id}); expected "
                        f"{second.kind.value} at or after {first.kind.value}"
                    )

    def current(self, kind: MilestoneKind | str) -> Milestone | None:
        """Return the milestone of ``kind`` after corrections (the earliest, for repeatable kinds)."""
        found = self._current.get(MilestoneKind.parse(kind))
        return found[0] if found else None

    def all_current(self, kind: MilestoneKind | str) -> tuple[Milestone, ...]:
        """Return every effective milestone of ``kind`` (several only for repeatable kinds)."""
        return tuple(self._current.get(MilestoneKind.parse(kind), ()))

    def time(self, kind: MilestoneKind | str) -> datetime | None:
        """Return the exact time of ``kind`` after corrections, None when absent or not exact."""
        m = self.current(kind)
        return m.exact_at if m is not None else None

    def has(self, kind: MilestoneKind | str) -> bool:
        """Return whether ``kind`` is recorded (with or without a known time)."""
        return self.current(kind) is not None

    def corrections_of(self, milestone_id: str) -> tuple[Milestone, ...]:
        """Return the chain of corrections that followed ``milestone_id``, oldest first."""
        chain: list[Milestone] = []
        by_id = {h.id: h for h in self.history}
        nxt = self._superseded_by.get(milestone_id)
        while nxt is not None:
            chain.append(by_id[nxt])
            nxt = self._superseded_by.get(nxt)
        return tuple(chain)

    def timeline(self) -> list[Milestone]:
        """Return the current milestones sorted by time (unknown times last)."""
        items = [m for ms in self._current.values() for m in ms]
        return sorted(items, key=lambda m: (m.at is None, m.at or datetime.min.replace(tzinfo=timezone.utc)))


@dataclass(frozen=True, slots=True)
class Rejection:
    """A milestone event that was not accepted, and why."""

    milestone: Milestone
    message: str


@dataclass(frozen=True)
class FoldResult:
    """Patients folded from a stream of events, and the events refused on the way."""

    records: Mapping[str, PatientRecord]
    rejected: tuple[Rejection, ...]


def fold_patients(events: Iterable[Milestone]) -> FoldResult:
    """Fold milestone events, in the given (log) order, into one record per patient.

    An event that cannot be accepted is kept in ``rejected`` with the reason; the rest of the patient's
    events still apply (the stream of a live service is never stopped by one bad entry).
    """
    records: dict[str, PatientRecord] = {}
    rejected: list[Rejection] = []
    for m in events:
        rec = records.get(m.patient_id) or PatientRecord.empty(m.patient_id)
        try:
            records[m.patient_id] = rec.apply(m)
        except MilestoneError as e:
            rejected.append(Rejection(m, str(e)))
    return FoldResult(records, tuple(rejected))


def _utc(value: Any, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise MilestoneError(f"{name}: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise MilestoneError(f"{name}: {value.isoformat()} has no time zone; expected a tz-aware UTC time")
    return value.astimezone(timezone.utc)


def _parse_time(value: Any, name: str, required: bool = False) -> datetime | None:
    if value is None:
        if required:
            raise MilestoneError(f"{name}: missing; expected an ISO 8601 time with a zone")
        return None
    if isinstance(value, datetime):
        return _utc(value, name)
    if not isinstance(value, str):
        raise MilestoneError(f"{name}: expected an ISO 8601 time string, got {value!r}")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise MilestoneError(f"{name}: {value!r} is not an ISO 8601 time") from e
    return _utc(parsed, name)


def _parse_enum(enum_cls: type[enum.Enum], value: Any, name: str) -> Any:
    try:
        return enum_cls(value)
    except ValueError as e:
        raise MilestoneError(
            f"{name}: {value!r} is not valid; expected one of {', '.join(str(v.value) for v in enum_cls)}"
        ) from e


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")
