"""Corridors between Ningxiang's township seats: the seat graph, road classes, meandering lines.

The seat graph joins the seats and the county town (Delaunay edges not facing a wide angle, plus
the direct roads published figures attest); the edges on the shortest paths out of the town
become primary roads. Each corridor is a gently meandering line with a junction every ~650 m.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import Delaunay
from shapely.geometry import LineString, Polygon

from simulation.ningxiang_build.common import BuildError, FloatArray

# Seat-graph edges facing a wider angle than this in a Delaunay triangle are dropped.
SEAT_EDGE_MAX_ANGLE_DEG = 115.0
# Direct roads between seats that published figures attest: the 流沙河 substation reaches 龙田 in
# 20 km on a 16.8 km straight line (published_figures.toml), so a direct road joins them.
KNOWN_SEAT_ROADS = (("流沙河镇", "龙田镇"),)


def seat_graph(
    x: FloatArray, y: FloatArray, boundary: Polygon, known: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Return the seat graph: Delaunay edges between seats not facing a wide angle, inside the county.

    A Delaunay edge is kept when the angles facing it in its triangles are all below
    SEAT_EDGE_MAX_ANGLE_DEG (90 would give the Gabriel graph; a little more keeps the direct
    roads between neighbouring seats that a third seat sits slightly off). The `known` direct
    roads are added, and the seat edges they cross dropped.
    """
    pts = np.column_stack([x, y])
    tri = Delaunay(pts)
    limit = math.cos(math.radians(SEAT_EDGE_MAX_ANGLE_DEG))
    ok: dict[tuple[int, int], bool] = {}
    for simplex in tri.simplices.tolist():
        for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
            i, j, k = simplex[a], simplex[b], simplex[c]
            vi, vj = pts[i] - pts[k], pts[j] - pts[k]
            cos_k = float(vi @ vj) / float(np.hypot(*vi) * np.hypot(*vj))
            key = (min(i, j), max(i, j))
            ok[key] = ok.get(key, True) and cos_k > limit
    inside = boundary.buffer(-200.0)
    keep = [
        (a, b)
        for (a, b), good in sorted(ok.items())
        if good and inside.contains(LineString([(x[a], y[a]), (x[b], y[b])]))
    ]
    for a, b in known:
        line = LineString([(x[a], y[a]), (x[b], y[b])])
        keep = [
            (p, q) for p, q in keep
            if not line.crosses(LineString([(x[p], y[p]), (x[q], y[q])]))
        ]  # fmt: skip
        keep.append((min(a, b), max(a, b)))
    keep = sorted(set(keep))
    n = len(x)
    w = coo_matrix((np.ones(len(keep)), ([a for a, _ in keep], [b for _, b in keep])), shape=(n, n))
    n_comp, _ = connected_components(w, directed=False)
    if n_comp != 1:
        raise BuildError(f"seat graph: {n_comp} components after dropping edges that leave the county")
    return keep


def shortest_path_edges(
    x: FloatArray, y: FloatArray, seat_edges: list[tuple[int, int]], source: int
) -> set[tuple[int, int]]:
    """Return the seat-graph edges on the shortest (by length) paths from the town."""
    n = len(x)
    a = np.array([e[0] for e in seat_edges])
    b = np.array([e[1] for e in seat_edges])
    d = np.hypot(x[a] - x[b], y[a] - y[b])
    w = coo_matrix((d, (a, b)), shape=(n, n)).tocsr()
    _, pred = dijkstra(w, directed=False, indices=source, return_predecessors=True)
    used = set()
    for k in range(n):
        while k != source and pred[k] >= 0:
            used.add((min(k, pred[k]), max(k, pred[k])))
            k = pred[k]
    return {(int(p), int(q)) for p, q in used}


def city_gate(
    cx: float, cy: float, ax: float, ay: float, tx: float, ty: float,
    xs: list[float], ys: list[float], perimeter: np.ndarray,
) -> int:  # fmt: skip
    """Return the perimeter grid node where a road from the town toward (tx, ty) leaves it."""
    ang = math.atan2((ty - cy) / ay, (tx - cx) / ax)
    gx, gy = cx + ax * math.cos(ang), cy + ay * math.sin(ang)
    px = np.asarray(xs)[perimeter]
    py = np.asarray(ys)[perimeter]
    return int(perimeter[np.argmin(np.hypot(px - gx, py - gy))])


def meander(p0: np.ndarray, p1: np.ndarray, amp: float, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Return a polyline from p0 to p1 with a junction every ~spacing metres, meandering by amp."""
    chord = p1 - p0
    length = float(np.hypot(*chord))
    n = max(1, round(length / spacing))
    t = np.linspace(0.0, 1.0, n + 1)
    c = rng.normal(0.0, 1.0, 3) / np.array([1.0, 2.0, 3.0])
    phase_free = sum(c[f] * np.sin(math.pi * (f + 1) * t) for f in range(3))
    scale = float(np.max(np.abs(phase_free))) or 1.0
    off = amp * length * phase_free / scale
    normal = np.array([-chord[1], chord[0]]) / (length or 1.0)
    return p0 + np.outer(t, chord) + np.outer(off, normal)


def uncross(
    lines: list[tuple[int, int, np.ndarray, str, str]], spacing: float, rng: np.random.Generator
) -> list[tuple[int, int, np.ndarray, str, str]]:
    """Straighten corridors whose meanders cross another corridor away from a shared end."""
    out = list(lines)
    for _ in range(3):
        geoms = [LineString(c[2]) for c in out]
        tree = shapely.STRtree(geoms)
        pairs = tree.query(geoms, predicate="crosses")
        bad = sorted({int(i) for i in pairs.ravel()})
        if not bad:
            return out
        for i in bad:
            u, v, line, hw, ref = out[i]
            out[i] = (u, v, meander(line[0], line[-1], 0.0, spacing, rng), hw, ref)
    return out
