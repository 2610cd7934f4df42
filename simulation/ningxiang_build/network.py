"""The generated road network of Ningxiang: junction kinds, roads, and the network in local metres."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.ningxiang_build.common import FloatArray

# Junction kinds.
GRID, CORRIDOR, SEAT, VILLAGE, MESH, SPUR = 0, 1, 2, 3, 4, 5


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
