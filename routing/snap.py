"""Snap points to the nearest position on the nearest edge.

The index is built once per network: every edge's geometry (one direction of a two-way road) is
cut into segments in local metres, each segment densified to points at most ``spacing_m`` apart in
a KD-tree. A query takes the ``k`` nearest points, projects exactly onto their segments and keeps
the closest. That is exact whenever the closest segment found is nearer than the k-th point minus
half a spacing (any segment has a point within half a spacing of its nearest position); otherwise
the few remaining points are searched by radius.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from routing.geometry import LocalProjection
from routing.network import RoadNetwork


@dataclass(frozen=True, slots=True)
class Snap:
    """A point placed on the road network.

    Attributes
    ----------
    lon, lat
        The snapped position on the edge.
    distance_m
        Distance from the input point to the snapped position.
    edge
        Index of the directed edge ``u -> v`` the point lies on.
    u, v
        Node indices of the edge's tail and head.
    fraction
        Position along the edge, 0 at ``u``, 1 at ``v`` (share of its length).
    time_from_u_s, time_to_v_s
        Travel time from ``u`` to the point and from the point to ``v`` along the edge, under the
        router's profile (no time-of-day factor).
    twin
        Index of the edge ``v -> u`` of the same two-way road, None on a one-way road.
    input_lon, input_lat
        The point that was snapped.
    """

    lon: float
    lat: float
    distance_m: float
    edge: int
    u: int
    v: int
    fraction: float
    time_from_u_s: float
    time_to_v_s: float
    twin: int | None
    input_lon: float
    input_lat: float


@dataclass(frozen=True)
class SnapResult:
    """Vectorised snaps: one row per point (internal form of :class:`Snap`)."""

    edge: np.ndarray
    fraction: np.ndarray
    x: np.ndarray
    y: np.ndarray
    distance_m: np.ndarray


class SnapIndex:
    """A KD-tree over densified edge segments of a :class:`RoadNetwork`.

    Parameters
    ----------
    network
        The network to index.
    projection
        The local projection the index works in.
    spacing_m
        Largest gap between indexed points along a segment.
    k
        Points fetched per query before the exact projection.
    """

    def __init__(
        self, network: RoadNetwork, projection: LocalProjection, *, spacing_m: float = 25.0, k: int = 8
    ) -> None:
        self.projection = projection
        self.spacing_m = float(spacing_m)
        self.k = int(k)
        n_edges = network.n_edges
        edges = np.arange(n_edges)
        # One direction of each two-way road: both share the geometry (reversed).
        indexed = ~network.has_twin | (edges < network.twin)
        x, y = projection.forward(network.geom_coords[:, 0], network.geom_coords[:, 1])
        counts = np.diff(network.geom_offsets)
        row_edge = np.repeat(edges, counts)
        is_start = np.ones(x.size, dtype=bool)
        is_start[network.geom_offsets[1:] - 1] = False  # the last row of an edge starts no segment
        starts = np.flatnonzero(is_start & indexed[row_edge])
        self.seg_edge = row_edge[starts]
        self.x0, self.y0 = x[starts], y[starts]
        self.dx, self.dy = x[starts + 1] - self.x0, y[starts + 1] - self.y0
        seg_len = np.hypot(self.dx, self.dy)
        self.len2 = np.where(seg_len > 0, seg_len**2, 1.0)
        # Length along the edge before each segment, and each edge's projected length.
        all_len = np.zeros(x.size)
        all_len[:-1] = np.hypot(np.diff(x), np.diff(y))
        all_len[~is_start] = 0.0
        cum0 = np.concatenate([[0.0], np.cumsum(all_len)])
        offsets = network.geom_offsets
        self.edge_len = cum0[offsets[1:]] - cum0[offsets[:-1]]
        self.seg_before = cum0[starts] - cum0[offsets[:-1]][self.seg_edge]
        self.seg_len = seg_len
        # Densify: n points per segment, both ends included, gaps <= spacing.
        n_pts = np.maximum(np.ceil(seg_len / self.spacing_m).astype(np.int64), 1) + 1
        seg_of_pt = np.repeat(np.arange(starts.size), n_pts)
        first = np.concatenate([[0], np.cumsum(n_pts)[:-1]])
        t = (np.arange(seg_of_pt.size) - first[seg_of_pt]) / (n_pts[seg_of_pt] - 1)
        px = self.x0[seg_of_pt] + t * self.dx[seg_of_pt]
        py = self.y0[seg_of_pt] + t * self.dy[seg_of_pt]
        self.point_seg = seg_of_pt
        # Per segment: x0, y0, dx, dy, length, length before it on its edge (one gather per query).
        self.seg_table = np.column_stack([self.x0, self.y0, self.dx, self.dy, seg_len, self.seg_before,
                                          self.seg_edge, self.edge_len[self.seg_edge]])
        self.tree = cKDTree(np.column_stack([px, py]), balanced_tree=False, compact_nodes=False)
        self.k = min(self.k, seg_of_pt.size)

    def query(self, lon: np.ndarray, lat: np.ndarray) -> SnapResult:
        """Snap WGS84 points (arrays) to their nearest edge positions."""
        qx, qy = self.projection.forward(np.atleast_1d(np.asarray(lon, dtype=float)),
                                         np.atleast_1d(np.asarray(lat, dtype=float)))
        pt_dist, pt_idx = self.tree.query(np.column_stack([qx, qy]), k=self.k)
        if self.k == 1:
            pt_dist, pt_idx = pt_dist[:, None], pt_idx[:, None]
        segs = self.point_seg[pt_idx]
        seg, t, d = self._project(segs, qx[:, None], qy[:, None])
        # Exact unless a segment not among the candidates could be nearer (rare; see module doc).
        half = self.spacing_m / 2.0
        unsure = np.flatnonzero(np.sqrt(d**2 + half**2) > pt_dist[:, -1])
        for i in unsure:
            radius = float(np.sqrt(d[i] ** 2 + half**2)) + 1e-6
            near = np.unique(self.point_seg[self.tree.query_ball_point([qx[i], qy[i]], radius)])
            if near.size:
                s, ti, di = self._project(near[None, :], qx[i : i + 1, None], qy[i : i + 1, None])
                seg[i], t[i], d[i] = s[0], ti[0], di[0]
        edge = self.seg_edge[seg]
        along = self.seg_before[seg] + t * self.seg_len[seg]
        total = self.edge_len[edge]
        fraction = _at_ends(np.divide(along, total, out=np.zeros_like(along), where=total > 0))
        return SnapResult(
            edge=edge,
            fraction=fraction,
            x=self.x0[seg] + t * self.dx[seg],
            y=self.y0[seg] + t * self.dy[seg],
            distance_m=d,
        )

    def query_one(self, lon: float, lat: float) -> tuple[int, float, float, float, float]:
        """Snap one point; return ``(edge, fraction, x, y, distance_m)``.

        The same answer as :meth:`query` for one point, in plain Python floats after a single
        KD-tree call: per-point numpy overhead would cost more than the arithmetic.
        """
        proj = self.projection
        qx, qy = (lon - proj.lon0) * proj.kx, (lat - proj.lat0) * proj.ky
        pt_dist, pt_idx = self.tree.query(np.array([qx, qy]), k=self.k)
        if self.k == 1:
            pt_dist, pt_idx = np.atleast_1d(pt_dist), np.atleast_1d(pt_idx)
        best_d2, best = np.inf, (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
        for x0, y0, dx, dy, seg_len, before, edge, total in self.seg_table[self.point_seg[pt_idx]].tolist():
            len2 = dx * dx + dy * dy
            t = ((qx - x0) * dx + (qy - y0) * dy) / len2 if len2 > 0 else 0.0
            t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
            px, py = x0 + t * dx, y0 + t * dy
            d2 = (px - qx) ** 2 + (py - qy) ** 2
            if d2 < best_d2:
                best_d2, best = d2, (px, py, before + t * seg_len, edge, total)
        if best_d2 + (self.spacing_m / 2.0) ** 2 > float(pt_dist[-1]) ** 2:
            r = self.query(np.array([lon]), np.array([lat]))
            return int(r.edge[0]), float(r.fraction[0]), float(r.x[0]), float(r.y[0]), float(r.distance_m[0])
        px, py, along, edge, total = best
        fraction = float(_at_ends(np.array([along / total if total > 0 else 0.0]))[0])
        return int(edge), fraction, px, py, best_d2**0.5

    def _project(self, segs: np.ndarray, qx: np.ndarray, qy: np.ndarray) -> tuple[np.ndarray, ...]:
        """Project each query row onto its candidate segments; return the best per row."""
        t = ((qx - self.x0[segs]) * self.dx[segs] + (qy - self.y0[segs]) * self.dy[segs]) / self.len2[segs]
        np.clip(t, 0.0, 1.0, out=t)
        ex = self.x0[segs] + t * self.dx[segs] - qx
        ey = self.y0[segs] + t * self.dy[segs] - qy
        d2 = ex * ex + ey * ey
        best = np.argmin(d2, axis=1)
        rows = np.arange(segs.shape[0])
        return segs[rows, best], t[rows, best], np.sqrt(d2[rows, best])


def _at_ends(fraction: np.ndarray) -> np.ndarray:
    """Clip fractions to [0, 1], rounding those within 1e-9 of an end onto the node itself."""
    fraction = np.clip(fraction, 0.0, 1.0)
    fraction[fraction < 1e-9] = 0.0
    fraction[fraction > 1.0 - 1e-9] = 1.0
    return fraction
