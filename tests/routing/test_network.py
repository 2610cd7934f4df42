"""Compiling road graphs to arrays and caching them beside their source."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from routing.errors import NetworkError
from routing.network import RoadNetwork, compile_graph, load_network
from routing.profiles import RoadClass

FIXTURE_COUNTY = Path(__file__).resolve().parent.parent / "fixtures" / "routing" / "tinycounty"


def test_compile_builds_sorted_csr_and_keeps_the_fastest_parallel_edge(grid):
    net = compile_graph(grid)
    assert net.n_nodes == grid.number_of_nodes()
    tail = net.edge_tail
    keys = tail * net.n_nodes + net.indices
    assert np.all(np.diff(keys) > 0)  # sorted by (u, v), parallel edges merged
    ids = net.node_id.tolist()
    for e in range(net.n_edges):
        u, v = ids[tail[e]], ids[net.indices[e]]
        fastest = min(d["travel_time"] for d in grid[u][v].values())
        assert net.travel_time_s[e] == fastest
    assert net.n_edges == len({(u, v) for u, v in grid.edges()})


def test_twins_pair_the_two_directions_of_a_road(grid):
    net = compile_graph(grid)
    tail = net.edge_tail
    two_way = np.flatnonzero(net.has_twin)
    assert two_way.size and (~net.has_twin).any()  # the grid has one-way streets
    assert np.array_equal(net.twin[net.twin[two_way]], two_way)
    assert np.array_equal(tail[net.twin[two_way]], net.indices[two_way])
    np.testing.assert_allclose(net.length_m[net.twin[two_way]], net.length_m[two_way])


def test_geometries_run_from_tail_to_head_and_keep_their_bends(grid):
    net = compile_graph(grid)
    tail = net.edge_tail
    counts = np.diff(net.geom_offsets)
    assert counts.min() == 2 and counts.max() == 3  # straight edges and the bent column
    for e in range(net.n_edges):
        c = net.edge_coords(e)
        assert tuple(c[0]) == (net.node_lon[tail[e]], net.node_lat[tail[e]])
        assert tuple(c[-1]) == (net.node_lon[net.indices[e]], net.node_lat[net.indices[e]])


def test_summary_figures(grid):
    net = compile_graph(grid)
    assert net.n_components == nx.number_strongly_connected_components(nx.DiGraph(grid))
    x0, y0, x1, y1 = net.bbox
    assert x0 == min(d["x"] for _, d in grid.nodes(data=True)) and y1 == max(d["y"] for _, d in grid.nodes(data=True))
    once = {tuple(sorted((u, v))): d["length"] for u, v, d in grid.edges(data=True)}
    assert net.road_km == pytest.approx(sum(once.values()) / 1000, rel=1e-9)
    assert set(np.unique(net.road_class)) <= {c.value for c in RoadClass}


def test_compile_names_a_missing_attribute():
    G = nx.MultiDiGraph()
    G.add_node(1, x=112.5, y=28.2)
    G.add_node(2, x=112.6, y=28.2)
    G.add_edge(1, 2, length=100.0, highway="primary")
    with pytest.raises(NetworkError, match="edge 1 -> 2: missing attribute 'travel_time'"):
        compile_graph(G)
    with pytest.raises(NetworkError, match="needs at least one edge"):
        compile_graph(nx.MultiDiGraph())


def test_npz_round_trip(grid, tmp_path):
    net = compile_graph(grid, source_hash="abc")
    net.to_npz(tmp_path / "n.npz")
    back = RoadNetwork.from_npz(tmp_path / "n.npz")
    assert back.source_hash == "abc"
    for name in ("node_lon", "indptr", "indices", "travel_time_s", "length_m", "road_class", "twin", "geom_coords"):
        assert np.array_equal(getattr(back, name), getattr(net, name))


class DirCounty:
    """A county directory's road file and how to read it: what load_network needs of a county."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.roads_path = path / "roads.osm"
        self.loads = 0

    def load_graph(self) -> nx.MultiDiGraph:
        import osmnx as ox

        self.loads += 1
        G = ox.graph_from_xml(self.roads_path, simplify=True, retain_all=True)
        return ox.add_edge_travel_times(ox.add_edge_speeds(G, fallback=30.0))


@pytest.fixture
def county_dir(tmp_path) -> Path:
    target = tmp_path / "county"
    shutil.copytree(FIXTURE_COUNTY, target, ignore=shutil.ignore_patterns(".ems-cache"))
    return target


@pytest.mark.slow
def test_cache_is_built_once_and_rebuilt_when_the_source_content_changes(county_dir):
    county = DirCounty(county_dir)
    first = load_network(county)
    cached = list((county_dir / ".ems-cache").glob("network-*.npz"))
    assert len(cached) == 1 and county.loads == 1
    again = load_network(county)
    assert county.loads == 1 and np.array_equal(again.travel_time_s, first.travel_time_s)
    assert again.source_hash == first.source_hash != ""

    # Same size, same mtime, different content: the primary row becomes a motorway.
    text = county.roads_path.read_text()
    stat = county.roads_path.stat()
    county.roads_path.write_text(text.replace('v="primary"', 'v="motorway"'))
    os.utime(county.roads_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    changed = load_network(county)
    assert county.loads == 2
    assert changed.source_hash != first.source_hash
    assert RoadClass.MOTORWAY in set(changed.road_class.tolist())
    assert len(list((county_dir / ".ems-cache").glob("network-*.npz"))) == 1  # the stale one is gone


@pytest.mark.slow
def test_cache_falls_back_to_a_user_directory_when_the_county_is_read_only(county_dir, tmp_path, monkeypatch):
    if os.geteuid() == 0:
        pytest.skip("root can write anywhere")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    county_dir.chmod(0o555)
    try:
        load_network(DirCounty(county_dir))
    finally:
        county_dir.chmod(0o755)
    assert list((tmp_path / "xdg" / "ems").glob("*/network-*.npz"))


def test_missing_road_file_is_named(tmp_path):
    county = DirCounty(tmp_path)
    with pytest.raises(NetworkError, match="roads.osm: not found"):
        load_network(county)
