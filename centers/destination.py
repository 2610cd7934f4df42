"""Choose the destination hospital of a patient: a pure policy shared by the service and the simulator.

The rules (issue #centers, item 3)
---------------------------------
- **STEMI** → the nearest PCI-capable center (24/7 unless configured otherwise) when the expected first
  medical contact to device time is within ``fmc_to_device_limit_s`` (120 min: ACC/AHA-2013,
  ESC-2017, CN-STEMI-2019, see ``centers.targets``); otherwise the nearest thrombolysis-capable
  hospital, with a transfer to the PCI center after lysis (pharmaco-invasive strategy). A STEMI whose
  cath lab was activated from the field bypasses the emergency department.
- **Stroke** with a positive large-vessel-occlusion screen (BE-FAST positive and RACE ≥ 5 or LAMS ≥ 4)
  and last known well within 24 h → the nearest thrombectomy-capable center if going there adds at most
  ``thrombectomy_extra_limit_s`` (15 min) over the nearest thrombolysis-capable hospital; otherwise
  the nearest thrombolysis-capable hospital (drip and ship, transfer to the thrombectomy center).
  Other strokes → the nearest thrombolysis-capable hospital.
- **Anything else** (and chest pain without STEMI) → the nearest hospital with an emergency department.
- The patient's (family's) choice overrides the policy, with a recorded reason (就近、就急、自愿: the
  county's dispatch principle, seed 000).

The FMC → device estimate
-------------------------
``fmc_elapsed_s + scene_time_left_s + travel_time_s + door_to_device_s``: time since first medical
contact so far, the time still needed on scene, the transport time to the candidate center, and an
assumed door-to-device time for a pre-notified patient (``door_to_device_prenotified_s``, 30 min by
default: the Ningxiang seed reports 25 min door to balloon for a pre-notified patient; the county's
mean of 63.6 min includes patients who were not). A patient whose cath lab was activated from the field
uses ``door_to_device_bypass_s`` (the lab is waiting). With no FMC time yet (the call is being taken),
the unit's expected time to the patient is the caller's to add to ``fmc_elapsed_s`` (0 is the floor).

The policy calls ``travel_time_s`` once per hospital and does nothing heavier than sorting a short list.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from centers.errors import DestinationError

COMPLAINTS = ("chest_pain", "stroke", "trauma", "obstetric", "pediatric", "other")


class HospitalLike(Protocol):
    """What the policy reads from a hospital (``geodata.county.Hospital`` provides it)."""

    id: str
    name: str
    capabilities: frozenset[str]
    pci_24_7: bool
    lon: float
    lat: float


@dataclass(frozen=True, slots=True)
class DestinationConfig:
    """Tunable assumptions of the destination policy (all times in seconds).

    Attributes
    ----------
    fmc_to_device_limit_s
        Largest expected FMC → device time for which primary PCI is chosen (120 min, see module doc).
    door_to_device_prenotified_s
        Assumed door → device time for a pre-notified STEMI (30 min).
    door_to_device_bypass_s
        Assumed door → device time when the cath lab was activated from the field (20 min: the
        seed's 25-minute door-to-balloon was such a patient, less the time the team took to gather).
    thrombectomy_extra_limit_s
        Extra transport accepted to reach a thrombectomy center for a suspected LVO (15 min).
    lkw_limit_s
        Last known well limit for thrombectomy (24 h: DAWN/DEFUSE-3 window, AHA/ASA-2019).
    race_lvo_min
        RACE score suggesting a large-vessel occlusion (≥ 5, Pérez de la Ossa et al., Stroke 2014).
    lams_lvo_min
        LAMS score suggesting a large-vessel occlusion (≥ 4, Nazliel et al., Stroke 2008).
    require_pci_24_7
        Count only PCI centers open day and night (the policy has no clock to know a daytime lab is open).
    """

    fmc_to_device_limit_s: float = 120 * 60.0
    door_to_device_prenotified_s: float = 30 * 60.0
    door_to_device_bypass_s: float = 20 * 60.0
    thrombectomy_extra_limit_s: float = 15 * 60.0
    lkw_limit_s: float = 24 * 3600.0
    race_lvo_min: int = 5
    lams_lvo_min: int = 4
    require_pci_24_7: bool = True

    def __post_init__(self) -> None:
        for name in ("fmc_to_device_limit_s", "door_to_device_prenotified_s", "door_to_device_bypass_s",
                     "thrombectomy_extra_limit_s", "lkw_limit_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise DestinationError(f"centers config {name}: expected a finite number >= 0, got {value!r}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> DestinationConfig:
        """Build from a config table (``[centers.destination]``), naming any unknown key."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise DestinationError(
                f"centers config: unknown key(s) {', '.join(unknown)}; expected "
                f"{', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**data)


DEFAULT_CONFIG = DestinationConfig()


@dataclass(frozen=True, slots=True)
class DestinationInput:
    """What the policy knows about the patient when choosing.

    Attributes
    ----------
    complaint
        One of ``COMPLAINTS`` (the dispatch core's strings).
    stemi
        STEMI suspected or confirmed (field ECG).
    fmc_elapsed_s
        Time since first medical contact (0 before contact).
    scene_time_left_s
        Time still to spend on scene before departure.
    field_cathlab_activated
        The crew activated the cath lab from the field.
    befast_positive, race_score, lams_score
        Stroke screening; None when not done.
    lkw_elapsed_s
        Time since the patient was last known well; None when unknown.
    patient_choice
        A hospital id the patient or family insists on, with ``choice_reason``.
    """

    complaint: str
    stemi: bool = False
    fmc_elapsed_s: float = 0.0
    scene_time_left_s: float = 0.0
    field_cathlab_activated: bool = False
    befast_positive: bool | None = None
    race_score: int | None = None
    lams_score: int | None = None
    lkw_elapsed_s: float | None = None
    patient_choice: str | None = None
    choice_reason: str | None = None

    def __post_init__(self) -> None:
        if self.complaint not in COMPLAINTS:
            raise DestinationError(
                f"complaint: {self.complaint!r} is not known; expected one of {', '.join(COMPLAINTS)}"
            )
        for name in ("fmc_elapsed_s", "scene_time_left_s"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise DestinationError(f"{name}: expected a finite number of seconds >= 0, got {value!r}")
        if self.lkw_elapsed_s is not None and (not math.isfinite(self.lkw_elapsed_s) or self.lkw_elapsed_s < 0):
            raise DestinationError(f"lkw_elapsed_s: expected seconds >= 0 or None, got {self.lkw_elapsed_s!r}")
        if self.race_score is not None and not 0 <= self.race_score <= 9:
            raise DestinationError(f"race_score: expected 0-9, got {self.race_score!r}")
        if self.lams_score is not None and not 0 <= self.lams_score <= 5:
            raise DestinationError(f"lams_score: expected 0-5, got {self.lams_score!r}")
        if self.patient_choice is not None and not (self.choice_reason or "").strip():
            raise DestinationError(
                f"choice_reason: the patient's choice {self.patient_choice!r} needs a recorded reason, got "
                f"{self.choice_reason!r}"
            )


class ReasonCode(enum.Enum):
    """Why a destination was chosen; ``zh`` and ``en`` are the texts shown to crews and centers."""

    DIRECT_PCI = ("direct_pci", "STEMI：预计FMC至器械≤{limit}分钟，直送PCI中心",
                  "STEMI: expected FMC-to-device within {limit} min, direct to PCI center")
    LYSIS_THEN_TRANSFER = ("lysis_then_transfer", "STEMI：预计FMC至器械超过{limit}分钟，就近溶栓后转运PCI",
                           "STEMI: FMC-to-device over {limit} min, thrombolysis at the nearest capable "
                           "hospital then transfer for PCI")
    PCI_OVER_LIMIT = ("pci_over_limit", "STEMI：预计FMC至器械超过{limit}分钟，但无更近的可溶栓医院，仍送PCI中心",
                      "STEMI: FMC-to-device over {limit} min but no nearer thrombolysis-capable hospital, PCI "
                      "center (thrombolysis there if PCI is delayed)")
    NO_PCI_REACHABLE = ("no_pci_reachable", "STEMI：无可及的PCI中心，就近溶栓",
                        "STEMI: no PCI center reachable, nearest thrombolysis-capable hospital")
    LVO_THROMBECTOMY = ("lvo_thrombectomy", "疑似大血管闭塞，送取栓中心（多用时≤{extra}分钟）",
                        "suspected large-vessel occlusion: thrombectomy center (adds at most {extra} min)")
    LVO_NEAREST_LYSIS = ("lvo_nearest_lysis", "疑似大血管闭塞，取栓中心过远，就近溶栓后转运",
                         "suspected large-vessel occlusion: thrombectomy center too far, nearest "
                         "thrombolysis-capable hospital then transfer")
    STROKE_NEAREST_LYSIS = ("stroke_nearest_lysis", "卒中：就近送可溶栓医院",
                            "stroke: nearest thrombolysis-capable hospital")
    NEAREST_ED = ("nearest_ed", "就近送有急诊的医院", "nearest hospital with an emergency department")
    NO_CAPABLE_REACHABLE = ("no_capable_reachable", "无可及的专科中心，就近送急诊",
                            "no capable center reachable: nearest emergency department")
    PATIENT_CHOICE = ("patient_choice", "患者（家属）选择：{reason}", "patient's (family's) choice: {reason}")

    def __new__(cls, code: str, zh: str, en: str) -> ReasonCode:
        obj = object.__new__(cls)
        obj._value_ = code
        obj.zh = zh
        obj.en = en
        return obj


@dataclass(frozen=True, slots=True)
class Alternative:
    """A reachable hospital the policy considered."""

    hospital_id: str
    travel_time_s: float
    capabilities: frozenset[str]


@dataclass(frozen=True, slots=True)
class DestinationDecision:
    """Where to take the patient and why.

    Attributes
    ----------
    hospital_id
        The destination.
    reason_code, reason_zh, reason_en
        Why; ``reason`` joins the two texts.
    bypass_ed
        Go straight to the cath lab (a field-activated STEMI).
    transfer_to
        The center the patient is expected to be transferred to afterwards, if any.
    alternatives
        Every reachable hospital, nearest first.
    expected_fmc_to_device_s
        The estimate behind a STEMI decision (to the PCI center), else None.
    policy_hospital_id
        What the policy would have chosen (differs from ``hospital_id`` on a patient's choice).
    """

    hospital_id: str
    reason_code: ReasonCode
    reason_zh: str
    reason_en: str
    bypass_ed: bool
    transfer_to: str | None
    alternatives: list[Alternative] = field(default_factory=list)
    expected_fmc_to_device_s: float | None = None
    policy_hospital_id: str | None = None

    @property
    def reason(self) -> str:
        """Return the reason in Chinese and English."""
        return f"{self.reason_zh} / {self.reason_en}"


def lvo_screen_positive(patient: DestinationInput, config: DestinationConfig = DEFAULT_CONFIG) -> bool:
    """Return whether the stroke screen suggests a large-vessel occlusion (BE-FAST and RACE or LAMS)."""
    if not patient.befast_positive:
        return False
    race = patient.race_score is not None and patient.race_score >= config.race_lvo_min
    lams = patient.lams_score is not None and patient.lams_score >= config.lams_lvo_min
    return race or lams


def choose_destination(
    patient: DestinationInput,
    hospitals: Iterable[HospitalLike],
    travel_time_s: Callable[[str], float | None],
    *,
    config: DestinationConfig | None = None,
) -> DestinationDecision:
    """Choose the destination hospital for a patient.

    Parameters
    ----------
    patient
        What is known of the patient.
    hospitals
        Candidate hospitals (``.id``, ``.capabilities``, ``.pci_24_7`` are read). Those of
        `deciding_hospitals` give the same decision as all of them (with fewer ``alternatives``).
    travel_time_s
        Transport time from the patient to a hospital id, None when unreachable (the routing engine's).
    config
        Policy assumptions; ``DEFAULT_CONFIG`` when None.

    Raises
    ------
    DestinationError
        No hospital is reachable, a travel time is negative, or the patient's choice is not a
        reachable hospital.
    """
    config = config or DEFAULT_CONFIG
    reachable = _reachable(hospitals, travel_time_s)
    if not reachable:
        raise DestinationError("hospitals: none is reachable from the patient; expected at least one")
    alternatives = [Alternative(h.id, t, frozenset(h.capabilities)) for t, h in reachable]

    decision = _policy(patient, reachable, config, alternatives)
    if patient.patient_choice is None or patient.patient_choice == decision.hospital_id:
        return decision
    if patient.patient_choice not in {h.id for _, h in reachable}:
        raise DestinationError(
            f"patient_choice: {patient.patient_choice!r} is not a reachable hospital; expected one of "
            f"{', '.join(h.id for _, h in reachable)}"
        )
    reason = (patient.choice_reason or "").strip()
    return DestinationDecision(
        hospital_id=patient.patient_choice,
        reason_code=ReasonCode.PATIENT_CHOICE,
        reason_zh=ReasonCode.PATIENT_CHOICE.zh.format(reason=reason),
        reason_en=ReasonCode.PATIENT_CHOICE.en.format(reason=reason),
        bypass_ed=False,
        transfer_to=None,
        alternatives=alternatives,
        expected_fmc_to_device_s=decision.expected_fmc_to_device_s,
        policy_hospital_id=decision.hospital_id,
    )


def deciding_hospitals(
    hospitals: Iterable[HospitalLike],
    travel_time_s: Callable[[str], float | None],
    *,
    config: DestinationConfig | None = None,
) -> tuple[HospitalLike, ...]:
    """Return the hospitals that can be chosen from one place: the nearest of each kind the policy reads.

    The policy only ever takes the nearest reachable hospital of a kind (with an ED, with
    thrombolysis, with PCI, with thrombectomy, or of any kind as the last fallback), nearest
    first with ties broken by id. Given only the hospitals returned here, `choose_destination`
    makes the same decision for every patient without a ``patient_choice`` as given all of
    them; only ``alternatives`` is shorter. For callers that choose many times from one place
    (the simulator): compute this once per place.

    Parameters
    ----------
    hospitals, travel_time_s, config
        As for `choose_destination` (``travel_time_s`` is called once per hospital).

    Returns
    -------
    tuple
        The deciding hospitals, nearest first (empty when none is reachable).

    Raises
    ------
    DestinationError
        A travel time is negative or not finite.
    """
    config = config or DEFAULT_CONFIG
    reachable = _reachable(hospitals, travel_time_s)
    if not reachable:
        return ()
    kinds = _kinds(config)
    keep = {id(reachable[0][1])}
    for ok in kinds:
        found = _nearest(reachable, ok)
        if found is not None:
            keep.add(id(found[1]))
    return tuple(h for _, h in reachable if id(h) in keep)


Ranked = list[tuple[float, HospitalLike]]


def _reachable(hospitals: Iterable[HospitalLike], travel_time_s: Callable[[str], float | None]) -> Ranked:
    """Return ``(travel_time_s, hospital)`` of the reachable hospitals, nearest first, ties by id."""
    reachable: Ranked = []
    for h in hospitals:
        t = travel_time_s(h.id)
        if t is None:
            continue
        if not math.isfinite(t) or t < 0:
            raise DestinationError(f"travel_time_s({h.id!r}): expected seconds >= 0 or None, got {t!r}")
        reachable.append((float(t), h))
    reachable.sort(key=_by_time_then_id)
    return reachable


def _by_time_then_id(th: tuple[float, HospitalLike]) -> tuple[float, str]:
    return th[0], th[1].id


# The kinds of hospital the policy looks for (`_policy` reads the nearest of each, and nothing else).
def _has_ed(h: HospitalLike) -> bool:
    return "ed" in h.capabilities


def _has_lysis(h: HospitalLike) -> bool:
    return "thrombolysis" in h.capabilities


def _has_evt(h: HospitalLike) -> bool:
    return "thrombectomy" in h.capabilities


def _has_pci_24_7(h: HospitalLike) -> bool:
    return "pci" in h.capabilities and h.pci_24_7


def _has_pci(h: HospitalLike) -> bool:
    return "pci" in h.capabilities


def _pci_kind(c: DestinationConfig) -> Callable[[HospitalLike], bool]:
    return _has_pci_24_7 if c.require_pci_24_7 else _has_pci


def _kinds(c: DestinationConfig) -> tuple[Callable[[HospitalLike], bool], ...]:
    return (_has_ed, _has_lysis, _pci_kind(c), _has_evt)


def _nearest(reachable: Ranked, ok: Callable[[HospitalLike], bool]) -> tuple[float, HospitalLike] | None:
    for th in reachable:
        if ok(th[1]):
            return th
    return None


def _policy(p: DestinationInput, reachable: Ranked, c: DestinationConfig, alternatives: list[Alternative]) -> DestinationDecision:
    def decide(h: HospitalLike, code: ReasonCode, *, bypass_ed: bool = False, transfer_to: str | None = None,
               fmc_to_device_s: float | None = None, **fmt: Any) -> DestinationDecision:
        zh, en = (code.zh.format(**fmt), code.en.format(**fmt)) if fmt else (code.zh, code.en)
        return DestinationDecision(h.id, code, zh, en, bypass_ed, transfer_to, alternatives, fmc_to_device_s, h.id)

    ed = _nearest(reachable, _has_ed)
    fallback = ed or reachable[0]
    lysis = _nearest(reachable, _has_lysis)

    if p.complaint == "chest_pain" and p.stemi:
        pci = _nearest(reachable, _pci_kind(c))
        limit_min = round(c.fmc_to_device_limit_s / 60)
        if pci is None:
            if lysis is None:
                return decide(fallback[1], ReasonCode.NO_CAPABLE_REACHABLE)
            return decide(lysis[1], ReasonCode.NO_PCI_REACHABLE)
        d2d = c.door_to_device_bypass_s if p.field_cathlab_activated else c.door_to_device_prenotified_s
        expected = p.fmc_elapsed_s + p.scene_time_left_s + pci[0] + d2d
        if expected <= c.fmc_to_device_limit_s:
            return decide(pci[1], ReasonCode.DIRECT_PCI, bypass_ed=p.field_cathlab_activated,
                          fmc_to_device_s=expected, limit=limit_min)
        if lysis is None or lysis[1].id == pci[1].id:
            return decide(pci[1], ReasonCode.PCI_OVER_LIMIT, bypass_ed=p.field_cathlab_activated,
                          fmc_to_device_s=expected, limit=limit_min)
        # The transfer target is the PCI center nearest the patient: the policy only has travel
        # times from the patient; in a county the two are the same center.
        return decide(lysis[1], ReasonCode.LYSIS_THEN_TRANSFER, transfer_to=pci[1].id,
                      fmc_to_device_s=expected, limit=limit_min)

    if p.complaint == "stroke":
        if lysis is None:
            return decide(fallback[1], ReasonCode.NO_CAPABLE_REACHABLE)
        within_window = p.lkw_elapsed_s is not None and p.lkw_elapsed_s <= c.lkw_limit_s
        if lvo_screen_positive(p, c) and within_window:
            evt = _nearest(reachable, _has_evt)
            if evt is not None and evt[0] - lysis[0] <= c.thrombectomy_extra_limit_s:
                return decide(evt[1], ReasonCode.LVO_THROMBECTOMY, extra=round(c.thrombectomy_extra_limit_s / 60))
            return decide(lysis[1], ReasonCode.LVO_NEAREST_LYSIS, transfer_to=evt[1].id if evt else None)
        return decide(lysis[1], ReasonCode.STROKE_NEAREST_LYSIS)

    if ed is None:
        return decide(fallback[1], ReasonCode.NO_CAPABLE_REACHABLE)
    return decide(ed[1], ReasonCode.NEAREST_ED)
