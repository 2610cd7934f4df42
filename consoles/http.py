"""Serve the console pages and what they need to know about this service.

Pages (static files under ``consoles/static``, no build step, every asset vendored):
``/`` the dispatcher console, ``/crew`` the crew's phone page, ``/center`` a chest pain or stroke
center's wall board, ``/planner`` the planner's page. The pages take the bearer token from the
sign-in form (or ``?token=`` once) and call the REST API and the ``/ws`` stream with it.

Routes added here: ``GET /api/consoles/meta`` (no token: the vocabulary the pages show, the state
machine of unit statuses, milestone kinds and interval targets, and which optional endpoints this
service has) and ``GET /api/consoles/whoami`` (the holder of the token).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from centers.milestones import MilestoneKind
from centers.targets import INTERVALS
from dispatch.http import ANYONE, DISPATCH, json_response, principal, runtime
from dispatch.model import ASSIGNABLE_STATUSES, BUSY_STATUSES, UNIT_TRANSITIONS, Complaint, UnitStatus
from dispatch.routes import RouteTable
from dispatch.runtime import Contribution, Extension, Runtime
from dispatch.service import county_timezone

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGES = {"/": "dispatcher.html", "/crew": "crew.html", "/center": "center.html", "/planner": "planner.html"}

# Every asset is served by this service: a page that tried to reach a CDN would be refused by the
# browser (and fail the console tests) instead of silently breaking in an offline dispatch room.
CONTENT_SECURITY_POLICY = ("default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
                           "style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; "
                           "base-uri 'none'; frame-ancestors 'none'")

# Optional capabilities the extensions provide (`dispatch.runtime.Extension.features`); the pages ask
# `features` instead of probing (a probe that answers 404 is an error in the browser console and a
# dispatcher would see a red mark).
FEATURES = ("websocket", "positions", "milestones", "patient", "ecg_upload", "attachments", "incoming",
            "acknowledge", "simulations")

routes = RouteTable()

# Unit statuses a crew reports from its page, besides the transitions table: accepting or
# declining an assignment are their own endpoints (dispatch/http.py).
STATUS_COLOURS = {
    UnitStatus.AVAILABLE_AT_STATION: "#2fbf71", UnitStatus.AVAILABLE_MOBILE: "#1fb5a8",
    UnitStatus.DISPATCHED: "#f2c230", UnitStatus.EN_ROUTE: "#f08a24", UnitStatus.ON_SCENE: "#e5484d",
    UnitStatus.TRANSPORTING: "#b36bff", UnitStatus.AT_HOSPITAL: "#3d8bfd", UnitStatus.RETURNING: "#9bd35a",
    UnitStatus.OUT_OF_SERVICE: "#7c8796",
}


def features(rt: Runtime) -> dict[str, bool]:
    """Return which optional capabilities this service has (from the extensions it was composed with)."""
    have = rt.features
    return {name: name in have for name in FEATURES}


def vocabulary() -> dict[str, Any]:
    """Return the statuses, complaints, milestones and intervals the pages label and time."""
    out: dict[str, Any] = {
        "statuses": [{"code": s.value, "colour": STATUS_COLOURS[s], "assignable": s in ASSIGNABLE_STATUSES,
                      "busy": s in BUSY_STATUSES} for s in UnitStatus],
        "transitions": {s.value: sorted(t.value for t in targets) for s, targets in UNIT_TRANSITIONS.items()},
        "complaints": [c.value for c in Complaint],
        "priorities": [1, 2, 3, 4],
        "milestones": [],
        "intervals": [],
    }
    out["milestones"] = [{"kind": k.value, "label_zh": k.label_zh, "label_en": k.label_en,
                          "repeatable": bool(k.repeatable)} for k in MilestoneKind]
    out["intervals"] = [{"code": d.code, "label_zh": d.label_zh, "label_en": d.label_en,
                         "pathway": d.pathway.value if d.pathway else None, "scope": d.scope.value,
                         "start": [k.value for k in d.start], "end": [k.value for k in d.end],
                         "target_min": d.target_min, "stretch_min": d.stretch_min, "source": d.source}
                        for d in INTERVALS]
    return out


@routes.route("GET", "/api/consoles/meta", tag="consoles", roles=None,
           summary="What the console pages label and time, and which optional endpoints exist (no token)")
async def meta(request: web.Request) -> web.Response:
    rt = runtime(request)
    config, county = rt.config, rt.county
    targets = config.get("targets", {})
    return json_response({
        **vocabulary(),
        "county": {"name": getattr(county, "name", None), "name_en": getattr(county, "name_en", None)},
        "targets": {"urban_arrival_min": targets.get("urban_arrival_min", 10),
                    "rural_arrival_min": targets.get("rural_arrival_min", 30)},
        "gps": {"stale_after_s": config.get("gps", {}).get("stale_after_s", 600)},
        "features": features(rt),
        "timezone": county_timezone(config).key,
    })


@routes.route("GET", "/api/consoles/whoami", tag="consoles", roles=ANYONE,
           summary="The holder of the token: role, name, unit (crew) or hospital (center)")
async def whoami(request: web.Request) -> web.Response:
    who = principal(request)
    county = runtime(request).county
    hospital_name = None
    if who.hospital:
        hospital_name = next((h.name for h in county.hospitals if h.id == who.hospital), None)
    return json_response({"role": who.role.value, "name": who.name, "unit": who.unit,
                          "hospital": who.hospital, "hospital_name": hospital_name,
                          "may_dispatch": who.role in DISPATCH})


def page_handler(file_name: str) -> Any:
    """Return a handler answering one HTML page, never cached without revalidation."""
    path = STATIC_DIR / file_name

    async def page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers={"Cache-Control": "no-cache",
                                               "Content-Security-Policy": CONTENT_SECURITY_POLICY,
                                               "Content-Type": "text/html; charset=utf-8"})

    page.__name__ = f"page_{path.stem}"
    return page


def prepare(app: web.Application, config: Any) -> Contribution:
    """Add the pages and the static files to the application."""
    for url, file_name in PAGES.items():
        app.router.add_get(url, page_handler(file_name))
    app.router.add_static("/static/", STATIC_DIR, name="consoles_static")
    return Contribution()


EXTENSION = Extension("consoles", routes, prepare=prepare)

__all__ = ["EXTENSION", "features", "vocabulary", "PAGES", "STATIC_DIR", "CONTENT_SECURITY_POLICY"]
