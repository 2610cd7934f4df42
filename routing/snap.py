"""Snap points to the nearest position on the nearest edge.

The index is built once per network: every edge's geometry (one direction of a two-way road) is
cut into segments in local metres, and a uniform grid of ``cell_m`` square cells lists the segments
whose bounding box overlaps each cell. A query projects exactly onto the segments of the point's
cell, then of the cells around it in widening rings, and stops as soon as the best distance found
is shorter than the distance from the point to any cell not yet searched: the answer is the exact
nearest segment, not an approximation. Ties (a point nearest to a node shared by several segments)
go to the lowest segment index, so the one-point and the many-point paths agree to the bit.

One point is answered in plain Python floats over the few candidates of its cells (numpy's
per-call overhead would cost more than the arithmetic); many points are answered with numpy over
each point's 3 x 3 cells, the rare point not settled there (no road within a cell's width) falling
back to the one-point search. Points beyond ``max_ring`` rings of the grid are compared with every
segment at once.

:class:`SnapCache` keeps recent snaps keyed by the exact input ``(lon, lat)``: stations and
hospitals never move, so the same positions asked on every dispatch are snapped once.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from routing.geometry import LocalProjection
from routing.network import RoadNetwork

# Grid cell side (m). Roads run every few hundred metres outside the towns and points to snap
# lie within ~150 m of one: a 200 m cell holds the answer in the point's cell or its neighbours
# and few segments even in town (on the embedded county: at most 14, 3.6 on average; 300 m cells
# were no faster for one point and slower for many).
DEFAULT_CELL_M = 200.0
# Rings searched one by one before comparing with every segment (10 x 200 m: past any snap limit).
DEFAULT_MAX_RING = 10
# Cells in the grid at most (32 MB of offsets); a larger network gets larger cells.
MAX_CELLS = 4_000_000

# Where a point snaps: (edge, fraction, x, y, distance_m), x and y in the index's local metres.
Placed = tuple[int, float, float, float, float]


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
    """A uniform grid over the edge segments of a :class:`RoadNetwork`.

    Parameters
    ----------
    network
        The network to index.
    projection
        The local projection the index works in.
    cell_m
        Side of a grid cell (m); larger when the network would need more than
        :data:`MAX_CELLS` cells.
    max_ring
        Rings of cells searched around a point before every segment is compared at once.
    """

    def __init__(
        self,
        network: RoadNetwork,
        projection: LocalProjection,
        *,
        cell_m: float = DEFAULT_CELL_M,
        max_ring: int = DEFAULT_MAX_RING,
    ) -> None:
        if not cell_m > 0:
            raise ValueError(f"cell_m must be > 0, got {cell_m!r}")
        self.projection = projection
        self.cell_m = float(cell_m)
        self.max_ring = int(max_ring)
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
        len2 = self.dx * self.dx + self.dy * self.dy
        # A zero-length segment projects to t = 0 whatever it is divided by.
        self.len2 = np.where(len2 > 0, len2, 1.0)
        seg_len = np.hypot(self.dx, self.dy)
        # Length along the edge before each segment, and each edge's projected length.
        all_len = np.zeros(x.size)
        all_len[:-1] = np.hypot(np.diff(x), np.diff(y))
        all_len[~is_start] = 0.0
        cum0 = np.concatenate([[0.0], np.cumsum(all_len)])
        offsets = network.geom_offsets
        self.edge_len = cum0[offsets[1:]] - cum0[offsets[:-1]]
        self.seg_before = cum0[starts] - cum0[offsets[:-1]][self.seg_edge]
        self.seg_len = seg_len
        self._build_grid()

    def _build_grid(self) -> None:
        """List, per cell, the segments whose bounding box overlaps it (CSR, cells row-major)."""
        x1, y1 = self.x0 + self.dx, self.y0 + self.dy
        lo_x, hi_x = np.minimum(self.x0, x1), np.maximum(self.x0, x1)
        lo_y, hi_y = np.minimum(self.y0, y1), np.maximum(self.y0, y1)
        # A province-sized network gets larger cells rather than an oversized grid.
        area = float(hi_x.max() - lo_x.min() + self.cell_m) * float(hi_y.max() - lo_y.min() + self.cell_m)
        self.cell_m = c = max(self.cell_m, math.sqrt(area / MAX_CELLS))
        # An empty ring of cells all round (see :meth:`query`).
        self.grid_x0, self.grid_y0 = float(lo_x.min()) - 1.5 * c, float(lo_y.min()) - 1.5 * c
        self.nx = int((hi_x.max() - self.grid_x0) // c) + 2
        self.ny = int((hi_y.max() - self.grid_y0) // c) + 2
        i0 = np.floor((lo_x - self.grid_x0) / c).astype(np.int64)
        i1 = np.floor((hi_x - self.grid_x0) / c).astype(np.int64)
        j0 = np.floor((lo_y - self.grid_y0) / c).astype(np.int64)
        j1 = np.floor((hi_y - self.grid_y0) / c).astype(np.int64)
        wide = i1 - i0 + 1
        per_seg = wide * (j1 - j0 + 1)
        seg = np.repeat(np.arange(per_seg.size), per_seg)
        k = np.arange(seg.size) - np.repeat(np.cumsum(per_seg) - per_seg, per_seg)
        cell = (j0[seg] + k // wide[seg]) * self.nx + i0[seg] + k % wide[seg]
        order = np.argsort(cell * per_seg.size + seg)  # by cell, then segment
        cell, seg = cell[order], seg[order]
        indptr = np.zeros(self.nx * self.ny + 1, dtype=np.int64)
        np.cumsum(np.bincount(cell, minlength=self.nx * self.ny), out=indptr[1:])
        self.cell_indptr = indptr
        self.cell_seg = seg
        # The rows a query reads, stored in cell order: one slice per cell.
        self._rows = np.column_stack([self.x0[seg], self.y0[seg], self.dx[seg], self.dy[seg], self.len2[seg],
                                      seg.astype(float)])
        self._indptr = memoryview(indptr)
        self._seg_info = memoryview(np.column_stack([self.seg_before, self.seg_len,
                                                 self.edge_len[self.seg_edge]]))
        self._seg_edge = memoryview(self.seg_edge)
        self._around = np.array([dj * self.nx + di for dj in (-1, 0, 1) for di in (-1, 0, 1)])
        self._rings = [[(di, dj) for di in range(-r, r + 1) for dj in range(-r, r + 1) if max(abs(di), abs(dj)) == r]
                       for r in range(self.max_ring + 1)]

    # ------------------------------------------------------------------ many points

    def query(self, lon: np.ndarray, lat: np.ndarray) -> SnapResult:
        """Snap WGS84 points (arrays) to their nearest edge positions."""
        qx, qy = self.projection.forward(np.atleast_1d(np.asarray(lon, dtype=float)),
                                         np.atleast_1d(np.asarray(lat, dtype=float)))
        m = qx.size
        c = self.cell_m
        fx, fy = (qx - self.grid_x0) / c, (qy - self.grid_y0) / c
        # The grid has an empty ring of cells: a point's 3 x 3 cells are inside it once its own
        # cell is clipped off that ring (a point so far out is settled by the one-point search).
        i = np.clip(np.floor(fx), 1, self.nx - 2).astype(np.int64)
        j = np.clip(np.floor(fy), 1, self.ny - 2).astype(np.int64)
        cells = (j * self.nx + i)[:, None] + self._around
        first = self.cell_indptr[cells].ravel()
        count = self.cell_indptr[cells + 1].ravel() - first
        slot = np.repeat(np.arange(count.size), count)
        pos = np.arange(slot.size) + np.repeat(first - (np.cumsum(count) - count), count)
        point = slot // 9  # candidates come grouped by point, in point order
        rows = self._rows[pos]
        seg = rows[:, 5].astype(np.int64)
        t, d2 = _project(slice(None), rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], rows[:, 4], qx[point], qy[point])
        # Best per point: least d2, then least segment (as the one-point search breaks ties).
        per_point = np.bincount(point, minlength=m)
        found = per_point > 0
        out_seg = np.zeros(m, dtype=np.int64)
        out_t, out_d2 = np.zeros(m), np.full(m, np.inf)
        if seg.size:
            starts = (np.cumsum(per_point) - per_point)[found]
            least = np.minimum.reduceat(d2, starts)
            best = np.flatnonzero(d2 == np.repeat(least, per_point[found]))
            if best.size > least.size:  # ties: the least segment of each point's tied ones
                tied = np.zeros(seg.size, dtype=bool)
                tied[best] = True
                lowest = np.minimum.reduceat(np.where(tied, seg, np.iinfo(np.int64).max), starts)
                best = np.flatnonzero(tied & (seg == np.repeat(lowest, per_point[found])))
            at = point[best]
            out_seg[at], out_t[at], out_d2[at] = seg[best], t[best], d2[best]
        # Settled when nearer than anything outside the 3 x 3 cells.
        bound = c * np.minimum(np.minimum(fx - (i - 1), (i + 2) - fx), np.minimum(fy - (j - 1), (j + 2) - fy))
        settled = (out_d2 < bound * bound) & (bound > 0)
        x = self.x0[out_seg] + out_t * self.dx[out_seg]
        y = self.y0[out_seg] + out_t * self.dy[out_seg]
        d = np.sqrt(out_d2)
        edge = self.seg_edge[out_seg]
        along = self.seg_before[out_seg] + out_t * self.seg_len[out_seg]
        total = self.edge_len[edge]
        fraction = _at_ends(np.divide(along, total, out=np.zeros_like(along), where=total > 0))
        for k in np.flatnonzero(~settled).tolist():
            edge[k], fraction[k], x[k], y[k], d[k] = self._one_xy(float(qx[k]), float(qy[k]))
        return SnapResult(edge=edge, fraction=fraction, x=x, y=y, distance_m=d)

    # ------------------------------------------------------------------ one point

    def query_one(self, lon: float, lat: float) -> tuple[int, float, float, float, float]:
        """Snap one point; return ``(edge, fraction, x, y, distance_m)``.

        The same answer as :meth:`query` for one point, in plain Python floats.
        """
        proj = self.projection
        return self._one_xy((lon - proj.lon0) * proj.kx, (lat - proj.lat0) * proj.ky)

    def _one_xy(self, qx: float, qy: float) -> tuple[int, float, float, float, float]:
        c = self.cell_m
        fx, fy = (qx - self.grid_x0) / c, (qy - self.grid_y0) / c
        i, j = math.floor(fx), math.floor(fy)
        nx, ny = self.nx, self.ny
        if not (0 <= i < nx and 0 <= j < ny):
            return self._everything(qx, qy)
        ox, oy = fx - i, fy - j  # position inside the cell, 0-1
        indptr, rows = self._indptr, self._rows
        best_d2, best_s, best_t = math.inf, -1.0, 0.0
        cells = [j * nx + i]
        r = 0
        while True:
            for k in cells:
                a, b = indptr[k], indptr[k + 1]
                if a == b:
                    continue
                for x0, y0, dx, dy, len2, s in rows[a:b].tolist():
                    t = ((qx - x0) * dx + (qy - y0) * dy) / len2
                    if t < 0.0:
                        t = 0.0
                    elif t > 1.0:
                        t = 1.0
                    ex = x0 + t * dx - qx
                    ey = y0 + t * dy - qy
                    d2 = ex * ex + ey * ey
                    if d2 < best_d2 or (d2 == best_d2 and s < best_s):
                        best_d2, best_s, best_t = d2, s, t
            # Every segment not yet seen lies outside the (2r + 1)^2 cells searched.
            bound = c * min(ox + r, r + 1 - ox, oy + r, r + 1 - oy)
            if best_d2 < bound * bound:
                break
            if i - r <= 0 and j - r <= 0 and i + r >= nx - 1 and j + r >= ny - 1:
                break  # the whole grid has been searched
            r += 1
            if r > self.max_ring:
                return self._everything(qx, qy)
            # The next ring's cells, less those wholly farther than the best found.
            limit = best_d2 / (c * c) * (1.0 + 1e-9)
            cells = []
            for di, dj in self._rings[r]:
                ci, cj = i + di, j + dj
                if not (0 <= ci < nx and 0 <= cj < ny):
                    continue
                gx = di - ox if di > 0 else ox - 1 - di if di < 0 else 0.0
                gy = dj - oy if dj > 0 else oy - 1 - dj if dj < 0 else 0.0
                if gx * gx + gy * gy <= limit:
                    cells.append(cj * nx + ci)
        return self._answer(int(best_s), best_t, best_d2)

    def _answer(self, seg: int, t: float, d2: float) -> tuple[int, float, float, float, float]:
        """Turn a segment and a position on it into ``(edge, fraction, x, y, distance_m)``."""
        before, seg_len, total = self._seg_info[seg, 0], self._seg_info[seg, 1], self._seg_info[seg, 2]
        along = before + t * seg_len
        fraction = along / total if total > 0 else 0.0
        fraction = 0.0 if fraction < 1e-9 else 1.0 if fraction > 1.0 - 1e-9 else fraction
        x = float(self.x0[seg]) + t * float(self.dx[seg])
        y = float(self.y0[seg]) + t * float(self.dy[seg])
        return self._seg_edge[seg], fraction, x, y, math.sqrt(d2)

    def _everything(self, qx: float, qy: float) -> tuple[int, float, float, float, float]:
        """Compare one point with every segment (points far from all roads)."""
        t, d2 = _project(slice(None), self.x0, self.y0, self.dx, self.dy, self.len2, qx, qy)
        best_d2 = d2.min()
        seg = int(np.flatnonzero(d2 == best_d2)[0])
        return self._answer(seg, float(t[seg]), float(best_d2))


def _project(
    seg: np.ndarray | slice, x0: np.ndarray, y0: np.ndarray, dx: np.ndarray, dy: np.ndarray,
    len2: np.ndarray, qx: np.ndarray | float, qy: np.ndarray | float,
) -> tuple[np.ndarray, np.ndarray]:
    """Project points onto segments ``seg``; return the position ``t`` (0-1) and squared distance.

    The operations and their order are those of :meth:`SnapIndex._one_xy`, so both give the
    same bits.
    """
    x0, y0, dx, dy = x0[seg], y0[seg], dx[seg], dy[seg]
    t = ((qx - x0) * dx + (qy - y0) * dy) / len2[seg]
    np.clip(t, 0.0, 1.0, out=t)
    ex = x0 + t * dx - qx
    ey = y0 + t * dy - qy
    return t, ex * ex + ey * ey


def _at_ends(fraction: np.ndarray) -> np.ndarray:
    """Clip fractions to [0, 1], rounding those within 1e-9 of an end onto the node itself."""
    fraction = np.clip(fraction, 0.0, 1.0)
    fraction[fraction < 1e-9] = 0.0
    fraction[fraction > 1.0 - 1e-9] = 1.0
    return fraction


class SnapCache:
    """A bounded least-recently-used map from an exact input ``(lon, lat)`` to where it snaps.

    Stations and hospitals never move and the dispatcher asks with the same positions on every
    call; a unit's last GPS fix is asked again until the next one arrives. Keys are the exact
    floats given, so a moved point is a new key (never a stale answer); only successful snaps are
    kept: a :class:`Snap`, or where none was asked for yet the ``(edge, fraction, x, y,
    distance_m)`` of :meth:`SnapIndex.query_one` (building a Snap costs more than the search that
    needs only the edge and fraction). Safe to share between threads.

    Parameters
    ----------
    maxsize
        Snaps kept; 0 keeps none.
    """

    def __init__(self, maxsize: int) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 0:
            raise ValueError(f"maxsize must be an integer >= 0, got {maxsize!r}")
        self.maxsize = maxsize
        self._data: OrderedDict[tuple[float, float], Placed | Snap] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: tuple[float, float]) -> Placed | Snap | None:
        """Return the snap of ``key``, None when it is not kept."""
        with self._lock:
            snap = self._data.get(key)
            if snap is not None:
                self._data.move_to_end(key)
            return snap

    def get_many(self, keys: list[tuple[float, float]]) -> list[Placed | Snap | None]:
        """Return the snap of each key (None where not kept)."""
        with self._lock:
            data = self._data
            found = [data.get(key) for key in keys]
            for key, snap in zip(keys, found):
                if snap is not None:
                    data.move_to_end(key)
            return found

    def put(self, key: tuple[float, float], snap: Placed | Snap) -> None:
        """Keep ``snap`` for ``key``, forgetting the least recently used beyond ``maxsize``."""
        if self.maxsize == 0:
            return
        with self._lock:
            self._data[key] = snap
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        """Forget every snap."""
        with self._lock:
            self._data.clear()
