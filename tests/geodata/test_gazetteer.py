"""The gazetteer: Chinese names, pinyin, facilities, lon,lat, ambiguity and typeahead."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geodata.county import Hospital, Place, PlaceKind, Station, StationKind, load_county
from geodata.errors import AmbiguousPlaceError, BadCoordinatesError, GeodataError, UnknownPlaceError
from geodata.gazetteer import Gazetteer, PointKind, normalize_pinyin, pinyin_of, strip_suffix

TINY = Path(__file__).resolve().parent.parent / "fixtures" / "geodata" / "tiny"
COUNTY = load_county(TINY)
GAZ = COUNTY.gazetteer
PLACES = {p.id: p for p in COUNTY.places}
TOWNS = [p for p in COUNTY.places if p.kind is PlaceKind.TOWN]
LIUSHAHE = "430124001000"


@pytest.mark.parametrize(
    ("text", "kind", "expected_id"),
    [
        ("流沙河镇", PointKind.TOWN, LIUSHAHE),
        ("流沙河", PointKind.TOWN, LIUSHAHE),
        (" 流沙河镇 ", PointKind.TOWN, LIUSHAHE),
        ("liushahe", PointKind.TOWN, LIUSHAHE),
        ("Liushahe Zhen", PointKind.TOWN, LIUSHAHE),
        ("liushahezhen", PointKind.TOWN, LIUSHAHE),
        ("LIU-SHA-HE", PointKind.TOWN, LIUSHAHE),
        ("Liúshāhé", PointKind.TOWN, LIUSHAHE),
        ("玉潭", PointKind.TOWN, "430124003000"),
        ("yutan jiedao", PointKind.TOWN, "430124003000"),
        ("测试县", PointKind.COUNTY, "430124000000"),
        # a town and a village share the bare name: the township seat wins
        ("龙田", PointKind.TOWN, "430124002000"),
        ("龙田村", PointKind.VILLAGE, "430124002202"),
        ("longtiancun", PointKind.VILLAGE, "430124002202"),
        ("草冲", PointKind.VILLAGE, "430124003001"),
        ("Caochong Shequ", PointKind.VILLAGE, "430124003001"),
        # pinyin computed when places.csv has none; ü typed as v or u
        ("lvhua", PointKind.VILLAGE, "430124001202"),
        ("luhua cun", PointKind.VILLAGE, "430124001202"),
        ("新屋", PointKind.GENERATED, "g-0001"),
        # name@township for villages that share a name
        ("石泉村@龙田镇", PointKind.VILLAGE, "430124002201"),
        ("石泉@流沙河", PointKind.VILLAGE, "430124001201"),
        ("shiquan@longtian", PointKind.VILLAGE, "430124002201"),
        # facilities: name, id, aliases, explicit kind
        ("宁乡市人民医院", PointKind.HOSPITAL, "renmin"),
        ("renmin-hospital", PointKind.HOSPITAL, "renmin"),
        ("renmin", PointKind.HOSPITAL, "renmin"),
        ("people's hospital", PointKind.HOSPITAL, "renmin"),
        ("流沙河镇卫生院", PointKind.HOSPITAL, "liushahe-hc"),
        ("流沙河急救分站", PointKind.STATION, "liushahe"),
        ("station:liushahe", PointKind.STATION, "liushahe"),
        ("hospital:renmin", PointKind.HOSPITAL, "renmin"),
        ("place:430124002201", PointKind.VILLAGE, "430124002201"),
    ],
)
def test_resolve(text: str, kind: PointKind, expected_id: str) -> None:
    point = GAZ.resolve(text)
    assert point.kind is kind
    assert point.id == expected_id


def test_resolved_point_carries_the_place() -> None:
    point = GAZ.resolve("石泉村@龙田镇")
    place = PLACES["430124002201"]
    assert (point.name, point.lon, point.lat, point.township) == (place.name, place.lon, place.lat, "龙田镇")


@pytest.mark.parametrize(("text", "lon", "lat"), [("112.55,28.25", 112.55, 28.25), (" 112.5 , 28 ", 112.5, 28.0),
                                                  ("112.5，28.2", 112.5, 28.2), ("-0.1,51.5", -0.1, 51.5)])
def test_resolve_coordinates(text: str, lon: float, lat: float) -> None:
    point = GAZ.resolve(text)
    assert (point.kind, point.id, point.lon, point.lat) == (PointKind.COORDINATES, None, lon, lat)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("28.25,112.55", "did you mean 112.55,28.25? expected lon,lat"),
        ("190,28", "lon must be in [-180, 180]"),
        ("112,-91", "got lon=112.0, lat=-91.0"),
    ],
)
def test_bad_coordinates(text: str, message: str) -> None:
    with pytest.raises(BadCoordinatesError) as err:
        GAZ.resolve(text)
    assert message in str(err.value)


@pytest.mark.parametrize(
    ("text", "closest"),
    [("流沙", "流沙河镇"), ("liusha", "流沙河镇"), ("龙天镇", "龙田镇"), ("renminhospitl", "宁乡市人民医院"),
     ("石泉村@黄材镇", "石泉村@流沙河镇")],
)
def test_unknown_lists_closest_names(text: str, closest: str) -> None:
    with pytest.raises(UnknownPlaceError) as err:
        GAZ.resolve(text)
    assert closest in err.value.suggestions
    assert f"closest: " in str(err.value) and closest in str(err.value)


def test_unknown_without_anything_close() -> None:
    with pytest.raises(UnknownPlaceError, match=r"'zzzz': not a known place") as err:
        GAZ.resolve("zzzz")
    assert err.value.suggestions == ()


def test_ambiguous_village_lists_the_ways_to_say_which() -> None:
    with pytest.raises(AmbiguousPlaceError) as err:
        GAZ.resolve("石泉村")
    assert set(err.value.candidates) == {"石泉村@流沙河镇", "石泉村@龙田镇"}
    assert "name@township" in str(err.value)


@pytest.mark.parametrize("text", ["", "   "])
def test_empty_text(text: str) -> None:
    with pytest.raises(GeodataError, match="place must be a name or 'lon,lat'"):
        GAZ.resolve(text)


def test_search_prefix_chinese_and_pinyin() -> None:
    assert [p.name for p in GAZ.search("石")] == ["石泉村", "石泉村"]
    names = [p.name for p in GAZ.search("liu")]
    assert names[0] == "流沙河镇"  # the township seat before the hospital and station
    assert set(names) == {"流沙河镇", "流沙河镇卫生院", "流沙河急救分站"}
    assert [p.name for p in GAZ.search("Long")] == ["龙田镇", "龙田村"]
    assert len(GAZ.search("l", limit=2)) == 2
    assert GAZ.search("") == [] and GAZ.search("x", limit=0) == []


def test_helpers() -> None:
    assert pinyin_of("流沙河镇") == "liushahezhen"
    assert normalize_pinyin("Liú-shā Hé") == "liushahe"
    assert strip_suffix("玉潭街道") == "玉潭"
    assert strip_suffix("新村") is None  # a one-character bare name means nothing


@given(st.sampled_from(TOWNS), st.data())
def test_town_names_round_trip_in_any_spelling(town: Place, data: st.DataObject) -> None:
    assert GAZ.resolve(town.name).id == town.id
    # pinyin with random case and random spaces/hyphens between letters
    letters = pinyin_of(town.name)
    spelled = "".join(
        data.draw(st.sampled_from([c, c.upper()])) + data.draw(st.sampled_from(["", " ", "-"])) for c in letters
    )
    assert GAZ.resolve(spelled).id == town.id


# Village names made of common place-name characters; several villages may share a name.
_CHARS = "石泉龙田新屋塘湾冲山桥坪花明月青"
_TOWNSHIPS = ("黄材镇", "沩山乡", "双江口镇", "历经铺街道")


@st.composite
def _villages(draw: st.DrawFn) -> list[Place]:
    n = draw(st.integers(min_value=1, max_value=12))
    places = [
        Place(f"t{i}", name, "", PlaceKind.TOWN, name, 112.0 + i / 10, 28.0, None, True, 0.0, "test")
        for i, name in enumerate(_TOWNSHIPS)
    ]
    for i in range(n):
        name = "".join(draw(st.lists(st.sampled_from(_CHARS), min_size=2, max_size=3))) + "村"
        township = draw(st.sampled_from(_TOWNSHIPS))
        lon, lat = draw(st.floats(111.9, 112.8)), draw(st.floats(27.9, 28.5))
        places.append(Place(f"v{i}", name, "", PlaceKind.VILLAGE, township, lon, lat, 220, False, 0.0, "test"))
    return places


@given(_villages())
def test_every_place_resolves_by_name_at_township(places: list[Place]) -> None:
    gazetteer = Gazetteer(places)
    keys = [(p.name, p.township) for p in places]
    for place in places:
        if place.kind is PlaceKind.TOWN:
            assert gazetteer.resolve(place.name).id == place.id
        elif keys.count((place.name, place.township)) == 1:
            assert gazetteer.resolve(f"{place.name}@{place.township}").id == place.id
        same_name = [p for p in places if p.name == place.name and p.kind is place.kind]
        if len({(p.lon, p.lat) for p in same_name}) == 1:
            assert gazetteer.resolve(place.name).name == place.name
        else:
            with pytest.raises(AmbiguousPlaceError):
                gazetteer.resolve(place.name)


@given(st.floats(-180, 180), st.floats(-90, 90))
def test_any_valid_lon_lat_resolves_to_itself(lon: float, lat: float) -> None:
    point = GAZ.resolve(f"{lon:.7f},{lat:.7f}")
    assert point.lon == pytest.approx(lon, abs=1e-7) and point.lat == pytest.approx(lat, abs=1e-7)


@given(st.floats(90.0001, 1000) | st.floats(-1000, -90.0001))
def test_latitude_out_of_range_is_refused(lat: float) -> None:
    with pytest.raises(BadCoordinatesError):
        GAZ.resolve(f"112.5,{lat:.6f}")


def test_facilities_only() -> None:
    hospital = Hospital("h", "某医院", 112.0, 28.0, frozenset({"ed"}), aliases=("hosp",))
    station = Station("s", "某站", StationKind.POINT, 112.1, 28.1)
    gazetteer = Gazetteer((), (hospital,), (station,))
    assert gazetteer.resolve("hosp").id == "h"
    assert gazetteer.resolve("某站").id == "s"
    assert len(gazetteer) == 2
