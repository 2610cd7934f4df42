"""Benchmark the routing engine against networkx and a bare bounded scipy search.

Runs on the embedded Ningxiang county (or ``--county NAME|DIR``), in one process, on one graph:
- ``Router.eta_to`` with 32 sources (one reverse search bounded by ``max_eta_s``),
- ``Router.snap`` per point (and ``snap_many`` per point),
- ``Router.route`` between random points,
- a networkx reverse Dijkstra (``single_source_dijkstra_path_length`` on the reversed graph),
- a bare ``scipy.sparse.csgraph.dijkstra`` on the transposed CSR, bounded by ``max_eta_s``,
then prints medians and the ratios against the goals (>= 50x networkx, <= 1.5x bare scipy).

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
    router = Router(network, profile="emergency", config=config, boundary=boundary)
    max_eta_s = args.max_eta_s
    print(f"{label}: {network.n_nodes} nodes, {network.n_edges} edges, {network.road_km:.0f} km of road, "
          f"max_eta_s {max_eta_s:.0f}")

    rng = np.random.default_rng(args.seed)

    def random_points(k: int) -> list[tuple[float, float]]:
        # Near random nodes, up to ~150 m off the road: where calls and units are.
        idx = rng.integers(0, network.n_nodes, k)
        lon = network.node_lon[idx] + rng.uniform(-0.0015, 0.0015, k)
        lat = network.node_lat[idx] + rng.uniform(-0.0015, 0.0015, k)
        pts = [(float(x), float(y)) for x, y in zip(lon, lat)]
        if boundary is not None:
            import shapely

            pts = [p for p in pts if shapely.contains_xy(boundary, *p)]
        return pts

    targets = random_points(args.runs * 2)[: args.runs]
    sources = [random_points(48)[:32] for _ in range(args.runs)]
    it = iter(range(10**9))

    def eta_once():
        i = next(it) % len(targets)
        router.eta_to(targets[i], sources[i], max_eta_s=max_eta_s)

    router.eta_to(targets[0], sources[0])  # warm up
    eta_ms = _median_ms(eta_once, args.runs)

    snap_points = random_points(2000)
    j = iter(range(10**9))
    snap_ms = _median_ms(lambda: router.snap(*snap_points[next(j) % len(snap_points)]), 1000)
    t0 = time.perf_counter()
    router.snap_many(snap_points)
    snap_many_us = (time.perf_counter() - t0) / len(snap_points) * 1e6

    pairs = list(zip(random_points(args.runs), random_points(args.runs)))
    k = iter(range(10**9))

    def route_once():
        a, b = pairs[next(k) % len(pairs)]
        router.route(a, b)

    route_ms = _median_ms(route_once, min(args.runs, len(pairs)))

    # Baselines on the same graph and weights.
    w = router.weights()
    tail = network.edge_tail
    reverse_csr = network.csr(w).T.tocsr()
    reverse_csr.indices = reverse_csr.indices.astype(np.int32)
    reverse_csr.indptr = reverse_csr.indptr.astype(np.int32)
    target_nodes = [router.snap(*t).u for t in targets]
    m = iter(range(10**9))
    scipy_ms = _median_ms(
        lambda: dijkstra(reverse_csr, indices=target_nodes[next(m) % len(target_nodes)], limit=max_eta_s),
        args.runs,
    )
    scipy_full_ms = _median_ms(lambda: dijkstra(reverse_csr, indices=target_nodes[0]), max(5, args.runs // 5))
    D = nx.DiGraph()
    D.add_weighted_edges_from(zip(network.indices.tolist(), tail.tolist(), w.tolist()))  # reversed edges
    nx_runs = max(3, args.runs // 10)
    q = iter(range(10**9))
    nx_ms = _median_ms(
        lambda: nx.single_source_dijkstra_path_length(D, target_nodes[next(q) % len(target_nodes)], weight="weight"),
        nx_runs,
    )

    print(f"eta_to, 32 sources (one bounded reverse search): {eta_ms:8.3f} ms  (median of {args.runs})")
    print(f"snap, one point:                                 {snap_ms * 1000:8.1f} us  (median of 1000)")
    print(f"snap_many, per point ({len(snap_points)} points):            {snap_many_us:8.1f} us")
    print(f"route, random pairs:                             {route_ms:8.3f} ms")
    print(f"baseline scipy dijkstra bounded at {max_eta_s:.0f} s:      {scipy_ms:8.3f} ms")
    print(f"baseline scipy dijkstra unbounded:               {scipy_full_ms:8.3f} ms")
    print(f"baseline networkx reverse Dijkstra:              {nx_ms:8.3f} ms  (median of {nx_runs})")
    speedup = nx_ms / eta_ms
    overhead = eta_ms / scipy_ms
    print(f"ratio networkx / eta_to:     {speedup:7.1f}x   goal >= 50x   {'OK' if speedup >= 50 else 'MISSED'}")
    print(f"ratio eta_to / bare scipy:   {overhead:7.2f}x   goal <= 1.5x  {'OK' if overhead <= 1.5 else 'MISSED'}")
    print(f"snap per point:              {snap_ms * 1000:7.1f} us  goal <= 50 us {'OK' if snap_ms * 1000 <= 50 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
