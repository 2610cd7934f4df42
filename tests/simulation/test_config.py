"""[simulation] settings: parsing and messages that name the field."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from dispatch.model import Capability, Complaint, UnitStatus
from simulation.config import DistKind, Distribution, SimulationConfig
from simulation.errors import SimulationConfigError


def test_defaults_without_a_section() -> None:
    config = SimulationConfig.from_config({})
    assert config.calls_per_day == 80.0
    assert len(config.hourly_profile) == 24


def test_section_overrides() -> None:
    config = SimulationConfig.from_config({"simulation": {
        "calls_per_day": 120,
        "complaints": {"stroke": {"share": 0.2, "priority": [1, 0, 0, 0], "lvo": 0.5}},
        "service": {"on_scene_s": {"dist": "gamma", "mean_s": 800, "sd_s": 200},
                    "turnout_s": {"available_at_station": 90}},
        "capability": {"point": "als"},
    }})  # fmt: skip
    assert config.calls_per_day == 120
    assert config.complaints[Complaint.STROKE].lvo == 0.5
    assert config.complaints[Complaint.STROKE].priority_weights == (1.0, 0.0, 0.0, 0.0)
    assert config.service.on_scene.kind is DistKind.GAMMA
    assert config.service.turnout[UnitStatus.AVAILABLE_AT_STATION].mean == 90.0
    assert config.capability_by_station_kind["point"] is Capability.ALS


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"calls_per_day": -1}, "simulation.calls_per_day must be a number > 0, got -1"),
        ({"hourly_profile": [1.0] * 23}, "simulation.hourly_profile must be 24 numbers"),
        ({"complaints": {"flu": {"share": 1}}}, "'flu' is not a complaint"),
        ({"complaints": {"stroke": {"transport": 1.5}}}, "simulation.complaints.stroke.transport must be a probability"),
        ({"service": {"on_scene_s": {"dist": "weibull"}}}, "simulation.service.on_scene_s.dist must be one of"),
        ({"service": {"turnout_s": {"on_scene": 10}}}, "'on_scene' is not an assignable status"),
        ({"capability": {"point": "doctor"}}, "simulation.capability.point must be als or bls"),
        ({"speed": 3}, "simulation: unknown key(s) speed"),
    ],
)
def test_errors_name_the_field(section: dict, message: str) -> None:
    with pytest.raises(SimulationConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SimulationConfig.from_config({"simulation": section})


def test_distribution_means() -> None:
    rng = np.random.default_rng(1)
    for dist in (
        Distribution(DistKind.LOGNORMAL, 900.0, 400.0),
        Distribution(DistKind.GAMMA, 900.0, 400.0),
        Distribution(DistKind.EXPONENTIAL, 900.0),
        Distribution(DistKind.UNIFORM, low_s=600.0, high_s=1200.0),
    ):
        draws = dist.sample(rng, 100_000)
        assert draws.min() >= 0
        assert draws.mean() == pytest.approx(dist.mean, rel=0.02)


def test_config_pickles_for_worker_processes() -> None:
    config = SimulationConfig.from_config({"simulation": {"calls_per_day": 33}})
    again = pickle.loads(pickle.dumps(config))
    assert again == config
