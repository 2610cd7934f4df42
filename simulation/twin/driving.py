"""A crew on the road: driving a track at the twin's speed, posting its fixes, and checking they were taken."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from typing import Any

from dispatch.model import UnitStatus
from routing.errors import RoutingError
from simulation.twin.client import ServiceClient
from simulation.twin.crew import Crew
from simulation.twin.options import Counts, TwinOptions
from simulation.twin.track import Track, osmand_params

log = logging.getLogger(__name__)

UTC = timezone.utc
#: Traccar Client stamps fixes in whole epoch seconds: two fixes of a unit are at least this far
#: apart on the wall clock, or the second would be a duplicate.
MIN_FIX_GAP_WALL_S = 1.0
#: Speed used when no route can be had (straight line), m/s (36 km/h).
FALLBACK_SPEED_MPS = 10.0


class Driver:
    """Moves the crews along the roads of ``router`` and reports their fixes to the service.

    Parameters
    ----------
    client
        The service.
    counts
        The run's counts (fixes posted, legs whose fixes the service did not take).
    router
        The county's `routing.engine.Router`.
    options
        The run's options (``speed``, ``fix_interval_s``).
    """

    def __init__(self, client: ServiceClient, counts: Counts, router: Any, options: TwinOptions) -> None:
        self.client, self.counts, self.router, self.options = client, counts, router, options

    async def local_route(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[Track, float]:
        """Return the road route from ``a`` to ``b`` (a straight line when the router has none)."""
        try:
            route = await asyncio.to_thread(self.router.route, a, b)
            coords = list(route.line.coords)
            return Track.of([a, *coords, b]), float(route.travel_time_s)
        except RoutingError as e:  # off the network or no path: the crew still gets there
            log.warning("twin: no road route from %s to %s (%s); driving straight", a, b, e)
            track = Track.of([a, b])
            return track, track.length_m / FALLBACK_SPEED_MPS

    async def wait_unless_changed(self, crew: Crew, sim_s: float) -> bool:
        """Wait ``sim_s`` simulated seconds; return False when the service changed the unit meanwhile."""
        status, call_id = crew.status, crew.call_id
        try:
            await asyncio.wait_for(crew.changed.wait(), max(0.0, sim_s) / self.options.speed)
        except asyncio.TimeoutError:
            pass
        return crew.status is status and crew.call_id == call_id

    async def drive(self, crew: Crew, track: Track, travel_s: float, status: UnitStatus) -> bool:
        """Drive along ``track`` in ``travel_s`` simulated seconds posting fixes; False when interrupted."""
        call_id = crew.call_id
        speed_mps = track.length_m / travel_s if travel_s > 0 else 0.0
        step_s = max(self.options.fix_interval_s, MIN_FIX_GAP_WALL_S * self.options.speed)
        posted_at: int | None = None
        t = 0.0
        while t < travel_s:
            dt = min(step_s, travel_s - t)
            try:
                await asyncio.wait_for(crew.changed.wait(), dt / self.options.speed)
            except asyncio.TimeoutError:
                pass
            if crew.status is not status or crew.call_id != call_id:
                return False  # reassigned, stood down or put out of service: the loop acts on the new state
            t += dt
            lon, lat, bearing = track.at(speed_mps * t)
            crew.position = (lon, lat)
            moving = t < travel_s
            posted_at = await self.post_fix(crew, crew.position, speed_mps=speed_mps if moving else 0.0,
                                            bearing=bearing)
        crew.position = track.end
        if posted_at is not None:
            await self.check_fixes_taken(crew, posted_at)
        return True

    async def post_fix(self, crew: Crew, position: tuple[float, float], *, speed_mps: float,
                       bearing: float) -> int:
        """Post one fix to ``/osmand`` stamped with the wall clock (whole seconds); return its time."""
        now = time.time()
        if int(now) <= crew.last_fix_s:  # the same second as the last fix: Traccar would send it later
            await asyncio.sleep(crew.last_fix_s + 1 - now)
        at_s = max(int(time.time()), crew.last_fix_s + 1)
        crew.last_fix_s = at_s
        await self.client.request("POST", "/osmand", None,
                                  params=osmand_params(crew.device_id, position[0], position[1], at_s,
                                                       speed_mps=speed_mps, bearing=bearing))
        self.counts.fixes_posted += 1
        return at_s

    async def check_fixes_taken(self, crew: Crew, at_s: int) -> None:
        """Check that the service holds the leg's last fix; say loudly when it does not."""
        unit = await self.client.request("GET", f"/api/units/{crew.unit_id}", crew.token)
        taken = unit.get("position_at")
        if taken is not None and datetime.fromisoformat(taken) >= datetime.fromtimestamp(at_s, UTC):
            return
        self.counts.legs_with_fixes_not_taken += 1
        if not crew.warned_fixes:
            crew.warned_fixes = True
            log.error("twin: %s: the service did not take the fix of %s (it holds %s): GPS filter? At speed %g "
                      "the service needs gps.max_speed_kph >= %g (EMS__GPS__MAX_SPEED_KPH)", crew.unit_id,
                      datetime.fromtimestamp(at_s, UTC).isoformat(), taken, self.options.speed,
                      250.0 * self.options.speed)
