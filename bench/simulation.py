"""Benchmark the simulator: simulated calls per second per core with the full policy.

On the embedded Ningxiang county (or ``--county NAME|DIR``), in one process:

- prepares the scenario (snapping, site tables, return paths) and times it;
- runs one replication cold (empty caches: destinations, deciding hospitals, return paths) and
  one warm, and prints calls/s by the wall clock and by CPU time (the machine may be shared: CPU
  time is the per-core figure); the goal (10,000 calls/s per core) holds when both reach it;
- times a naive baseline in the same run: per call, a networkx Dijkstra from the call to time
  every unit's station and another to time every hospital, then the same `rank_units` and
  `choose_destination` (no SimPy, no queue: the baseline's per-call cost is a lower bound);
- measures the estimate for a unit sent again on its way back against the router's exact
  time from the next node of its path.

Usage: .venv/bin/python bench/simulation.py [--layout 1+5+N] [--days 60] [--naive-calls 40]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def naive_calls_per_s(scenario, router, plan, n_calls: int) -> float:
    """Time the networkx-per-call baseline on the first ``n_calls`` calls of ``plan``."""
    import networkx as nx

    from centers.destination import DestinationInput, choose_destination
    from dispatch.model import UnitStatus
    from dispatch.policy import Candidate, rank_units
    from simulation.policy_use import _Eta
    from simulation.scenario_spec import hospital_site_id

    net = router.network
    weights = router.weights()
    graph = nx.DiGraph()
    tail, head = net.edge_tail, net.indices
    graph.add_weighted_edges_from(zip(tail.tolist(), head.tolist(), weights.tolist()))
    reverse = graph.reverse(copy=True)
    travel = scenario.travel
    site_nodes = {i: router.snap(s.lon, s.lat).v for i, s in enumerate(travel.sites)}
    point_nodes = [sn.v for sn in router.snap_many(list(zip(travel.points.lon.tolist(), travel.points.lat.tolist())))]
    units = scenario.units
    hospitals = scenario.hospitals
    hospital_sites = {h.id: travel.site_index(hospital_site_id(h.id)) for h in hospitals}
    started = time.process_time()
    for i in range(n_calls):
        p = int(plan.point[i])
        to_call = nx.single_source_dijkstra_path_length(reverse, point_nodes[p], weight="weight")
        candidates, etas = [], []
        for u in units:
            t = to_call.get(site_nodes[u.base_site])
            site = travel.sites[u.base_site]
            candidates.append(Candidate(u.id, u.capability, UnitStatus.AVAILABLE_AT_STATION, (site.lon, site.lat), "station"))
            etas.append(None if t is None else _Eta(t, math.nan))
        rank_units(int(plan.priority[i]), candidates, etas, scenario.dispatch, top_n=1)
        from_call = nx.single_source_dijkstra_path_length(graph, point_nodes[p], weight="weight")
        complaint = plan.complaints[int(plan.complaint[i])].value
        choose_destination(
            DestinationInput(complaint=complaint),
            hospitals,
            lambda hid: from_call.get(site_nodes[hospital_sites[hid]]),
            config=scenario.destination,
        )
    return n_calls / (time.process_time() - started)


def returning_error(scenario, router, samples: int, seed: int = 1) -> np.ndarray:
    """Return estimate / exact - 1 for units sent again on their way back from a hospital."""
    from simulation.scenario import station_sites

    travel = scenario.travel
    rng = np.random.default_rng(seed)
    hospitals = [i for i, s in enumerate(travel.sites) if s.kind == "hospital"]
    bases = station_sites(scenario)
    errors = []
    while len(errors) < samples:
        origin, base = int(rng.choice(hospitals)), int(rng.choice(bases))
        total = travel.trip_time_s(origin, None, base)
        if not 0 < total < math.inf:
            continue
        elapsed = float(rng.uniform(0.1, 0.9)) * total
        ahead = travel._node_at(origin, None, base, elapsed)
        if ahead is None:
            continue
        node, to_node_s = ahead
        point = int(rng.integers(travel.points.n))
        target = (float(travel.points.lon[point]), float(travel.points.lat[point]))
        eta = router.eta_to(target, [(float(travel.node_lon[node]), float(travel.node_lat[node]))], max_eta_s=1e9)[0]
        if eta is None:
            continue
        exact = to_node_s + eta.eta_s
        estimate = travel.returning_to_point_s(origin, None, base, elapsed, point)
        errors.append(estimate / exact - 1.0 if exact > 0 else 0.0)
    return np.array(errors)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--county", default="ningxiang")
    parser.add_argument("--layout", default="1+5+N")
    parser.add_argument("--days", type=float, default=60.0)
    parser.add_argument("--naive-calls", type=int, default=40)
    parser.add_argument("--error-samples", type=int, default=200)
    args = parser.parse_args()

    from ems.config import load_config
    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network
    from simulation.demand import plan_calls
    from simulation.model import run_replication
    from simulation.scenario import build_scenarios, resolve_layout

    config = load_config()
    county = load_county(args.county)
    router = Router(load_network(county), profile="emergency", config=config)
    t0 = time.perf_counter()
    (scenario,) = build_scenarios(county, [resolve_layout(county, args.layout)], config=config, router=router)
    prepare_s = time.perf_counter() - t0
    print(f"county {county.name}: {router.network.n_nodes} nodes, {scenario.travel.points.n} demand points, "
          f"{len(scenario.travel.sites)} sites, {len(scenario.units)} units; prepared in {prepare_s:.1f} s")

    rates = []
    for replication, label in ((0, "cold"), (1, "warm")):
        t0, c0 = time.perf_counter(), time.process_time()
        result = run_replication(scenario, days=args.days, seed=1, replication=replication)
        rate = result.n_calls / (time.perf_counter() - t0)
        cpu_rate = result.n_calls / (time.process_time() - c0)
        rates.append(cpu_rate)
        print(f"simulated ({label} destination cache): {result.n_calls} calls in {args.days:g} days, "
              f"{rate:,.0f} calls/s wall, {cpu_rate:,.0f} calls/s of CPU time")
    plan = plan_calls(scenario.config, scenario.travel.points, days=args.days, seed=1, replication=0)
    naive = naive_calls_per_s(scenario, router, plan, min(args.naive_calls, plan.n))
    print(f"naive networkx per call: {naive:,.1f} calls/s of CPU time")
    print(f"ratio simulated (warm) / naive: {rates[1] / naive:,.0f}x; goal >= 10,000 calls/s per core cold and warm: "
          f"{'met' if min(rates) >= 10_000 else 'NOT met'}")
    err = returning_error(scenario, router, args.error_samples)
    print(f"unit sent again on its way back, estimate vs exact from its next node ({err.size} samples): "
          f"mean {100 * err.mean():+.1f} %, median {100 * np.median(err):+.1f} %, p90 {100 * np.percentile(err, 90):+.1f} %, "
          f"exact (< 0.1 %) {100 * np.mean(err < 1e-3):.0f} % of the time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
