"""Validation (a): zero travel, exponential service, c units: the mean queue wait is Erlang C's.

With no travel, no turnout, no call processing and no transport, each call holds one unit for
an exponential time on scene and calls wait first come, first served (one priority): an M/M/c
queue, whose mean wait is ``C(c, a) / (c mu - lambda)`` (Erlang C, ``a = lambda / mu``).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
from tests.simulation.simhelpers import one_complaint_config, points, service

from dispatch.model import Capability
from simulation.model import Scenario, UnitSpec, run_replication
from simulation.runner import run_scenarios
from simulation.travel import Site, TravelModel


def erlang_c_wait_s(c: int, arrival_per_s: float, service_mean_s: float) -> float:
    """Return the mean queue wait of an M/M/c queue (Erlang C)."""
    mu = 1.0 / service_mean_s
    a = arrival_per_s / mu
    rho = a / c
    assert rho < 1
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) / (1.0 - rho)
    return tail / (head + tail) / (c * mu - arrival_per_s)


def mmc_scenario(c: int, arrival_per_s: float, service_mean_s: float) -> Scenario:
    pts = points(1)
    sites = (Site("station:s", "station", 112.0, 28.0), Site("hospital:h", "hospital", 112.0, 28.0))
    travel = TravelModel(sites, pts, np.zeros((2, 1)), np.zeros((1, 2)), np.zeros((2, 2)))
    svc = service(turnout_station=0.0, turnout_returning=0.0, handover=0.0,
                  on_scene={"dist": "exponential", "mean_s": service_mean_s})  # fmt: skip
    config = one_complaint_config(svc, calls_per_day=arrival_per_s * 86400.0, transport=0.0)
    hospital = SimpleNamespace(id="h", name="h", capabilities=frozenset({"ed"}), pci_24_7=False, lon=112.0, lat=28.0)
    units = tuple(UnitSpec(f"u{i}", "s", 0, Capability.ALS) for i in range(c))
    return Scenario("mmc", units, travel, (hospital,), config=config)


def test_erlang_c_formula_known_value() -> None:
    # M/M/1: Wq = rho / (mu - lambda); rho = 0.5, mu = 1/600 -> 600 s.
    assert erlang_c_wait_s(1, 0.5 / 600.0, 600.0) == pytest.approx(600.0)


@pytest.mark.slow
def test_mean_queue_wait_within_3_percent_of_erlang_c() -> None:
    # About 900,000 calls (20 replications of 150 days): the standard error of the mean wait is
    # then about 1 %, so 3 % is about three standard errors (measured: ~3 % for 110,000 calls).
    c, rho, service_mean_s = 3, 0.7, 600.0
    lam = rho * c / service_mean_s
    scenario = mmc_scenario(c, lam, service_mean_s)
    results = run_scenarios([scenario], days=150.0, replications=20, seed=11, workers=2)["mmc"]
    observed = float(np.mean(np.concatenate([r.calls["queue_wait_s"] for r in results])))
    expected = erlang_c_wait_s(c, lam, service_mean_s)
    assert observed == pytest.approx(expected, rel=0.03)


def test_short_run_waits_like_erlang_c_roughly() -> None:
    # A quick check of the same model (about 12,000 calls, standard error about 6 %): within 25 %.
    c, rho, service_mean_s = 3, 0.7, 600.0
    lam = rho * c / service_mean_s
    result = run_replication(mmc_scenario(c, lam, service_mean_s), days=40.0, seed=2, replication=0)
    assert float(np.mean(result.calls["queue_wait_s"])) == pytest.approx(erlang_c_wait_s(c, lam, service_mean_s), rel=0.25)
