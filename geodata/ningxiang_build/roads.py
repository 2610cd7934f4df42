"""Generate the schematic road network of Ningxiang from its real places (seeded).

The network is one planar graph, built in local metres:

1. a street grid in the county town (an ellipse around the People's Hospital and the four
   sub-district seats), its every 4th street an arterial;
2. corridors between township seats: the Gabriel graph of the seats and the town, each edge a
   gently meandering line with a junction every ~650 m; those on the shortest paths out of the
   town are primary roads, the others secondary;
3. a rural mesh: junction points drawn with a density (denser in the east, around the town and
   the seats, sparser in the western hills), joined by the relative-neighbourhood graph plus a
   share of Gabriel edges (loops), never crossing a corridor or the grid;
4. hamlets (generated settlements) chosen among mesh junctions; edges many hamlets use to reach
   a corridor become tertiary roads, edges near seats residential, the rest unclassified;
5. short dead-end lanes (spurs) at hamlets and where two road classes meet at a bend.

Edges then get curvature (intermediate nodes) and speeds in `shape_edges`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import shapely
import shapely.affinity
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree
from scipy.spatial import Delaunay, cKDTree
from shapely.geometry import LineString, Point, Polygon

from geodata.ningxiang_build.common import BuildError, FloatArray, LocalProjection, smoothstep
from geodata.ningxiang_build.params import (
    HILL_FULL_LON,
    HILL_NORTH_LAT,
    HILL_NORTH_ZERO_LON,
    HILL_ZERO_LON,
    RoadParams,
)
from geodata.ningxiang_build.raw import URBAN_SUBDISTRICTS, RawData

# Junction kinds.
GRID, CORRIDOR, SEAT, VILLAGE, MESH, SPUR = 0, 1, 2, 3, 4, 5

# Names of the county town's arterials (schematic: the names of real Ningxiang streets are given
# to grid lines, not to their real courses).
CITY_EW_NAMES = ("花明路", "玉潭路", "人民路", "春城路", "新康路", "一环路", "楚沩路", "金洲大道")
CITY_NS_NAMES = ("白马大道", "沩江路", "东沩路", "团结路", "香山路", "历经铺路", "城郊路", "站前路",
                 "学府路", "滨江路")  # fmt: skip

Progress = Callable[[str], None]

# Seat-graph edges facing a wider angle than this in a Delaunay triangle are dropped.
SEAT_EDGE_MAX_ANGLE_DEG = 115.0
# Direct roads between seats that published figures attest: the 流沙河 substation reaches 龙田 in
# 20 km on a 16.8 km straight line (published_figures.toml), so a direct road joins them.
KNOWN_SEAT_ROADS = (("流沙河镇", "龙田镇"),)


@dataclass(frozen=True, slots=True)
class Edge:
    """A road between two junctions, before curvature."""

    u: int
    v: int
    highway: str
    name: str | None = None
    ref: str | None = None
    oneway: bool = False
    city: bool = False  # a street of the county town grid (own speeds, no curvature)


@dataclass(frozen=True)
class Network:
    """The generated junctions and roads, in local metres."""

    x: FloatArray
    y: FloatArray
    kind: np.ndarray  # junction kind per node (GRID ... SPUR)
    edges: tuple[Edge, ...]
    seat_node: dict[str, int]  # township name -> junction
    village_node: dict[str, int]  # village adcode -> junction
    hamlet_nodes: tuple[int, ...]  # junctions chosen as generated settlements
    city_centre_xy: tuple[float, float]
    city_axes_m: tuple[float, float]
    dropped_nodes: int


def hilliness(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Return how hilly the ground is (0 flat .. 1 western hills) at WGS84 points."""
    west = 1.0 - smoothstep(HILL_FULL_LON, HILL_ZERO_LON, lon)
    north = (1.0 - smoothstep(HILL_FULL_LON + 0.05, HILL_NORTH_ZERO_LON, lon)) * smoothstep(
        HILL_NORTH_LAT - 0.03, HILL_NORTH_LAT + 0.03, lat
    )
    return np.maximum(west, north)


def generate_network(
    raw: RawData, proj: LocalProjection, rng: np.random.Generator, params: RoadParams, say: Progress
) -> Network:
    """Generate junctions and classified roads (see the module docstring).

    Raises
    ------
    BuildError
        A seat or village cannot be connected, or the seat graph is disconnected.
    """
    bx, by = proj.to_xy(*np.asarray(raw.boundary.exterior.coords).T)
    boundary = Polygon(np.column_stack([bx, by]))
    inner = boundary.buffer(-params.edge_margin_m)
    shapely.prepare(boundary)
    shapely.prepare(inner)

    # --- the county town grid ---------------------------------------------------------------
    say("county town grid")
    hosp_x, hosp_y = proj.to_xy(*_hospital_lonlat())
    urban = [t for t in raw.towns if t.name in URBAN_SUBDISTRICTS]
    ux, uy = proj.to_xy([t.lon for t in urban], [t.lat for t in urban])
    px = np.append(ux, hosp_x)
    py = np.append(uy, hosp_y)
    cx, cy = float(px.mean()), float(py.mean())
    ax = float(np.max(np.abs(px - cx))) + params.city_margin_m
    ay = float(np.max(np.abs(py - cy))) + params.city_margin_m
    s = params.city_grid_spacing_m
    ni, nj = int(ax // s), int(ay // s)
    xs: list[float] = []
    ys: list[float] = []
    kinds: list[int] = []
    grid_index: dict[tuple[int, int], int] = {}
    for j in range(-nj, nj + 1):
        for i in range(-ni, ni + 1):
            gx, gy = cx + i * s, cy + j * s
            if (i * s / ax) ** 2 + (j * s / ay) ** 2 > 1.0 or not inner.contains(Point(gx, gy)):
                continue
            jx, jy = rng.uniform(-params.city_grid_jitter_m, params.city_grid_jitter_m, 2)
            grid_index[(i, j)] = len(xs)
            xs.append(gx + float(jx))
            ys.append(gy + float(jy))
            kinds.append(GRID)
    edges: list[Edge] = []
    every = params.city_arterial_every
    oneway_rows = {r: +1 for r in params.city_oneway_row_pairs}
    oneway_rows.update({r + 1: -1 for r in params.city_oneway_row_pairs})
    for (i, j), a in sorted(grid_index.items()):
        for di, dj in ((1, 0), (0, 1)):
            b = grid_index.get((i + di, j + dj))
            if b is None:
                continue
            if dj == 0:  # east-west street along row j
                arterial = j % every == 0
                name = CITY_EW_NAMES[(j // every) % len(CITY_EW_NAMES)] if arterial else None
                direction = oneway_rows.get(j) if not arterial else None
                inner_street = all(
                    all((p, q) in grid_index for p, q in ((ii, j - 1), (ii, j + 1)))
                    for ii in (i, i + 1)
                )
                if direction is not None and inner_street:
                    u, v = (a, b) if direction > 0 else (b, a)
                    edges.append(Edge(u, v, "residential", None, None, oneway=True, city=True))
                    continue
            else:
                arterial = i % every == 0
                name = CITY_NS_NAMES[(i // every) % len(CITY_NS_NAMES)] if arterial else None
            edges.append(Edge(a, b, "secondary" if arterial else "residential", name, None, city=True))
    grid_deg = np.zeros(len(xs), dtype=int)
    for e in edges:
        grid_deg[e.u] += 1
        grid_deg[e.v] += 1
    perimeter = np.array([k for k in range(len(xs)) if grid_deg[k] < 4], dtype=int)

    # --- seats and corridors -------------------------------------------------------------------
    say("corridors between township seats")
    seats = [t for t in raw.towns if t.name not in URBAN_SUBDISTRICTS]
    sx, sy = proj.to_xy([t.lon for t in seats], [t.lat for t in seats])
    seat_node: dict[str, int] = {}
    for t, x, y in zip(seats, sx, sy, strict=True):
        seat_node[t.name] = len(xs)
        xs.append(float(x))
        ys.append(float(y))
        kinds.append(SEAT)
    # Urban sub-district seats sit on the grid: their junction is the nearest grid node.
    gtree = cKDTree(np.column_stack([xs[: len(grid_index)], ys[: len(grid_index)]]))
    for t, x, y in zip(urban, ux, uy, strict=True):
        seat_node[t.name] = int(gtree.query([x, y])[1])

    city = len(seats)  # index of the town in the seat graph
    gx_all = np.append(sx, hosp_x)
    gy_all = np.append(sy, hosp_y)
    seat_index = {t.name: i for i, t in enumerate(seats)}
    known = [(seat_index[a], seat_index[b]) for a, b in KNOWN_SEAT_ROADS]
    seat_edges = _seat_graph(gx_all, gy_all, boundary, known)
    primary = _shortest_path_edges(gx_all, gy_all, seat_edges, city)
    corridor_lines: list[tuple[int, int, np.ndarray, str, str]] = []
    n_primary = n_secondary = 0
    for a, b in seat_edges:
        ends = []
        for k in (a, b):
            if k == city:
                other = b if k == a else a
                ends.append(_city_gate(cx, cy, ax, ay, gx_all[other], gy_all[other], xs, ys, perimeter))
            else:
                ends.append(seat_node[seats[k].name])
        highway = "primary" if (a, b) in primary else "secondary"
        if highway == "primary":
            n_primary += 1
            ref = f"S{200 + n_primary}"
        else:
            n_secondary += 1
            ref = f"X{n_secondary:03d}"
        p0 = np.array([xs[ends[0]], ys[ends[0]]])
        p1 = np.array([xs[ends[1]], ys[ends[1]]])
        mid_lon, mid_lat = proj.to_lonlat(*(0.5 * (p0 + p1)))
        h = float(hilliness(mid_lon, mid_lat))
        amp = params.corridor_meander_flat + (params.corridor_meander_hill - params.corridor_meander_flat) * h
        line = _meander(p0, p1, amp, params.corridor_spacing_m, rng)
        if not all(inner.contains(Point(q)) for q in line[1:-1]):
            line = _meander(p0, p1, 0.0, params.corridor_spacing_m, rng)
        corridor_lines.append((ends[0], ends[1], line, highway, ref))
    corridor_lines = _uncross(corridor_lines, params.corridor_spacing_m, rng)
    for u_end, v_end, line, highway, ref in corridor_lines:
        ids = [u_end]
        for q in line[1:-1]:
            ids.append(len(xs))
            xs.append(float(q[0]))
            ys.append(float(q[1]))
            kinds.append(CORRIDOR)
        ids.append(v_end)
        for a, b in zip(ids[:-1], ids[1:], strict=True):
            edges.append(Edge(a, b, highway, ref, ref))

    # --- villages and the rural mesh ------------------------------------------------------------
    say("rural junctions")
    village_node: dict[str, int] = {}
    vx, vy = proj.to_xy([v.lon for v in raw.villages], [v.lat for v in raw.villages])
    city_shape = shapely.affinity.scale(Point(cx, cy).buffer(1.0, 64), ax, ay)
    for v, x, y in zip(raw.villages, vx, vy, strict=True):
        if city_shape.buffer(100.0).contains(Point(x, y)):
            village_node[v.code] = int(gtree.query([x, y])[1])  # a community in the grid
            continue
        village_node[v.code] = len(xs)
        xs.append(float(x))
        ys.append(float(y))
        kinds.append(VILLAGE)
    corridors_geom = shapely.union_all([LineString(c[2]) for c in corridor_lines])
    keep_out = shapely.union_all(
        [city_shape.buffer(150.0), corridors_geom.buffer(params.corridor_clear_m)]
    )
    shapely.prepare(keep_out)
    mx, my = _draw_mesh_points(
        inner, keep_out, proj, rng, params, (hosp_x, hosp_y), np.column_stack([sx, sy])
    )
    fixed = np.column_stack([xs, ys])
    mx, my = _thin(fixed, mx, my, params.mesh_min_spacing_m)
    for x, y in zip(mx, my, strict=True):
        xs.append(float(x))
        ys.append(float(y))
        kinds.append(MESH)
    X = np.asarray(xs)
    Y = np.asarray(ys)
    K = np.asarray(kinds)

    # --- mesh edges -----------------------------------------------------------------------------
    say(f"mesh edges over {len(X):,} junctions")
    explicit = {(min(e.u, e.v), max(e.u, e.v)) for e in edges}
    cand, rng_flag = _gabriel_rng(X, Y)
    ku, kv = K[cand[:, 0]], K[cand[:, 1]]
    length = np.hypot(X[cand[:, 0]] - X[cand[:, 1]], Y[cand[:, 0]] - Y[cand[:, 1]])
    road_end = np.isin(ku, (GRID, CORRIDOR, SEAT)) & np.isin(kv, (GRID, CORRIDOR, SEAT))
    ok = ~road_end & (length <= params.mesh_max_edge_m)
    ok &= np.array([(int(a), int(b)) not in explicit for a, b in cand])
    lines = shapely.linestrings(
        np.stack([np.column_stack([X[cand[:, 0]], Y[cand[:, 0]]]),
                  np.column_stack([X[cand[:, 1]], Y[cand[:, 1]]])], axis=1)
    )  # fmt: skip
    ok &= shapely.contains(boundary, lines)
    exp_lines = shapely.linestrings(
        np.stack([np.column_stack([X[[e.u for e in edges]], Y[[e.u for e in edges]]]),
                  np.column_stack([X[[e.v for e in edges]], Y[[e.v for e in edges]]])], axis=1)
    )  # fmt: skip
    tree = shapely.STRtree(exp_lines)
    crossing = tree.query(lines, predicate="crosses")
    ok[np.unique(crossing[0])] = False
    cand, rng_flag, length = cand[ok], rng_flag[ok], length[ok]
    # Keep the MST (connectivity), the RNG (the sparse rural skeleton) and a share of the other
    # Gabriel edges (loops), drawn in a fixed order so the seed decides.
    n = len(X)
    w = coo_matrix((length, (cand[:, 0], cand[:, 1])), shape=(n, n)).tocsr()
    mst = minimum_spanning_tree(w).tocoo()
    mst_set = {(min(a, b), max(a, b)) for a, b in zip(mst.row.tolist(), mst.col.tolist(), strict=True)}
    extra = rng.random(len(cand)) < params.mesh_extra_edge_share
    mesh_pairs = [
        (int(a), int(b))
        for (a, b), in_rng, more in zip(cand.tolist(), rng_flag.tolist(), extra.tolist(), strict=True)
        if in_rng or more or (a, b) in mst_set
    ]
    mesh_edges = [Edge(a, b, "unclassified") for a, b in mesh_pairs]

    # --- keep the component of the town -----------------------------------------------------------
    all_edges = edges + mesh_edges
    keep_mask, dropped = _main_component(n, all_edges, seat_node[urban[0].name])
    for name, node in seat_node.items():
        if not keep_mask[node]:
            raise BuildError(f"township seat {name}: not connected to the county town's roads")
    for code, node in village_node.items():
        if not keep_mask[node]:
            raise BuildError(f"village {code}: not connected to the county town's roads")

    # --- hamlets, tertiary and residential classes ------------------------------------------------
    say("hamlets and road classes")
    lon, lat = proj.to_lonlat(X, Y)
    density = _density(X, Y, lon, lat, (hosp_x, hosp_y), np.column_stack([sx, sy]))
    mesh_ids = np.flatnonzero((K == MESH) & keep_mask)
    p = density[mesh_ids] / density[mesh_ids].sum()
    hamlets = np.sort(
        rng.choice(mesh_ids, size=min(params.generated_settlements, len(mesh_ids)), replace=False, p=p)
    )
    mesh_edges = _classify_mesh(
        X, Y, K, edges, mesh_edges, keep_mask, hamlets, village_node, seat_node, params,
        city_shape,
    )  # fmt: skip
    all_edges = [e for e in edges + mesh_edges if keep_mask[e.u] and keep_mask[e.v]]

    # --- spurs --------------------------------------------------------------------------------------
    say("lanes and spurs")
    X, Y, K, spur_edges = _add_spurs(X, Y, K, all_edges, hamlets, inner, rng, params)
    keep_mask = np.append(keep_mask, np.ones(len(X) - len(keep_mask), dtype=bool))
    all_edges = all_edges + spur_edges

    # Renumber the kept junctions densely.
    new_id = -np.ones(len(X), dtype=int)
    kept = np.flatnonzero(keep_mask)
    new_id[kept] = np.arange(len(kept))
    final_edges = tuple(
        Edge(int(new_id[e.u]), int(new_id[e.v]), e.highway, e.name, e.ref, e.oneway, e.city)
        for e in all_edges
    )
    return Network(
        x=X[kept],
        y=Y[kept],
        kind=K[kept],
        edges=final_edges,
        seat_node={k: int(new_id[v]) for k, v in seat_node.items()},
        village_node={k: int(new_id[v]) for k, v in village_node.items()},
        hamlet_nodes=tuple(int(new_id[h]) for h in hamlets),
        city_centre_xy=(cx, cy),
        city_axes_m=(ax, ay),
        dropped_nodes=int(dropped),
    )


def _hospital_lonlat() -> tuple[float, float]:
    from geodata.gcj02 import gcj02_to_wgs84
    from geodata.ningxiang_build.stations import HOSPITALS

    h = next(h for h in HOSPITALS if h.id == "renmin")
    return gcj02_to_wgs84(h.gcj_lon, h.gcj_lat)


def _density(
    x: FloatArray, y: FloatArray, lon: FloatArray, lat: FloatArray,
    hospital_xy: tuple[float, float], seats_xy: np.ndarray,
) -> FloatArray:  # fmt: skip
    """Return the relative density of junctions and hamlets at points.

    Denser in the east (the plains toward Changsha) and around the county town and the seats;
    sparser in the western hills.
    """
    east = 0.55 + 1.0 * smoothstep(111.95, 112.65, lon)
    hills = 1.0 - 0.45 * hilliness(lon, lat)
    d_city = np.hypot(x - hospital_xy[0], y - hospital_xy[1])
    city = 3.0 * np.exp(-((d_city / 7000.0) ** 2))
    tree = cKDTree(seats_xy)
    d_seat, _ = tree.query(np.column_stack([x, y]))
    seat = 1.5 * np.exp(-((d_seat / 1500.0) ** 2))
    return east * hills + city + seat


def _draw_mesh_points(
    inner: Polygon, keep_out, proj: LocalProjection, rng: np.random.Generator, params: RoadParams,
    hospital_xy: tuple[float, float], seats_xy: np.ndarray,
) -> tuple[FloatArray, FloatArray]:  # fmt: skip
    minx, miny, maxx, maxy = inner.bounds
    peak = 1.55 + 3.0 + 1.5
    out_x: list[FloatArray] = []
    out_y: list[FloatArray] = []
    total = 0
    while total < params.mesh_points:
        x = rng.uniform(minx, maxx, 40000)
        y = rng.uniform(miny, maxy, 40000)
        u = rng.random(40000)
        lon, lat = proj.to_lonlat(x, y)
        accept = u * peak < _density(x, y, lon, lat, hospital_xy, seats_xy)
        x, y = x[accept], y[accept]
        inside = shapely.contains_xy(inner, x, y) & ~shapely.contains_xy(keep_out, x, y)
        x, y = x[inside], y[inside]
        take = min(len(x), params.mesh_points - total)
        out_x.append(x[:take])
        out_y.append(y[:take])
        total += take
    return np.concatenate(out_x), np.concatenate(out_y)


def _thin(fixed: np.ndarray, x: FloatArray, y: FloatArray, r: float) -> tuple[FloatArray, FloatArray]:
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


def _gabriel_rng(x: FloatArray, y: FloatArray) -> tuple[np.ndarray, np.ndarray]:
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


def _seat_graph(
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


def _shortest_path_edges(
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


def _city_gate(
    cx: float, cy: float, ax: float, ay: float, tx: float, ty: float,
    xs: list[float], ys: list[float], perimeter: np.ndarray,
) -> int:  # fmt: skip
    """Return the perimeter grid node where a road from the town toward (tx, ty) leaves it."""
    ang = math.atan2((ty - cy) / ay, (tx - cx) / ax)
    gx, gy = cx + ax * math.cos(ang), cy + ay * math.sin(ang)
    px = np.asarray(xs)[perimeter]
    py = np.asarray(ys)[perimeter]
    return int(perimeter[np.argmin(np.hypot(px - gx, py - gy))])


def _meander(p0: np.ndarray, p1: np.ndarray, amp: float, spacing: float, rng: np.random.Generator) -> np.ndarray:
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


def _uncross(
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
            out[i] = (u, v, _meander(line[0], line[-1], 0.0, spacing, rng), hw, ref)
    return out


def _main_component(n: int, edges: list[Edge], town_node: int) -> tuple[np.ndarray, int]:
    a = np.array([e.u for e in edges])
    b = np.array([e.v for e in edges])
    w = coo_matrix((np.ones(len(edges)), (a, b)), shape=(n, n))
    _, labels = connected_components(w, directed=False)
    keep = labels == labels[town_node]
    return keep, int((~keep).sum())


def _classify_mesh(
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


def _add_spurs(
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
