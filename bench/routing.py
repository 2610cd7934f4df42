"""Benchmark the routing engine against networkx and a bare bounded scipy search.

Runs on the embedded Ningxiang county (or ``--county NAME|DIR``), in one process, on one graph:
- ``Router.eta_to`` to a new target with 32 sources, either the same 32 station positions on every
  call (their snaps cached, as the dispatcher asks) or 32 positions never seen (every snap computed),
- a bare ``scipy.sparse.csgraph.dijkstra`` on the transposed CSR from the target's edge tail,
  bounded by ``max_eta_s`` (the same single bounded search eta_to runs, without its snapping
  and distances), timed interleaved with eta_to so both share the machine's load,
- ``Router.snap`` per new point and per cached point, ``snap_many`` per point,
- ``Router.route`` between new random points,
- a networkx reverse Dijkstra (``single_source_dijkstra_path_length`` on the reversed graph),
then prints medians and the ratios against the goals (>= 50x networkx, <= 1.5x bare scipy,
<= 50 us per snap).

``--synthetic N`` benchmarks a generated ~N-node road-like graph instead (no county needed).

Usage: .venv/bin/python bench/routing.py [--county ningxiang] [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000.0


def synthetic_network(n_nodes: int, seed: int = 1):
    """Compile a jittered grid with random gaps, road classes and one-way streets (~``n_nodes``)."""
    import networkx as nx

    from routing.network import compile_graph

    rng = np.random.default_rng(seed)
    side = int(np.sqrt(n_nodes))
    step = 0.0025
    G = nx.MultiDiGraph()
    lon = 112.2 + np.arange(side)[None, :] * step + rng.normal(0, step / 6, (side, side))
    lat = 28.0 + np.arange(side)[:, None] * step + rng.normal(0, step / 6, (side, side))
    for i in range(side):
        for j in range(side):
            G.add_node(i * side + j, x=float(lon[i, j]), y=float(lat[i, j]))
    classes = ["primary", "secondary", "tertiary", "unclassified", "residential"]
    kph = {"primary": 60, "secondary": 50, "tertiary": 40, "unclassified": 30, "residential": 25}
    for i in range(side):
        for j in range(side):
            for di, dj in ((0, 1), (1, 0)):
                a, b = i + di, j + dj
                if a >= side or b >= side or rng.random() < 0.12:
                    continue
                highway = classes[0] if (i if di == 0 else j) % 40 == 0 else classes[1] if (i if di == 0 else j) % 10 == 0 else classes[rng.integers(2, 5)]
                dx = (lon[a, b] - lon[i, j]) * 98_000
                dy = (lat[a, b] - lat[i, j]) * 111_000
                length = float(np.hypot(dx, dy))
                data = dict(length=length, travel_time=length / (kph[highway] / 3.6), highway=highway)
                u, v = i * side + j, a * side + b
                G.add_edge(u, v, **data)
                if rng.random() > 0.05:
                    G.add_edge(v, u, **data)
    largest = max(nx.strongly_connected_components(G), key=len)
    return compile_graph(G.subgraph(largest).copy())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--county", default="ningxiang", help="county name or directory (default: ningxiang)")
    parser.add_argument("--synthetic", type=int, metavar="N", help="use a generated ~N-node graph instead")
    parser.add_argument("--runs", type=int, default=50, help="timed runs per figure (default 50)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-eta-s", type=float, default=1800.0,
                        help="search bound for eta_to and the bare scipy search (default 1800: the issue's 30 min)")
    args = parser.parse_args(argv)

    import networkx as nx
    from scipy.sparse.csgraph import dijkstra

    from ems.config import load_config
    from routing.engine import Router

    config = load_config()
    boundary = None
    if args.synthetic:
        network = synthetic_network(args.synthetic)
        label = f"synthetic ~{args.synthetic} nodes"
    else:
        from geodata.county import load_county

        from routing.network import load_network

        county = load_county(args.county)
        network = load_network(county, progress=True)
        boundary = county.boundary
        label = f"county {county.path.name}"
    t0 = time.perf_counter()
    router = Router(network, profile="emergency", config=config, boundary=boundary)
    init_s = time.perf_counter() - t0
    max_eta_s = args.max_eta_s
    runs = args.runs
    print(f"{label}: {network.n_nodes} nodes, {network.n_edges} edges, {network.road_km:.0f} km of road, "
          f"max_eta_s {max_eta_s:.0f}; Router built in {init_s:.2f} s")

    rng = np.random.default_rng(args.seed)

    def random_points(k: int) -> list[tuple[float, float]]:
        # Near random nodes, up to ~150 m off the road: where calls and units are. Every point
        # drawn is new, so it is not in the router's snap cache until asked.
        pts: list[tuple[float, float]] = []
        while len(pts) < k:
            idx = rng.integers(0, network.n_nodes, k)
            lon = network.node_lon[idx] + rng.uniform(-0.0015, 0.0015, k)
            lat = network.node_lat[idx] + rng.uniform(-0.0015, 0.0015, k)
            new = [(float(x), float(y)) for x, y in zip(lon, lat)]
            if boundary is not None:
                import shapely

                new = [p for p in new if shapely.contains_xy(boundary, *p)]
            pts.extend(new)
        return pts[:k]

    # Baseline graph: the same weights, transposed, plain n x n CSR with int32 indices.
    w = router.weights()
    reverse_csr = network.csr(w).T.tocsr()
    reverse_csr.indices = reverse_csr.indices.astype(np.int32)
    reverse_csr.indptr = reverse_csr.indptr.astype(np.int32)

    # eta_to: the dispatcher asks for a new incident with the same 32 station positions every
    # time (their snaps cached after the first call), or with 32 positions never seen before
    # (every snap computed: fresh GPS fixes). The bare search starts from the target's edge tail.
    stations = random_points(32)
    targets = random_points(runs)
    cold_targets = random_points(runs)
    cold_sources = [random_points(32) for _ in range(runs)]
    target_nodes = [int(network.edge_tail[router.index.query_one(*t)[0]]) for t in targets]
    router.eta_to(random_points(1)[0], stations, max_eta_s=max_eta_s)  # warm up; caches the stations
    bare, warm, cold = [], [], []
    for i in range(runs):  # interleaved: the three figures share the machine's moment
        bare.append(_time(lambda: dijkstra(reverse_csr, indices=target_nodes[i], limit=max_eta_s)))
        warm.append(_time(lambda: router.eta_to(targets[i], stations, max_eta_s=max_eta_s)))
        cold.append(_time(lambda: router.eta_to(cold_targets[i], cold_sources[i], max_eta_s=max_eta_s)))
    scipy_ms, eta_ms, eta_cold_ms = (statistics.median(x[0] for x in xs) * 1000.0 for xs in (bare, warm, cold))
    # The same calls in this thread's CPU time: on a shared machine, wall time also counts the
    # moments another process holds the core.
    scipy_cpu, eta_cpu, eta_cold_cpu = (statistics.median(x[1] for x in xs) * 1000.0 for xs in (bare, warm, cold))
    scipy_full_ms = _median_ms(lambda: dijkstra(reverse_csr, indices=target_nodes[0]), max(5, runs // 5))

    # snap: points never seen (the cache misses), then one point asked again (a hit).
    snap_points = random_points(1000)
    j = iter(range(10**9))
    snap_ms = _median_ms(lambda: router.snap(*snap_points[next(j)]), len(snap_points))
    snap_hit_ms = _median_ms(lambda: router.snap(*snap_points[0]), 1000)
    many_points = random_points(2000)
    t0 = time.perf_counter()
    router.snap_many(many_points)
    snap_many_us = (time.perf_counter() - t0) / len(many_points) * 1e6

    pairs = list(zip(random_points(runs), random_points(runs)))
    k = iter(range(10**9))

    def route_once():
        a, b = pairs[next(k) % len(pairs)]
        router.route(a, b)

    route_ms = _median_ms(route_once, len(pairs))

    D = nx.DiGraph()
    D.add_weighted_edges_from(zip(network.indices.tolist(), network.edge_tail.tolist(), w.tolist()))  # reversed
    nx_runs = max(3, runs // 10)
    q = iter(range(10**9))
    nx_ms = _median_ms(
        lambda: nx.single_source_dijkstra_path_length(D, target_nodes[next(q) % len(target_nodes)], weight="weight"),
        nx_runs,
    )

    print(f"eta_to, 32 cached sources, new target:           {eta_ms:8.3f} ms  (median of {runs})")
    print(f"eta_to, 32 new sources, new target:              {eta_cold_ms:8.3f} ms  (median of {runs})")
    print(f"snap, one new point:                             {snap_ms * 1000:8.1f} us  (median of {len(snap_points)})")
    print(f"snap, one point asked again (cached):            {snap_hit_ms * 1000:8.1f} us")
    print(f"snap_many, per point ({len(many_points)} new points):        {snap_many_us:8.1f} us")
    print(f"route, random pairs (new points):                {route_ms:8.3f} ms  (median of {len(pairs)})")
    print(f"baseline scipy dijkstra bounded at {max_eta_s:.0f} s:      {scipy_ms:8.3f} ms  (median of {runs})")
    print(f"baseline scipy dijkstra unbounded:               {scipy_full_ms:8.3f} ms")
    print(f"baseline networkx reverse Dijkstra:              {nx_ms:8.3f} ms  (median of {nx_runs})")
    speedup = nx_ms / eta_ms
    overhead = eta_ms / scipy_ms
    overhead_cold = eta_cold_ms / scipy_ms
    print(f"CPU time: eta_to {eta_cpu:.3f} ms, with new sources {eta_cold_cpu:.3f} ms, bare scipy {scipy_cpu:.3f} ms")
    print(f"ratio networkx / eta_to:            {speedup:7.1f}x   goal >= 50x   {_verdict(speedup >= 50)}")
    print(f"ratio eta_to / bare scipy:          {overhead:7.2f}x   goal <= 1.5x  {_verdict(overhead <= 1.5)}"
          f"   (CPU time {eta_cpu / scipy_cpu:.2f}x)")
    print(f"ratio eta_to (new sources) / bare:  {overhead_cold:7.2f}x   goal <= 1.5x  {_verdict(overhead_cold <= 1.5)}"
          f"   (CPU time {eta_cold_cpu / scipy_cpu:.2f}x)")
    print(f"snap per new point:                 {snap_ms * 1000:7.1f} us  goal <= 50 us {_verdict(snap_ms * 1000 <= 50)}")
    return 0


def _time(fn) -> tuple[float, float]:
    """Return the wall and the thread CPU time (s) of one call."""
    t0, c0 = time.perf_counter(), time.thread_time()
    fn()
    return time.perf_counter() - t0, time.thread_time() - c0


def _verdict(ok: bool) -> str:
    return "OK" if ok else "MISSED"


if __name__ == "__main__":
    sys.exit(main())
