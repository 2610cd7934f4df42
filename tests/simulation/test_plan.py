"""The optimiser: exact models against brute-force enumeration, allocation, layouts that round-trip."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ems.cli import main
from simulation.plan import (
    Objective,
    PlanError,
    PlannedLayout,
    PlanProblem,
    PlanSite,
    allocate,
    best_solutions,
    enumerate_best,
    expected_coverage,
    layout_toml,
    parse_targets,
    site_value,
    solve_sites,
)
from simulation.plan_enumerate import _allocations

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "geodata" / "tiny"


def small_problem(seed: int, *, n_sites: int = 6, n_points: int = 25, kept: int = 1, ambulances: int = 5) -> PlanProblem:
    """Return a random problem: site 0 fixed, the next ``kept`` hold one kept ambulance, all others candidates."""
    rng = np.random.default_rng(seed)
    xy_sites = rng.uniform(0, 20, (n_sites, 2))
    xy_points = rng.uniform(0, 20, (n_points, 2))
    # Times (s) from distances (km) at 1 km/min, so the triangle inequality holds.
    travel = 60.0 * np.hypot(*(xy_sites[:, None, :] - xy_points[None, :, :]).transpose(2, 0, 1))
    sites = [PlanSite("s0", "s0", 112.0, 28.0, kind="centre", fixed=True, candidate=False)]
    for j in range(1, n_sites):
        sites.append(PlanSite(f"s{j}", f"s{j}", 112.0 + j / 100, 28.0, kept_ambulances=1 if j <= kept else 0))
    urban = rng.random(n_points) < 0.4
    return PlanProblem(
        sites=tuple(sites),
        weight=rng.uniform(0.1, 1.0, n_points),
        target_s=np.where(urban, 360.0, 600.0),
        travel_s=travel,
        ambulances=ambulances,
    )


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), k=st.integers(1, 3), objective=st.sampled_from(list(Objective)))
def test_the_milp_matches_brute_force_enumeration(seed: int, k: int, objective: Objective) -> None:
    problem = small_problem(seed)
    solved = solve_sites(problem, objective, k)
    enumerated = enumerate_best(problem, objective, k)
    assert solved.value == pytest.approx(enumerated.value, rel=1e-7, abs=1e-9)
    assert len(solved.chosen) == k and set(solved.chosen) <= set(problem.candidates)
    if objective is not Objective.BACKUP:
        # The reported objective is the objective of the sites returned.
        assert site_value(problem, objective, solved.chosen) == pytest.approx(solved.value, rel=1e-7, abs=1e-9)


def test_the_next_solutions_are_distinct_and_no_better() -> None:
    problem = small_problem(7, n_sites=7)
    for objective in (Objective.MCLP, Objective.PMEDIAN):
        solutions = best_solutions(problem, objective, 2, 4)
        assert len({s.chosen for s in solutions}) == 4
        values = [s.value for s in solutions]
        assert values == sorted(values, reverse=objective.maximise)
        # The second is the best of all choices other than the first.
        others = [
            site_value(problem, objective, c)
            for c in __import__("itertools").combinations(problem.candidates, 2)
            if c != solutions[0].chosen
        ]
        best_other = max(others) if objective.maximise else min(others)
        assert solutions[1].value == pytest.approx(best_other, rel=1e-7)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), q=st.floats(0.05, 0.6))
def test_mexclp_allocation_is_the_best_allocation(seed: int, q: float) -> None:
    problem = small_problem(seed, ambulances=6)
    chosen = tuple(problem.candidates[-2:])
    alloc = allocate(problem, chosen, q)
    best = max(expected_coverage(problem, c, q) for c in _allocations(problem, chosen, 1))
    assert alloc.expected_coverage == pytest.approx(best, rel=1e-7)
    assert sum(alloc.ambulances.values()) == problem.ambulances


def test_a_kept_point_chosen_as_substation_gives_its_ambulance_to_the_pool() -> None:
    problem = small_problem(3, ambulances=5, kept=2)
    kept_point = 1
    alloc = allocate(problem, (kept_point,), 0.2)
    assert sum(alloc.ambulances.values()) == 5
    assert alloc.ambulances[kept_point] >= 1
    assert alloc.ambulances[2] == 1  # the other kept point keeps its ambulance


def test_bad_arguments_are_named() -> None:
    problem = small_problem(1)
    with pytest.raises(PlanError, match="substations must be an integer in 0-"):
        solve_sites(problem, Objective.MCLP, 9)
    with pytest.raises(PlanError, match="busy_fraction must be in"):
        allocate(problem, (), 1.0)
    with pytest.raises(PlanError, match="fewer than min_per_site"):
        allocate(problem, tuple(problem.candidates), 0.1, min_per_site=3)
    with pytest.raises(PlanError, match="target-min must be two minutes"):
        parse_targets("10")
    assert parse_targets("10, 30") == (600.0, 1800.0)


def test_a_written_layout_loads_back_with_its_ambulances(tmp_path: Path) -> None:
    from geodata.county import load_county

    county = load_county(TINY)
    problem = PlanProblem(
        sites=(
            PlanSite("centre", "c", 112.119, 27.999, kind="centre", existing=True, fixed=True, candidate=False),
            PlanSite("new-site", "新分站 \"x\"", 112.13, 28.01),
        ),
        weight=np.ones(2),
        target_s=np.full(2, 600.0),
        travel_s=np.array([[100.0, 900.0], [800.0, 50.0]]),
        ambulances=3,
    )
    planned = PlannedLayout("mine", "a test", problem, {0: 2, 1: 1}, (1,))
    path = tmp_path / "mine.toml"
    path.write_text(layout_toml(planned), encoding="utf-8")
    layout = county.load_layout_file(path)
    by_id = {ls.station.id: ls for ls in layout.stations}
    assert by_id["centre"].ambulances == 2 and by_id["new-site"].ambulances == 1
    assert by_id["new-site"].station.kind.value == "substation"
    assert by_id["new-site"].station.name == problem.sites[1].name
    assert (by_id["new-site"].station.lon, by_id["new-site"].station.lat) == (112.13, 28.01)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:.*strongly connected components")
def test_plan_optimize_end_to_end_and_the_layout_round_trips_through_simulate(tmp_path: Path, capsys) -> None:
    county_dir = tmp_path / "tiny"
    shutil.copytree(TINY, county_dir, ignore=shutil.ignore_patterns(".ems-cache"))
    out = tmp_path / "plan"
    status = main([
        "plan", "optimize", "--county", str(county_dir), "--layout-base", "1+5+N", "--fixed", "宁乡市人民医院",
        "--substations", "1", "--solutions", "2", "--objective", "mclp", "--target-min", "10,30",
        "--days", "2", "--replications", "2", "--workers", "1", "--quiet", "--out", str(out),
    ])  # fmt: skip
    assert status == 0
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    ranking = plan["comparison"]["ranking"]
    assert {e["layout"] for e in ranking} == {"1+5+N", "mclp-1", "mclp-2"}
    assert [e["simulated_rank"] for e in ranking] == [1, 2, 3]
    assert plan["solutions"][0]["objective_value"] >= plan["solutions"][1]["objective_value"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 2
    layout_file = out / "layouts" / "mclp-1.toml"
    sim_out = tmp_path / "sim"
    status = main([
        "simulate", "--layout", str(layout_file), "--county", str(county_dir), "--days", "1", "--replications", "1",
        "--workers", "1", "--quiet", "--no-calls", "--no-report", "--out", str(sim_out),
    ])  # fmt: skip
    assert status == 0
    summary = json.loads((sim_out / "summary.json").read_text(encoding="utf-8"))
    units = summary["layouts"]["mclp-1"]["units"]
    assert units == sum(s["ambulances"] for s in plan["solutions"][0]["stations"])


@pytest.mark.slow
def test_plan_optimize_on_the_embedded_county(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    status = main([
        "plan", "optimize", "--layout-base", "1+5+N", "--candidates", "townships", "--fixed", "宁乡市人民医院",
        "--substations", "5", "--ambulances", "32", "--objective", "pmedian", "--solutions", "2",
        "--days", "3", "--replications", "2", "--workers", "1", "--quiet", "--out", str(out),
    ])  # fmt: skip
    assert status == 0
    plan = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    first, second = plan["solutions"]
    assert first["objective_value"] <= second["objective_value"]  # p-median: minutes, lower first
    assert len(first["substations"]) == 5
    for sol in plan["solutions"]:
        assert sum(s["ambulances"] for s in sol["stations"]) == 32
    # The model's objective of the base layout is no better than the optimum over the same sites.
    assert plan["base"]["model_value"] >= first["objective_value"] - 1e-6


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), objective=st.sampled_from([Objective.MCLP, Objective.PMEDIAN]))
def test_one_site_per_block_is_the_best_of_all_choices_that_take_one_from_each(seed: int,
                                                                            objective: Objective) -> None:
    from simulation.plan_enumerate import enumerate_choices

    problem = small_problem(seed, n_sites=8)
    cand = list(problem.candidates)
    blocks = [cand[:2], cand[2:5], cand[5:]]
    ranked = enumerate_choices(problem, objective, 3, blocks=blocks)
    everything = enumerate_choices(problem, objective, 3)
    one_each = [c for c in everything if all(len(set(c.chosen) & set(b)) == 1 for b in blocks)]
    assert [c.chosen for c in ranked] == [c.chosen for c in one_each]
    assert len(ranked) == 2 * 3 * (len(cand) - 5) and [c.rank for c in ranked] == list(range(1, len(ranked) + 1))


def test_tied_choices_come_in_lexicographic_order_and_bad_blocks_are_named() -> None:
    from simulation.plan_enumerate import enumerate_best, enumerate_choices

    problem = small_problem(3, n_sites=5, kept=0)
    # Sites 1-4 become equal: every choice of one has the same value.
    same = np.repeat(problem.travel_s[1:2], 4, axis=0)
    tied = PlanProblem(sites=problem.sites, weight=problem.weight, target_s=problem.target_s,
                       travel_s=np.vstack([problem.travel_s[:1], same]), ambulances=problem.ambulances)
    ranked = enumerate_choices(tied, Objective.PMEDIAN, 1)
    assert [c.chosen for c in ranked] == [(1,), (2,), (3,), (4,)]
    assert enumerate_best(tied, Objective.PMEDIAN, 1).chosen == (1,)
    for blocks, message in (([[1], [2]], "one substation per block needs substations = 2, got 1"),
                            ([[]], r"blocks\[0\]: empty"), ([[1, 1]], r"blocks\[0\]: repeated"),
                            ([[9]], r"blocks\[0\]: \[9\] are not candidate indices")):
        with pytest.raises(PlanError, match=message):
            enumerate_choices(tied, Objective.PMEDIAN, 1, blocks=blocks)
    with pytest.raises(PlanError, match=r"blocks\[1\]: \[1\] already in another block"):
        enumerate_choices(tied, Objective.PMEDIAN, 2, blocks=[[1, 2], [1, 3]])
