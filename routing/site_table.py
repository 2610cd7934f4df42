"""Travel times between fixed sites (stations, hospitals) and every node, for the simulator.

Built by :meth:`routing.engine.Router.site_table` from two unbounded searches per site; a time
between a site and any point is then a few array operations over the ends of the point's edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from routing.errors import RoutingError
from routing.model import Point

if TYPE_CHECKING:
    from routing.engine import Router


@dataclass(frozen=True, eq=False)
class SiteTable:
    """Travel times between fixed sites and every node, for the simulator.

    Attributes
    ----------
    times_s
        ``(n_sites, n_nodes)``: from site ``i`` to each node (inf where unreachable).
    times_to_s
        ``(n_sites, n_nodes)``: from each node to site ``i`` (inf where unreachable).
    """

    router: Router = field(repr=False)
    weights: np.ndarray = field(repr=False)
    site_edge: np.ndarray
    site_fraction: np.ndarray
    times_s: np.ndarray = field(repr=False)
    times_to_s: np.ndarray = field(repr=False)

    @property
    def n_sites(self) -> int:
        """Number of sites."""
        return int(self.site_edge.size)

    def to_point_all(self, point: Point) -> np.ndarray:
        """Return the travel time from every site to ``point`` (inf where unreachable)."""
        r, w = self.router, self.weights
        e, f = r._snapper.one(point, "point")
        t = r._twin[e]
        best = np.minimum(self.times_s[:, r._tail[e]] + f * w[e],
                          self.times_s[:, r._head[e]] + r._graphs.back(e, 1.0 - f, w)[0])
        same = self.site_edge == e
        g = self.site_fraction
        best = np.where(same & (g <= f), np.minimum(best, (f - g) * w[e]), best)
        if r._has_twin[e]:
            best = np.where(same & (g >= f), np.minimum(best, (g - f) * w[t]), best)
        return best

    def from_point_all(self, point: Point) -> np.ndarray:
        """Return the travel time from ``point`` to every site (inf where unreachable)."""
        r, w = self.router, self.weights
        e, f = r._snapper.one(point, "point")
        t = r._twin[e]
        best = np.minimum((1.0 - f) * w[e] + self.times_to_s[:, r._head[e]],
                          r._graphs.back(e, f, w)[0] + self.times_to_s[:, r._tail[e]])
        same = self.site_edge == e
        g = self.site_fraction
        best = np.where(same & (f <= g), np.minimum(best, (g - f) * w[e]), best)
        if r._has_twin[e]:
            best = np.where(same & (f >= g), np.minimum(best, (f - g) * w[t]), best)
        return best

    def to_point(self, site_index: int, point: Point) -> float | None:
        """Return the travel time from site ``site_index`` to ``point``, None if unreachable."""
        return _finite(self.to_point_all(point)[self._site(site_index)])

    def from_point(self, point: Point, site_index: int) -> float | None:
        """Return the travel time from ``point`` to site ``site_index``, None if unreachable."""
        return _finite(self.from_point_all(point)[self._site(site_index)])

    def time_s(self, site_index: int, point: Point) -> float | None:
        """Return the travel time from site ``site_index`` to ``point``, None if unreachable."""
        return self.to_point(site_index, point)

    def _site(self, site_index: int) -> int:
        if not 0 <= site_index < self.n_sites:
            raise RoutingError(f"site_index must be 0-{self.n_sites - 1}, got {site_index!r}")
        return site_index


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None
