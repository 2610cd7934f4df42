"""Loading a county directory: the tiny fixture county, its graph, and each kind of bad file."""

from __future__ import annotations

import bz2
import shutil
import warnings
from pathlib import Path

import networkx as nx
import pytest
from shapely.geometry import Point

from geodata.county import (
    EMBEDDED_DIR,
    County,
    Hospital,
    PlaceKind,
    StationKind,
    load_county,
)
from geodata.errors import CountyNotFoundError, DisconnectedRoadsWarning, GeodataError, UnknownLayoutError

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "geodata" / "tiny"


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A writable copy of the tiny county, to break files in."""
    return Path(shutil.copytree(TINY, tmp_path / "tiny", ignore=shutil.ignore_patterns(".ems-cache")))


@pytest.fixture(scope="module")
def tiny() -> County:
    return load_county(TINY)


def test_tiny_county_loads_every_file(tiny: County) -> None:
    assert tiny.name == "测试县"
    assert tiny.name_en == "Test county"
    assert tiny.path == TINY
    assert tiny.roads_path == TINY / "roads.osm"
    assert len(tiny.places) == 10
    assert {p.kind for p in tiny.places} == set(PlaceKind)
    assert sum(p.demand_weight for p in tiny.places) == pytest.approx(1.0)
    assert all(tiny.boundary.covers(Point(p.lon, p.lat)) for p in tiny.places)
    by_id = {p.id: p for p in tiny.places}
    assert by_id["430124001202"].name_pinyin == ""  # a missing pinyin is allowed
    assert by_id["g-0001"].ur_code is None
    assert by_id["430124003001"].urban and not by_id["430124001201"].urban


def test_facilities_are_typed(tiny: County) -> None:
    renmin = next(h for h in tiny.hospitals if h.id == "renmin")
    assert isinstance(renmin, Hospital)
    assert isinstance(renmin.capabilities, frozenset)
    assert {"pci", "stroke_center"} <= renmin.capabilities
    assert renmin.aliases == ("renmin-hospital", "People's Hospital")
    assert renmin.pci_24_7 and not renmin.assumed
    stations = {s.id: s for s in tiny.stations}
    assert stations["centre"].kind is StationKind.CENTRE
    assert stations["liushahe"].hospital == "liushahe-hc"


def test_layouts_derive_unit_ids(tiny: County) -> None:
    assert sorted(tiny.layouts) == ["1+5+N", "centralized"]
    central = tiny.layout("centralized")
    assert central.unit_ids == ("centre-1", "centre-2", "centre-3")
    assert (central.ambulances, central.staff) == (3, 9)
    network = tiny.layout("1+5+N")
    assert network.unit_ids == ("centre-1", "centre-2", "liushahe-1", "longtian-a")
    point = network.stations[2].station
    assert (point.id, point.name, point.kind) == ("longtian-point", "龙田待命点", StationKind.POINT)
    assert (point.lon, point.lat) == (112.139, 28.019)
    # A station of facilities.toml is the very same object in the layout.
    assert network.stations[1].station is next(s for s in tiny.stations if s.id == "liushahe")


def test_unknown_layout_lists_known_ones(tiny: County) -> None:
    with pytest.raises(UnknownLayoutError, match=r"'nope'.*known: 1\+5\+N, centralized"):
        tiny.layout("nope")


def test_user_layout_file(tiny: County, tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[station]]\nid = "liushahe"\nambulances = 2\nstaff = 4\n', encoding="utf-8")
    layout = tiny.load_layout_file(path)
    assert layout.name == "mine"
    assert layout.unit_ids == ("liushahe-1", "liushahe-2")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('[[station]]\nid = "ghost"\nambulances = 1\n', "'ghost' is not in facilities.toml"),
        ('[[station]]\nid = "centre"\nambulances = -1\n', "ambulances must be an integer >= 0, got -1"),
        ('[[station]]\nid = "centre"\nambulances = 2\nunits = ["a"]\n', "lists 1 unit"),
        ('[[station]]\nid = "centre"\nambulances = 1\n[[station]]\nid = "centre"\nambulances = 1\n',
         "appears twice"),
        ('name = "x"\n', "no [[station]] tables"),
        ("[[station]\n", "not valid TOML"),
    ],
)
def test_bad_user_layout_names_file_and_problem(tiny: County, tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(GeodataError) as err:
        tiny.load_layout_file(path)
    assert str(path) in str(err.value)
    assert problem in str(err.value)


def test_load_graph_keeps_largest_scc_with_travel_times(tiny: County) -> None:
    with pytest.warns(DisconnectedRoadsWarning, match=r"dropped 1 nodes and 1 edges"):
        graph = tiny.load_graph()
    assert isinstance(graph, nx.MultiDiGraph)
    assert nx.is_strongly_connected(graph)
    assert graph.graph["crs"].upper() == "EPSG:4326"
    for _, _, data in graph.edges(data=True):
        assert data["length"] > 0
        assert data["speed_kph"] > 0
        assert data["travel_time"] == pytest.approx(data["length"] / (data["speed_kph"] / 3.6), rel=1e-3)
        assert isinstance(data["highway"], str)
    # maxspeed=60 is honoured; untagged roads get the default of their class.
    speeds = {d["speed_kph"] for _, _, d in graph.edges(data=True)}
    assert 60.0 in speeds and 30.0 in speeds


def test_load_graph_reads_bz2(tiny_dir: Path) -> None:
    raw = (tiny_dir / "roads.osm").read_bytes()
    (tiny_dir / "roads.osm").unlink()
    (tiny_dir / "roads.osm.bz2").write_bytes(bz2.compress(raw))
    toml = tiny_dir / "county.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"roads.osm"', '"roads.osm.bz2"'), encoding="utf-8")
    county = load_county(tiny_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedRoadsWarning)
        graph = county.load_graph()
    assert graph.number_of_nodes() == 6


def test_missing_boundary_uses_the_hull_of_the_roads(tiny_dir: Path) -> None:
    (tiny_dir / "boundary.geojson").unlink()
    # Places must then lie inside the hull of the roads: keep the ones that do.
    lines = (tiny_dir / "places.csv").read_text(encoding="utf-8").splitlines()
    (tiny_dir / "places.csv").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DisconnectedRoadsWarning)
        county = load_county(tiny_dir)
    assert county.boundary_is_hull
    assert county.boundary.bounds == pytest.approx((112.10, 27.98, 112.14, 28.02))


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


@pytest.mark.parametrize(
    ("breaks", "file", "problem"),
    [
        (lambda d: (d / "county.toml").unlink(), "county.toml", "file not found"),
        (lambda d: (d / "places.csv").unlink(), "places.csv", "file not found"),
        (lambda d: _edit(d / "facilities.toml", '[[hospital]]\nid = "renmin"', "[[hospital]\nid = renmin"),
         "facilities.toml", "not valid TOML"),
        (lambda d: _edit(d / "facilities.toml", "lon = 112.119", 'lon = "east"'),
         "facilities.toml", "hospital[0].lon must be a number"),
        (lambda d: _edit(d / "facilities.toml", 'hospital = "liushahe-hc"', 'hospital = "nowhere"'),
         "facilities.toml", "hospital 'nowhere' is not a hospital"),
        (lambda d: _edit(d / "layouts" / "1+5+N.toml", "lon = 112.139\nlat = 28.019\n", ""),
         "1+5+N.toml", "'longtian-point' is not in facilities.toml"),
        (lambda d: _edit(d / "places.csv", "112.139,27.981", "113.5,27.981"),
         "places.csv", "1 place(s) outside boundary.geojson: 430124001201 石泉村 (113.5, 27.981)"),
        (lambda d: _edit(d / "places.csv", "112.13,28.01", "28.01,112.13"),
         "places.csv", "lat must be in [-90.0, 90.0], got 112.13"),
        (lambda d: _edit(d / "places.csv", ",village,", ",hamlet,"), "places.csv", "kind must be one of"),
        (lambda d: _edit(d / "places.csv", "ur_code,", "urcode,"), "places.csv", "missing column(s) ur_code"),
        (lambda d: _edit(d / "county.toml", 'roads = "roads.osm"', 'roads = "roads.pbf"'),
         "county.toml", "roads = 'roads.pbf': no such file"),
        (lambda d: (d / "boundary.geojson").write_text('{"type": "Point", "coordinates": [112, 28]}'),
         "boundary.geojson", "expected a Polygon or MultiPolygon, got Point"),
    ],
)
def test_bad_county_file_names_file_and_problem(tiny_dir: Path, breaks, file: str, problem: str) -> None:
    breaks(tiny_dir)
    with pytest.raises(GeodataError) as err:
        load_county(tiny_dir)
    message = str(err.value)
    assert file in message
    assert problem in message


def test_broken_road_file_is_reported_at_graph_load(tiny_dir: Path) -> None:
    (tiny_dir / "roads.osm").write_bytes(b"\xff\xd8\xff\xe0 not a road network")
    county = load_county(tiny_dir)
    with pytest.raises(GeodataError, match=r"roads\.osm: cannot read the road network"):
        county.load_graph()


def test_unknown_county_name(tmp_path: Path) -> None:
    with pytest.raises(CountyNotFoundError, match=r"'atlantis': not an embedded county \(ningxiang\)"):
        load_county("atlantis")
    with pytest.raises(CountyNotFoundError):
        load_county(tmp_path / "missing")


@pytest.mark.skipif(not (EMBEDDED_DIR / "ningxiang" / "county.toml").exists(), reason="Ningxiang not built yet")
def test_embedded_ningxiang_loads() -> None:
    county = load_county()
    assert county.path == EMBEDDED_DIR / "ningxiang"
    assert any(p.kind is PlaceKind.TOWN for p in county.places)
    assert county.hospitals and county.stations and county.layouts
    seat = next(p for p in county.places if p.kind is PlaceKind.TOWN)
    assert county.gazetteer.resolve(seat.name).id == seat.id
