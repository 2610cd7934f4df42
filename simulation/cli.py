"""``ems simulate``: run a layout, or compare several with common random numbers.

    ems simulate --layout 1+5+N --days 365 --replications 20 --seed 1 --out DIR
    ems simulate compare centralized 1+5+N --days 365 --replications 20 --seed 1 --out DIR
    ems plan optimize --layout-base 1+5+N --candidates townships --fixed 宁乡市人民医院 \
        --substations 5 --ambulances 32 --objective mclp --target-min 10,30 --out DIR

A layout is a name of the county's ``layouts/`` or the path of a layout TOML file. DIR receives
``summary.json``, ``calls.csv`` (unless ``--no-calls``) and ``report.html``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

from simulation.overrides import with_move_up


def positive_int(text: str) -> int:
    """An argparse type: a whole number > 0 (refused before any work starts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a whole number > 0, got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value

def _common(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    # Under `compare` the defaults are suppressed so that flags given before `compare` stand.
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--days", type=positive_float, default=default(365.0), help="days per replication (default 365)")
    parser.add_argument("--replications", type=positive_int, default=default(20), help="replications (default 20)")
    parser.add_argument("--seed", type=int, default=default(1), help="seed of the random streams (default 1)")
    parser.add_argument("--out", metavar="DIR", default=default("simulation-out"), help="output directory")
    parser.add_argument("--county", default=default(None), help="county name or directory (default: config [county] name)")
    parser.add_argument("--calls-csv", metavar="FILE", default=default(None),
                        help="past calls (lon, lat columns) to draw locations from")
    parser.add_argument("--workers", type=positive_int, default=default(None), help="processes (default: all cores)")
    parser.add_argument("--dask", metavar="URL", default=default(None), help="run on a Dask cluster, e.g. tcp://HOST:8786")
    parser.add_argument("--no-calls", action="store_true", default=default(False), help="do not write the per-call CSV")
    parser.add_argument("--no-report", action="store_true", default=default(False), help="do not write the HTML report")
    parser.add_argument("--quiet", action="store_true", default=default(False), help="no progress bar")
    parser.add_argument("--move-up", action="store_true", default=default(False),
                        help="re-post idle units to emptied stations (dispatch.moveup; [simulation] move_up)")


def register(subparsers: Any) -> None:
    """Add ``simulate`` (and ``simulate compare``) to the ``ems`` command."""
    sim = subparsers.add_parser(
        "simulate",
        help="simulate a station layout (or compare layouts) on the county",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sim.add_argument("--layout", default="1+5+N", help="layout name or TOML file (default 1+5+N)")
    _common(sim)
    sim.set_defaults(func=_simulate, layouts=None)
    sub = sim.add_subparsers(dest="simulate_command", metavar="compare")
    compare = sub.add_parser("compare", help="compare layouts with common random numbers, one report")
    compare.add_argument("layouts", nargs="+", metavar="LAYOUT", help="layout names or TOML files")
    _common(compare, suppress=True)
    compare.set_defaults(func=_simulate)
    _register_plan(subparsers)
    _register_twin(subparsers)


def _register_twin(subparsers: Any) -> None:
    twin = subparsers.add_parser(
        "twin",
        help="drive a running dispatch service with a simulated county (calls, crews, GPS; docs/twin.md)",
        description=(
            "Place simulated calls on a running service through its REST API, send the recommended units, "
            "and play their crews: accept, drive the road route posting OsmAnd (Traccar Client) fixes, "
            "report statuses and chest pain / stroke milestones, transport, come back. Without --duration "
            "or --calls it runs until interrupted."
        ),
    )
    twin.add_argument("--url", required=True, help="the service, e.g. http://127.0.0.1:8120")
    twin.add_argument("--token-file", required=True, metavar="F",
                      help="the service's token file: a dispatcher token and a crew token per unit (var/tokens.toml)")
    twin.add_argument("--speed", type=float, default=10.0, help="simulated seconds per second (default 10)")
    twin.add_argument("--calls-per-hour", type=float, default=None,
                      help="flat call rate (default: the config's daily profile, [simulation] calls_per_day)")
    twin.add_argument("--duration", type=float, default=None, metavar="S", help="stop after S wall-clock seconds")
    twin.add_argument("--calls", type=int, default=None, metavar="N",
                      help="stop once N calls were placed and every unit is back (bounded by --duration)")
    twin.add_argument("--seed", type=int, default=1, help="seed of the calls and the crews' draws (default 1)")
    twin.add_argument("--county", default=None, help="county name or directory (default: config [county] name)")
    twin.set_defaults(func=_twin)


def _twin(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from ems.config import load_config
    from simulation.twin import TwinOptions, run_twin

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = load_config(getattr(args, "config", None))
    if args.county:
        config.setdefault("county", {})["name"] = args.county
    options = TwinOptions(url=args.url, token_file=Path(args.token_file), speed=args.speed,
                          calls_per_hour=args.calls_per_hour, duration_s=args.duration, calls=args.calls,
                          seed=args.seed)
    report = asyncio.run(run_twin(options, config=config))
    print(json.dumps(report.to_dict(), ensure_ascii=False))
    return 1 if report.errors or report.legs_with_fixes_not_taken else 0


def _register_plan(subparsers: Any) -> None:
    plan = subparsers.add_parser(
        "plan",
        help="the planner's optimiser: where the next substations go (see docs/planning.md)",
        description="Location models on road travel times, checked by simulation.",
    )
    sub = plan.add_subparsers(dest="plan_command", metavar="optimize")
    opt = sub.add_parser(
        "optimize",
        help="choose substations and ambulances (MCLP, p-median, backup), simulate the best against the base",
        description=(
            "Build the demand x candidate travel-time matrix on the routing engine, solve the model exactly "
            "(HiGHS), allocate ambulances (MEXCLP), write each solution as a layout TOML, simulate the best "
            "--solutions and the base layout with common random numbers, and report both rankings."
        ),
    )
    opt.add_argument("--layout-base", default="1+5+N", help="current layout: name or TOML file (default 1+5+N)")
    opt.add_argument("--candidates", default="townships", help="'townships' or a CSV file id,name,lon,lat")
    opt.add_argument("--fixed", action="append", default=None, metavar="STATION",
                     help="station always open (id, name, or its hospital's name); repeat or comma-separate "
                          "(default: the base layout's centre)")
    opt.add_argument("--substations", type=positive_int, default=5, help="substations to choose (default 5)")
    opt.add_argument("--ambulances", type=positive_int, default=None, help="ambulances in all (default: the base layout's)")
    opt.add_argument("--objective", choices=["mclp", "pmedian", "backup"], default="mclp", help="the model (default mclp)")
    opt.add_argument("--target-min", default="10,30", help="urban,rural arrival targets in minutes (default 10,30)")
    opt.add_argument("--solutions", type=positive_int, default=3, help="best distinct solutions to simulate (default 3)")
    opt.add_argument("--min-per-site", type=int, default=1, help="ambulances each open fixed or chosen site gets at least")
    opt.add_argument("--busy-fraction", type=float, default=None,
                     help="MEXCLP's probability that a unit is busy (default: estimated from the demand)")
    opt.add_argument("--rank-by", default="within_target.all",
                     help="simulated metric to rank by (default within_target.all; e.g. response_min.mean)")
    opt.add_argument("--days", type=positive_float, default=90.0, help="days per replication (default 90)")
    opt.add_argument("--replications", type=positive_int, default=5, help="replications (default 5)")
    opt.add_argument("--seed", type=int, default=1, help="seed of the random streams (default 1)")
    opt.add_argument("--workers", type=positive_int, default=None, help="processes (default: all cores)")
    opt.add_argument("--move-up", action="store_true", help="simulate with the move-up rule (dispatch.moveup)")
    opt.add_argument("--no-simulate", action="store_true", help="solve and write the layouts only")
    opt.add_argument("--county", default=None, help="county name or directory (default: config [county] name)")
    opt.add_argument("--out", metavar="DIR", default="plan-out", help="output directory")
    opt.add_argument("--quiet", action="store_true", help="no progress bars")
    opt.set_defaults(func=_plan_optimize)
    plan.set_defaults(func=lambda args: (plan.print_help(), 2)[1])


def _simulate(args: argparse.Namespace) -> int:
    from ems.config import load_config
    from geodata.county import load_county
    from simulation.coverage import regions_from_config
    from simulation.errors import SimulationError
    from simulation.report import write_report
    from simulation.runner import run_scenarios
    from simulation.scenario import build_scenarios, resolve_layout
    from simulation.stats import summarise, write_calls_csv

    config = with_move_up(load_config(getattr(args, "config", None)), args.move_up)
    regions_from_config(config)  # checked early
    names = args.layouts or [args.layout]
    if len(set(names)) != len(names):
        raise SimulationError(f"layouts: each layout once, got {names!r}")
    county = load_county(args.county or (config.get("county") or {}).get("name", "ningxiang"))
    layouts = [resolve_layout(county, n) for n in names]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.quiet
    started = time.perf_counter()
    scenarios = build_scenarios(county, layouts, config=config, calls_csv=args.calls_csv, progress=progress)
    prepared = time.perf_counter()
    results = run_scenarios(
        scenarios, days=args.days, replications=args.replications, seed=args.seed,
        workers=args.workers, dask=args.dask, progress=progress,
    )  # fmt: skip
    finished = time.perf_counter()
    by_name = {s.name: s for s in scenarios}
    targets = config.get("targets") or {}
    n_calls = sum(r.n_calls for runs in results.values() for r in runs)
    run = {
        "county": county.name,
        "layouts": [s.name for s in scenarios],
        "days": args.days,
        "replications": args.replications,
        "seed": args.seed,
        "calls_per_day": scenarios[0].config.calls_per_day,
        "calls_simulated": n_calls,
        "prepare_s": round(prepared - started, 1),
        "simulate_s": round(finished - prepared, 1),
        "demand": str(args.calls_csv) if args.calls_csv else "places.csv demand_weight",
    }
    summary = summarise(
        results, by_name, run=run,
        urban_target_min=float(targets.get("urban_arrival_min", 10)),
        rural_target_min=float(targets.get("rural_arrival_min", 30)),
    )  # fmt: skip
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    if not args.no_calls:
        write_calls_csv(out / "calls.csv", results, by_name)
    if not args.no_report:
        title = "Layout comparison: " + " vs ".join(names) if len(names) > 1 else f"Layout {names[0]}"
        write_report(out / "report.html", summary, results, by_name, boundary=county.boundary, title=title)
    print(
        f"simulated {n_calls} calls ({args.replications} replications x {len(names)} layout(s)) in "
        f"{finished - prepared:.1f} s -> {out}"
    )
    for layout in layouts:
        name = layout.name
        metrics = summary["layouts"][name]["metrics"]
        mean = metrics.get("response_min.mean", {}).get("mean")
        p90 = metrics.get("response_min.p90", {}).get("mean")
        if mean is not None:
            print(f"  {name}: response mean {mean:.1f} min, p90 {p90:.1f} min")
    return 0


def _model_figures(problem: Any, rank: int | None, value: float, counts: Any, q: float) -> dict[str, Any]:
    """Return the model's figures of a layout (ambulances ``counts`` per site, busy fraction ``q``)."""
    from simulation.plan import expected_coverage, layout_figures

    figures = layout_figures(problem, counts)
    return {
        "model_rank": rank,
        "model_value": value,
        "model_coverage": figures.coverage,
        "model_mean_travel_min": figures.mean_travel_s / 60.0,
        "model_backup_coverage": figures.backup,
        "model_expected_coverage": expected_coverage(problem, counts, q),
        "busy_fraction": q,
    }


def _plan_optimize(args: argparse.Namespace) -> int:
    from ems.config import load_config
    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network
    from simulation import plan as P
    from simulation.config import SimulationConfig
    from simulation.plan_report import compare_plans, write_plan_json, write_plan_report
    from simulation.runner import run_scenarios
    from simulation.scenario import build_scenarios, resolve_layout
    from simulation.stats import summarise

    config = with_move_up(load_config(getattr(args, "config", None)), args.move_up)
    objective = P.Objective(args.objective)
    urban_s, rural_s = P.parse_targets(args.target_min)
    county = load_county(args.county or (config.get("county") or {}).get("name", "ningxiang"))
    base = resolve_layout(county, args.layout_base)
    fixed = [f.strip() for item in (args.fixed or []) for f in item.split(",") if f.strip()]
    if not fixed:
        fixed = [ls.station.id for ls in base.stations if getattr(ls.station.kind, "value", ls.station.kind) == "centre"]
    progress = not args.quiet
    out = Path(args.out)
    (out / "layouts").mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    router = Router(load_network(county, progress=progress), profile="emergency", config=config)
    candidates = P.candidate_sites(county, args.candidates)
    problem = P.build_problem(
        county, router, base, candidates, fixed, ambulances=args.ambulances, targets_s=(urban_s, rural_s),
        progress=progress,
    )  # fmt: skip
    built = time.perf_counter()
    solutions = P.best_solutions(
        problem, objective, args.substations, args.solutions, min_per_site=args.min_per_site, progress=progress
    )
    sim_config = SimulationConfig.from_config(config)
    planned, layouts, model = [], [], {}
    for sol in solutions:
        q = args.busy_fraction if args.busy_fraction is not None else P.busy_fraction_estimate(problem, sim_config, sol.chosen)
        alloc = P.allocate(problem, sol.chosen, q, min_per_site=args.min_per_site)
        name = f"{objective.value}-{sol.rank}"
        chosen_ids = [problem.sites[j].id for j in sol.chosen]
        layout = P.PlannedLayout(
            name,
            f"{objective.value} solution {sol.rank} ({args.substations} substations: {', '.join(chosen_ids)}) "
            f"on base layout {base.name}; objective {sol.value:.6g}; ambulances by MEXCLP (q = {q:.3f}).",
            problem, alloc.ambulances, sol.chosen,
        )  # fmt: skip
        path = out / "layouts" / f"{name}.toml"
        path.write_text(P.layout_toml(layout, base), encoding="utf-8")
        layouts.append(county.load_layout_file(path))
        model[name] = _model_figures(problem, sol.rank, sol.value, P.counts_of(problem, alloc.ambulances), q)
        planned.append({
            "layout": name, "file": str(path), "rank": sol.rank, "objective_value": sol.value,
            "substations": chosen_ids, **{k: v for k, v in model[name].items() if k != "model_rank"},
            "stations": [{"id": problem.sites[j].id, "ambulances": n} for j, n in sorted(alloc.ambulances.items())],
        })  # fmt: skip
    solved = time.perf_counter()
    current = P.layout_counts(problem, base)
    if current is not None and base.name not in model:
        chosen, counts = current
        q = args.busy_fraction if args.busy_fraction is not None else P.busy_fraction_estimate(problem, sim_config, chosen)
        value = P.site_value(problem, objective, chosen, counts)
        model[base.name] = _model_figures(problem, None, value, counts, q)
    plan_doc: dict[str, Any] = {
        "problem": {
            "county": county.name, "base_layout": base.name, "objective": objective.value,
            "substations": args.substations, "ambulances": problem.ambulances, "fixed": fixed,
            "candidates": [problem.sites[j].id for j in problem.candidates], "sites": len(problem.sites),
            "points": int(problem.weight.size), "target_min": [urban_s / 60.0, rural_s / 60.0],
            "busy_fraction": round(model[planned[0]["layout"]]["busy_fraction"], 4) if planned else None,
        },
        "solutions": planned,
        "base": model.get(base.name),
        "run": {"matrix_s": round(built - started, 1), "solve_s": round(solved - built, 1)},
    }  # fmt: skip
    for p in planned:
        print(f"{p['layout']}: {', '.join(p['substations'])}  objective {p['objective_value']:.6g} -> {p['file']}")
    if args.no_simulate:
        (out / "plan.json").write_text(json.dumps(plan_doc, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    all_layouts = [base, *layouts]
    scenarios = build_scenarios(county, all_layouts, config=config, router=router, progress=progress)
    results = run_scenarios(
        scenarios, days=args.days, replications=args.replications, seed=args.seed, workers=args.workers,
        progress=progress,
    )  # fmt: skip
    simulated = time.perf_counter()
    by_name = {s.name: s for s in scenarios}
    plan_doc["run"].update({
        "days": args.days, "replications": args.replications, "seed": args.seed, "move_up": bool(args.move_up),
        "simulate_s": round(simulated - solved, 1),
    })  # fmt: skip
    summary = summarise(
        results, by_name, run=plan_doc["run"], urban_target_min=urban_s / 60.0, rural_target_min=rural_s / 60.0
    )
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    comparison = compare_plans(
        results, by_name, model, rank_by=args.rank_by, urban_target_s=urban_s, rural_target_s=rural_s
    )
    write_plan_json(out / "plan.json", plan_doc, comparison)
    write_plan_report(out / "report.html", plan_doc, comparison, results, by_name, boundary=county.boundary)
    print(f"simulated {len(all_layouts)} layouts x {args.replications} replications in {simulated - solved:.1f} s -> {out}")
    for e in comparison["ranking"]:
        metric = e[comparison["rank_by"]]
        mean = metric.get("mean")
        print(f"  {e['simulated_rank']}. {e['layout']}: {comparison['rank_by']} "
              f"{'–' if mean is None else f'{mean:.4f}'} (model rank {e.get('model_rank') or 'base'})")  # fmt: skip
    from simulation.plan_report import disagreement_text

    for text in disagreement_text(comparison):
        print("  " + text)
    return 0
