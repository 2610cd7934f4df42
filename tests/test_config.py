"""Configuration: every key known by name and type, refused at start with its full dotted name."""

from __future__ import annotations

import copy
import os
import dataclasses
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ems import config_schema as S
from ems.cli import main
from ems.config import DEFAULT_CONFIG, PROJECT_ROOT, ConfigError, load_config, validate_config


def shipped() -> dict[str, Any]:
    with DEFAULT_CONFIG.open("rb") as f:
        return tomllib.load(f)


def faults(config: dict[str, Any]) -> list[str]:
    """Return the lines of the refusal of ``config`` (empty when it is valid)."""
    try:
        validate_config(config)
    except ConfigError as e:
        return str(e).splitlines()
    return []


def with_leaf(config: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(config)
    node: Any = out
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return out


def dotted(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{k}]" if isinstance(k, int) else (f".{k}" if i else k) for i, k in enumerate(path))


# -- the shipped configuration ---------------------------------------------------------------------

def test_the_shipped_config_is_valid() -> None:
    assert faults(shipped()) == []
    assert load_config(environ={}) == shipped()


def test_every_named_key_of_the_schema_is_documented_in_the_shipped_config() -> None:
    def named(spec: S.Spec, value: Any, path: str) -> list[str]:
        if not isinstance(spec, S.Table):
            return []
        missing = [f"{path}{k}" for k in spec.fields if k not in value]
        return missing + [m for k, sub in spec.fields.items() if k in value
                          for m in named(sub, value[k], f"{path}{k}.")]

    assert named(S.SCHEMA, shipped(), "") == []


# -- unknown keys ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "message"), [
    ({"dispatch": {"turnuot_s": 5}},
     "config: unknown key dispatch.turnuot_s (did you mean dispatch.turnout_s?)"),
    ({"dispatc": {}}, "config: unknown key dispatc (did you mean dispatch?)"),
    ({"zzz": 1}, "config: unknown key zzz (expected one of county, routing, dispatch, service, gps, live, "
                 "centers, planner, targets, simulation)"),
    ({"centers": {"destination": {"lkw_limt_s": 1.0}}},
     "config: unknown key centers.destination.lkw_limt_s (did you mean centers.destination.lkw_limit_s?)"),
    ({"dispatch": {"turnout_s": {"availabel_mobile": 15.0}}},
     "config: unknown key dispatch.turnout_s.availabel_mobile (did you mean dispatch.turnout_s.available_mobile?)"),
    ({"routing": {"time_of_day_factor": {"25": 1.1}}},
     "config: unknown key routing.time_of_day_factor.25 (expected an hour 0-23)"),
    ({"routing": {"emergency_speed_factor": {"motorwya": 1.1}}},
     "config: unknown key routing.emergency_speed_factor.motorwya "
     "(did you mean routing.emergency_speed_factor.motorway?)"),
    ({"simulation": {"service": {"on_scene_s": {"dist": "lognormal", "mean_s": 1.0, "sdd_s": 2.0}}}},
     "config: unknown key simulation.service.on_scene_s.sdd_s (did you mean simulation.service.on_scene_s.sd_s?)"),
    ({"simulation": {"complaints": {"stroke": {"lvoo": 0.3}}}},
     "config: unknown key simulation.complaints.stroke.lvoo (did you mean simulation.complaints.stroke.lvo?)"),
    ({"simulation": {"complaints": {"strok": {}}}},
     "config: unknown key simulation.complaints.strok (did you mean simulation.complaints.stroke?)"),
    ({"simulation": {"move_up": {"max_travel": 900.0}}},
     "config: unknown key simulation.move_up.max_travel (did you mean simulation.move_up.max_travel_s?)"),
])
def test_an_unknown_key_is_refused_at_any_depth_with_the_closest_known_one(config: dict, message: str) -> None:
    assert faults(config) == [message]


def test_keys_are_read_as_their_readers_read_them() -> None:
    # routing.profiles takes "07" for hour 7 and road classes in any case.
    assert faults({"routing": {"time_of_day_factor": {"07": 1.1},
                               "emergency_speed_factor": {"Motorway": 1.1}}}) == []


# -- wrong types -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "message"), [
    ({"dispatch": {"turnout_s": -5}}, "dispatch.turnout_s: expected a table of status → seconds, got -5"),
    ({"service": {"port": "abc"}}, "service.port: expected an integer, got 'abc'"),
    ({"service": {"port": 8120.0}}, "service.port: expected an integer, got 8120.0"),
    ({"service": {"allow_outside": "yes"}}, "service.allow_outside: expected true or false, got 'yes'"),
    ({"service": {"host": 127}}, "service.host: expected a string, got 127"),
    ({"gps": {"max_speed_kph": True}}, "gps.max_speed_kph: expected a number, got True"),
    ({"dispatch": {"top_n": False}}, "dispatch.top_n: expected an integer, got False"),
    ({"routing": {"default_profile": "fast"}},
     'routing.default_profile: expected one of "emergency", "normal", got \'fast\''),
    ({"gps": {"devices": {"8612": 7}}}, "gps.devices.8612: expected a string, got 7"),
    ({"gps": {"devices": "centre-1"}}, "gps.devices: expected a table of device → unit id, got 'centre-1'"),
    ({"routing": {"time_of_day_factor": {"8": "1.25"}}},
     "routing.time_of_day_factor.8: expected a number, got '1.25'"),
    ({"county": "ningxiang"}, "county: expected a table, got 'ningxiang'"),
    ({"simulation": {"hourly_profile": [1.0] * 23}},
     "simulation.hourly_profile: expected a list of 24 numbers, got 23"),
    ({"simulation": {"weekday_factor": [1, 1, 1, "x", 1, 1, 1]}},
     "simulation.weekday_factor[3]: expected a number, got 'x'"),
    ({"simulation": {"service": {"handover_s": "15 min"}}},
     "simulation.service.handover_s: expected a number of seconds or a table with dist = ... "
     "(mean_s, sd_s, low_s, high_s), got '15 min'"),
    ({"simulation": {"service": {"handover_s": {"dist": "normal"}}}},
     'simulation.service.handover_s.dist: expected one of "fixed", "exponential", "lognormal", "gamma", '
     '"uniform", got \'normal\''),
    ({"simulation": {"move_up": 1}},
     "simulation.move_up: expected true, false or a table (max_travel_s, min_left_at_donor, min_home_units), got 1"),
    ({"simulation": {"capability": {"point": "paramedic"}}},
     'simulation.capability.point: expected one of "als", "bls", got \'paramedic\''),
    ({"simulation": {"regions": {"far": "up"}}}, "simulation.regions.far: expected one of " +
     ", ".join(f'"{d}"' for d in S.DIRECTIONS) + ", got 'up'"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_the_key_and_what_was_expected(config: dict, message: str) -> None:
    assert faults(config) == [message]


def test_ints_stand_for_numbers_and_free_keys_take_any_name() -> None:
    assert faults({
        "gps": {"max_speed_kph": 250, "devices": {"861234567890123": "centre-1", "phone 2": "point-3"}},
        "simulation": {"capability": {"hospital_base": "als"}, "regions": {"hill": "north"},
                       "service": {"turnout_s": {"returning": 15, "available_mobile": {"dist": "fixed", "mean_s": 15}}},
                       "move_up": True},
    }) == []


def test_every_fault_is_reported_at_once_one_per_line() -> None:
    assert faults({"dispatch": {"turnuot_s": 5, "top_n": "5"}, "service": {"port": "abc"}}) == [
        "config: unknown key dispatch.turnuot_s (did you mean dispatch.turnout_s?)",
        "dispatch.top_n: expected an integer, got '5'",
        "service.port: expected an integer, got 'abc'",
    ]


# -- the schema matches its readers ------------------------------------------------------------------

def test_the_schema_vocabularies_are_the_packages_enums() -> None:
    from dispatch.model import ASSIGNABLE_STATUSES, Capability, Complaint
    from routing.profiles import Profile, RoadClass
    from simulation.config import DistKind
    from simulation.coverage import Direction

    assert set(S.ASSIGNABLE_STATUSES) == {s.value for s in ASSIGNABLE_STATUSES}
    assert set(S.ROAD_CLASSES) == {c.name.lower() for c in RoadClass} | {"default"}
    assert set(S.PROFILES) == {p.value for p in Profile}
    assert set(S.COMPLAINTS) == {c.value for c in Complaint}
    assert set(S.CAPABILITIES) == {c.value for c in Capability}
    assert set(S.DIST_KINDS) == {k.value for k in DistKind}
    assert set(S.DIRECTIONS) == {d.value for d in Direction}


def test_the_schema_names_the_shipped_extensions() -> None:
    from dispatch.app import SHIPPED

    assert S.EXTENSIONS == tuple(ext.name for ext in SHIPPED)


def test_the_tables_read_into_dataclasses_have_the_dataclasses_fields() -> None:
    from centers.destination import DestinationConfig
    from dispatch.moveup import MoveUpConfig
    from dispatch.sim_http import Limits as PlannerLimits
    from simulation.config import ComplaintSpec

    def names(cls: type) -> set[str]:
        return {f.name for f in dataclasses.fields(cls)}

    fields = S.SCHEMA.fields
    assert set(fields["centers"].fields["destination"].fields) == names(DestinationConfig)
    assert set(fields["planner"].fields) == names(PlannerLimits)
    move_up = next(a for a in S.MOVE_UP.alternatives if isinstance(a, S.Table))
    assert set(move_up.fields) == names(MoveUpConfig)
    complaint = fields["simulation"].fields["complaints"].value
    assert set(complaint.fields) == names(ComplaintSpec) - {"priority_weights"} | {"priority"}


# -- any one leaf of the shipped config replaced by a value of another type ------------------------

def leaves(value: Any, spec: S.Spec, path: tuple[str | int, ...] = ()) -> list[tuple[tuple[str | int, ...], S.Spec]]:
    """Return every non-table value of ``value`` (list items too) with the spec it must meet."""
    met = next(a for a in spec.alternatives if a.accepts(value)) if isinstance(spec, S.OneOf) else spec
    if isinstance(met, S.Table):
        return [leaf for k, v in value.items() for leaf in leaves(v, met.fields[k], (*path, k))]
    if isinstance(met, S.Map):
        return [leaf for k, v in value.items() for leaf in leaves(v, met.value, (*path, k))]
    out = [(path, spec)]  # a number given for a number-or-table is not replaced by a table
    if isinstance(met, S.List):
        out += [leaf for i, v in enumerate(value) for leaf in leaves(v, met.item, (*path, i))]
    return out


SHIPPED_LEAVES = leaves(shipped(), S.SCHEMA)
VALUES_BY_KIND = {
    "bool": st.booleans(),
    "int": st.integers(),
    "float": st.floats(allow_nan=False),
    "str": st.text(max_size=8),
    "list": st.lists(st.integers(), max_size=3),
    "table": st.dictionaries(st.text(min_size=1, max_size=5), st.integers(), max_size=2),
}


@st.composite
def one_leaf_of_another_type(draw: st.DrawFn) -> tuple[tuple[str | int, ...], Any]:
    path, spec = draw(st.sampled_from(SHIPPED_LEAVES))
    value = draw(st.one_of(*VALUES_BY_KIND.values()).filter(lambda v: not spec.accepts(v)))
    return path, value


def test_the_shipped_config_has_leaves_of_every_kind() -> None:
    kinds = {type(spec) for _, spec in SHIPPED_LEAVES}
    assert {S.Bool, S.Int, S.Float, S.Str, S.List, S.OneOf} <= kinds and len(SHIPPED_LEAVES) > 100


@settings(max_examples=300, deadline=None)
@given(one_leaf_of_another_type())
def test_a_leaf_of_another_type_is_refused_naming_that_leaf(case: tuple[tuple[str | int, ...], Any]) -> None:
    path, value = case
    lines = faults(with_leaf(shipped(), path, value))
    assert len(lines) == 1 and lines[0].startswith(f"{dotted(path)}: expected "), lines


# -- load_config and the environment ---------------------------------------------------------------

def test_an_environment_override_is_checked_and_named_with_its_variable() -> None:
    with pytest.raises(ConfigError) as e:
        load_config(environ={"EMS__DISPATCH__TURNUOT_S": "5", "EMS__SERVICE__PORT": "abc"})
    assert str(e.value).splitlines() == [
        "config: unknown key dispatch.turnuot_s (did you mean dispatch.turnout_s?); set by EMS__DISPATCH__TURNUOT_S",
        "service.port: expected an integer, got 'abc'; set by EMS__SERVICE__PORT",
    ]


def test_environment_overrides_of_known_keys_pass() -> None:
    config = load_config(environ={"EMS__ROUTING__MAX_SNAP_DISTANCE_M": "3000", "EMS__SERVICE__HOST": "0.0.0.0",
                                  "EMS__GPS__DEVICES__861234567890123": '"centre-1"', "OTHER": "x"})
    assert config["routing"]["max_snap_distance_m"] == 3000
    assert config["gps"]["devices"] == {"861234567890123": "centre-1"}


def test_a_config_file_is_checked_when_loaded(tmp_path: Path) -> None:
    bad = tmp_path / "site.toml"
    bad.write_text("[dispatch]\nturnout_s = -5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^dispatch.turnout_s: expected a table of status → seconds, got -5$"):
        load_config(bad, environ={})


# -- the commands ----------------------------------------------------------------------------------

TYPO = "ems: config: unknown key dispatch.turnuot_s (did you mean dispatch.turnout_s?)"


@pytest.fixture
def bad_config(tmp_path: Path) -> Path:
    path = tmp_path / "site.toml"
    path.write_text('[dispatch]\nturnuot_s = 5\n[service]\nport = "abc"\n', encoding="utf-8")
    return path


@pytest.mark.parametrize("argv", [["serve", "--config", "{file}"], ["--config", "{file}", "serve"],
                                  ["--config", "{file}", "simulate", "--quiet"]])
def test_a_command_given_a_bad_config_file_exits_2_with_the_message(
        argv: list[str], bad_config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("EMS__")]:
        monkeypatch.delenv(name)
    assert main([a.format(file=bad_config) for a in argv]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.splitlines() == [TYPO, "ems: service.port: expected an integer, got 'abc'"]


def test_serve_with_a_bad_override_exits_2_naming_it(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMS__DISPATCH__TURNUOT_S", "5")
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.splitlines() == [f"{TYPO}; set by EMS__DISPATCH__TURNUOT_S"]


def test_the_ems_command_prints_no_traceback(bad_config: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "EMS__LIVE__WS_MAX_EVENTS": "many"}
    done = subprocess.run([sys.executable, "-m", "ems.cli", "serve", "--config", str(bad_config)],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [TYPO, "ems: service.port: expected an integer, got 'abc'",
                                        "ems: live.ws_max_events: expected an integer, got 'many'; "
                                        "set by EMS__LIVE__WS_MAX_EVENTS"]
