"""The rural road mesh of Ningxiang: junction points, candidate edges, road classes, lanes.

`roads.generate_network` draws junction points with `draw_mesh_points` and `thin_points`, joins
them with edges of `gabriel_rng` (relative-neighbourhood graph, minimum spanning tree and a share
of the other Gabriel edges), keeps the town's `main_component`, gives the edges their class with
`classify_mesh` by how many hamlets use them, and adds dead-end lanes with `add_spurs`.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import Delaunay, cKDTree
from shapely.geometry import LineString, Point, Polygon

from simulation.ningxiang_build.common import FloatArray, LocalProjection
from simulation.ningxiang_build.network import CORRIDOR, GRID, MESH, SEAT, SPUR, Edge
from simulation.ningxiang_build.params import RoadParams
from simulation.ningxiang_build.terrain import junction_density


def draw_mesh_points(
    inner: Polygon, keep_out: shapely.Geometry, proj: LocalProjection, rng: np.random.Generator,
    params: RoadParams, hospital_xy: tuple[float, float], seats_xy: np.ndarray,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    """Draw ``params.mesh_points`` junction points with `junction_density` (rejection sampling).

    Parameters
    ----------
    inner
        Where points may lie (the county, shrunk by the edge margin), local metres.
    keep_out
        Where they may not (the county town and a band along the corridors).

    Returns
    -------
    tuple of FloatArray
        x and y of the points, in the order drawn.
    """
    minx, miny, maxx, maxy = inner.bounds
    peak = 1.55 + 3.0 + 1.5  # the most junction_density gives: east 1.55, town 3, seat 1.5
    out_x: list[FloatArray] = []
    out_y: list[FloatArray] = []
    total = 0
    while total < params.mesh_points:
        x = rng.uniform(minx, maxx, 40000)
        y = rng.uniform(miny, maxy, 40000)
        u = rng.random(40000)
        lon, lat = proj.to_lonlat(x, y)
        accept = u * peak < junction_density(x, y, lon, lat, hospital_xy, seats_xy)
        x, y = x[accept], y[accept]
        inside = shapely.contains_xy(inner, x, y) & ~shapely.contains_xy(keep_out, x, y)
        x, y = x[inside], y[inside]
        take = min(len(x), params.mesh_points - total)
        out_x.append(x[:take])
        out_y.append(y[:take])
        total += take
    return np.concatenate(out_x), np.concatenate(out_y)


def thin_points(fixed: np.ndarray, x: FloatArray, y: FloatArray, r: float) -> tuple[FloatArray, FloatArray]:
    """Drop drawn points closer than r to a fixed point or to an earlier drawn point."""
    near_fixed = cKDTree(fixed).query(np.column_stack([x, y]), distance_upper_bound=r)[0] < r
    keep = ~near_fixed
    pairs = cKDTree(np.column_stack([x, y])).query_pairs(r, output_type="ndarray")
    if len(pairs):
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        for a, b in pairs.tolist():
            if keep[a] and keep[b]:
                keep[b] = False
    return x[keep], y[keep]


def gabriel_rng(x: FloatArray, y: FloatArray) -> tuple[np.ndarray, np.ndarray]:
    """Return the Gabriel graph's edges (sorted pairs) and which of them are in the RNG."""
    pts = np.column_stack([x, y])
    tri = Delaunay(pts)
    simp = tri.simplices
    rows = []
    for a, b, c in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        i, j, k = simp[:, a], simp[:, b], simp[:, c]
        dot = np.einsum("ij,ij->i", pts[i] - pts[k], pts[j] - pts[k])
        rows.append(np.column_stack([np.minimum(i, j), np.maximum(i, j), dot > 0]))
    allr = np.concatenate(rows)
    order = np.lexsort((allr[:, 1], allr[:, 0]))
    allr = allr[order]
    keys = allr[:, 0] * len(x) + allr[:, 1]
    uniq, start = np.unique(keys, return_index=True)
    ok = np.logical_and.reduceat(allr[:, 2].astype(bool), start)
    edges = np.column_stack([uniq // len(x), uniq % len(x)])[ok].astype(int)
    # Relative neighbourhood graph: no third point closer to both ends than they are to each other.
    d = np.hypot(*(pts[edges[:, 0]] - pts[edges[:, 1]]).T)
    tree = cKDTree(pts)
    near = tree.query_ball_point(pts[edges[:, 0]], d * (1.0 - 1e-9))
    in_rng = np.ones(len(edges), dtype=bool)
    for e, (a, b) in enumerate(edges.tolist()):
        for w in near[e]:
            if w != b and w != a and np.hypot(*(pts[w] - pts[b])) < d[e] * (1.0 - 1e-9):
                in_rng[e] = False
                break
    return edges, in_rng


def main_component(n: int, edges: list[Edge], town_node: int) -> tuple[np.ndarray, int]:
    """Return which of `n` junctions the town's component holds, and how many it does not."""
    a = np.array([e.u for e in edges])
    b = np.array([e.v for e in edges])
    w = coo_matrix((np.ones(len(edges)), (a, b)), shape=(n, n))
    _, labels = connected_components(w, directed=False)
    keep = labels == labels[town_node]
    return keep, int((~keep).sum())


def classify_mesh(
    X: FloatArray, Y: FloatArray, K: np.ndarray, road_edges: list[Edge], mesh_edges: list[Edge],
    keep: np.ndarray, hamlets: np.ndarray, village_node: dict[str, int], seat_node: dict[str, int],
    params: RoadParams, city_shape: Polygon,
) -> list[Edge]:  # fmt: skip
    """Give mesh edges their class: tertiary (collector), residential (town streets), unclassified."""
    n = len(X)
    mu = np.array([e.u for e in mesh_edges])
    mv = np.array([e.v for e in mesh_edges])
    ru = np.array([e.u for e in road_edges])
    rv = np.array([e.v for e in road_edges])
    u = np.concatenate([mu, ru])
    v = np.concatenate([mv, rv])
    d = np.hypot(X[u] - X[v], Y[u] - Y[v])
    w = coo_matrix((d, (u, v)), shape=(n, n)).tocsr()
    sources = np.flatnonzero(np.isin(K, (GRID, CORRIDOR, SEAT)) & keep)
    _, pred, _ = dijkstra(w, directed=False, indices=sources, min_only=True, return_predecessors=True)
    usage: dict[tuple[int, int], int] = {}
    targets = sorted(set(hamlets.tolist()) | set(village_node.values()))
    for t in targets:
        k = t
        while pred[k] >= 0:
            key = (min(k, pred[k]), max(k, pred[k]))
            usage[key] = usage.get(key, 0) + 1
            k = pred[k]
    seat_xy = np.array([[X[s], Y[s]] for s in sorted(seat_node.values())])
    d_seat, _ = cKDTree(seat_xy).query(np.column_stack([X, Y]))
    near_city = shapely.contains_xy(city_shape.buffer(1000.0), X, Y)
    town = (d_seat <= params.town_radius_m) | near_city
    out = []
    for e in mesh_edges:
        key = (min(e.u, e.v), max(e.u, e.v))
        if usage.get(key, 0) >= params.tertiary_min_paths:
            highway = "tertiary"
        elif town[e.u] and town[e.v]:
            highway = "residential"
        else:
            highway = "unclassified"
        out.append(Edge(e.u, e.v, highway))
    return out


def add_spurs(
    X: FloatArray, Y: FloatArray, K: np.ndarray, edges: list[Edge], hamlets: np.ndarray,
    inner: Polygon, rng: np.random.Generator, params: RoadParams,
) -> tuple[FloatArray, FloatArray, np.ndarray, list[Edge]]:  # fmt: skip
    """Add dead-end lanes at degree-2 junctions: hamlets, class changes, and a share of others.

    A junction of degree two where two different roads meet would be merged by osmnx into one
    edge with list-valued tags; a lane there keeps it a real intersection.
    """
    n = len(X)
    incident: list[list[int]] = [[] for _ in range(n)]
    for i, e in enumerate(edges):
        incident[e.u].append(i)
        incident[e.v].append(i)
    is_hamlet = np.zeros(n, dtype=bool)
    is_hamlet[hamlets] = True
    draws = rng.random(n)
    lengths = rng.uniform(*params.spur_length_m, n)
    lines = shapely.linestrings(
        np.stack([np.column_stack([X[[e.u for e in edges]], Y[[e.u for e in edges]]]),
                  np.column_stack([X[[e.v for e in edges]], Y[[e.v for e in edges]]])], axis=1)
    )  # fmt: skip
    tree = shapely.STRtree(lines)
    new_x: list[float] = []
    new_y: list[float] = []
    spurs: list[Edge] = []
    for k in range(n):
        inc = incident[k]
        if len(inc) != 2:
            continue
        e1, e2 = edges[inc[0]], edges[inc[1]]
        differ = (e1.highway, e1.name, e1.ref, e1.city) != (e2.highway, e2.name, e2.ref, e2.city)
        want = differ or is_hamlet[k] or (K[k] == MESH and draws[k] < params.spur_share)
        if not want or e1.oneway or e2.oneway:
            continue
        vecs = []
        for e in (e1, e2):
            o = e.v if e.u == k else e.u
            dv = np.array([X[o] - X[k], Y[o] - Y[k]])
            vecs.append(dv / (np.hypot(*dv) or 1.0))
        bis = -(vecs[0] + vecs[1])
        if np.hypot(*bis) < 1e-6:
            bis = np.array([-vecs[0][1], vecs[0][0]])
        bis = bis / np.hypot(*bis)
        for turn in (0.0, 0.5, -0.5, 1.0, -1.0):
            c, s = math.cos(turn), math.sin(turn)
            d = np.array([c * bis[0] - s * bis[1], s * bis[0] + c * bis[1]])
            end = np.array([X[k], Y[k]]) + lengths[k] * d
            seg = LineString([(X[k], Y[k]), tuple(end)])
            if not inner.contains(Point(end)):
                continue
            hits = tree.query(seg, predicate="intersects")
            if any(edges[h].u != k and edges[h].v != k for h in hits.tolist()):
                continue
            new_x.append(float(end[0]))
            new_y.append(float(end[1]))
            spurs.append(Edge(k, n + len(new_x) - 1, "residential"))
            break
    X2 = np.concatenate([X, np.asarray(new_x)])
    Y2 = np.concatenate([Y, np.asarray(new_y)])
    K2 = np.concatenate([K, np.full(len(new_x), SPUR)])
    return X2, Y2, K2, spurs
