"""Chest pain and stroke centers through the service: milestones, destination, ECG, pre-notification, report.

Routes (an extension of `dispatch.http`):

- ``POST /api/calls/{call_id}/milestones`` record a milestone or a correction (dispatcher; the crew
  holding the call; the destination center's staff);
- ``GET /api/calls/{call_id}/patient`` the patient: milestones, intervals so far, destination, ECGs;
- ``POST /api/calls/{call_id}/destination`` choose the hospital by the centers' policy (screening
  fields), or record the patient's (family's) choice with its reason;
- ``POST /api/calls/{call_id}/ecg`` upload a pre-hospital ECG (PDF, PNG or JPEG, ≤ 5 MiB);
- ``GET /api/attachments/{attachment_id}`` download it;
- ``GET /api/centers/{hospital_id}/incoming`` the patients on their way, with live ETA;
- ``POST /api/centers/{hospital_id}/acknowledge/{call_id}`` the center acknowledges a pre-notification
  (itself a milestone);
- ``GET /api/centers/{hospital_id}/report?from=&to=&format=json|csv|html`` the quality report.

Dispatch events stamp the pre-hospital milestones themselves (120 call, dispatch order, unit departs,
at patient, depart scene, hospital door) for chest pain and stroke calls, so a crew pressing its
status buttons is not asked twice; a milestone already recorded by hand is kept.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from centers.destination import DestinationConfig, DestinationInput, choose_destination
from centers.errors import CentersError, MilestoneOrderError
from centers.intervals import compute_intervals
from centers.milestones import Milestone, MilestoneKind, Recorder, RecorderRole, fold_patients
from centers.prenotify import MAX_ECG_BYTES, check_ecg_attachment, prenotification, should_prenotify
from centers.report import build_report, render
from dispatch.auth import Principal, Role
from ems.errors import EmsError
from dispatch.errors_http import ApiError, bad_request
from dispatch.http import RUNTIME, SERVICE, api, json_response, principal
from dispatch.patients import DESTINATION, ECG, MILESTONE, PatientsFold
from dispatch.service import DispatchService
from dispatch.live import LIVE
from dispatch.ws import Audience

log = logging.getLogger(__name__)

PATIENTS = web.AppKey("patients", PatientsFold)
CARDIO_STROKE = {"chest_pain", "stroke"}
STAFF = {Role.DISPATCHER, Role.ADMIN, Role.CREW, Role.CENTER}
READERS = {Role.DISPATCHER, Role.ADMIN, Role.PLANNER, Role.CREW, Role.CENTER}

MILESTONE_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["kind"],
    "properties": {
        "kind": {"type": "string", "enum": [k.value for k in MilestoneKind]},
        "at": {"type": ["string", "null"], "format": "date-time",
               "description": "when it happened; omitted: now; null with time_quality unknown: not known to the minute"},
        "time_quality": {"type": "string", "enum": ["exact", "approximate", "unknown"]},
        "corrects": {"type": "string", "maxLength": 80, "description": "id of the milestone this corrects"},
        "retracts": {"type": "boolean"},
        "hospital_id": {"type": "string", "maxLength": 64},
        "note": {"type": "string", "maxLength": 500},
    },
}
DESTINATION_BODY: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "stemi": {"type": "boolean"},
        "field_cathlab_activated": {"type": "boolean"},
        "befast_positive": {"type": ["boolean", "null"]},
        "race_score": {"type": ["integer", "null"], "minimum": 0, "maximum": 9},
        "lams_score": {"type": ["integer", "null"], "minimum": 0, "maximum": 5},
        "last_known_well": {"type": ["string", "null"], "format": "date-time"},
        "scene_time_left_s": {"type": "number", "minimum": 0, "maximum": 7200},
        "patient_choice": {"type": ["string", "null"], "maxLength": 64,
                           "description": "a hospital id the patient or family insists on"},
        "choice_reason": {"type": ["string", "null"], "maxLength": 500},
    },
}
EMPTY = {"type": "object", "additionalProperties": False, "properties": {}}

# Dispatch events that stamp a milestone of a chest pain or stroke patient.
STATUS_MILESTONES = {"on_scene": MilestoneKind.FIRST_MEDICAL_CONTACT,
                     "transporting": MilestoneKind.SCENE_DEPARTED,
                     "at_hospital": MilestoneKind.DOOR_IN}


# -- helpers ----------------------------------------------------------------------------------

def recorder_of(who: Principal) -> Recorder:
    role = {Role.CREW: RecorderRole.CREW, Role.CENTER: RecorderRole.CENTER_STAFF}.get(who.role, RecorderRole.DISPATCHER)
    return Recorder(role, who.name)


def now_utc(service: DispatchService) -> datetime:
    return service.clock()


def patient_guard(request: web.Request, call_id: str, *, write: bool) -> None:
    """Crews reach only the call they hold; centers only patients coming to them."""
    service: DispatchService = request.app[SERVICE]
    call = service.get_call(call_id)
    who = principal(request)
    if who.role is Role.CREW:
        unit = service.state.units.get(who.unit or "")
        held = {a.call_id for a in service.state.assignments.get(call.id, ()) if a.unit_id == who.unit}
        if unit is None or call.id not in held:
            raise ApiError(403, "forbidden", f"call_id: crew {who.unit} does not hold call {call_id}")
    if who.role is Role.CENTER:
        dest = request.app[PATIENTS].patient(call_id).destination
        if dest is None or dest["hospital_id"] != who.hospital:
            raise ApiError(403, "forbidden", f"call_id: call {call_id} is not coming to {who.hospital}")
    if write and who.role is Role.PLANNER:
        raise ApiError(403, "forbidden", "token: planners read only")


def center_guard(request: web.Request) -> str:
    hospital_id = request.match_info["hospital_id"]
    county = request.app[RUNTIME]["county"]
    if hospital_id not in {h.id for h in county.hospitals}:
        raise ApiError(404, "not_found", f"hospital_id: no hospital {hospital_id!r}")
    who = principal(request)
    if who.role is Role.CENTER and who.hospital != hospital_id:
        raise ApiError(403, "forbidden", f"hospital_id: a center token for {who.hospital} may not read {hospital_id}")
    return hospital_id


def milestone_event(call_id: str, kind: MilestoneKind, at: datetime | None, by: Recorder, recorded_at: datetime,
                    **extra: Any) -> dict[str, Any]:
    m = Milestone(id=f"M-{uuid.uuid4().hex[:16]}", patient_id=call_id, kind=kind, at=at, recorded_by=by,
                  recorded_at=recorded_at, **extra)
    return {"type": MILESTONE, "call_id": call_id, "milestone": m.to_dict()}


async def record(app: web.Application, events: list[dict[str, Any]]) -> list[int]:
    service: DispatchService = app[SERVICE]
    try:
        seqs = await service.submit(events)
    except CentersError as e:
        raise ApiError(409 if isinstance(e, MilestoneOrderError) else 400, "milestone", str(e)) from e
    for event in events:
        if event["type"] == MILESTONE and should_prenotify(event["milestone"]["kind"]):
            await prenotify(app, event["call_id"])
    return seqs


def unit_for(service: DispatchService, call_id: str) -> str | None:
    current = service.state.current_assignment(call_id)
    return current.unit_id if current else None


def transport_eta_s(app: web.Application, call_id: str, hospital_id: str) -> float | None:
    """Travel time to the hospital from the unit's last fix (or the patient's location)."""
    service: DispatchService = app[SERVICE]
    rt = app[RUNTIME]
    hospital = next(h for h in rt["county"].hospitals if h.id == hospital_id)
    unit_id = unit_for(service, call_id)
    source = service.positions[unit_id][0] if unit_id in service.positions else service.state.calls[call_id].location
    eta = rt["router"].eta_to((hospital.lon, hospital.lat), [source], hour=service.local_hour())[0]
    return eta.eta_s if eta is not None else None


async def choose(app: web.Application, call_id: str, body: dict[str, Any], by: str) -> dict[str, Any]:
    """Run the destination policy for a call; return the DestinationChosen event."""
    service: DispatchService = app[SERVICE]
    rt = app[RUNTIME]
    call = service.state.calls[call_id]
    patients: PatientsFold = app[PATIENTS]
    record_ = patients.patient(call_id).record
    now = now_utc(service)
    fmc = record_.time(MilestoneKind.FIRST_MEDICAL_CONTACT)
    lkw = body.get("last_known_well")
    lkw_at = datetime.fromisoformat(lkw.replace("Z", "+00:00")) if lkw else record_.time(MilestoneKind.LAST_KNOWN_WELL)
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
        hospitals = rt["county"].hospitals
        targets = [(h.lon, h.lat) for h in hospitals]
        unit_id = unit_for(service, call_id)
        source = service.positions[unit_id][0] if unit_id in service.positions else call.location
        etas = await asyncio.to_thread(_times_from, rt["router"], source, targets, service.local_hour(now))
        by_id = {h.id: t for h, t in zip(hospitals, etas)}
        decision = choose_destination(patient, hospitals, by_id.get, config=rt["destination_config"])
    except CentersError as e:
        raise bad_request(f"destination: {e}", "destination") from e
    screening = {k: body[k] for k in ("befast_positive", "race_score", "lams_score", "last_known_well") if k in body}
    return {"type": DESTINATION, "call_id": call_id, "hospital_id": decision.hospital_id,
            "reason_code": decision.reason_code.value, "reason": decision.reason, "bypass_ed": decision.bypass_ed,
            "transfer_to": decision.transfer_to, "expected_fmc_to_device_s": decision.expected_fmc_to_device_s,
            "policy_hospital_id": decision.policy_hospital_id, "screening": screening,
            "patient_choice_reason": body.get("choice_reason") if body.get("patient_choice") else None,
            "by": by, "at": now.isoformat()}


def _times_from(router: Any, source: tuple[float, float], targets: list[tuple[float, float]],
                hour: int | None) -> list[float | None]:
    """Travel times from one point to each target at the local ``hour`` (one search from the source)."""
    table = router.site_table([source], hour=hour)
    return [table.to_point(0, t) for t in targets]


async def prenotify(app: web.Application, call_id: str) -> None:
    """Tell the destination center about an incoming patient (choosing the destination first if needed)."""
    service: DispatchService = app[SERVICE]
    patients: PatientsFold = app[PATIENTS]
    p = patients.patient(call_id)
    if p.destination is None:
        await service.submit([await choose(app, call_id, {}, "system")])
        p = patients.patient(call_id)
    hospital_id = p.destination["hospital_id"]
    eta = await asyncio.to_thread(transport_eta_s, app, call_id, hospital_id)
    message = prenotification(p.record, eta or 0.0, hospital_id=hospital_id, now=now_utc(service),
                              unit_id=unit_for(service, call_id))
    message["call_id"] = call_id
    message["destination"] = p.destination
    message["ecg"] = p.ecg
    live = app.get(LIVE)
    if live is not None:
        # to the center, and to the dispatchers and the crew carrying the patient; never dropped
        live.hub.publish(message, Audience.of(calls=[call_id], units=[unit_for(service, call_id)],
                                              hospitals=[hospital_id]))


# -- automatic milestones from dispatch events -------------------------------------------------

def on_dispatch_event(app: web.Application, seq: int, event: dict[str, Any]) -> None:
    """Stamp the pre-hospital milestones of chest pain and stroke calls from dispatch events."""
    service: DispatchService = app[SERVICE]
    if getattr(service, "folding_remote", False):
        return  # another instance wrote this event and stamps its milestones itself
    patients: PatientsFold = app[PATIENTS]
    kind_name = event.get("type")
    call_id = event.get("call_id")
    kinds: list[MilestoneKind] = []
    if kind_name == "CallReceived" and str(event.get("complaint")) in CARDIO_STROKE:
        kinds = [MilestoneKind.CALL_120]
    elif kind_name == "UnitAssigned":
        kinds = [MilestoneKind.DISPATCH_ORDER]
    elif kind_name == "AssignmentAccepted":
        kinds = [MilestoneKind.UNIT_DEPARTED]
    elif kind_name == "UnitStatusChanged" and event.get("status") in STATUS_MILESTONES:
        unit = service.state.units.get(event["unit_id"])
        call_id = unit.current_call if unit else None
        kinds = [STATUS_MILESTONES[event["status"]]]
    if not call_id or not kinds or call_id not in service.state.calls:
        return
    if str(service.state.calls[call_id].complaint) not in CARDIO_STROKE:
        return
    at = datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
    by = Recorder(RecorderRole.SYSTEM, event.get("by", "system"))
    todo = [milestone_event(call_id, k, at, by, at) for k in kinds if not patients.has(call_id, k)]
    if todo:
        pending = app[RUNTIME].setdefault("milestone_tasks", set())
        task = asyncio.get_running_loop().create_task(_stamp(app, todo))
        pending.add(task)
        task.add_done_callback(pending.discard)


async def _stamp(app: web.Application, events: list[dict[str, Any]]) -> None:
    try:
        await record(app, events)
    except ApiError as e:  # e.g. a hand-recorded later milestone makes this one out of order
        log.warning("automatic milestone not recorded: %s", e.message)
    except EmsError as e:  # the store failed: the dispatch event stands, its milestone is missing
        log.error("automatic milestone %s not recorded: %s",
                  [ev["milestone"]["kind"] for ev in events if "milestone" in ev], e)


# -- routes -----------------------------------------------------------------------------------

@api.route("POST", "/api/calls/{call_id}/milestones", summary="Record a patient milestone (or a correction)",
           roles=STAFF, body=MILESTONE_BODY, status=201, tag="centers")
async def post_milestone(request: web.Request, body: dict[str, Any]) -> web.Response:
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=True)
    service: DispatchService = request.app[SERVICE]
    now = now_utc(service)
    quality = body.get("time_quality")
    if "at" in body and body["at"] is None:
        at, quality = None, quality or "unknown"
    else:
        at = datetime.fromisoformat(body["at"].replace("Z", "+00:00")) if body.get("at") else now
    try:
        event = milestone_event(call_id, MilestoneKind.parse(body["kind"]), at, recorder_of(principal(request)), now,
                                time_quality=quality or ("exact" if at else "unknown"),
                                corrects=body.get("corrects"), retracts=body.get("retracts", False),
                                hospital_id=body.get("hospital_id"), note=body.get("note", ""))
    except CentersError as e:
        raise bad_request(str(e), "milestone") from e
    await record(request.app, [event])
    return json_response({"milestone": event["milestone"],
                          "patient": request.app[PATIENTS].patient(call_id).view()}, 201)


@api.route("GET", "/api/calls/{call_id}/patient", summary="A patient's milestones, intervals, destination and ECGs",
           roles=READERS, tag="centers")
async def get_patient(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=False)
    p = request.app[PATIENTS].patient(call_id)
    out = p.view()
    out["intervals"] = [_interval_view(r) for r in compute_intervals(p.record)]
    return json_response(out)


def _interval_view(r: Any) -> dict[str, Any]:
    d = r.definition
    return {"code": d.code, "label_zh": d.label_zh, "label_en": d.label_en, "minutes": r.minutes,
            "target_min": d.target_min, "stretch_min": getattr(d, "stretch_min", None),
            "meets_target": r.meets_target, "missing": list(r.missing)}


@api.route("POST", "/api/calls/{call_id}/destination",
           summary="Choose the destination hospital (centers' policy) or record the patient's choice",
           roles={Role.DISPATCHER, Role.ADMIN, Role.CREW}, body=DESTINATION_BODY, tag="centers")
async def post_destination(request: web.Request, body: dict[str, Any]) -> web.Response:
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=True)
    event = await choose(request.app, call_id, body, principal(request).by)
    await request.app[SERVICE].submit([event])
    await prenotify(request.app, call_id)
    return json_response(request.app[PATIENTS].patient(call_id).view())


@api.route("POST", "/api/calls/{call_id}/ecg", summary="Upload a pre-hospital ECG (PDF, PNG or JPEG, ≤ 5 MiB)",
           roles={Role.DISPATCHER, Role.ADMIN, Role.CREW}, tag="centers", raw_body=True, status=201,
           body={"type": "string", "format": "binary"})
async def post_ecg(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=True)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(1 << 16):  # streamed: the app's 64 KiB limit is for JSON
        size += len(chunk)
        if size > MAX_ECG_BYTES:
            raise ApiError(413, "too_large", f"body: an ECG may be at most {MAX_ECG_BYTES} bytes")
        chunks.append(chunk)
    data = b"".join(chunks)
    attachment_id = f"ecg-{uuid.uuid4().hex[:16]}"
    try:
        attachment = check_ecg_attachment(data, request.content_type, attachment_id=attachment_id)
    except CentersError as e:
        raise ApiError(415, "ecg", f"body: {e}") from e
    service: DispatchService = request.app[SERVICE]
    await service.store.put_blob(attachment_id, attachment.content_type, data)
    now = now_utc(service)
    who = principal(request)
    await record(request.app, [
        {"type": ECG, "call_id": call_id, "attachment": attachment.to_dict(), "by": who.by, "at": now.isoformat()},
        milestone_event(call_id, MilestoneKind.ECG_TRANSMITTED, now, recorder_of(who), now)])
    return json_response({"attachment": attachment.to_dict()}, 201)


@api.route("GET", "/api/attachments/{attachment_id}", summary="Download an ECG attachment", roles=READERS,
           tag="centers")
async def get_attachment(request: web.Request) -> web.StreamResponse:
    attachment_id = request.match_info["attachment_id"]
    patients: PatientsFold = request.app[PATIENTS]
    owner = patients.owner_of_attachment(attachment_id)
    if owner is None:
        raise ApiError(404, "not_found", f"attachment_id: no attachment {attachment_id!r}")
    patient_guard(request, owner, write=False)
    blob = await request.app[SERVICE].store.get_blob(attachment_id)
    if blob is None:
        raise ApiError(404, "not_found", f"attachment_id: {attachment_id!r} has no stored content")
    return web.Response(body=blob.data, content_type=blob.content_type)


@api.route("GET", "/api/centers/{hospital_id}/incoming", summary="Patients on their way to this hospital",
           roles={Role.DISPATCHER, Role.ADMIN, Role.CENTER, Role.PLANNER}, tag="centers")
async def incoming(request: web.Request) -> web.Response:
    hospital_id = center_guard(request)
    service: DispatchService = request.app[SERVICE]
    patients: PatientsFold = request.app[PATIENTS]
    now = now_utc(service)
    out = []
    for call_id, p in patients.patients.items():
        if not p.destination or p.destination["hospital_id"] != hospital_id:
            continue
        call = service.state.calls.get(call_id)
        if call is None or (call.ended_at is not None and now - call.ended_at > timedelta(hours=6)):
            continue
        eta = None if p.record.has(MilestoneKind.DOOR_IN) else await asyncio.to_thread(
            transport_eta_s, request.app, call_id, hospital_id)
        view = p.view()
        view.update({"call_id": call_id, "complaint": str(call.complaint), "priority": call.priority,
                     "unit_id": unit_for(service, call_id), "eta_s": eta, "call_status": str(call.status),
                     "acknowledged": p.record.has(MilestoneKind.CENTER_ACKNOWLEDGED),
                     "intervals": [_interval_view(r) for r in compute_intervals(p.record)]})
        out.append(view)
    out.sort(key=lambda v: (v["eta_s"] is None, v["eta_s"] or 0))
    return json_response({"hospital_id": hospital_id, "patients": out})


@api.route("POST", "/api/centers/{hospital_id}/acknowledge/{call_id}",
           summary="The center acknowledges a pre-notification (recorded as a milestone)",
           roles={Role.CENTER, Role.ADMIN}, body=EMPTY, status=201, tag="centers")
async def acknowledge(request: web.Request, body: dict[str, Any]) -> web.Response:
    hospital_id = center_guard(request)
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=True)
    now = now_utc(request.app[SERVICE])
    who = principal(request)
    event = milestone_event(call_id, MilestoneKind.CENTER_ACKNOWLEDGED, now,
                            Recorder(RecorderRole.CENTER_STAFF, who.name), now, hospital_id=hospital_id)
    await record(request.app, [event])
    return json_response({"milestone": event["milestone"]}, 201)


@api.route("GET", "/api/centers/{hospital_id}/report",
           summary="Quality report: intervals against targets (?from=YYYY-MM-DD&to=…&format=json|csv|html)",
           roles={Role.DISPATCHER, Role.ADMIN, Role.CENTER, Role.PLANNER}, tag="centers")
async def report(request: web.Request) -> web.Response:
    hospital_id = center_guard(request)
    fmt = request.query.get("format", "json")
    if fmt not in ("json", "csv", "html"):
        raise bad_request(f"format: must be json, csv or html, got {fmt!r}")
    today = datetime.now(timezone.utc).date()
    start = _date(request.query.get("from"), "from", today - timedelta(days=30))
    end = _date(request.query.get("to"), "to", today)
    if end < start:
        raise bad_request(f"to: {end} is before from {start}")
    folded = fold_patients(request.app[PATIENTS].milestones())
    try:
        data = await asyncio.to_thread(build_report, folded.records.values(), center_id=hospital_id, start=start,
                                       end=end, rejected=folded.rejected)
        text = await asyncio.to_thread(render, data, fmt)
    except CentersError as e:
        raise bad_request(f"report: {e}", "report") from e
    ctype = {"json": "application/json", "csv": "text/csv", "html": "text/html"}[fmt]
    return web.Response(text=text, content_type=ctype, charset="utf-8")


def _date(text: str | None, field: str, default: date) -> date:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError as e:
        raise bad_request(f"{field}: must be a date like 2026-01-31, got {text!r}") from e


# -- wiring -----------------------------------------------------------------------------------

def setup(app: web.Application, config: dict[str, Any]) -> None:
    """Register the patients' fold with the service before it replays the log."""
    fold = PatientsFold()
    app[PATIENTS] = fold
    app[RUNTIME].setdefault("side_folds", []).append(fold)  # added to the service before it replays

    async def ctx(app: web.Application) -> Any:
        service: DispatchService = app[SERVICE]
        rt = app[RUNTIME]
        rt.setdefault("destination_config",
                      DestinationConfig.from_mapping(config.get("centers", {}).get("destination")))
        unsubscribe = service.subscribe(lambda seq, event: on_dispatch_event(app, seq, event))
        try:
            yield
        finally:
            unsubscribe()
            for task in list(rt.get("milestone_tasks", ())):
                task.cancel()

    app.cleanup_ctx.append(ctx)
