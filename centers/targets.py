"""The audited intervals and their targets, each with what the source says and where it says it.

Sources (abbreviations used below)
----------------------------------
CPC-2015 / CPC-2021
    中国胸痛中心认证标准 (China Chest Pain Center accreditation standard), 中国胸痛中心认证工作委员会,
    2015 version and its 2021 revision (标准版, with the 基层版 for hospitals without PCI). The standard
    audits the times below on every STEMI patient and requires that the target is met in at least 75 %
    of patients (达标率 ≥ 75 %); a mean alone does not pass.
CN-STEMI-2019
    中国急性ST段抬高型心肌梗死诊断和治疗指南 (2019), 中华医学会心血管病学分会, 中华心血管病杂志
    2019;47(10):766-783.
ESC-2017
    2017 ESC Guidelines for the management of acute myocardial infarction in patients presenting with
    ST-segment elevation (Ibanez et al., Eur Heart J 2018;39:119-177), Table "Summary of important
    time targets". ESC has no 2019 STEMI guideline; the 2017 one was in force until the 2023 ACS
    guideline, which keeps these targets.
ACC/AHA-2013
    2013 ACCF/AHA Guideline for the Management of ST-Elevation Myocardial Infarction (O'Gara et al.,
    Circulation 2013;127:e362-e425); the American STEMI guideline current with ESC-2017.
AHA/ASA-2019
    Guidelines for the Early Management of Patients With Acute Ischemic Stroke: 2019 Update to the 2018
    Guidelines (Powers et al., Stroke 2019;50:e344-e418), with the time goals of AHA/ASA Target: Stroke
    (door-to-needle ≤ 60 min, stretch ≤ 45 min) and the NINDS in-hospital goals it refers to (door to
    CT ≤ 25 min).
CN-STROKE-2018
    中国急性缺血性脑卒中诊治指南2018, 中华医学会神经病学分会, 中华神经科杂志 2018;51(9):666-682,
    and the 国家卫健委脑卒中防治工程委员会 stroke center standards (卒中中心建设标准) that audit the same times.
NHC-2020-19
    国家卫生健康委 等《关于印发进一步完善院前医疗急救服务指导意见的通知》(国卫医发〔2020〕19号):
    by 2025, 急救呼叫10秒接听率100%, 3分钟出车率95%.

The wording given for each target is our summary of the clause, not a quotation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from centers.errors import CentersError
from centers.milestones import MilestoneKind as K

# The China Chest Pain Center rule: a time target is met when at least 75 % of patients meet it.
CPC_REQUIRED_SHARE = 0.75


class Pathway(enum.Enum):
    """The clinical pathway a patient is on."""

    STEMI = "stemi"
    STROKE = "stroke"


class Scope(enum.Enum):
    """Which patients an interval is audited on (the predicates are in ``centers.intervals``)."""

    STEMI = "stemi"  # STEMI suspected or diagnosed
    STEMI_DIAGNOSED = "stemi_diagnosed"
    PRIMARY_PCI = "primary_pci"  # STEMI diagnosed, taken to the cath lab, no thrombolysis first
    PRIMARY_PCI_DIRECT = "primary_pci_direct"  # ... straight to the PCI center
    PRIMARY_PCI_TRANSFER = "primary_pci_transfer"  # ... through another hospital
    STEMI_TRANSFER = "stemi_transfer"  # STEMI left a first hospital for another
    STEMI_HOSPITAL_LYSIS = "stemi_hospital_lysis"  # STEMI thrombolysed in hospital (not in the field)
    CATHLAB_ACTIVATION = "cathlab_activation"
    DISPATCHED = "dispatched"  # a 120 unit was ordered
    STROKE = "stroke"  # stroke suspected or diagnosed
    STROKE_LYSIS = "stroke_lysis"
    STROKE_THROMBECTOMY = "stroke_thrombectomy"


class Site(enum.Enum):
    """Which hospital an interval belongs to, for a center's report."""

    FIRST_HOSPITAL = "first_hospital"  # the hospital of ``door_in``
    TREATING_HOSPITAL = "treating_hospital"  # the receiving center after a transfer, else the first


@dataclass(frozen=True, slots=True)
class IntervalDef:
    """An audited interval: from the first recorded ``start`` kind to the first recorded ``end`` kind.

    Attributes
    ----------
    code
        Stable ASCII code (report columns, API).
    start, end
        Milestone kinds, in order of preference: the first one recorded is used (a missing or
        inexact time there makes the interval missing).
    target_min
        The target, in minutes; an interval meets it when ``minutes <= target_min``.
    stretch_min
        A stricter goal the source also names, if any.
    required_share
        Share of patients that must meet the target for the source to count it as met.
    says, source
        What the target says, and where from.
    """

    code: str
    label_zh: str
    label_en: str
    pathway: Pathway | None
    scope: Scope
    site: Site
    start: tuple[K, ...]
    end: tuple[K, ...]
    target_min: float
    says: str
    source: str
    stretch_min: float | None = None
    required_share: float = CPC_REQUIRED_SHARE


TREATING_DOOR = (K.TRANSFER_DOOR_IN, K.DOOR_IN)

INTERVALS: tuple[IntervalDef, ...] = (
    IntervalDef(
        "order_to_departure", "派车至出车", "120 order to unit departs", None, Scope.DISPATCHED,
        Site.FIRST_HOSPITAL, (K.DISPATCH_ORDER,), (K.UNIT_DEPARTED,), 3,
        says="An ambulance leaves within 3 minutes of the dispatch order in 95 % of calls (3分钟出车率95%).",
        source="NHC-2020-19 (国卫医发〔2020〕19号)", required_share=0.95,
    ),
    IntervalDef(
        "fmc_to_ecg", "首次医疗接触至首份心电图", "FMC to first ECG", Pathway.STEMI, Scope.STEMI,
        Site.FIRST_HOSPITAL, (K.FIRST_MEDICAL_CONTACT,), (K.FIRST_ECG,), 10,
        says="A 12-lead ECG within 10 minutes of first medical contact for every patient with chest pain.",
        source="CPC-2015/2021 (首份心电图时间 ≤ 10 分钟); ESC-2017 (FMC to ECG and diagnosis ≤ 10 min); "
        "CN-STEMI-2019",
    ),
    IntervalDef(
        "ecg_to_diagnosis", "首份心电图至确诊", "first ECG to STEMI diagnosis", Pathway.STEMI,
        Scope.STEMI_DIAGNOSED, Site.FIRST_HOSPITAL, (K.FIRST_ECG,), (K.STEMI_DIAGNOSED,), 10,
        says="STEMI diagnosed within 10 minutes of the first ECG (remote reading of a transmitted ECG counts).",
        source="CPC-2015/2021 (首份心电图至确诊时间 ≤ 10 分钟); ESC-2017",
    ),
    IntervalDef(
        "door_to_balloon", "进门至球囊扩张", "door to balloon", Pathway.STEMI, Scope.PRIMARY_PCI,
        Site.TREATING_HOSPITAL, TREATING_DOOR, (K.BALLOON,), 90, stretch_min=60,
        says="Primary PCI: door of the PCI center to first balloon/device ≤ 90 min in ≥ 75 % of patients; "
        "≤ 60 min is the goal for patients who present at the PCI center.",
        source="CPC-2015/2021 (D2B/D2W ≤ 90 分钟, 达标率 ≥ 75%); ACC/AHA-2013 (door-to-device ≤ 90 min); "
        "ESC-2017 (≤ 60 min from diagnosis to wire at a PCI center); CN-STEMI-2019",
    ),
    IntervalDef(
        "door_to_wire", "进门至导丝通过", "door to wire", Pathway.STEMI, Scope.PRIMARY_PCI,
        Site.TREATING_HOSPITAL, TREATING_DOOR, (K.WIRE_CROSSING,), 90, stretch_min=60,
        says="The chest pain center standard audits door to wire crossing (D2W) with the D2B target.",
        source="CPC-2015/2021 (门-导丝时间 ≤ 90 分钟, 达标率 ≥ 75%); ESC-2017 (wire crossing is the "
        "reperfusion time point)",
    ),
    IntervalDef(
        "fmc_to_device_direct", "首次医疗接触至器械（直达）", "FMC to device (direct)", Pathway.STEMI,
        Scope.PRIMARY_PCI_DIRECT, Site.TREATING_HOSPITAL, (K.FIRST_MEDICAL_CONTACT,), (K.BALLOON,), 90,
        says="A STEMI taken by EMS straight to a PCI center: first medical contact to device ≤ 90 min.",
        source="ACC/AHA-2013 (FMC-to-device ≤ 90 min, Class I); ESC-2017 (≤ 90 min from pre-hospital "
        "diagnosis to wire); CN-STEMI-2019",
    ),
    IntervalDef(
        "fmc_to_device_transfer", "首次医疗接触至器械（转运）", "FMC to device (transfer)", Pathway.STEMI,
        Scope.PRIMARY_PCI_TRANSFER, Site.TREATING_HOSPITAL, (K.FIRST_MEDICAL_CONTACT,), (K.BALLOON,), 120,
        says="Primary PCI is chosen over thrombolysis when first medical contact to device can be ≤ 120 min, "
        "including a transfer from a non-PCI hospital.",
        source="ACC/AHA-2013 (first door to device ≤ 120 min for transfers); ESC-2017 (120 min maximum "
        "delay to choose PCI); CN-STEMI-2019 (FMC 至导丝通过 ≤ 120 min 时转运 PCI); CPC-2015/2021",
    ),
    IntervalDef(
        "door_in_door_out", "进门至出门（转诊）", "door-in to door-out", Pathway.STEMI, Scope.STEMI_TRANSFER,
        Site.FIRST_HOSPITAL, (K.DOOR_IN,), (K.DOOR_OUT,), 30,
        says="A STEMI patient at a non-PCI hospital leaves for the PCI center within 30 min of arriving.",
        source="ESC-2017 (DIDO ≤ 30 min); ACC/AHA-2013 (DIDO ≤ 30 min); CPC-2015/2021 基层版 "
        "(进门-出门 ≤ 30 分钟)",
    ),
    IntervalDef(
        "stemi_door_to_needle", "STEMI进门至溶栓", "STEMI door to needle", Pathway.STEMI,
        Scope.STEMI_HOSPITAL_LYSIS, Site.FIRST_HOSPITAL, (K.DOOR_IN,), (K.THROMBOLYSIS_START,), 30,
        says="When PCI cannot be done in time, thrombolysis starts within 30 min of arrival.",
        source="ACC/AHA-2013 (door-to-needle ≤ 30 min); CN-STEMI-2019 (入门至溶栓 ≤ 30 min); CPC-2015/2021 "
        "基层版 (D2N ≤ 30 分钟); ESC-2017 (≤ 10 min from diagnosis to bolus)",
    ),
    IntervalDef(
        "cathlab_activation_to_ready", "导管室激活至就绪", "cath lab activation to ready", Pathway.STEMI,
        Scope.CATHLAB_ACTIVATION, Site.TREATING_HOSPITAL, (K.CATHLAB_ACTIVATED,), (K.CATHLAB_READY,), 30,
        says="The cath lab team is ready within 30 min of activation, day and night.",
        source="CPC-2015/2021 (导管室激活时间 ≤ 30 分钟)",
    ),
    IntervalDef(
        "stroke_door_to_ct", "卒中进门至CT", "stroke door to CT", Pathway.STROKE, Scope.STROKE,
        Site.FIRST_HOSPITAL, (K.DOOR_IN,), (K.HEAD_CT_START,), 25,
        says="Brain imaging starts within 25 min of arrival for a suspected acute stroke.",
        source="AHA/ASA-2019 (NINDS goal: door to CT ≤ 25 min; imaging within 20 min in ≥ 50 % of "
        "thrombolysis candidates); CN-STROKE-2018",
    ),
    IntervalDef(
        "stroke_door_to_needle", "卒中进门至溶栓", "stroke door to needle", Pathway.STROKE,
        Scope.STROKE_LYSIS, Site.FIRST_HOSPITAL, (K.DOOR_IN,), (K.NEEDLE,), 60, stretch_min=45,
        says="Intravenous thrombolysis within 60 min of arrival (DNT ≤ 60), with ≤ 45 min as the stretch goal.",
        source="AHA/ASA-2019 (DTN ≤ 60 min, secondary goal ≤ 45 min, Target: Stroke); CN-STROKE-2018 "
        "(DNT 控制在 60 分钟内)",
    ),
    IntervalDef(
        "stroke_door_to_puncture", "卒中进门至穿刺", "stroke door to puncture", Pathway.STROKE,
        Scope.STROKE_THROMBECTOMY, Site.TREATING_HOSPITAL, TREATING_DOOR, (K.PUNCTURE,), 90,
        says="Thrombectomy: arterial puncture within 90 min of arrival at the thrombectomy center.",
        source="AHA/ASA-2019 (door-to-groin-puncture ≤ 90 min for direct arrivals); China stroke center "
        "standards (DPT ≤ 90 分钟)",
    ),
)

INTERVALS_BY_CODE: dict[str, IntervalDef] = {d.code: d for d in INTERVALS}


def interval_def(code: str) -> IntervalDef:
    """Return the interval definition named ``code``."""
    try:
        return INTERVALS_BY_CODE[code]
    except KeyError as e:
        raise CentersError(
            f"interval: {code!r} is not an audited interval; expected one of {', '.join(INTERVALS_BY_CODE)}"
        ) from e
