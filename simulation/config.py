"""Simulation settings: service-time distributions, the complaint mix, the call profile.

Everything is read from the ``[simulation]`` section of ``config.toml`` (see the commented
defaults there) by :meth:`SimulationConfig.from_config`; every value has a default here so a
missing section still runs. Defaults that are assumptions, not published figures, say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import numpy as np

from dispatch.errors import PolicyError
from dispatch.model import Capability, Complaint, UnitStatus
from dispatch.moveup import MoveUpConfig
from simulation.errors import SimulationConfigError


class DistKind(StrEnum):
    """A family of service-time distributions (seconds)."""

    FIXED = "fixed"
    EXPONENTIAL = "exponential"
    LOGNORMAL = "lognormal"
    GAMMA = "gamma"
    UNIFORM = "uniform"


@dataclass(frozen=True, slots=True)
class Distribution:
    """A non-negative duration distribution, in seconds.

    ``fixed``: ``mean_s``. ``exponential``: ``mean_s``. ``lognormal`` and ``gamma``: ``mean_s``
    and ``sd_s``. ``uniform``: ``low_s`` and ``high_s``.
    """

    kind: DistKind
    mean_s: float = 0.0
    sd_s: float = 0.0
    low_s: float = 0.0
    high_s: float = 0.0

    def __post_init__(self) -> None:
        for name in ("mean_s", "sd_s", "low_s", "high_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SimulationConfigError(f"distribution {name} must be a finite number >= 0, got {value!r}")
        if self.kind in (DistKind.LOGNORMAL, DistKind.GAMMA) and (self.mean_s <= 0 or self.sd_s <= 0):
            raise SimulationConfigError(
                f"a {self.kind} distribution needs mean_s > 0 and sd_s > 0, got {self.mean_s}, {self.sd_s}"
            )
        if self.kind is DistKind.UNIFORM and self.high_s < self.low_s:
            raise SimulationConfigError(f"uniform: high_s must be >= low_s, got {self.low_s}, {self.high_s}")

    @classmethod
    def fixed(cls, value_s: float) -> Distribution:
        """Return a distribution that always gives ``value_s``."""
        return cls(DistKind.FIXED, mean_s=value_s)

    @classmethod
    def parse(cls, name: str, value: Any) -> Distribution:
        """Build from a number (fixed) or a table ``{dist = "lognormal", mean_s = 900, sd_s = 420}``.

        Raises
        ------
        SimulationConfigError
            Unknown ``dist``, a missing or negative parameter; the message names ``name``.
        """
        if isinstance(value, Distribution):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls.fixed(float(value))
        if not isinstance(value, Mapping):
            raise SimulationConfigError(f"{name} must be a number of seconds or a table with dist = ..., got {value!r}")
        data = dict(value)
        raw = data.pop("dist", "fixed")
        try:
            kind = DistKind(raw)
        except ValueError:
            raise SimulationConfigError(
                f"{name}.dist must be one of {', '.join(DistKind)}, got {raw!r}"
            ) from None
        allowed = {"mean_s", "sd_s", "low_s", "high_s"}
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SimulationConfigError(f"{name}: unknown key(s) {', '.join(unknown)}; expected dist, {', '.join(sorted(allowed))}")
        try:
            return cls(kind, **{k: float(v) for k, v in data.items()})
        except (TypeError, ValueError) as e:
            raise SimulationConfigError(f"{name}: parameters must be numbers, got {value!r}") from e
        except SimulationConfigError as e:
            raise SimulationConfigError(f"{name}: {e}") from e

    @property
    def mean(self) -> float:
        """Return the mean in seconds."""
        if self.kind is DistKind.UNIFORM:
            return (self.low_s + self.high_s) / 2.0
        return self.mean_s

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` durations (s) from ``rng``; always consumes the same stream per kind."""
        if self.kind is DistKind.FIXED:
            return np.full(size, self.mean_s)
        if self.kind is DistKind.EXPONENTIAL:
            return rng.exponential(self.mean_s, size) if self.mean_s > 0 else np.zeros(size)
        if self.kind is DistKind.UNIFORM:
            return rng.uniform(self.low_s, self.high_s, size)
        if self.kind is DistKind.LOGNORMAL:
            sigma2 = math.log1p((self.sd_s / self.mean_s) ** 2)
            mu = math.log(self.mean_s) - sigma2 / 2.0
            return rng.lognormal(mu, math.sqrt(sigma2), size)
        shape = (self.mean_s / self.sd_s) ** 2
        return rng.gamma(shape, self.mean_s / shape, size)


@dataclass(frozen=True, slots=True)
class ComplaintSpec:
    """One complaint of the mix.

    Attributes
    ----------
    share
        Relative share of calls (the shares are normalised over the mix).
    priority_weights
        Relative weights of priorities 1-4 for this complaint.
    transport
        Probability that the patient is taken to hospital.
    stemi
        Chest pain only: probability the field ECG shows a STEMI.
    cathlab_from_field
        STEMI only: probability the crew activates the cath lab from the field.
    lvo
        Stroke only: probability of a positive large-vessel-occlusion screen (BE-FAST with RACE >= 5).
    lkw_in_window
        Stroke only: probability that the patient was last known well within the thrombectomy window.
    """

    share: float
    priority_weights: tuple[float, float, float, float]
    transport: float
    stemi: float = 0.0
    cathlab_from_field: float = 0.0
    lvo: float = 0.0
    lkw_in_window: float = 0.0


# The complaint mix: ASSUMPTIONS for a Chinese county 120 service (no published Ningxiang mix);
# chest pain and stroke shares are in the range county chest pain / stroke center reports give
# (5-10 % of 120 calls each); STEMI share of chest pain calls and LVO share of strokes are
# typical prehospital figures (about 15 % and 25-35 %).
DEFAULT_COMPLAINTS: Mapping[Complaint, ComplaintSpec] = MappingProxyType(
    {
        Complaint.CHEST_PAIN: ComplaintSpec(0.08, (0.6, 0.4, 0.0, 0.0), 0.9, stemi=0.15, cathlab_from_field=0.5),
        Complaint.STROKE: ComplaintSpec(0.07, (0.7, 0.3, 0.0, 0.0), 0.95, lvo=0.3, lkw_in_window=0.6),
        Complaint.TRAUMA: ComplaintSpec(0.30, (0.2, 0.4, 0.4, 0.0), 0.75),
        Complaint.OBSTETRIC: ComplaintSpec(0.03, (0.3, 0.5, 0.2, 0.0), 0.95),
        Complaint.PEDIATRIC: ComplaintSpec(0.07, (0.1, 0.4, 0.5, 0.0), 0.8),
        Complaint.OTHER: ComplaintSpec(0.45, (0.05, 0.3, 0.45, 0.2), 0.65),
    }
)

# Relative call rate per local hour 0-23 (ASSUMPTION: the usual EMS day, lowest at 3-5 h, peaks
# late morning and early evening).
DEFAULT_HOURLY_PROFILE: tuple[float, ...] = (
    0.65, 0.55, 0.5, 0.45, 0.45, 0.5, 0.7, 0.9, 1.1, 1.25, 1.3, 1.3,
    1.25, 1.2, 1.2, 1.2, 1.2, 1.25, 1.3, 1.3, 1.2, 1.05, 0.9, 0.75,
)  # fmt: skip
# Relative rate Monday..Sunday (ASSUMPTION: a little busier on Mondays and weekends).
DEFAULT_WEEKDAY_FACTOR: tuple[float, ...] = (1.05, 1.0, 1.0, 1.0, 1.0, 1.02, 1.03)

DEFAULT_CAPABILITY_BY_STATION_KIND: Mapping[str, Capability] = MappingProxyType(
    {"centre": Capability.ALS, "substation": Capability.ALS, "point": Capability.BLS}
)


@dataclass(frozen=True, slots=True)
class ServiceTimes:
    """Durations of a job's phases (s).

    ``call_processing``: from the call answered to the unit alerted. ``turnout``: by the unit's
    status when alerted (the policy ranks with the means of ``[dispatch.turnout_s]``; the
    simulator draws from these). ``on_scene``, ``handover`` (at the hospital, until the unit is
    free again).
    """

    call_processing: Distribution = field(default_factory=lambda: Distribution(DistKind.LOGNORMAL, 90.0, 30.0))
    turnout: Mapping[UnitStatus, Distribution] = field(
        default_factory=lambda: MappingProxyType(
            {
                UnitStatus.AVAILABLE_AT_STATION: Distribution(DistKind.LOGNORMAL, 60.0, 20.0),
                UnitStatus.AVAILABLE_MOBILE: Distribution.fixed(15.0),
                UnitStatus.RETURNING: Distribution.fixed(15.0),
            }
        )
    )
    on_scene: Distribution = field(default_factory=lambda: Distribution(DistKind.LOGNORMAL, 900.0, 420.0))
    handover: Distribution = field(default_factory=lambda: Distribution(DistKind.LOGNORMAL, 900.0, 300.0))

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only mapping views do not pickle; worker processes need these settings.
        return (_service_times, (self.call_processing, dict(self.turnout), self.on_scene, self.handover))


def _service_times(call_processing: Distribution, turnout: dict, on_scene: Distribution, handover: Distribution) -> ServiceTimes:
    return ServiceTimes(call_processing, MappingProxyType(turnout), on_scene, handover)


@dataclass(frozen=True, slots=True)
class SimulationConfig:
    """Everything the model needs besides the county, the layout and the travel times.

    Attributes
    ----------
    calls_per_day
        Mean calls a day before the weekday factor (ASSUMPTION for Ningxiang: about 80, i.e.
        20 calls per 1,000 people a year for 1.45 million people).
    hourly_profile, weekday_factor
        Relative rates per hour 0-23 and per weekday (Monday first); normalised to mean 1.
    start_weekday
        Weekday of simulated day 0 (0 = Monday).
    complaints
        The complaint mix.
    service
        Service-time distributions.
    capability_by_station_kind
        The capability of a station's units, by station kind.
    unbounded_dispatch
        Give the policy no ``max_eta_s``: the simulator sends the best unit however far (a far
        township still gets an ambulance); when False ``routing.max_eta_s`` applies and farther
        calls wait.
    warmup_days
        Days simulated before records are kept (the system starts empty).
    landmarks
        Demand points, spread over the county, that units sent again on their way back may be
        timed through (see `simulation.travel`); 0 for stations and hospitals only.
    """

    calls_per_day: float = 80.0
    hourly_profile: tuple[float, ...] = DEFAULT_HOURLY_PROFILE
    weekday_factor: tuple[float, ...] = DEFAULT_WEEKDAY_FACTOR
    start_weekday: int = 0
    complaints: Mapping[Complaint, ComplaintSpec] = field(default_factory=lambda: DEFAULT_COMPLAINTS)
    service: ServiceTimes = field(default_factory=ServiceTimes)
    capability_by_station_kind: Mapping[str, Capability] = field(
        default_factory=lambda: DEFAULT_CAPABILITY_BY_STATION_KIND
    )
    unbounded_dispatch: bool = True
    warmup_days: float = 0.0
    landmarks: int = 150
    move_up: MoveUpConfig | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.calls_per_day, (int, float)) and math.isfinite(self.calls_per_day) and self.calls_per_day > 0):
            raise SimulationConfigError(f"simulation.calls_per_day must be a number > 0, got {self.calls_per_day!r}")
        _profile("simulation.hourly_profile", self.hourly_profile, 24)
        _profile("simulation.weekday_factor", self.weekday_factor, 7)
        if not (isinstance(self.start_weekday, int) and 0 <= self.start_weekday <= 6):
            raise SimulationConfigError(f"simulation.start_weekday must be 0-6 (Monday = 0), got {self.start_weekday!r}")
        if not self.complaints or sum(c.share for c in self.complaints.values()) <= 0:
            raise SimulationConfigError("simulation.complaints: at least one complaint with share > 0 is needed")
        for complaint, spec in self.complaints.items():
            _check_spec(complaint, spec)
        if not (isinstance(self.warmup_days, (int, float)) and self.warmup_days >= 0):
            raise SimulationConfigError(f"simulation.warmup_days must be >= 0, got {self.warmup_days!r}")
        if isinstance(self.landmarks, bool) or not isinstance(self.landmarks, int) or self.landmarks < 0:
            raise SimulationConfigError(f"simulation.landmarks must be an integer >= 0, got {self.landmarks!r}")
        if self.move_up is not None and not isinstance(self.move_up, MoveUpConfig):
            raise SimulationConfigError(f"simulation.move_up must be a MoveUpConfig or None, got {self.move_up!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only mapping views do not pickle; worker processes need these settings.
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("complaints", "capability_by_station_kind"):
            state[name] = dict(state[name])
        return (_simulation_config, (state,))

    def with_(self, **changes: Any) -> SimulationConfig:
        """Return a copy with ``changes`` (checked again)."""
        return replace(self, **changes)

    @classmethod
    def from_config(cls, config: Mapping[str, Any] | None) -> SimulationConfig:
        """Build from a loaded ``config.toml`` (its ``[simulation]`` section); defaults fill gaps.

        Raises
        ------
        SimulationConfigError
            A malformed or unknown key; the message names it.
        """
        section = dict((config or {}).get("simulation", {}) or {})
        kwargs: dict[str, Any] = {}
        for key in ("calls_per_day", "start_weekday", "unbounded_dispatch", "warmup_days", "landmarks"):
            if key in section:
                kwargs[key] = section.pop(key)
        for key in ("hourly_profile", "weekday_factor"):
            if key in section:
                kwargs[key] = tuple(section.pop(key))
        if "complaints" in section:
            kwargs["complaints"] = _complaints(section.pop("complaints"))
        if "service" in section:
            kwargs["service"] = _service(section.pop("service"))
        if "capability" in section:
            kwargs["capability_by_station_kind"] = _capabilities(section.pop("capability"))
        if "move_up" in section:
            kwargs["move_up"] = _move_up(section.pop("move_up"))
        section.pop("regions", None)  # read by simulation.regions
        if section:
            raise SimulationConfigError(f"simulation: unknown key(s) {', '.join(sorted(section))}")
        return cls(**kwargs)


def _move_up(raw: Any) -> MoveUpConfig | None:
    if raw is False:
        return None
    if raw is True:
        return MoveUpConfig()
    try:
        return MoveUpConfig.from_mapping(dict(raw) if isinstance(raw, Mapping) else raw)
    except PolicyError as e:
        raise SimulationConfigError(f"simulation.{e}") from e


def _profile(name: str, values: Sequence[float], n: int) -> None:
    if len(values) != n or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0 for v in values
    ):
        raise SimulationConfigError(f"{name} must be {n} numbers >= 0, got {list(values)!r}")
    if sum(values) <= 0:
        raise SimulationConfigError(f"{name} must not be all zero")


def _probability(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise SimulationConfigError(f"{name} must be a probability in [0, 1], got {value!r}")


def _check_spec(complaint: Complaint, spec: ComplaintSpec) -> None:
    where = f"simulation.complaints.{complaint.value}"
    if not (isinstance(spec.share, (int, float)) and spec.share >= 0):
        raise SimulationConfigError(f"{where}.share must be >= 0, got {spec.share!r}")
    if len(spec.priority_weights) != 4 or any(w < 0 for w in spec.priority_weights) or sum(spec.priority_weights) <= 0:
        raise SimulationConfigError(f"{where}.priority must be 4 weights >= 0 (priorities 1-4), got {spec.priority_weights!r}")
    for name in ("transport", "stemi", "cathlab_from_field", "lvo", "lkw_in_window"):
        _probability(f"{where}.{name}", getattr(spec, name))


def _complaints(raw: Any) -> Mapping[Complaint, ComplaintSpec]:
    if not isinstance(raw, Mapping):
        raise SimulationConfigError(f"simulation.complaints must be a table of complaints, got {raw!r}")
    out: dict[Complaint, ComplaintSpec] = {}
    for key, value in raw.items():
        try:
            complaint = Complaint(key)
        except ValueError:
            raise SimulationConfigError(
                f"simulation.complaints: {key!r} is not a complaint; expected one of {', '.join(c.value for c in Complaint)}"
            ) from None
        base = DEFAULT_COMPLAINTS.get(complaint, ComplaintSpec(0.0, (0.0, 1.0, 0.0, 0.0), 0.7))
        if not isinstance(value, Mapping):
            raise SimulationConfigError(f"simulation.complaints.{key} must be a table, got {value!r}")
        data = dict(value)
        if "priority" in data:
            data["priority_weights"] = tuple(float(x) for x in data.pop("priority"))
        unknown = sorted(set(data) - set(ComplaintSpec.__dataclass_fields__))
        if unknown:
            raise SimulationConfigError(f"simulation.complaints.{key}: unknown key(s) {', '.join(unknown)}")
        out[complaint] = replace(base, **data)
    return MappingProxyType(out)


def _service(raw: Any) -> ServiceTimes:
    if not isinstance(raw, Mapping):
        raise SimulationConfigError(f"simulation.service must be a table, got {raw!r}")
    data = dict(raw)
    base = ServiceTimes()
    kwargs: dict[str, Any] = {}
    for key in ("call_processing", "on_scene", "handover"):
        if f"{key}_s" in data:
            kwargs[key] = Distribution.parse(f"simulation.service.{key}_s", data.pop(f"{key}_s"))
    if "turnout_s" in data:
        turnout = dict(base.turnout)
        raw_t = data.pop("turnout_s")
        if not isinstance(raw_t, Mapping):
            raise SimulationConfigError(f"simulation.service.turnout_s must be a table by status, got {raw_t!r}")
        for status, value in raw_t.items():
            try:
                s = UnitStatus(status)
            except ValueError:
                s = None
            if s not in turnout:
                raise SimulationConfigError(
                    f"simulation.service.turnout_s: {status!r} is not an assignable status; expected "
                    f"{', '.join(t.value for t in turnout)}"
                )
            turnout[s] = Distribution.parse(f"simulation.service.turnout_s.{status}", value)
        kwargs["turnout"] = MappingProxyType(turnout)
    if data:
        raise SimulationConfigError(f"simulation.service: unknown key(s) {', '.join(sorted(data))}")
    return replace(base, **kwargs)


def _capabilities(raw: Any) -> Mapping[str, Capability]:
    if not isinstance(raw, Mapping):
        raise SimulationConfigError(f"simulation.capability must be a table kind = \"als\"|\"bls\", got {raw!r}")
    out = dict(DEFAULT_CAPABILITY_BY_STATION_KIND)
    for kind, value in raw.items():
        try:
            out[kind] = Capability(value)
        except ValueError:
            raise SimulationConfigError(f"simulation.capability.{kind} must be als or bls, got {value!r}") from None
    return MappingProxyType(out)


def _simulation_config(state: dict[str, Any]) -> SimulationConfig:
    for name in ("complaints", "capability_by_station_kind"):
        state[name] = MappingProxyType(state[name])
    return SimulationConfig(**state)
