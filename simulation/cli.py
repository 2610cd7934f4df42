"""``ems simulate``: run a layout, or compare several with common random numbers.

    ems simulate --layout 1+5+N --days 365 --replications 20 --seed 1 --out DIR
    ems simulate compare centralized 1+5+N --days 365 --replications 20 --seed 1 --out DIR

A layout is a name of the county's ``layouts/`` or the path of a layout TOML file. DIR receives
``summary.json``, ``calls.csv`` (unless ``--no-calls``) and ``report.html``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any


def _common(parser: argparse.ArgumentParser, *, suppress: bool = False) -> None:
    # Under `compare` the defaults are suppressed so that flags given before `compare` stand.
    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--days", type=float, default=default(365.0), help="days per replication (default 365)")
    parser.add_argument("--replications", type=int, default=default(20), help="replications (default 20)")
    parser.add_argument("--seed", type=int, default=default(1), help="seed of the random streams (default 1)")
    parser.add_argument("--out", metavar="DIR", default=default("simulation-out"), help="output directory")
    parser.add_argument("--county", default=default(None), help="county name or directory (default: config [county] name)")
    parser.add_argument("--calls-csv", metavar="FILE", default=default(None),
                        help="past calls (lon, lat columns) to draw locations from")
    parser.add_argument("--workers", type=int, default=default(None), help="processes (default: all cores)")
    parser.add_argument("--dask", metavar="URL", default=default(None), help="run on a Dask cluster, e.g. tcp://HOST:8786")
    parser.add_argument("--no-calls", action="store_true", default=default(False), help="do not write the per-call CSV")
    parser.add_argument("--no-report", action="store_true", default=default(False), help="do not write the HTML report")
    parser.add_argument("--quiet", action="store_true", default=default(False), help="no progress bar")


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


def _simulate(args: argparse.Namespace) -> int:
    from ems.config import load_config
    from geodata.county import load_county
    from simulation.coverage import regions_from_config
    from simulation.errors import SimulationError
    from simulation.report import write_report
    from simulation.runner import run_scenarios
    from simulation.scenario import build_scenarios, resolve_layout
    from simulation.stats import summarise, write_calls_csv

    config = load_config(getattr(args, "config", None))
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
