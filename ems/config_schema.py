"""The schema of ``config.toml``: every key a package reads, with its type, written once.

`ems.config.validate_config` checks a loaded configuration against `SCHEMA`, so that a misspelt
key or a value of the wrong kind is refused at start, named by its full dotted path, instead of
being ignored or failing later inside a reader. The readers (``DispatchConfig.from_config``,
``SpeedProfile.from_config``, ``SimulationConfig.from_config``, ...) still check ranges and
relations between values; this schema checks names and types only.

Ints are accepted where a number is expected; a bool is never a number. The key sets of tables
keyed by a domain vocabulary (unit statuses, road classes, complaints, directions) are spelt here
so that loading a config imports no package; tests/test_config.py holds them to the enums.
"""

from __future__ import annotations

import difflib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Fault:
    """One thing wrong with a configuration: the dotted path it is at and the message naming it."""

    path: str
    message: str


class Spec(ABC):
    """The expected shape of one configuration value."""

    #: What the value should be, with its article ("an integer"), for messages.
    expected: str
    #: The same without the article, for lists ("integer" -> "a list of 4 integers").
    noun: str

    @abstractmethod
    def accepts(self, value: Any) -> bool:
        """Return whether ``value`` is of this spec's kind (its parts are not looked at)."""

    def check(self, value: Any, path: str) -> Iterator[Fault]:
        """Yield every fault of ``value``, found at the dotted ``path``."""
        if not self.accepts(value):
            yield _wrong(path, self.expected, value)


@dataclass(frozen=True, slots=True)
class Bool(Spec):
    """``true`` or ``false``."""

    expected: ClassVar[str] = "true or false"
    noun: ClassVar[str] = "boolean"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Int(Spec):
    """An integer (not a bool, not a float even if whole)."""

    expected: ClassVar[str] = "an integer"
    noun: ClassVar[str] = "integer"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Float(Spec):
    """A number: a float or an int, never a bool."""

    expected: ClassVar[str] = "a number"
    noun: ClassVar[str] = "number"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True, slots=True)
class Str(Spec):
    """A string, or one of ``choices`` when given."""

    choices: tuple[str, ...] = ()
    noun: ClassVar[str] = "string"

    @property
    def expected(self) -> str:  # type: ignore[override]
        if self.choices:
            return "one of " + ", ".join(f'"{c}"' for c in self.choices)
        return "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)

    def check(self, value: Any, path: str) -> Iterator[Fault]:
        if not self.accepts(value) or (self.choices and value not in self.choices):
            yield _wrong(path, self.expected, value)


@dataclass(frozen=True, slots=True)
class List(Spec):
    """A list of ``item`` values, of exactly ``length`` items when given."""

    item: Spec
    length: int | None = None
    noun: ClassVar[str] = "list"

    @property
    def expected(self) -> str:  # type: ignore[override]
        count = f"{self.length} " if self.length is not None else ""
        return f"a list of {count}{self.item.noun}s"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, list)

    def check(self, value: Any, path: str) -> Iterator[Fault]:
        if not self.accepts(value):
            yield _wrong(path, self.expected, value)
        elif self.length is not None and len(value) != self.length:
            yield Fault(path, f"{path}: expected {self.expected}, got {len(value)}")
        else:
            for i, item in enumerate(value):
                yield from self.item.check(item, f"{path}[{i}]")


class _Keyed(Spec):
    """A table: each key's value is checked by the spec of that key, or the key is refused."""

    noun: ClassVar[str] = "table"

    @abstractmethod
    def spec_of(self, key: str, path: str) -> Spec | Fault:
        """Return the spec of the value at ``key``, or the fault of an unknown key."""

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)

    def check(self, value: Any, path: str) -> Iterator[Fault]:
        if not self.accepts(value):
            yield _wrong(path, self.expected, value)
            return
        for key, item in value.items():
            spec = self.spec_of(key, path)
            if isinstance(spec, Fault):
                yield spec
            else:
                yield from spec.check(item, _join(path, key))


@dataclass(frozen=True, slots=True)
class Table(_Keyed):
    """A table of named keys, each with its own spec; any other key is refused."""

    fields: Mapping[str, Spec]
    expected: ClassVar[str] = "a table"

    def spec_of(self, key: str, path: str) -> Spec | Fault:
        spec = self.fields.get(key)
        return spec if spec is not None else _unknown(path, key, tuple(self.fields))


def _same(key: str) -> str:
    return key


@dataclass(frozen=True, slots=True)
class Map(_Keyed):
    """A table of free keys (``key`` names what they are), every value of one spec.

    ``keys``, when given, are the only keys allowed, compared after ``normalize`` (the reader's
    own reading of a key, e.g. ``str.lower``); ``keys_expected`` describes them in a refusal
    where listing them would not help.
    """

    key: str
    value: Spec
    value_name: str
    keys: tuple[str, ...] | None = None
    normalize: Callable[[str], str] = _same
    keys_expected: str | None = None

    @property
    def expected(self) -> str:  # type: ignore[override]
        return f"a table of {self.key} → {self.value_name}"

    def spec_of(self, key: str, path: str) -> Spec | Fault:
        if self.keys is not None and self.normalize(key) not in self.keys:
            return _unknown(path, key, self.keys, self.keys_expected, self.normalize(key))
        return self.value


@dataclass(frozen=True, slots=True)
class OneOf(Spec):
    """The first of ``alternatives`` whose kind the value is (e.g. a number or a table)."""

    alternatives: tuple[Spec, ...]
    expected: str
    noun: ClassVar[str] = "value"

    def accepts(self, value: Any) -> bool:
        return any(a.accepts(value) for a in self.alternatives)

    def check(self, value: Any, path: str) -> Iterator[Fault]:
        spec = next((a for a in self.alternatives if a.accepts(value)), None)
        if spec is None:
            yield _wrong(path, self.expected, value)
        else:
            yield from spec.check(value, path)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _wrong(path: str, expected: str, value: Any) -> Fault:
    return Fault(path, f"{path}: expected {expected}, got {_show(value)}")


def _unknown(path: str, key: str, known: tuple[str, ...], expected: str | None = None,
             normalized: str | None = None) -> Fault:
    full = _join(path, key)
    if expected is None:
        close = difflib.get_close_matches(normalized or key, known, n=1, cutoff=0.6)
        expected = f"did you mean {_join(path, close[0])}?" if close else "expected one of " + ", ".join(known)
    return Fault(full, f"config: unknown key {full} ({expected})")


def _hour(key: str) -> str:
    # routing.profiles reads an hour key with int(): "07" and "7" are the same hour.
    try:
        return str(int(key))
    except ValueError:
        return key


# -- the schema ------------------------------------------------------------------------------------

# dispatch.model.ASSIGNABLE_STATUSES: the statuses a unit may be dispatched from.
ASSIGNABLE_STATUSES = ("available_at_station", "available_mobile", "returning")
# routing.profiles.RoadClass, lower case, and the factor of every class not listed.
ROAD_CLASSES = ("motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
                "service", "other", "default")
PROFILES = ("emergency", "normal")  # routing.profiles.Profile
COMPLAINTS = ("chest_pain", "stroke", "trauma", "obstetric", "pediatric", "other")  # dispatch.model.Complaint
EXTENSIONS = ("live", "geo", "centers", "simulations", "consoles")  # dispatch.app.SHIPPED
CAPABILITIES = ("als", "bls")  # dispatch.model.Capability
DIST_KINDS = ("fixed", "exponential", "lognormal", "gamma", "uniform")  # simulation.config.DistKind
DIRECTIONS = ("north", "north-east", "east", "south-east", "south", "south-west", "west", "north-west",
              "centre")  # simulation.coverage.Direction

# A duration of the simulator (simulation.config.Distribution.parse): seconds, or a distribution.
DURATION = OneOf(
    (Float(), Table({"dist": Str(DIST_KINDS), "mean_s": Float(), "sd_s": Float(), "low_s": Float(),
                     "high_s": Float()})),
    expected="a number of seconds or a table with dist = ... (mean_s, sd_s, low_s, high_s)",
)

# dispatch.moveup.MoveUpConfig: true, false, or the rule's settings.
MOVE_UP = OneOf(
    (Bool(), Table({"max_travel_s": Float(), "min_left_at_donor": Int(), "min_home_units": Int()})),
    expected="true, false or a table (max_travel_s, min_left_at_donor, min_home_units)",
)

SCHEMA = Table({
    "county": Table({"name": Str(), "timezone": Str()}),
    "routing": Table({
        "max_snap_distance_m": Float(),
        "max_eta_s": Float(),
        "default_profile": Str(PROFILES),
        "snap_cache_size": Int(),
        "emergency_speed_factor": Map("road class", Float(), "factor", keys=ROAD_CLASSES, normalize=str.lower),
        "time_of_day_factor": Map("hour", Float(), "factor", keys=tuple(str(h) for h in range(24)),
                                  normalize=_hour, keys_expected="expected an hour 0-23"),
    }),
    "dispatch": Table({
        "top_n": Int(),
        "preference_margin_s": Float(),
        "turnout_s": Map("status", Float(), "seconds", keys=ASSIGNABLE_STATUSES),
    }),
    "service": Table({
        "host": Str(),
        "port": Int(),
        "data_dir": Str(),
        "db": Str(),
        "store_deadline_s": Float(),
        "store_bulk_deadline_s": Float(),
        "layout": Str(),
        "token_file": Str(),
        "allow_outside": Bool(),
        "max_body_bytes": Int(),
        "bus": Str(),
        "bus_namespace": Str(),
        "extensions": List(Str(choices=EXTENSIONS)),
    }),
    "gps": Table({
        "stale_after_s": Float(),
        "max_accuracy_m": Float(),
        "max_speed_kph": Float(),
        "max_future_s": Float(),
        "clock_skew_s": Float(),
        "max_age_s": Float(),
        "reanchor_fixes": Int(),
        "history_days": Float(),
        "flush_interval_s": Float(),
        "max_backlog_rows": Int(),
        "eta_interval_s": Float(),
        "osmand_port": Int(),
        "devices": Map("device", Str(), "unit id"),
    }),
    "live": Table({
        "ws_max_events": Int(),
        "ws_replay_events": Int(),
        "ws_ping_interval_s": Float(),
        "ws_send_timeout_s": Float(),
        "ws_position_interval_s": Float(),
        "catch_up_interval_s": Float(),
    }),
    "centers": Table({
        "destination": Table({
            "fmc_to_device_limit_s": Float(),
            "door_to_device_prenotified_s": Float(),
            "door_to_device_bypass_s": Float(),
            "thrombectomy_extra_limit_s": Float(),
            "lkw_limit_s": Float(),
            "race_lvo_min": Int(),
            "lams_lvo_min": Int(),
            "require_pci_24_7": Bool(),
        }),
    }),
    "planner": Table({"concurrent_runs": Int(), "queued_runs": Int(), "workers_per_run": Int()}),
    "targets": Table({"urban_arrival_min": Float(), "rural_arrival_min": Float()}),
    "simulation": Table({
        "calls_per_day": Float(),
        "hourly_profile": List(Float(), 24),
        "weekday_factor": List(Float(), 7),
        "start_weekday": Int(),
        "warmup_days": Float(),
        "unbounded_dispatch": Bool(),
        "landmarks": Int(),
        "move_up": MOVE_UP,
        "capability": Map("station kind", Str(CAPABILITIES), "capability"),
        "service": Table({
            "call_processing_s": DURATION,
            "on_scene_s": DURATION,
            "handover_s": DURATION,
            "turnout_s": Map("status", DURATION, "duration", keys=ASSIGNABLE_STATUSES),
        }),
        "complaints": Map("complaint", Table({
            "share": Float(),
            "priority": List(Float(), 4),
            "transport": Float(),
            "stemi": Float(),
            "cathlab_from_field": Float(),
            "lvo": Float(),
            "lkw_in_window": Float(),
        }), "share, priority, transport, ...", keys=COMPLAINTS),
        "regions": Map("region", Str(DIRECTIONS), "direction"),
    }),
})


def check(config: Mapping[str, Any], schema: Spec = SCHEMA) -> list[Fault]:
    """Return every fault of a loaded configuration, in the order its keys come."""
    return list(schema.check(config, ""))


__all__ = ["SCHEMA", "Bool", "Fault", "Float", "Int", "List", "Map", "OneOf", "Spec", "Str", "Table", "check"]
