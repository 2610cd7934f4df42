"""The chest pain and stroke centers' service layer: milestones stamped, destinations chosen, centers told.

- `milestone_stamper(patients)` is a *reaction* of the dispatch service: from each batch of dispatch
  events it derives the pre-hospital milestones of chest pain and stroke calls (120 call, dispatch
  order, unit departs, at patient, depart scene, hospital door), which the service writes in the SAME
  transaction as their cause, so a crash can never keep the status change and lose its milestone. A
  milestone already recorded (by hand, or earlier) is not stamped again.
- `CentersService` records milestones, ECGs and destinations through `DispatchService.submit`,
  chooses destinations with the centers' policy (`centers.destination`), and pre-notifies the
  destination center when a milestone that calls for it is recorded (`centers.prenotify`). It
  subscribes to the dispatch service for the milestones the stamper wrote.

No HTTP here: `dispatch.centers_http` parses requests and calls these; errors are domain errors.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from centers.destination import DestinationConfig, DestinationInput, choose_destination
from centers.errors import CentersError, DestinationError
from centers.intervals import compute_intervals
from centers.milestones import Milestone, MilestoneKind, Recorder, RecorderRole, fold_patients
from centers.prenotify import check_ecg_attachment, prenotification, should_prenotify
from centers.report import build_report, render
from dispatch.errors import UnknownIdError
from dispatch.model import State
from dispatch.patients import DESTINATION, ECG, MILESTONE, PatientsFold
from dispatch.service import DispatchService, Origin
from ems.errors import EmsError

log = logging.getLogger(__name__)

CARDIO_STROKE = frozenset({"chest_pain", "stroke"})

# Dispatch events that stamp a milestone of a chest pain or stroke patient.
STATUS_MILESTONES = {"on_scene": MilestoneKind.FIRST_MEDICAL_CONTACT,
                     "transporting": MilestoneKind.SCENE_DEPARTED,
                     "at_hospital": MilestoneKind.DOOR_IN}
EVENT_MILESTONES = {"UnitAssigned": MilestoneKind.DISPATCH_ORDER,
                    "AssignmentAccepted": MilestoneKind.UNIT_DEPARTED}

#: ``notify(message, call_id, unit_id, hospital_id)``: hand a message to the consoles that may see it.
Notify = Callable[[dict[str, Any], str, str | None, str], None]


def milestone_event(call_id: str, kind: MilestoneKind, at: datetime | None, by: Recorder, recorded_at: datetime,
                    **extra: Any) -> dict[str, Any]:
    """Return the log event recording one milestone (ids are random: two recordings are two events)."""
    m = Milestone(id=f"M-{uuid.uuid4().hex[:16]}", patient_id=call_id, kind=kind, at=at, recorded_by=by,
                  recorded_at=recorded_at, **extra)
    return {"type": MILESTONE, "call_id": call_id, "milestone": m.to_dict()}


def _parse_at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def milestone_stamper(patients: PatientsFold) -> Callable[[State, list[dict[str, Any]]], list[dict[str, Any]]]:
    """Return the reaction stamping the pre-hospital milestones a batch of dispatch events implies."""

    def stamp(state: State, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        stamped: set[tuple[str, MilestoneKind]] = set()
        for event in events:
            kind_name, call_id = event.get("type"), event.get("call_id")
            kind: MilestoneKind | None = None
            if kind_name == "CallReceived" and str(event.get("complaint")) in CARDIO_STROKE:
                kind = MilestoneKind.CALL_120
            elif kind_name in EVENT_MILESTONES:
                kind = EVENT_MILESTONES[kind_name]
            elif kind_name == "UnitStatusChanged" and event.get("status") in STATUS_MILESTONES:
                unit = state.units.get(event["unit_id"])
                call_id = unit.current_call if unit else None
                kind = STATUS_MILESTONES[event["status"]]
            if kind is None or not call_id or call_id not in state.calls:
                continue
            if str(state.calls[call_id].complaint) not in CARDIO_STROKE:
                continue
            if (call_id, kind) in stamped or patients.has(call_id, kind):
                continue
            stamped.add((call_id, kind))
            at = _parse_at(event["at"])
            out.append(milestone_event(call_id, kind, at, Recorder(RecorderRole.SYSTEM, event.get("by", "system")), at))
        return out

    return stamp


def interval_view(r: Any) -> dict[str, Any]:
    """Return one interval of a patient as the API shows it."""
    d = r.definition
    return {"code": d.code, "label_zh": d.label_zh, "label_en": d.label_en, "minutes": r.minutes,
            "target_min": d.target_min, "stretch_min": getattr(d, "stretch_min", None),
            "meets_target": r.meets_target, "missing": list(r.missing)}


class CentersService:
    """The centers' commands and queries over the dispatch service (see the module docstring).

    Parameters
    ----------
    service
        The dispatch service (the one writer of the log).
    patients
        The patients' side fold the service was built with.
    county, router
        Hospitals and travel times (destination choice, transport ETA).
    destination_config
        The destination policy's settings (``[centers.destination]``).
    notify
        Hands a pre-notification to the consoles that may see it (the websocket hub); None: nobody.
    """

    def __init__(self, service: DispatchService, patients: PatientsFold, county: Any, router: Any,
                 destination_config: DestinationConfig, notify: Notify | None = None) -> None:
        self.service, self.patients, self.county, self.router = service, patients, county, router
        self.destination_config = destination_config
        self.notify = notify
        self.hospitals = {h.id: h for h in county.hospitals}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._unsubscribe: Callable[[], None] | None = None

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Listen for the milestones the stamper writes (to pre-notify on them)."""
        self._unsubscribe = self.service.subscribe(self.on_event)

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def drain(self) -> None:
        """Wait until the pre-notifications under way are sent (tests and benchmarks)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def on_event(self, seq: int, event: dict[str, Any], origin: Origin) -> None:
        """Pre-notify on a milestone the stamper recorded (hand-recorded ones are handled by `record`)."""
        if origin is not Origin.LOCAL or event.get("type") != MILESTONE:
            return
        milestone = event["milestone"]
        if milestone["recorded_by"]["role"] != RecorderRole.SYSTEM.value or not should_prenotify(milestone["kind"]):
            return
        task = asyncio.get_running_loop().create_task(self._prenotify_logged(event["call_id"]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _prenotify_logged(self, call_id: str) -> None:
        try:
            await self.prenotify(call_id)
        except EmsError as e:  # the store or the router failed: the milestone stands, the message is late
            log.error("pre-notification of %s not sent: %s", call_id, e)

    # -- access -------------------------------------------------------------------------------

    def hospital(self, hospital_id: str) -> Any:
        try:
            return self.hospitals[hospital_id]
        except KeyError:
            raise UnknownIdError(f"hospital_id: no hospital {hospital_id!r}") from None

    def destination_of(self, call_id: str) -> str | None:
        dest = self.patients.patient(call_id).destination
        return dest["hospital_id"] if dest else None

    def unit_for(self, call_id: str) -> str | None:
        current = self.service.state.current_assignment(call_id)
        return current.unit_id if current else None

    # -- commands -----------------------------------------------------------------------------

    async def record(self, events: list[dict[str, Any]]) -> list[int]:
        """Write centers' events; pre-notify the destination for milestones that call for it."""
        seqs = await self.service.submit(events)
        for event in events:
            if event["type"] == MILESTONE and should_prenotify(event["milestone"]["kind"]):
                await self.prenotify(event["call_id"])
        return seqs

    async def record_milestone(self, call_id: str, kind: str, recorder: Recorder, *, at: datetime | None,
                               at_given: bool, time_quality: str | None, **extra: Any) -> dict[str, Any]:
        """Record a milestone (or a correction) of a patient; return its event.

        ``at_given`` False means "now"; given as None with quality unknown: not known to the minute.
        """
        self.service.get_call(call_id)
        now = self.service.clock()
        if at_given and at is None:
            time_quality = time_quality or "unknown"
        elif not at_given:
            at = now
        event = milestone_event(call_id, MilestoneKind.parse(kind), at, recorder, now,
                                time_quality=time_quality or ("exact" if at else "unknown"), **extra)
        await self.record([event])
        return event

    async def acknowledge(self, hospital_id: str, call_id: str, name: str) -> dict[str, Any]:
        """Record that a center acknowledged a pre-notification."""
        self.hospital(hospital_id)
        now = self.service.clock()
        event = milestone_event(call_id, MilestoneKind.CENTER_ACKNOWLEDGED, now,
                                Recorder(RecorderRole.CENTER_STAFF, name), now, hospital_id=hospital_id)
        await self.record([event])
        return event

    async def attach_ecg(self, call_id: str, data: bytes, content_type: str, recorder: Recorder,
                         by: str) -> dict[str, Any]:
        """Check and store a pre-hospital ECG, record it with its transmission milestone; return the attachment.

        Raises `centers.errors.PrenotificationError` when the bytes are not an ECG file this accepts.
        """
        attachment = check_ecg_attachment(data, content_type, attachment_id=f"ecg-{uuid.uuid4().hex[:16]}")
        await self.service.store.put_blob(attachment.id, attachment.content_type, data)
        now = self.service.clock()
        await self.record([
            {"type": ECG, "call_id": call_id, "attachment": attachment.to_dict(), "by": by, "at": now.isoformat()},
            milestone_event(call_id, MilestoneKind.ECG_TRANSMITTED, now, recorder, now)])
        return attachment.to_dict()

    async def set_destination(self, call_id: str, screening: dict[str, Any], by: str) -> None:
        """Choose the destination by the centers' policy (or the patient's choice) and pre-notify it."""
        self.service.get_call(call_id)
        await self.service.submit([await self.choose(call_id, screening, by)])
        await self.prenotify(call_id)

    async def choose(self, call_id: str, body: dict[str, Any], by: str) -> dict[str, Any]:
        """Run the destination policy for a call; return the DestinationChosen event."""
        service = self.service
        call = service.state.calls[call_id]
        record_ = self.patients.patient(call_id).record
        now = service.clock()
        fmc = record_.time(MilestoneKind.FIRST_MEDICAL_CONTACT)
        lkw = body.get("last_known_well")
        lkw_at = _parse_at(lkw) if lkw else record_.time(MilestoneKind.LAST_KNOWN_WELL)
        stemi = body.get("stemi", record_.has(MilestoneKind.STEMI_SUSPECTED) or record_.has(MilestoneKind.STEMI_DIAGNOSED))
        try:
            patient = DestinationInput(
                complaint=str(call.complaint), stemi=bool(stemi),
                fmc_elapsed_s=max(0.0, (now - fmc).total_seconds()) if fmc else 0.0,
                scene_time_left_s=float(body.get("scene_time_left_s", 0.0)),
                field_cathlab_activated=bool(body.get("field_cathlab_activated",
                                                      record_.has(MilestoneKind.CATHLAB_ACTIVATED))),
                befast_positive=body.get("befast_positive"), race_score=body.get("race_score"),
                lams_score=body.get("lams_score"),
                lkw_elapsed_s=max(0.0, (now - lkw_at).total_seconds()) if lkw_at else None,
                patient_choice=body.get("patient_choice"), choice_reason=body.get("choice_reason"))
            hospitals = list(self.hospitals.values())
            targets = [(h.lon, h.lat) for h in hospitals]
            etas = await asyncio.to_thread(_times_from, self.router, self._source(call_id), targets,
                                           service.local_hour(now))
            by_id = {h.id: t for h, t in zip(hospitals, etas)}
            decision = choose_destination(patient, hospitals, by_id.get, config=self.destination_config)
        except CentersError as e:
            raise DestinationError(f"destination: {e}") from e
        screening = {k: body[k] for k in ("befast_positive", "race_score", "lams_score", "last_known_well") if k in body}
        return {"type": DESTINATION, "call_id": call_id, "hospital_id": decision.hospital_id,
                "reason_code": decision.reason_code.value, "reason": decision.reason, "bypass_ed": decision.bypass_ed,
                "transfer_to": decision.transfer_to, "expected_fmc_to_device_s": decision.expected_fmc_to_device_s,
                "policy_hospital_id": decision.policy_hospital_id, "screening": screening,
                "patient_choice_reason": body.get("choice_reason") if body.get("patient_choice") else None,
                "by": by, "at": now.isoformat()}

    async def prenotify(self, call_id: str) -> None:
        """Tell the destination center about an incoming patient (choosing the destination first if needed)."""
        p = self.patients.patient(call_id)
        if p.destination is None:
            await self.service.submit([await self.choose(call_id, {}, "system")])
            p = self.patients.patient(call_id)
        hospital_id = p.destination["hospital_id"]
        eta = await asyncio.to_thread(self.transport_eta_s, call_id, hospital_id)
        unit_id = self.unit_for(call_id)
        message = prenotification(p.record, eta or 0.0, hospital_id=hospital_id, now=self.service.clock(),
                                  unit_id=unit_id)
        message["call_id"] = call_id
        message["destination"] = p.destination
        message["ecg"] = p.ecg
        if self.notify is not None:
            # to the center, and to the dispatchers and the crew carrying the patient; never dropped
            self.notify(message, call_id, unit_id, hospital_id)

    # -- queries ------------------------------------------------------------------------------

    def _source(self, call_id: str) -> tuple[float, float]:
        """Where the patient is now: the carrying unit's last fix, else the call's location."""
        unit_id = self.unit_for(call_id)
        fix = self.service.positions.get(unit_id) if unit_id else None
        return fix[0] if fix else self.service.state.calls[call_id].location

    def transport_eta_s(self, call_id: str, hospital_id: str) -> float | None:
        """Travel time to the hospital from the unit's last fix (or the patient's location); blocking."""
        hospital = self.hospital(hospital_id)
        eta = self.router.eta_to((hospital.lon, hospital.lat), [self._source(call_id)],
                                 hour=self.service.local_hour())[0]
        return eta.eta_s if eta is not None else None

    def patient_view(self, call_id: str) -> dict[str, Any]:
        """Return a patient's record, destination, ECGs and intervals so far."""
        self.service.get_call(call_id)
        p = self.patients.patient(call_id)
        out = p.view()
        out["intervals"] = [interval_view(r) for r in compute_intervals(p.record)]
        return out

    async def incoming(self, hospital_id: str) -> list[dict[str, Any]]:
        """Return the patients on their way to (or lately at) a hospital, soonest first, with live ETA."""
        self.hospital(hospital_id)
        service = self.service
        now = service.clock()
        out = []
        for call_id, p in self.patients.patients.items():
            if not p.destination or p.destination["hospital_id"] != hospital_id:
                continue
            call = service.state.calls.get(call_id)
            if call is None or (call.ended_at is not None and now - call.ended_at > timedelta(hours=6)):
                continue
            eta = None if p.record.has(MilestoneKind.DOOR_IN) else await asyncio.to_thread(
                self.transport_eta_s, call_id, hospital_id)
            view = p.view()
            view.update({"call_id": call_id, "complaint": str(call.complaint), "priority": call.priority,
                         "unit_id": self.unit_for(call_id), "eta_s": eta, "call_status": str(call.status),
                         "acknowledged": p.record.has(MilestoneKind.CENTER_ACKNOWLEDGED),
                         "intervals": [interval_view(r) for r in compute_intervals(p.record)]})
            out.append(view)
        out.sort(key=lambda v: (v["eta_s"] is None, v["eta_s"] or 0))
        return out

    async def report(self, hospital_id: str, start: date, end: date, fmt: str) -> str:
        """Render a center's quality report for the dates (``json``, ``csv`` or ``html``)."""
        self.hospital(hospital_id)
        folded = fold_patients(self.patients.milestones())
        data = await asyncio.to_thread(build_report, folded.records.values(), center_id=hospital_id, start=start,
                                       end=end, rejected=folded.rejected)
        return await asyncio.to_thread(render, data, fmt)


def _times_from(router: Any, source: tuple[float, float], targets: list[tuple[float, float]],
                hour: int | None) -> list[float | None]:
    """Travel times from one point to each target at the local ``hour`` (one search from the source)."""
    table = router.site_table([source], hour=hour)
    return [table.to_point(0, t) for t in targets]


__all__ = ["CentersService", "interval_view", "milestone_event", "milestone_stamper"]
