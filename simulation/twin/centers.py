"""A crew's part in the chest pain and stroke centers: field milestones, the ECG, the destination."""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np

from dispatch.gps import distance_m
from dispatch.model import Complaint
from routing.errors import RoutingError
from simulation.twin.calls import TwinCall
from simulation.twin.client import ServiceClient
from simulation.twin.crew import Crew
from simulation.twin.driving import FALLBACK_SPEED_MPS, Driver
from simulation.twin.ecg import ecg_png
from simulation.twin.errors import TwinError
from simulation.twin.options import Counts

log = logging.getLogger(__name__)

UTC = timezone.utc
#: Stroke screening values given to the centers' destination policy; the same as the planner's
#: simulator (simulation/policy_use.py): RACE 6 is LVO-positive (RACE >= 5, Pérez de la Ossa et al.,
#: Stroke 2014), 2 is not; last known well 1.5 h ago is inside any thrombolysis window (4.5 h), 30 h
#: ago outside every window.
RACE_LVO, RACE_NO_LVO = 6, 2
LKW_IN_WINDOW_S, LKW_OUT_S = 1.5 * 3600.0, 30 * 3600.0
#: The first ECG within 10 minutes of first medical contact (ESC 2017 STEMI guideline; the
#: Chinese chest pain center standard uses the same target): drawn uniform in 2-8 min on scene.
FIRST_ECG_S = (120.0, 480.0)
CARDIO_STROKE = frozenset({Complaint.CHEST_PAIN, Complaint.STROKE})


def last_known_well(plan: TwinCall) -> datetime:
    """Return when the stroke patient of ``plan`` was last known well (inside or outside every window)."""
    return datetime.now(UTC) - timedelta(seconds=LKW_IN_WINDOW_S if plan.lkw_in_window else LKW_OUT_S)


class CenterSteps:
    """What a crew does for the chest pain and stroke centers, and where it takes a patient.

    Parameters
    ----------
    client
        The service.
    counts
        The run's counts (milestones, ECGs, destinations asked).
    county, router
        The county (its hospitals) and its `routing.engine.Router`.
    rng
        The crews' random draws (the time of the first ECG).
    driver
        Waits on scene that a change of the unit cuts short.
    """

    def __init__(self, client: ServiceClient, counts: Counts, county: Any, router: Any, rng: np.random.Generator,
                 driver: Driver) -> None:
        self.client, self.counts, self.county, self.router = client, counts, county, router
        self.rng, self.driver = rng, driver

    async def assess(self, crew: Crew, call_id: str, plan: TwinCall) -> float | None:
        """Record the crew's chest pain or stroke milestones; return the simulated seconds spent (None: interrupted)."""
        ecg_s = float(self.rng.uniform(*FIRST_ECG_S))
        ecg_s = min(ecg_s, max(plan.on_scene_s - 60.0, 0.0))
        if not await self.driver.wait_unless_changed(crew, ecg_s):
            return None
        path = f"/api/calls/{call_id}/milestones"
        if plan.complaint is Complaint.CHEST_PAIN:
            await self.milestone(crew, path, "first_ecg")
            if plan.stemi:
                await self.milestone(crew, path, "stemi_suspected")
                if plan.cathlab_from_field:
                    # the transmitted ECG is what the cath lab is activated on
                    await self.client.request("POST", f"/api/calls/{call_id}/ecg", crew.token, data=ecg_png(),
                                              content_type="image/png")
                    self.counts.ecgs_uploaded += 1
                    await self.milestone(crew, path, "cathlab_activated")
        else:
            await self.milestone(crew, path, "last_known_well", at=last_known_well(plan))
            if plan.lvo or plan.lkw_in_window:
                # a positive screen the crew calls ahead about: a time-critical stroke
                await self.milestone(crew, path, "stroke_suspected")
        return ecg_s

    async def milestone(self, crew: Crew, path: str, kind: str, at: datetime | None = None) -> None:
        """Record the milestone ``kind`` of the call at ``path`` (now, or at ``at``)."""
        body: dict[str, Any] = {"kind": kind}
        if at is not None:
            body["at"] = at.isoformat()
        await self.client.request("POST", path, crew.token, json=body)
        self.counts.milestones_posted += 1

    async def destination(self, crew: Crew, call_id: str, plan: TwinCall) -> tuple[float, float]:
        """Return where the patient goes: the centers' choice for chest pain and stroke, else the nearest ED."""
        hospitals = {h.id: (h.lon, h.lat) for h in self.county.hospitals}
        if plan.complaint in CARDIO_STROKE:
            patient = await self.client.request("GET", f"/api/calls/{call_id}/patient", crew.token)
            chosen = patient.get("destination")
            if chosen is None:
                body: dict[str, Any] = {}
                if plan.complaint is Complaint.CHEST_PAIN:
                    body = {"stemi": plan.stemi, "field_cathlab_activated": plan.cathlab_from_field}
                else:
                    body = {"befast_positive": True, "race_score": RACE_LVO if plan.lvo else RACE_NO_LVO,
                            "last_known_well": last_known_well(plan).isoformat()}
                chosen = (await self.client.request("POST", f"/api/calls/{call_id}/destination", crew.token,
                                                    json=body)).get("destination")
                self.counts.destinations_asked += 1
            if chosen and chosen.get("hospital_id") in hospitals:
                return hospitals[chosen["hospital_id"]]
            log.warning("twin: %s: no destination for %s; nearest hospital", crew.unit_id, call_id)
        return await asyncio.to_thread(self.nearest_hospital, crew.position)

    def nearest_hospital(self, origin: tuple[float, float]) -> tuple[float, float]:
        """Return the hospital with an emergency department nearest by road (any hospital when none has one)."""
        hospitals = list(self.county.hospitals)
        with_ed = [h for h in hospitals if "ed" in h.capabilities] or hospitals
        if not with_ed:
            raise TwinError(f"county {self.county.name}: has no hospital to take a patient to")
        best, best_s = with_ed[0], math.inf
        for h in with_ed:
            try:
                t = self.router.route(origin, (h.lon, h.lat)).travel_time_s
            except RoutingError:  # unreachable or off the network: timed as the crow flies
                t = distance_m(origin[0], origin[1], h.lon, h.lat) / FALLBACK_SPEED_MPS
            if t < best_s:
                best, best_s = h, t
        return best.lon, best.lat
