"""The compiled search graphs and the one-call Dijkstra from a point on a road.

Every search is one ``scipy.sparse.csgraph.dijkstra`` call from a *virtual node* (an extra last
row of the CSR matrix) whose two out-edges are the partial edges from a snapped point to the ends
of its edge (or into them, on the transposed graph). That makes a search from or to a point in the
middle of a road exact, in one call, with no copy of the graph: the two slots are overwritten in
place under a lock before each search.

The forward and transposed matrices are built once per time-of-day factor and kept; distances
along a search tree are walked in plain Python from the nodes asked for only.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from routing.network import RoadNetwork


@dataclass(frozen=True)
class SearchGraph:
    """Weights and the forward and transposed CSR matrices (virtual node last) for one factor.

    ``edge_rows`` holds, per edge, what a source on it needs, so that one gather serves every
    source of a query: time, twin's time, length, twin's length, head, tail, has a twin (1.0/0.0).
    ``top_speed_mps`` is the fastest an edge is driven (length / time).
    """

    weights: np.ndarray
    forward: csr_matrix
    reverse: csr_matrix
    edge_rows: np.ndarray
    top_speed_mps: float


@dataclass(frozen=True)
class Seeds:
    """The virtual node's out-edges: node, time and length of each partial edge."""

    nodes: Sequence[int]
    time_s: Sequence[float]
    length_m: Sequence[float]


class SearchGraphs:
    """The search graphs of one network and profile, one per time-of-day factor, and their searches.

    Parameters
    ----------
    network
        The compiled road network.
    base_weights
        Per-edge travel time (s) under the profile, before any time-of-day factor.
    urban_area
        Edges whose midpoint is inside this WGS84 polygon get the time-of-day factor; every edge
        does when None.

    Attributes
    ----------
    tail, head, twin, has_twin, length_m
        Per edge: its tail and head nodes, its twin (itself on a one-way road), whether it has
        one, and its length (m).
    """

    def __init__(self, network: RoadNetwork, base_weights: np.ndarray, urban_area: Any = None) -> None:
        self.network = network
        self.tail = network.edge_tail
        self.head = network.indices
        self.twin = network.twin
        self.has_twin = network.has_twin
        self.length_m = network.length_m
        self._indptr_mv, self._heads_mv = memoryview(network.indptr), memoryview(network.indices)
        self._length_mv = memoryview(network.length_m)
        self._base_weights = base_weights
        self._urban = self._urban_mask(urban_area)
        self._reverse_order = np.lexsort((self.tail, self.head))
        self._graphs: dict[float, SearchGraph] = {}
        # The virtual node's two slots of each matrix are overwritten in place by every search.
        self._lock = threading.Lock()

    def _urban_mask(self, urban_area: Any) -> np.ndarray:
        if urban_area is None:
            return np.ones(self.network.n_edges, dtype=bool)
        mid_lon = (self.network.node_lon[self.tail] + self.network.node_lon[self.head]) / 2.0
        mid_lat = (self.network.node_lat[self.tail] + self.network.node_lat[self.head]) / 2.0
        return shapely.contains_xy(urban_area, mid_lon, mid_lat)

    def graph(self, factor: float) -> SearchGraph:
        """Return the search graph under time-of-day ``factor``, built on first use and kept."""
        graph = self._graphs.get(factor)
        if graph is None:
            w = self._base_weights * np.where(self._urban, factor, 1.0)
            net = self.network
            n = net.n_nodes
            ptr = np.append(net.indptr, net.indptr[-1] + 2)
            rev_ptr = np.zeros(n + 2, dtype=np.int64)
            np.cumsum(np.bincount(self.head, minlength=n), out=rev_ptr[1:-1])
            rev_ptr[-1] = rev_ptr[-2] + 2
            order = self._reverse_order
            pad_i, pad_w = np.zeros(2, dtype=np.int32), np.zeros(2)
            forward = csr_matrix(
                (np.concatenate([w, pad_w]), np.concatenate([self.head, pad_i]).astype(np.int32),
                 ptr.astype(np.int32)), shape=(n + 1, n + 1))
            reverse = csr_matrix(
                (np.concatenate([w[order], pad_w]), np.concatenate([self.tail[order], pad_i]).astype(np.int32),
                 rev_ptr.astype(np.int32)), shape=(n + 1, n + 1))
            twin, length = self.twin, self.length_m
            rows = np.column_stack([w, w[twin], length, length[twin], self.head, self.tail, self.has_twin])
            with np.errstate(divide="ignore", invalid="ignore"):
                speed = np.where(w > 0, length / w, np.where(length > 0, np.inf, 0.0))
            graph = SearchGraph(w, forward, reverse, rows, float(speed.max()))
            self._graphs[factor] = graph
        return graph

    def back(self, edge: Any, part: Any, w: np.ndarray) -> tuple[Any, Any]:
        """Return the time and length of the stretch of a point's road against the edge's direction.

        ``part`` is the share of the edge to cover (``fraction`` towards the tail, ``1 - fraction``
        from the head). On a two-way road it is driven along the twin edge; on a one-way road only
        a point exactly at the node (``part == 0``) gets there, for nothing.
        """
        has, twin = self.has_twin[edge], self.twin[edge]
        time = np.where(has, part * w[twin], np.where(part == 0, 0.0, np.inf))
        length = np.where(has, part * self.network.length_m[twin], 0.0)
        return time, length

    def seeds(self, edge: int, fraction: float, w: np.ndarray, *, reverse: bool) -> Seeds:
        """Return the partial edges between a point on ``edge`` and the ends it can reach (or be reached from).

        Scalar arithmetic in Python floats: the arrays are one or two long.
        """
        length = self.length_m
        # Forward: point -> head along the edge, point -> tail against it.
        # Reverse: tail -> point along the edge, head -> point against it.
        along, back = (fraction, 1.0 - fraction) if reverse else (1.0 - fraction, fraction)
        head, tail = int(self.head[edge]), int(self.tail[edge])
        end_edge, end_back = (tail, head) if reverse else (head, tail)
        along_time, along_length = along * float(w[edge]), along * float(length[edge])
        if self.has_twin[edge]:
            twin = int(self.twin[edge])
            back_time, back_length = back * float(w[twin]), back * float(length[twin])
        elif back == 0:  # a point at the node itself: no need to drive against a one-way edge
            back_time, back_length = 0.0, 0.0
        else:
            return Seeds((end_edge,), (along_time,), (along_length,))
        return Seeds((end_edge, end_back), (along_time, back_time), (along_length, back_length))

    def search(
        self, graph: SearchGraph, seeds: Seeds, *, reverse: bool, limit: float, full: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run one Dijkstra from the virtual node; return times and predecessors.

        Over the real nodes, or with ``full`` over all ``n + 1`` (the virtual node last).
        """
        n = self.network.n_nodes
        matrix = graph.reverse if reverse else graph.forward
        if len(seeds.nodes) <= 2:
            first, last = int(seeds.nodes[0]), int(seeds.nodes[-1])
            first_s, last_s = float(seeds.time_s[0]), float(seeds.time_s[-1])
            with self._lock:
                indices, data = matrix.indices, matrix.data
                indices[-2], indices[-1] = first, last
                data[-2], data[-1] = first_s, last_s
                dist, pred = dijkstra(matrix, indices=n, limit=limit, return_predecessors=True)
        else:
            k = len(seeds.nodes)
            indptr = matrix.indptr.copy()
            indptr[-1] = indptr[-2] + k
            matrix = csr_matrix(
                (np.concatenate([matrix.data[:-2], seeds.time_s]),
                 np.concatenate([matrix.indices[:-2], np.asarray(seeds.nodes, dtype=np.int32)]), indptr),
                shape=(n + 1, n + 1),
            )
            dist, pred = dijkstra(matrix, indices=n, limit=limit, return_predecessors=True)
        if full:
            return dist, pred
        return dist[:n], pred[:n]

    def tree_length(self, starts: Sequence[int], pred: np.ndarray, seeds: Seeds, *, reverse: bool) -> list[float]:
        """Return the length (m) along the search tree from each start node to the virtual node.

        ``pred`` is a full predecessor array (the virtual node last). Each path is walked up to a
        node already measured (paths to one target soon merge), so the work is the number of
        distinct nodes on the paths: in plain Python, since per node it is a few operations and
        numpy's per-call cost (a call per tree level) would outweigh them.
        """
        n = self.network.n_nodes
        parent = memoryview(pred)
        indptr, heads, length = self._indptr_mv, self._heads_mv, self._length_mv
        # Where every path ends: a seed reached straight from the virtual node (a seed reached
        # more cheaply through the network is an ordinary node of the tree).
        known = {node: length_m for node, length_m in zip(seeds.nodes, seeds.length_m) if parent[node] == n}
        out = []
        for start in starts:
            path = []
            x = start
            while x not in known:
                p = parent[x]
                path.append((x, p))
                x = p
            total = known[x]
            for c, p in reversed(path):
                # Reverse tree: p is the next node towards the target (edge c -> p).
                u, v = (c, p) if reverse else (p, c)
                j = indptr[u]
                while heads[j] != v:
                    j += 1
                total += length[j]
                known[c] = total
            out.append(known[start])
        return out
