"""Summaries with confidence intervals, the per-call CSV, and runs in processes and on Dask."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
from scipy import stats as sps
from tests.simulation.simhelpers import tiny_scenario

from simulation.runner import run_scenarios
from simulation.stats import confidence, summarise, write_calls_csv


def test_confidence_interval_is_student_t() -> None:
    values = [10.0, 12.0, 11.0, 13.0]
    ci = confidence(values)
    half = sps.t.ppf(0.975, 3) * np.std(values, ddof=1) / 2.0
    assert ci["mean"] == pytest.approx(11.5)
    assert ci["ci95"] == pytest.approx([11.5 - half, 11.5 + half])
    assert confidence([math.nan, 1.0]) == {"mean": 1.0, "ci95": None, "n": 1}
    assert confidence([]) == {"mean": None, "ci95": None, "n": 0}


@pytest.fixture(scope="module")
def two_layouts():
    from dataclasses import replace

    from dispatch.model import Capability
    from simulation.model import UnitSpec

    single = replace(tiny_scenario(units=(UnitSpec("a1", "A", 0, Capability.ALS),)), name="single")
    return {"tiny": tiny_scenario(), "single": single}


def test_replications_in_processes_equal_the_same_run_here(two_layouts) -> None:
    scenarios = list(two_layouts.values())
    here = run_scenarios(scenarios, days=3.0, replications=2, seed=5, workers=1)
    there = run_scenarios(scenarios, days=3.0, replications=2, seed=5, workers=2)
    for name in here:
        for a, b in zip(here[name], there[name]):
            np.testing.assert_array_equal(a.calls["response_s"], b.calls["response_s"])


def test_layouts_share_calls_and_summary_has_cis(two_layouts, tmp_path) -> None:
    results = run_scenarios(list(two_layouts.values()), days=3.0, replications=3, seed=5, workers=1)
    for r in range(3):
        np.testing.assert_array_equal(results["tiny"][r].calls["t_s"], results["single"][r].calls["t_s"])
        np.testing.assert_array_equal(results["tiny"][r].calls["on_scene_s"], results["single"][r].calls["on_scene_s"])
    summary = summarise(results, two_layouts, run={"days": 3})
    json.dumps(summary)  # serialisable
    tiny = summary["layouts"]["tiny"]["metrics"]
    for key in ("response_min.mean", "response_min.p95", "within_target.urban", "utilisation.mean", "queue_wait_min.mean"):
        assert tiny[key]["n"] == 3 and tiny[key]["ci95"][0] <= tiny[key]["mean"] <= tiny[key]["ci95"][1]
    assert summary["differences"]["single - tiny"]["response_min.mean"]["mean"] > 0
    path = tmp_path / "calls.csv"
    rows = write_calls_csv(path, results, two_layouts)
    with path.open(encoding="utf-8") as f:
        table = list(csv.DictReader(f))
    assert rows == len(table) == sum(r.n_calls for runs in results.values() for r in runs)
    served = [row for row in table if row["response_s"]]
    assert all(float(row["response_s"]) >= float(row["travel_s"]) for row in served)


def test_bad_counts_are_refused(two_layouts) -> None:
    from simulation.errors import SimulationError

    with pytest.raises(SimulationError, match="replications must be an integer >= 1, got 0"):
        run_scenarios(list(two_layouts.values()), days=1.0, replications=0, seed=1)


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_results(two_layouts) -> None:
    distributed = pytest.importorskip("distributed")
    scenarios = list(two_layouts.values())
    here = run_scenarios(scenarios, days=2.0, replications=2, seed=8, workers=1)
    with distributed.LocalCluster(n_workers=1, processes=False, dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            there = run_scenarios(scenarios, days=2.0, replications=2, seed=8, dask=client)
    for name in here:
        for a, b in zip(here[name], there[name]):
            np.testing.assert_array_equal(a.calls["response_s"], b.calls["response_s"])
