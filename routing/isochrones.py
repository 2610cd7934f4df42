"""Reachable areas (isochrones) for coverage maps.

The area reached within a time is drawn as the roads reached, each edge cut where the time runs
out, buffered by a fixed distance: an ambulance covers the houses along the roads it can reach, not
the fields between them. Built in local metres, returned in WGS84.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from routing.geometry import cut_polyline

if TYPE_CHECKING:
    from routing.engine import Router


def reachable_area(
    router: Router,
    dist: np.ndarray,
    weights: np.ndarray,
    origin_edges: np.ndarray,
    origin_fractions: np.ndarray,
    limit_s: float,
    buffer_m: float,
) -> Any:
    """Return the WGS84 area within ``limit_s`` given node times ``dist`` of a forward search.

    Parameters
    ----------
    router
        The router the search ran on (its network and projection).
    dist
        Travel time (s) from the origins to every node.
    weights
        Per-edge travel time (s) the search used.
    origin_edges, origin_fractions
        The origins' snaps: the stretch of their own edges reached is drawn too.
    limit_s
        The time budget.
    buffer_m
        Half-width of the band drawn around reached roads.
    """
    net = router.network
    proj = router.projection
    start = dist[router._tail]
    with np.errstate(invalid="ignore", divide="ignore"):
        reach = np.where(weights > 0, (limit_s - start) / weights, np.inf)
    full = start + weights <= limit_s
    partial = np.flatnonzero(~full & (start <= limit_s) & (reach > 0))

    counts = np.diff(net.geom_offsets)
    rows = np.repeat(full, counts)
    x, y = proj.forward(net.geom_coords[rows, 0], net.geom_coords[rows, 1])
    edge_of_row = np.repeat(np.arange(int(full.sum())), counts[full])
    lines = list(shapely.linestrings(np.column_stack([x, y]), indices=edge_of_row)) if full.any() else []

    pieces = [(int(e), 0.0, float(min(reach[e], 1.0))) for e in partial]
    for e, f in zip(origin_edges, origin_fractions):
        e, f = int(e), float(f)
        budget = limit_s / weights[e] if weights[e] > 0 else 1.0
        pieces.append((e, f, min(1.0, f + budget)))
        if router._has_twin[e]:
            t = int(router._twin[e])
            budget = limit_s / weights[t] if weights[t] > 0 else 1.0
            pieces.append((t, 1.0 - f, min(1.0, 1.0 - f + budget)))
    for e, a, b in pieces:
        c = cut_polyline(net.edge_coords(e), proj, a, b)
        lines.append(shapely.LineString(np.column_stack(proj.forward(c[:, 0], c[:, 1]))))
    if not lines:
        return shapely.Polygon()
    area = shapely.buffer(shapely.MultiLineString(lines), buffer_m, quad_segs=4)
    area = shapely.simplify(area, buffer_m / 10.0)
    return shapely.transform(area, lambda xy: np.column_stack(proj.inverse(xy[:, 0], xy[:, 1])))
