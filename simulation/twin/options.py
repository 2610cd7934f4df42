"""How a twin run is set up (its options, the service's settings for it, its clock) and what it reports."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulation.twin.errors import TwinError


def service_config_for_twin(config: dict[str, Any], speed: float) -> dict[str, Any]:
    """Return ``config`` with the GPS jump limit widened for a twin running ``speed`` times faster.

    Fixes are stamped with the wall clock while the ambulances drive ``speed`` times faster, so the
    speed implied between two fixes is ``speed`` times the driven speed: ``gps.max_speed_kph`` is
    multiplied by ``speed`` (never lowered).
    """
    gps = dict(config.get("gps", {}) or {})
    limit = float(gps.get("max_speed_kph", 250.0))
    gps["max_speed_kph"] = max(limit, limit * float(speed))
    return {**config, "gps": gps}


@dataclass(frozen=True)
class TwinOptions:
    """How the twin runs.

    Attributes
    ----------
    url
        The service, e.g. ``http://127.0.0.1:8120``.
    token_file
        The service's token file (a dispatcher token and one crew token per unit it drives).
    speed
        Simulated seconds per wall-clock second.
    calls_per_hour
        A flat call rate; None: the config's daily profile (``[simulation] calls_per_day``).
    duration_s
        Stop after this many wall-clock seconds; None: no limit.
    calls
        Stop after this many calls were placed and every unit came home; None: no limit.
    seed
        Seed of the call streams and the crews' draws.
    fix_interval_s
        Simulated seconds between two fixes of a moving unit (at least one wall second apart).
    poll_interval_s
        Wall seconds between two reads of the units' statuses.
    first_call_now
        Place the first call at once.
    """

    url: str
    token_file: Path
    speed: float = 10.0
    calls_per_hour: float | None = None
    duration_s: float | None = None
    calls: int | None = None
    seed: int = 1
    fix_interval_s: float = 5.0
    poll_interval_s: float = 0.5
    first_call_now: bool = True

    def __post_init__(self) -> None:
        for name in ("speed", "fix_interval_s", "poll_interval_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise TwinError(f"{name} must be a number > 0, got {value!r}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise TwinError(f"duration_s must be > 0 seconds, got {self.duration_s!r}")
        if self.calls is not None and (not isinstance(self.calls, int) or self.calls < 0):
            raise TwinError(f"calls must be an integer >= 0, got {self.calls!r}")


@dataclass(frozen=True)
class TwinReport:
    """What a twin run did (counts), and the problems it met."""

    wall_s: float
    sim_s: float
    calls_placed: int
    calls_assigned: int
    calls_finished: int
    fixes_posted: int
    legs_with_fixes_not_taken: int
    statuses_posted: int
    milestones_posted: int
    ecgs_uploaded: int
    destinations_asked: int
    conflicts: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Counts:
    """What a run has done so far (mutable, shared by the twin's parts; `TwinReport` is its final copy)."""

    calls_placed: int = 0
    calls_assigned: int = 0
    calls_finished: int = 0
    fixes_posted: int = 0
    legs_with_fixes_not_taken: int = 0
    statuses_posted: int = 0
    milestones_posted: int = 0
    ecgs_uploaded: int = 0
    destinations_asked: int = 0
    conflicts: int = 0
    errors: int = 0

    def report(self, *, wall_s: float, sim_s: float) -> TwinReport:
        """Return the counts as the report of a run that lasted ``wall_s`` (``sim_s`` simulated)."""
        return TwinReport(wall_s=wall_s, sim_s=sim_s, **{k: getattr(self, k) for k in self.__dataclass_fields__})


class SimClock:
    """The run's simulated time: ``speed`` simulated seconds per wall-clock second since `start`."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self._t0 = time.monotonic()

    def start(self) -> None:
        """Start the run's clock now."""
        self._t0 = time.monotonic()

    def wall_s(self) -> float:
        """Return wall-clock seconds since the start of the run."""
        return time.monotonic() - self._t0

    def now_s(self) -> float:
        """Return simulated seconds since the start of the run."""
        return self.wall_s() * self.speed

    async def sleep(self, sim_s: float) -> None:
        """Wait ``sim_s`` simulated seconds."""
        await asyncio.sleep(max(0.0, sim_s) / self.speed)
