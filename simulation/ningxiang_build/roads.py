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

This module runs the steps; the pieces live in `network` (junction kinds, `Edge`, `Network`),
`terrain` (hilliness, junction density), `corridors` (step 2) and `mesh` (steps 3-5). The names
other modules import from here are re-exported.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import shapely
import shapely.affinity
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from scipy.spatial import cKDTree
from shapely.geometry import LineString, Point, Polygon

from simulation.ningxiang_build.common import BuildError, LocalProjection
from simulation.ningxiang_build.corridors import (
    KNOWN_SEAT_ROADS,
    SEAT_EDGE_MAX_ANGLE_DEG,
    city_gate,
    meander,
    seat_graph,
    shortest_path_edges,
    uncross,
)
from simulation.ningxiang_build.mesh import (
    add_spurs,
    classify_mesh,
    draw_mesh_points,
    gabriel_rng,
    main_component,
    thin_points,
)
from simulation.ningxiang_build.network import (
    CORRIDOR,
    GRID,
    MESH,
    SEAT,
    SPUR,
    VILLAGE,
    Edge,
    Network,
)
from simulation.ningxiang_build.params import RoadParams
from simulation.ningxiang_build.raw import URBAN_SUBDISTRICTS, RawData
from simulation.ningxiang_build.terrain import hilliness, junction_density

# Names of the county town's arterials (schematic: the names of real Ningxiang streets are given
# to grid lines, not to their real courses).
CITY_EW_NAMES = ("花明路", "玉潭路", "人民路", "春城路", "新康路", "一环路", "楚沩路", "金洲大道")
CITY_NS_NAMES = ("白马大道", "沩江路", "东沩路", "团结路", "香山路", "历经铺路", "城郊路", "站前路",
                 "学府路", "滨江路")  # fmt: skip

Progress = Callable[[str], None]


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
    seat_edges = seat_graph(gx_all, gy_all, boundary, known)
    primary = shortest_path_edges(gx_all, gy_all, seat_edges, city)
    corridor_lines: list[tuple[int, int, np.ndarray, str, str]] = []
    n_primary = n_secondary = 0
    for a, b in seat_edges:
        ends = []
        for k in (a, b):
            if k == city:
                other = b if k == a else a
                ends.append(city_gate(cx, cy, ax, ay, gx_all[other], gy_all[other], xs, ys, perimeter))
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
        line = meander(p0, p1, amp, params.corridor_spacing_m, rng)
        if not all(inner.contains(Point(q)) for q in line[1:-1]):
            line = meander(p0, p1, 0.0, params.corridor_spacing_m, rng)
        corridor_lines.append((ends[0], ends[1], line, highway, ref))
    corridor_lines = uncross(corridor_lines, params.corridor_spacing_m, rng)
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
    mx, my = draw_mesh_points(
        inner, keep_out, proj, rng, params, (hosp_x, hosp_y), np.column_stack([sx, sy])
    )
    fixed = np.column_stack([xs, ys])
    mx, my = thin_points(fixed, mx, my, params.mesh_min_spacing_m)
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
    cand, rng_flag = gabriel_rng(X, Y)
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
    keep_mask, dropped = main_component(n, all_edges, seat_node[urban[0].name])
    for name, node in seat_node.items():
        if not keep_mask[node]:
            raise BuildError(f"township seat {name}: not connected to the county town's roads")
    for code, node in village_node.items():
        if not keep_mask[node]:
            raise BuildError(f"village {code}: not connected to the county town's roads")

    # --- hamlets, tertiary and residential classes ------------------------------------------------
    say("hamlets and road classes")
    lon, lat = proj.to_lonlat(X, Y)
    density = junction_density(X, Y, lon, lat, (hosp_x, hosp_y), np.column_stack([sx, sy]))
    mesh_ids = np.flatnonzero((K == MESH) & keep_mask)
    p = density[mesh_ids] / density[mesh_ids].sum()
    hamlets = np.sort(
        rng.choice(mesh_ids, size=min(params.generated_settlements, len(mesh_ids)), replace=False, p=p)
    )
    mesh_edges = classify_mesh(
        X, Y, K, edges, mesh_edges, keep_mask, hamlets, village_node, seat_node, params,
        city_shape,
    )  # fmt: skip
    all_edges = [e for e in edges + mesh_edges if keep_mask[e.u] and keep_mask[e.v]]

    # --- spurs --------------------------------------------------------------------------------------
    say("lanes and spurs")
    X, Y, K, spur_edges = add_spurs(X, Y, K, all_edges, hamlets, inner, rng, params)
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
    from simulation.ningxiang_build.stations import HOSPITALS

    h = next(h for h in HOSPITALS if h.id == "renmin")
    return gcj02_to_wgs84(h.gcj_lon, h.gcj_lat)


__all__ = [
    "CITY_EW_NAMES",
    "CITY_NS_NAMES",
    "Progress",
    "generate_network",
    # Defined in network, terrain and corridors; other modules import them from here.
    "CORRIDOR",
    "Edge",
    "GRID",
    "KNOWN_SEAT_ROADS",
    "MESH",
    "Network",
    "SEAT",
    "SEAT_EDGE_MAX_ANGLE_DEG",
    "SPUR",
    "VILLAGE",
    "hilliness",
]
