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

The ``centers`` extension (`EXTENSION`): these routes parse and check who may call, then call
`dispatch.centers_service.CentersService`, which records, chooses and pre-notifies. Its `prepare`
gives the dispatch service the patients' side fold and the milestone stamper (a reaction written in
the same transaction as the dispatch event that causes it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any

from aiohttp import web

from centers.destination import DestinationConfig
from centers.errors import PrenotificationError
from centers.milestones import MilestoneKind, Recorder, RecorderRole
from centers.prenotify import MAX_ECG_BYTES
from dispatch.auth import Principal, Role
from dispatch.centers_service import CentersService, milestone_stamper
from dispatch.errors_http import ApiError, bad_request
from dispatch.http import SERVICE, json_response, principal
from dispatch.patients import PatientsFold
from dispatch.routes import RouteTable
from dispatch.runtime import Contribution, Extension, Runtime
from dispatch.schema import parse_datetime
from dispatch.ws import Audience

PATIENTS = web.AppKey("patients", PatientsFold)
CENTERS = web.AppKey("centers", CentersService)
STAFF = {Role.DISPATCHER, Role.ADMIN, Role.CREW, Role.CENTER}
READERS = {Role.DISPATCHER, Role.ADMIN, Role.PLANNER, Role.CREW, Role.CENTER}

routes = RouteTable()

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


# -- helpers ----------------------------------------------------------------------------------

def recorder_of(who: Principal) -> Recorder:
    role = {Role.CREW: RecorderRole.CREW, Role.CENTER: RecorderRole.CENTER_STAFF}.get(who.role, RecorderRole.DISPATCHER)
    return Recorder(role, who.name)


def centers_of(request: web.Request) -> CentersService:
    return request.app[CENTERS]


def patient_guard(request: web.Request, call_id: str, *, write: bool) -> None:
    """Crews reach only the call they hold; centers only patients coming to them."""
    service = request.app[SERVICE]
    call = service.get_call(call_id)
    who = principal(request)
    if who.role is Role.CREW:
        unit = service.state.units.get(who.unit or "")
        held = {a.call_id for a in service.state.assignments.get(call.id, ()) if a.unit_id == who.unit}
        if unit is None or call.id not in held:
            raise ApiError(403, "forbidden", f"call_id: crew {who.unit} does not hold call {call_id}")
    if who.role is Role.CENTER:
        if centers_of(request).destination_of(call_id) != who.hospital:
            raise ApiError(403, "forbidden", f"call_id: call {call_id} is not coming to {who.hospital}")
    if write and who.role is Role.PLANNER:
        raise ApiError(403, "forbidden", "token: planners read only")


def center_guard(request: web.Request) -> str:
    hospital_id = request.match_info["hospital_id"]
    centers_of(request).hospital(hospital_id)
    who = principal(request)
    if who.role is Role.CENTER and who.hospital != hospital_id:
        raise ApiError(403, "forbidden", f"hospital_id: a center token for {who.hospital} may not read {hospital_id}")
    return hospital_id


# -- routes -----------------------------------------------------------------------------------

@routes.route("POST", "/api/calls/{call_id}/milestones", summary="Record a patient milestone (or a correction)",
           roles=STAFF, body=MILESTONE_BODY, status=201, tag="centers")
async def post_milestone(request: web.Request, body: dict[str, Any]) -> web.Response:
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=True)
    at = parse_datetime(body["at"], "at") if body.get("at") else None
    event = await centers_of(request).record_milestone(
        call_id, body["kind"], recorder_of(principal(request)), at=at, at_given="at" in body,
        time_quality=body.get("time_quality"), corrects=body.get("corrects"), retracts=body.get("retracts", False),
        hospital_id=body.get("hospital_id"), note=body.get("note", ""))
    return json_response({"milestone": event["milestone"],
                          "patient": request.app[PATIENTS].patient(call_id).view()}, 201)


@routes.route("GET", "/api/calls/{call_id}/patient", summary="A patient's milestones, intervals, destination and ECGs",
           roles=READERS, tag="centers")
async def get_patient(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=False)
    return json_response(centers_of(request).patient_view(call_id))


@routes.route("POST", "/api/calls/{call_id}/destination",
           summary="Choose the destination hospital (centers' policy) or record the patient's choice",
           roles={Role.DISPATCHER, Role.ADMIN, Role.CREW}, body=DESTINATION_BODY, tag="centers")
async def post_destination(request: web.Request, body: dict[str, Any]) -> web.Response:
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=True)
    if body.get("last_known_well"):
        parse_datetime(body["last_known_well"], "last_known_well")
    await centers_of(request).set_destination(call_id, body, principal(request).by)
    return json_response(request.app[PATIENTS].patient(call_id).view())


@routes.route("POST", "/api/calls/{call_id}/ecg", summary="Upload a pre-hospital ECG (PDF, PNG or JPEG, ≤ 5 MiB)",
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
    who = principal(request)
    try:
        attachment = await centers_of(request).attach_ecg(call_id, b"".join(chunks), request.content_type,
                                                           recorder_of(who), who.by)
    except PrenotificationError as e:
        raise ApiError(415, "ecg", f"body: {e}") from e
    return json_response({"attachment": attachment}, 201)


@routes.route("GET", "/api/attachments/{attachment_id}", summary="Download an ECG attachment", roles=READERS,
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


@routes.route("GET", "/api/centers/{hospital_id}/incoming", summary="Patients on their way to this hospital",
           roles={Role.DISPATCHER, Role.ADMIN, Role.CENTER, Role.PLANNER}, tag="centers")
async def incoming(request: web.Request) -> web.Response:
    hospital_id = center_guard(request)
    return json_response({"hospital_id": hospital_id, "patients": await centers_of(request).incoming(hospital_id)})


@routes.route("POST", "/api/centers/{hospital_id}/acknowledge/{call_id}",
           summary="The center acknowledges a pre-notification (recorded as a milestone)",
           roles={Role.CENTER, Role.ADMIN}, body=EMPTY, status=201, tag="centers")
async def acknowledge(request: web.Request, body: dict[str, Any]) -> web.Response:
    hospital_id = center_guard(request)
    call_id = request.match_info["call_id"]
    patient_guard(request, call_id, write=True)
    event = await centers_of(request).acknowledge(hospital_id, call_id, principal(request).name)
    return json_response({"milestone": event["milestone"]}, 201)


@routes.route("GET", "/api/centers/{hospital_id}/report",
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
    text = await centers_of(request).report(hospital_id, start, end, fmt)
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

def prepare(app: web.Application, config: Mapping[str, Any]) -> Contribution:
    """Give the service the patients' fold and the milestone stamper (before it replays the log)."""
    patients = PatientsFold()
    app[PATIENTS] = patients
    return Contribution(side_folds=[patients], reactions=[milestone_stamper(patients)])


@asynccontextmanager
async def lifespan(app: web.Application, rt: Runtime) -> AsyncIterator[None]:
    """Run the centers' service over the started dispatch service."""
    hub = rt.live.hub

    def notify(message: dict[str, Any], call_id: str, unit_id: str | None, hospital_id: str) -> None:
        hub.publish(message, Audience.of(calls=[call_id], units=[unit_id], hospitals=[hospital_id]))

    destination = DestinationConfig.from_mapping((rt.config.get("centers", {}) or {}).get("destination"))
    centers = CentersService(rt.service, app[PATIENTS], rt.county, rt.router, destination, notify)
    app[CENTERS] = centers
    centers.start()
    try:
        yield
    finally:
        await centers.close()


EXTENSION = Extension("centers", routes, prepare=prepare, lifespan=lifespan,
                      features=("milestones", "patient", "ecg_upload", "attachments", "incoming", "acknowledge"))
