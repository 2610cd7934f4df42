"""Give generated roads their curvature (intermediate nodes) and speeds (maxspeed)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import Polygon

from simulation.ningxiang_build.common import FloatArray, LocalProjection, haversine_m
from simulation.ningxiang_build.params import RoadParams
from simulation.ningxiang_build.roads import Network, hilliness

_NEWTON_STEPS = 12


@dataclass(frozen=True)
class ShapedRoads:
    """Roads ready to write: junctions and intermediate nodes in WGS84, one way per edge."""

    node_lon: FloatArray  # junctions first (same index as Network), then intermediate nodes
    node_lat: FloatArray
    n_junctions: int
    way_nodes: tuple[tuple[int, ...], ...]  # node indices along each way, u first
    maxspeed_kph: tuple[int, ...]
    length_m: FloatArray  # along the polyline, as osmnx measures it


def shape_edges(
    net: Network, proj: LocalProjection, boundary_wgs84: Polygon, rng: np.random.Generator,
    params: RoadParams,
) -> ShapedRoads:  # fmt: skip
    """Add wiggly intermediate nodes and a maxspeed to every edge.

    Each edge gets a random smooth shape (a sum of three half-sine modes) scaled so that its
    length over its chord equals the class's curvature ratio, raised in the hills. Shapes that
    would leave the county stay straight. Town grid streets stay straight.
    """
    edges = net.edges
    ux = net.x[[e.u for e in edges]]
    uy = net.y[[e.u for e in edges]]
    vx = net.x[[e.v for e in edges]]
    vy = net.y[[e.v for e in edges]]
    mid_lon, mid_lat = proj.to_lonlat(0.5 * (ux + vx), 0.5 * (uy + vy))
    h = hilliness(mid_lon, mid_lat)
    chord = np.hypot(vx - ux, vy - uy)

    speeds = []
    for e, hh in zip(edges, h.tolist(), strict=True):
        if e.city:
            base = params.speed_kph["city_arterial" if e.highway == "secondary" else "city_street"]
        else:
            base = params.speed_kph[e.highway]
        kph = 5.0 * round(base * (1.0 - params.hill_slowdown * hh) / 5.0)
        speeds.append(int(max(params.min_speed_kph, kph)))

    ratio = np.array([1.0 if e.city else params.wiggle_ratio[e.highway] for e in edges])
    ratio = 1.0 + (ratio - 1.0) * (1.0 + params.hill_curvature * h)
    step = np.array([params.wiggle_step_m[e.highway] for e in edges])
    n_mid = np.where(ratio > 1.0, np.clip(np.rint(chord / step), 1, 14), 0).astype(int)
    coeffs = rng.normal(0.0, 1.0, (len(edges), 3)) / np.array([1.0, 1.6, 2.4])

    mids_x: list[np.ndarray] = [np.empty(0)] * len(edges)
    mids_y: list[np.ndarray] = [np.empty(0)] * len(edges)
    for k in sorted(set(n_mid.tolist()) - {0}):
        idx = np.flatnonzero(n_mid == k)
        t = np.linspace(0.0, 1.0, k + 2)
        modes = np.stack([np.sin(np.pi * (f + 1) * t) for f in range(3)])  # (3, k+2)
        shp = coeffs[idx] @ modes  # (m, k+2), zero at both ends
        ds = np.diff(shp, axis=1)
        dx = (chord[idx] / (k + 1))[:, None]
        target = (ratio[idx] * chord[idx])[:, None]
        norm = np.sqrt((ds**2).sum(axis=1, keepdims=True))
        a = target / np.maximum(norm, 1e-9)  # g(a) >= 0 here; Newton on a convex g descends
        for _ in range(_NEWTON_STEPS):
            seg = np.sqrt(dx**2 + (a * ds) ** 2)
            g = seg.sum(axis=1, keepdims=True) - target
            dg = (a * ds**2 / seg).sum(axis=1, keepdims=True)
            a = np.maximum(a - g / np.maximum(dg, 1e-12), 0.0)
        off = a * shp[:, 1:-1]
        tt = t[1:-1][None, :]
        ex = (vx[idx] - ux[idx])[:, None]
        ey = (vy[idx] - uy[idx])[:, None]
        nx_ = -ey / chord[idx][:, None]
        ny_ = ex / chord[idx][:, None]
        px = ux[idx][:, None] + tt * ex + off * nx_
        py = uy[idx][:, None] + tt * ey + off * ny_
        for row, e_i in enumerate(idx.tolist()):
            mids_x[e_i] = px[row]
            mids_y[e_i] = py[row]

    all_mx = np.concatenate(mids_x) if mids_x else np.empty(0)
    all_my = np.concatenate(mids_y) if mids_y else np.empty(0)
    m_lon, m_lat = proj.to_lonlat(all_mx, all_my)
    inside = shapely.contains_xy(boundary_wgs84, m_lon, m_lat)
    j_lon, j_lat = proj.to_lonlat(net.x, net.y)
    node_lon = [j_lon]
    node_lat = [j_lat]
    next_id = len(net.x)
    way_nodes = []
    lengths = np.empty(len(edges))
    pos = 0
    for i, e in enumerate(edges):
        k = len(mids_x[i])
        ok = bool(inside[pos : pos + k].all())
        lon_i, lat_i = m_lon[pos : pos + k], m_lat[pos : pos + k]
        pos += k
        ids = [e.u]
        if k and ok:
            ids.extend(range(next_id, next_id + k))
            node_lon.append(lon_i)
            node_lat.append(lat_i)
            next_id += k
            plon = np.concatenate([[j_lon[e.u]], lon_i, [j_lon[e.v]]])
            plat = np.concatenate([[j_lat[e.u]], lat_i, [j_lat[e.v]]])
        else:
            plon = np.array([j_lon[e.u], j_lon[e.v]])
            plat = np.array([j_lat[e.u], j_lat[e.v]])
        ids.append(e.v)
        way_nodes.append(tuple(ids))
        lengths[i] = float(haversine_m(plon[:-1], plat[:-1], plon[1:], plat[1:]).sum())
    return ShapedRoads(
        node_lon=np.concatenate(node_lon),
        node_lat=np.concatenate(node_lat),
        n_junctions=len(net.x),
        way_nodes=tuple(way_nodes),
        maxspeed_kph=tuple(speeds),
        length_m=lengths,
    )
