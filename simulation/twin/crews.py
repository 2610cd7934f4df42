"""The crews: each acts on its unit's status as the service reports it, from dispatch back to the station."""

from __future__ import annotations

import asyncio
import logging
import time

from dispatch.model import UnitStatus
from simulation.twin.centers import CARDIO_STROKE, CenterSteps
from simulation.twin.client import ServiceClient, TwinTokens
from simulation.twin.crew import IDLE, Crew
from simulation.twin.dispatcher import CallBook
from simulation.twin.driving import Driver
from simulation.twin.errors import TwinError, TwinHttpError
from simulation.twin.options import Counts, TwinOptions
from simulation.twin.track import Track

log = logging.getLogger(__name__)


class Crews:
    """The crews of the units the token file has a crew token for, and what each does by its unit's status.

    Parameters
    ----------
    client, tokens
        The service and the tokens (the dispatcher's reads every unit; each crew acts with its own).
    counts
        The run's counts (statuses posted, conflicts, errors).
    options
        The run's options (token file, poll interval).
    book
        Each call's drawn future.
    driver, centers
        The crews' driving and their chest pain and stroke steps.
    """

    def __init__(self, client: ServiceClient, tokens: TwinTokens, counts: Counts, options: TwinOptions, *,
                 book: CallBook, driver: Driver, centers: CenterSteps) -> None:
        self.client, self.tokens, self.counts, self.options = client, tokens, counts, options
        self.book, self.driver, self.centers = book, driver, centers
        self.units: dict[str, Crew] = {}

    async def load(self) -> None:
        """Read the units and make a crew for each unit the token file has a crew token for."""
        units = (await self.client.request("GET", "/api/units", self.tokens.dispatcher))["units"]
        missing = []
        for u in units:
            token = self.tokens.crews.get(u["id"])
            if token is None:
                missing.append(u["id"])
                continue
            station = (float(u["station_location"]["lon"]), float(u["station_location"]["lat"]))
            pos = u.get("position")
            position = (float(pos["lon"]), float(pos["lat"])) if pos else station
            self.units[u["id"]] = Crew(u["id"], token, str(u.get("device_id") or u["id"]), station, position,
                                       UnitStatus(u["status"]), u.get("current_call"))
        if missing:
            log.warning("twin: no crew token for unit(s) %s in %s: they are left to the dispatcher",
                        ", ".join(missing), self.options.token_file)
        if not self.units:
            raise TwinError(f"token file {self.options.token_file}: no crew token for any unit of the service")

    async def watch(self) -> None:
        """Read every unit's status; tell a crew when the service changed it (an assignment, an override)."""
        while True:
            sent = time.monotonic()
            try:
                units = (await self.client.request("GET", "/api/units", self.tokens.dispatcher))["units"]
            except TwinHttpError as e:
                self.counts.errors += 1
                log.error("twin: reading the units: %s", e)
                units = []
            for u in units:
                crew = self.units.get(u["id"])
                if crew is None or crew.local_update > sent:
                    continue  # our own request answered a newer state than this read
                crew.take_state(u, local=False)
            await asyncio.sleep(self.options.poll_interval_s)

    async def refresh(self, crew: Crew) -> None:
        """Read the crew's own unit again."""
        crew.take_state(await self.client.request("GET", f"/api/units/{crew.unit_id}", crew.token), local=True)

    async def post_status(self, crew: Crew, status: UnitStatus) -> None:
        """Report a status with the crew's token."""
        unit = await self.client.request("POST", f"/api/units/{crew.unit_id}/status", crew.token,
                                         json={"status": status.value})
        self.counts.statuses_posted += 1
        crew.take_state(unit, local=True)

    async def crew_loop(self, crew: Crew) -> None:
        """Act on the unit's status, for ever; errors are reported and the crew carries on."""
        import aiohttp

        placed = False
        while True:
            crew.changed.clear()
            try:
                if not placed:  # on the map at once
                    await self.driver.post_fix(crew, crew.position, speed_mps=0.0, bearing=0.0)
                    placed = True
                await self.act(crew)
            except TwinHttpError as e:
                if e.status == 409:
                    self.counts.conflicts += 1
                    log.info("twin: %s: %s; reading the unit again", crew.unit_id, e.message)
                else:
                    self.counts.errors += 1
                    log.error("twin: %s: %s", crew.unit_id, e)
                    await asyncio.sleep(1.0)
                await self._refresh_quietly(crew)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                self.counts.errors += 1
                log.error("twin: %s: the service did not answer: %r", crew.unit_id, e)
                await asyncio.sleep(1.0)
                await self._refresh_quietly(crew)

    async def _refresh_quietly(self, crew: Crew) -> None:
        import aiohttp

        try:
            await self.refresh(crew)
        except (TwinHttpError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self.counts.errors += 1
            log.error("twin: %s: reading the unit: %s", crew.unit_id, e)

    async def act(self, crew: Crew) -> None:
        """Do the next step of the unit's job by its status."""
        s = crew.status
        if s in IDLE:
            await crew.changed.wait()
        elif s is UnitStatus.DISPATCHED:
            await self.accept(crew)
        elif s is UnitStatus.EN_ROUTE:
            await self.drive_to_scene(crew)
        elif s is UnitStatus.ON_SCENE:
            await self.on_scene(crew)
        elif s is UnitStatus.TRANSPORTING:
            await self.transport(crew)
        elif s is UnitStatus.AT_HOSPITAL:
            await self.handover(crew)
        else:  # returning, available_mobile
            await self.drive_home(crew)

    async def accept(self, crew: Crew) -> None:
        """Accept the call after the drawn turnout time (from the status the unit was in before the alert)."""
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.book.info(call_id)
        turnout = plan.turnout_s.get(crew.prior_status) or plan.turnout_s.get(UnitStatus.AVAILABLE_MOBILE, 15.0)
        if not await self.driver.wait_unless_changed(crew, turnout):
            return
        unit = await self.client.request("POST", f"/api/units/{crew.unit_id}/accept", crew.token, json={})
        self.counts.statuses_posted += 1
        crew.take_state(unit, local=True)

    async def drive_to_scene(self, crew: Crew) -> None:
        """Drive the service's route to the scene (the local router's when it has none); report on scene."""
        call_id = crew.call_id
        assert call_id is not None
        plan, location = await self.book.info(call_id)
        track, travel_s = None, None
        route = await self.client.request("GET", f"/api/units/{crew.unit_id}/route", crew.token)
        if route.get("route") and route.get("travel_s"):
            track = Track.of([crew.position, *route["route"]["geometry"]["coordinates"], location])
            travel_s = float(route["travel_s"])
        elif route.get("problem"):
            log.warning("twin: %s: the service gave no route (%s); routing locally", crew.unit_id, route["problem"])
        if track is None:
            track, travel_s = await self.driver.local_route(crew.position, location)
        if await self.driver.drive(crew, track, travel_s, UnitStatus.EN_ROUTE):
            await self.post_status(crew, UnitStatus.ON_SCENE)

    async def on_scene(self, crew: Crew) -> None:
        """Treat the patient for the drawn on-scene time; leave transporting, or returning when no transport."""
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.book.info(call_id)
        spent: float | None = 0.0
        if plan.complaint in CARDIO_STROKE:
            spent = await self.centers.assess(crew, call_id, plan)
            if spent is None:
                return
        if not await self.driver.wait_unless_changed(crew, plan.on_scene_s - spent):
            return
        if plan.transport:
            await self.post_status(crew, UnitStatus.TRANSPORTING)
        else:
            await self.post_status(crew, UnitStatus.RETURNING)  # finishes the call

    async def transport(self, crew: Crew) -> None:
        """Drive the patient to the destination; report at hospital."""
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.book.info(call_id)
        target = await self.centers.destination(crew, call_id, plan)
        track, travel_s = await self.driver.local_route(crew.position, target)
        if await self.driver.drive(crew, track, travel_s, UnitStatus.TRANSPORTING):
            await self.post_status(crew, UnitStatus.AT_HOSPITAL)

    async def handover(self, crew: Crew) -> None:
        """Hand the patient over for the drawn handover time; report returning."""
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.book.info(call_id)
        if await self.driver.wait_unless_changed(crew, plan.handover_s):
            await self.post_status(crew, UnitStatus.RETURNING)

    async def drive_home(self, crew: Crew) -> None:
        """Drive back to the station; report available at station."""
        if crew.status is UnitStatus.AVAILABLE_MOBILE:
            await self.post_status(crew, UnitStatus.RETURNING)
        track, travel_s = await self.driver.local_route(crew.position, crew.station)
        if await self.driver.drive(crew, track, travel_s, UnitStatus.RETURNING):
            await self.post_status(crew, UnitStatus.AVAILABLE_AT_STATION)
