"""The call generator: rates, profiles, common random numbers, past-call CSV files."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.simulation.simhelpers import points

from simulation.config import SimulationConfig
from simulation.demand import arrival_times, plan_calls, read_calls_csv, stream
from simulation.errors import DemandError

FIXTURES = "tests/fixtures/simulation"


def test_daily_rate_and_hourly_profile() -> None:
    profile = tuple([0.0] * 12 + [1.0] * 12)  # no calls in the morning
    config = SimulationConfig(calls_per_day=50.0, hourly_profile=profile)
    t = arrival_times(config, 200.0, stream(1, 0, 1))
    assert t.size / 200.0 == pytest.approx(50.0, rel=0.05)
    assert np.all((t % 86400) >= 12 * 3600)
    assert np.all(np.diff(t) >= 0)


def test_weekday_factor_shapes_days() -> None:
    factor = (2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
    config = SimulationConfig(calls_per_day=100.0, weekday_factor=factor)
    t = arrival_times(config, 7 * 40, stream(2, 0, 1))
    per_weekday = np.bincount((t // 86400).astype(int) % 7, minlength=7) / 40
    assert per_weekday[0] / per_weekday[1:].mean() == pytest.approx(2.0, rel=0.1)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), replication=st.integers(0, 50))
def test_same_seed_and_replication_give_the_same_calls(seed: int, replication: int) -> None:
    config = SimulationConfig(calls_per_day=40.0)
    pts = points(5)
    a = plan_calls(config, pts, days=2.0, seed=seed, replication=replication)
    b = plan_calls(config, pts, days=2.0, seed=seed, replication=replication)
    for name in ("t_s", "point", "complaint", "priority", "transport", "on_scene_s", "handover_s"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = plan_calls(config, pts, days=2.0, seed=seed, replication=replication + 1)
    assert a.n != c.n or not np.array_equal(a.t_s, c.t_s)


def test_service_streams_do_not_depend_on_other_distributions() -> None:
    # Changing the handover distribution leaves the on-scene draws untouched (own streams).
    base = SimulationConfig(calls_per_day=40.0)
    other = SimulationConfig.from_config({"simulation": {"calls_per_day": 40.0, "service": {"handover_s": 100.0}}})
    pts = points(3)
    a = plan_calls(base, pts, days=3.0, seed=4, replication=0)
    b = plan_calls(other, pts, days=3.0, seed=4, replication=0)
    np.testing.assert_array_equal(a.on_scene_s, b.on_scene_s)
    assert np.all(b.handover_s == 100.0)


def test_complaint_mix_shares() -> None:
    config = SimulationConfig(calls_per_day=400.0)
    plan = plan_calls(config, points(2), days=30.0, seed=9, replication=0)
    shares = np.bincount(plan.complaint, minlength=len(plan.complaints)) / plan.n
    expected = np.array([config.complaints[c].share for c in plan.complaints])
    np.testing.assert_allclose(shares, expected / expected.sum(), atol=0.01)
    chest = [i for i, c in enumerate(plan.complaints) if c.value == "chest_pain"][0]
    assert not plan.stemi[plan.complaint != chest].any()
    assert np.all((plan.priority >= 1) & (plan.priority <= 4))


def test_calls_csv_groups_points_and_borrows_townships() -> None:
    places = [
        SimpleNamespace(id="a", name="甲镇", township="甲镇", lon=112.0, lat=28.0, urban=True),
        SimpleNamespace(id="b", name="乙村", township="乙镇", lon=112.2, lat=28.1, urban=False),
    ]
    demand = read_calls_csv(f"{FIXTURES}/past_calls.csv", places)
    assert demand.n == 3
    by_name = dict(zip(demand.names, zip(demand.townships, demand.urban.tolist(), demand.weight.tolist())))
    assert by_name["(112.00100, 28.00100)"] == ("甲镇", True, pytest.approx(2 / 5))
    assert by_name["(112.19900, 28.10100)"][:2] == ("乙镇", False)
    assert by_name["(112.10000, 28.05000)"][:2] == ("自定", True)


def test_calls_csv_errors_name_the_line(tmp_path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat\n112.0,28.0\nx,28.0\n", encoding="utf-8")
    with pytest.raises(DemandError, match="line 3"):
        read_calls_csv(bad)
    missing = tmp_path / "none.csv"
    missing.write_text("x,y\n1,2\n", encoding="utf-8")
    with pytest.raises(DemandError, match="columns lon and lat are required"):
        read_calls_csv(missing)
