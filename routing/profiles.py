"""Speed profiles: lights-and-sirens factors per road class and a time-of-day hook.

Normal driving time is osmnx's ``travel_time`` (edge length over the speed osmnx imputes for the
road class). The emergency profile divides it by a factor per road class
(``[routing.emergency_speed_factor]`` in ``config.toml``): ambulances gain most on wide roads where
traffic can pull over and little on narrow village lanes.

The time-of-day hook multiplies travel times by ``[routing.time_of_day_factor][hour]`` (1.0 for
hours not listed) on *urban* edges. What is urban is the router's choice: the edges whose midpoint
lies inside the ``urban_area`` polygon the router is given, or every edge when it has none (a
conservative default: in a county of this size congestion at peak hours is felt on the roads in
and out of town as much as inside it). The hook is deliberately a single factor, not a traffic model.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from routing.errors import ProfileError


class RoadClass(enum.IntEnum):
    """OSM ``highway`` classes the engine tells apart (``*_link`` roads join their class)."""

    MOTORWAY = 0
    TRUNK = 1
    PRIMARY = 2
    SECONDARY = 3
    TERTIARY = 4
    UNCLASSIFIED = 5
    RESIDENTIAL = 6
    SERVICE = 7
    OTHER = 8

    @classmethod
    def from_highway(cls, highway: Any) -> RoadClass:
        """Return the class of an OSM ``highway`` value (a string or, on merged ways, a list).

        A list gives its most important class; an unknown or missing value gives ``OTHER``.
        """
        if isinstance(highway, (list, tuple, set)):
            classes = [cls.from_highway(h) for h in highway]
            return min(classes) if classes else cls.OTHER
        if not isinstance(highway, str):
            return cls.OTHER
        name = highway.strip().lower().removesuffix("_link")
        if name == "living_street":
            name = "residential"
        try:
            return cls[name.upper()]
        except KeyError:
            return cls.OTHER


class Profile(enum.Enum):
    """How the vehicle drives."""

    EMERGENCY = "emergency"
    NORMAL = "normal"

    @classmethod
    def parse(cls, value: str | Profile) -> Profile:
        """Return the profile named ``value`` ("emergency" or "normal")."""
        if isinstance(value, Profile):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError as e:
            names = ", ".join(p.value for p in cls)
            raise ProfileError(f"profile must be one of {names}, got {value!r}") from e


def _factor(where: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ProfileError(f"{where} must be a number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class SpeedProfile:
    """Per-class emergency factors and per-hour urban factors.

    Attributes
    ----------
    emergency_factor
        Road class -> speed factor (> 0) of lights-and-sirens driving against normal driving.
    time_of_day_factor
        Hour (0-23) -> travel time multiplier (> 0) on urban edges; hours absent use 1.0.
    """

    emergency_factor: Mapping[RoadClass, float] = field(
        default_factory=lambda: MappingProxyType({c: 1.0 for c in RoadClass})
    )
    time_of_day_factor: Mapping[int, float] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> SpeedProfile:
        """Build the profile from the whole config dict (``ems.config.load_config()``).

        Reads ``[routing.emergency_speed_factor]`` (keys: road classes and ``default``) and
        ``[routing.time_of_day_factor]`` (keys: hours "0".."23"). Absent tables give factor 1.0.

        Raises
        ------
        ProfileError
            A factor is not a number > 0, a class name is unknown, or an hour is not 0-23.
        """
        routing = (config or {}).get("routing", {}) or {}
        speed = routing.get("emergency_speed_factor", {}) or {}
        default = _factor("routing.emergency_speed_factor.default", speed.get("default", 1.0))
        factors = {c: default for c in RoadClass}
        known = {c.name.lower() for c in RoadClass} | {"default"}
        for key, value in speed.items():
            name = str(key).lower()
            if name not in known:
                raise ProfileError(
                    f"routing.emergency_speed_factor.{key}: unknown road class, expected one of "
                    f"{', '.join(sorted(known))}"
                )
            if name != "default":
                factors[RoadClass[name.upper()]] = _factor(f"routing.emergency_speed_factor.{key}", value)
        hours: dict[int, float] = {}
        for key, value in (routing.get("time_of_day_factor", {}) or {}).items():
            try:
                hour = int(key)
            except (TypeError, ValueError):
                hour = -1
            if not 0 <= hour <= 23:
                raise ProfileError(f"routing.time_of_day_factor: hour must be 0-23, got {key!r}")
            hours[hour] = _factor(f"routing.time_of_day_factor.{key}", value)
        return cls(MappingProxyType(factors), MappingProxyType(hours))

    def class_factors(self, profile: Profile) -> np.ndarray:
        """Return the speed factor of each road class code (an array indexed by ``RoadClass``)."""
        if profile is Profile.NORMAL:
            return np.ones(len(RoadClass))
        return np.array([self.emergency_factor.get(c, 1.0) for c in RoadClass], dtype=float)

    def hour_factor(self, hour: int | None) -> float:
        """Return the urban travel time multiplier at ``hour`` (1.0 when None or not listed)."""
        if hour is None:
            return 1.0
        if isinstance(hour, bool) or not isinstance(hour, (int, np.integer)) or not 0 <= hour <= 23:
            raise ProfileError(f"hour must be an integer 0-23, got {hour!r}")
        return float(self.time_of_day_factor.get(int(hour), 1.0))

    def edge_weights(self, travel_time_s: np.ndarray, road_class: np.ndarray, profile: Profile) -> np.ndarray:
        """Return the per-edge travel time (s) under ``profile``, before any time-of-day factor."""
        return travel_time_s / self.class_factors(profile)[road_class]
