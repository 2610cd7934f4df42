"""Errors raised by the routing engine."""

from __future__ import annotations

from ems.errors import EmsError


class RoutingError(EmsError):
    """Base of every routing error."""


class NetworkError(RoutingError):
    """A road graph cannot be compiled (a missing attribute, an empty graph, a bad cache)."""


class ProfileError(RoutingError):
    """A speed profile or its configuration is invalid (unknown name, factor <= 0, hour out of range)."""


class SnapError(RoutingError):
    """A point cannot be placed on the road network.

    Attributes
    ----------
    lon, lat
        The point that was refused.
    distance_m
        Its distance to the nearest road (or, outside the boundary, to the boundary).
    """

    def __init__(self, message: str, *, lon: float, lat: float, distance_m: float) -> None:
        super().__init__(message)
        self.lon = lon
        self.lat = lat
        self.distance_m = distance_m


class NoRouteError(RoutingError):
    """No path joins two points (one-way streets or a disconnected part of the network)."""
