"""Where a call may be: a gazetteer place or a point inside the county and near a road."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dispatch.errors import LocationRefusedError
from dispatch.model import Point
from geodata.errors import GeodataError


@dataclass(frozen=True)
class Places:
    """The checks a call's location passes before it is recorded.

    Parameters
    ----------
    gazetteer
        Resolves a place name (Chinese, pinyin, alias) to a point; None: names are refused.
    boundary
        The county's shapely geometry; None: no boundary check.
    allow_outside
        Accept points outside the boundary (``service.allow_outside``).
    router
        Snaps a point to the road network; None: no road check.
    """

    gazetteer: Any = None
    boundary: Any = None
    allow_outside: bool = False
    router: Any = None

    def resolve(self, text: str) -> Any:
        """Return the gazetteer's place for a name, or raise `LocationRefusedError` with the closest names."""
        if self.gazetteer is None:
            raise LocationRefusedError("location.place", "unknown_place",
                                       "location.place: this service has no gazetteer; send {lon, lat}")
        try:
            return self.gazetteer.resolve(text)
        except GeodataError as e:  # the gazetteer's own error lists the closest names
            raise LocationRefusedError("location.place", "unknown_place", f"location.place: {e}") from e

    def check(self, location: Point, field: str) -> None:
        """Refuse a point outside the county (unless allowed) or farther from a road than the snap limit."""
        from shapely import Point as ShapelyPoint

        if not self.allow_outside and self.boundary is not None and not self.boundary.covers(ShapelyPoint(location)):
            raise LocationRefusedError(field, "outside_county",
                                       f"{field}: ({location[0]:.6f}, {location[1]:.6f}) is outside the county "
                                       "(start the service with --allow-outside to accept it)")
        if self.router is not None:
            from routing.errors import SnapError
            try:
                self.router.snap(*location)
            except SnapError as e:
                raise LocationRefusedError(field, "off_road", f"{field}: {e} (more than "
                                           f"{self.router.max_snap_distance_m:.0f} m from any road)") from e
