"""One unit's crew as the twin knows it: where the unit is and what the service last said of it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dispatch.model import UnitStatus

# Statuses in which a crew has nothing to do until the service tells it otherwise.
IDLE = frozenset({UnitStatus.AVAILABLE_AT_STATION, UnitStatus.OUT_OF_SERVICE})


@dataclass
class Crew:
    """One unit's crew: where it is and what it knows (mutable, owned by its task)."""

    unit_id: str
    token: str
    device_id: str
    station: tuple[float, float]
    position: tuple[float, float]
    status: UnitStatus
    call_id: str | None = None
    prior_status: UnitStatus = UnitStatus.AVAILABLE_AT_STATION
    last_fix_s: int = 0
    local_update: float = 0.0            # monotonic time of the last state taken from our own request
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    warned_fixes: bool = False

    def take_state(self, unit: Mapping[str, Any], *, local: bool) -> None:
        """Take the unit's status and call from the service's ``unit`` JSON.

        Parameters
        ----------
        local
            The state answers the crew's own request; otherwise it was read by the watcher, and a
            change (an assignment, an override) wakes the crew.
        """
        status, call_id = UnitStatus(unit["status"]), unit.get("current_call")
        if local:
            self.local_update = time.monotonic()
        if status is not self.status or call_id != self.call_id:
            if status is UnitStatus.DISPATCHED and self.status is not UnitStatus.DISPATCHED:
                self.prior_status = self.status
            self.status, self.call_id = status, call_id
            if not local:
                self.changed.set()  # the service changed the unit: wake the crew
