"""Fixture road graphs shaped like osmnx's: a small grid near Ningxiang's county town.

The grid has every road class the profiles tell apart, one-way streets, curved geometries, a
slower parallel edge and a one-way spur that nothing can leave, so that ETA and route code meets
all the cases real OSM data has.
"""

from __future__ import annotations

import math
import random

import networkx as nx
import pytest
import shapely

LON0, LAT0 = 112.55, 28.25
STEP_DEG = 0.004  # ~390 m east-west, ~440 m north-south
SPEED_KPH = {"primary": 60.0, "secondary": 50.0, "tertiary": 40.0, "unclassified": 35.0, "residential": 30.0}

CONFIG = {
    "routing": {
        "max_snap_distance_m": 2000.0,
        "max_eta_s": 5400.0,
        "emergency_speed_factor": {
            "primary": 1.2, "secondary": 1.2, "tertiary": 1.15, "unclassified": 1.05,
            "residential": 1.05, "default": 1.05,
        },
        "time_of_day_factor": {"8": 1.25, "17": 1.25},
    }
}


def _haversine_m(coords: list[tuple[float, float]]) -> float:
    total = 0.0
    for (lon1, lat1), (lon2, lat2) in zip(coords, coords[1:]):
        p1, p2 = math.radians(lat1), math.radians(lat2)
        dp, dl = p2 - p1, math.radians(lon2 - lon1)
        h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        total += 2 * 6_371_009 * math.asin(math.sqrt(h))
    return total


def build_grid(n: int = 6, *, two_way: bool = False, seed: int = 7) -> nx.MultiDiGraph:
    """Build an osmnx-shaped ``n`` x ``n`` grid MultiDiGraph (see the module docstring)."""
    rng = random.Random(seed)
    G = nx.MultiDiGraph(crs="EPSG:4326")

    def node_id(i: int, j: int) -> int:
        return 1000 + i * n + j

    for i in range(n):
        for j in range(n):
            G.add_node(node_id(i, j), x=LON0 + j * STEP_DEG, y=LAT0 + i * STEP_DEG)

    def add(u: int, v: int, highway, *, oneway: bool, bend: tuple[float, float] | None = None, jitter: float = 1.0):
        a = (G.nodes[u]["x"], G.nodes[u]["y"])
        b = (G.nodes[v]["x"], G.nodes[v]["y"])
        coords = [a, bend, b] if bend else [a, b]
        length = _haversine_m(coords)
        first = highway[0] if isinstance(highway, list) else highway
        time_s = length / (SPEED_KPH[first] / 3.6) * jitter
        data = {"highway": highway, "length": length, "travel_time": time_s, "oneway": oneway}
        G.add_edge(u, v, **data, **({"geometry": shapely.LineString(coords)} if bend else {}))
        if not oneway:
            G.add_edge(v, u, **data, **({"geometry": shapely.LineString(coords[::-1])} if bend else {}))

    for i in range(n):
        for j in range(n):
            u = node_id(i, j)
            if j + 1 < n:  # east-west
                highway = "primary" if i == 0 else "secondary" if i == n // 2 else "residential"
                oneway = not two_way and i == 3
                add(u, node_id(i, j + 1), highway, oneway=oneway, jitter=1.0 if two_way else rng.uniform(0.8, 1.3))
            if i + 1 < n:  # north-south
                highway = ["unclassified", "residential"] if j == 2 else "tertiary"
                bend = None
                if j == 1:
                    a, b = G.nodes[u], G.nodes[node_id(i + 1, j)]
                    bend = (a["x"] + 0.3 * STEP_DEG, (a["y"] + b["y"]) / 2)
                oneway = not two_way and j == 4 and i % 2 == 0
                add(u, node_id(i + 1, j), highway, oneway=oneway, bend=bend,
                    jitter=1.0 if two_way else rng.uniform(0.8, 1.3))
    if not two_way:
        # A slower parallel edge (the fastest must win) and a one-way spur nothing can leave.
        u, v = node_id(1, 1), node_id(1, 2)
        d = dict(G.edges[u, v, 0])
        G.add_edge(u, v, **{**d, "travel_time": d["travel_time"] * 2.0, "highway": "residential"})
        spur = 99
        G.add_node(spur, x=LON0 + (n - 1) * STEP_DEG + 0.003, y=LAT0 + (n - 1) * STEP_DEG)
        add(node_id(n - 1, n - 1), spur, "residential", oneway=True)
    return G


@pytest.fixture(scope="session")
def grid() -> nx.MultiDiGraph:
    """The fixture grid with one-way streets, curves, a parallel edge and a dead-end spur."""
    return build_grid()


@pytest.fixture(scope="session")
def two_way_grid() -> nx.MultiDiGraph:
    """The fixture grid with every road two-way at equal times."""
    return build_grid(two_way=True)


@pytest.fixture(scope="session")
def config() -> dict:
    """A routing config like config.toml's."""
    return CONFIG
