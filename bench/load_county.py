"""Time loading the embedded county's road network: first compile, then from the cache.

The first build reads the road file through osmnx (``county.load_graph()``, slow) and compiles it
to arrays; every later load reads the cached ``.npz`` (goal: <= 1 s). The first build is timed into
a temporary cache directory so the county's own cache is left as it is.

Usage: .venv/bin/python bench/load_county.py [--county ningxiang]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--county", default="ningxiang", help="county name or directory (default: ningxiang)")
    args = parser.parse_args(argv)

    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import compile_graph, load_network

    t0 = time.perf_counter()
    county = load_county(args.county)
    t_county = time.perf_counter() - t0
    print(f"county {county.path}: load_county {t_county:.2f} s; roads {county.roads_path.name} "
          f"({county.roads_path.stat().st_size / 1e6:.1f} MB)")

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        graph = county.load_graph()
        t_graph = time.perf_counter() - t0
        t0 = time.perf_counter()
        network = compile_graph(graph)
        t_compile = time.perf_counter() - t0
        t0 = time.perf_counter()
        load_network(county, cache_dir=Path(tmp))  # first build: read + compile + write
        t_first = time.perf_counter() - t0
        loads = []
        for _ in range(5):
            t0 = time.perf_counter()
            network = load_network(county, cache_dir=Path(tmp))
            loads.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    Router(network)
    t_router = time.perf_counter() - t0
    t_cached = sorted(loads)[len(loads) // 2]
    print(f"network: {network.n_nodes} nodes, {network.n_edges} edges, {network.road_km:.0f} km")
    print(f"  county.load_graph (osmnx):  {t_graph:7.2f} s")
    print(f"  compile_graph:              {t_compile:7.2f} s")
    print(f"  first build (both + write): {t_first:7.2f} s")
    print(f"  cached load (median of 5):  {t_cached:7.3f} s   goal <= 1 s {'OK' if t_cached <= 1 else 'MISSED'}")
    print(f"  Router(network) (index):    {t_router:7.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
