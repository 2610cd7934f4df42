"""The consoles' service side in process: county GeoJSON, gazetteer search, layouts, a unit's route,
the pages' vocabulary and the static files (no browser)."""

from __future__ import annotations

import gzip
import re
import warnings
from pathlib import Path

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.geo_http import COORD_DECIMALS, county_geojson, road_features
from dispatch.app import create_app
from tests.dispatch.service_fixtures import TINY, auth, make_config

STATIC = Path(__file__).resolve().parents[2] / "consoles" / "static"
INSIDE = {"lon": 112.121, "lat": 28.001}


@pytest.fixture
async def client(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")  # the tiny county's spur is dropped with a warning
    return await aiohttp_client(create_app(make_config(tmp_path)))


@pytest.fixture(scope="module")
def tiny():
    from geodata.county import load_county
    from routing.network import load_network

    warnings.simplefilter("ignore")
    county = load_county(TINY)
    return county, load_network(county)


async def test_county_geojson_has_every_layer_and_gzips(client):
    r = await client.get("/api/geo/county", headers=auth("planner") | {"Accept-Encoding": "gzip"})
    assert r.status == 200 and r.headers["Content-Encoding"] == "gzip"
    data = await r.json()
    for layer in ("boundary", "roads", "settlements", "stations", "hospitals"):
        assert data[layer]["type"] == "FeatureCollection" and data[layer]["features"], layer
    assert {f["properties"]["id"] for f in data["hospitals"]["features"]} == {"renmin", "liushahe-hc"}
    # stations of facilities.toml and of the layouts (longtian-point is defined by 1+5+N only)
    stations = {f["properties"]["id"]: f["properties"] for f in data["stations"]["features"]}
    assert set(stations) == {"centre", "liushahe", "longtian-point"}
    assert stations["longtian-point"]["layouts"] == ["1+5+N"]
    assert all(f["geometry"]["type"] == "MultiLineString" for f in data["roads"]["features"])
    x0, y0, x1, y1 = data["bbox"]
    assert x0 < x1 and y0 < y1


async def test_county_payload_is_cached_and_answers_304(client):
    r1 = await client.get("/api/geo/county", headers=auth("crew_centre1"))
    etag = r1.headers["ETag"]
    r2 = await client.get("/api/geo/county", headers=auth("crew_centre1") | {"If-None-Match": etag})
    assert r2.status == 304 and r2.headers["ETag"] == etag
    r3 = await client.get("/api/geo/county?roads=major", headers=auth("crew_centre1"))
    assert r3.headers["ETag"] != etag
    r4 = await client.get("/api/geo/county?roads=some", headers=auth("crew_centre1"))
    body = await r4.json()
    assert r4.status == 400 and "roads" in body["message"] and "'some'" in body["message"]
    r5 = await client.get("/api/geo/county")
    assert r5.status == 401


@pytest.mark.parametrize("q", ["龙田", "longtian", "LongTian", "流沙"])
async def test_search_finds_places_in_chinese_and_pinyin(client, q):
    r = await client.get("/api/geo/search", params={"q": q}, headers=auth("dispatcher"))
    data = await r.json()
    assert r.status == 200 and data["results"], q
    assert all({"name", "lon", "lat", "kind"} <= set(x) for x in data["results"])


@pytest.mark.parametrize(("params", "words"), [({"q": "a", "limit": "0"}, "limit"),
                                              ({"q": "a", "limit": "x"}, "'x'"),
                                              ({"q": "x" * 101}, "q: at most 100")])
async def test_search_refuses_bad_parameters(client, params, words):
    r = await client.get("/api/geo/search", params=params, headers=auth("dispatcher"))
    body = await r.json()
    assert r.status == 400 and words in body["message"]


async def test_empty_search_answers_nothing(client):
    r = await client.get("/api/geo/search", params={"q": "  "}, headers=auth("dispatcher"))
    assert (await r.json())["results"] == []


async def test_layouts_list_their_stations_and_units(client):
    r = await client.get("/api/layouts", headers=auth("planner"))
    data = await r.json()
    assert data["active"] == "1+5+N"
    layouts = {x["name"]: x for x in data["layouts"]}
    assert set(layouts) == {"1+5+N", "centralized"}
    units = [u for s in layouts["1+5+N"]["stations"] for u in s["unit_ids"]]
    assert sorted(units) == ["centre-1", "centre-2", "liushahe-1", "longtian-a"]
    assert layouts["1+5+N"]["ambulances"] == 4


async def test_unit_route_gives_the_call_route_and_eta(client):
    r = await client.post("/api/calls", json={"location": INSIDE, "complaint": "stroke", "priority": 1},
                          headers=auth("dispatcher"))
    created = await r.json()
    best = created["recommendations"][0]
    await client.post(f"/api/calls/{created['id']}/assign", json={"unit_id": best["unit_id"]},
                      headers=auth("dispatcher"))
    r = await client.get(f"/api/units/{best['unit_id']}/route", headers=auth("center_renmin"))
    data = await r.json()
    assert r.status == 200 and data["call"]["id"] == created["id"]
    assert data["route"]["geometry"]["type"] == "LineString" and data["origin"]["source"] == "station"
    # the same road time and turnout as the recommendation that sent the unit
    assert data["travel_s"] == pytest.approx(best["travel_s"], abs=1.0)
    assert 0 < data["turnout_s"] <= best["turnout_s"]
    assert data["eta_s"] == pytest.approx(best["eta_s"], abs=2.0)
    assert data["distance_m"] == pytest.approx(best["distance_m"], abs=1.0)


async def test_unit_route_without_a_call_and_for_another_crew(client):
    r = await client.get("/api/units/centre-1/route", headers=auth("crew_centre1"))
    data = await r.json()
    assert r.status == 200 and data["call"] is None and data["route"] is None
    r = await client.get("/api/units/centre-2/route", headers=auth("crew_centre1"))
    body = await r.json()
    assert r.status == 403 and "centre-2" in body["message"]
    r = await client.get("/api/units/nope/route", headers=auth("dispatcher"))
    assert r.status == 404


async def test_meta_needs_no_token_and_describes_the_pages(client):
    r = await client.get("/api/consoles/meta")
    data = await r.json()
    assert r.status == 200
    codes = [s["code"] for s in data["statuses"]]
    assert set(data["transitions"]) == set(codes)
    assert data["transitions"]["en_route"] == ["on_scene", "out_of_service"]
    assert all(isinstance(v, bool) for v in data["features"].values())
    assert {m["kind"] for m in data["milestones"]} >= {"door_in", "first_ecg", "balloon"}
    assert {i["code"] for i in data["intervals"]} >= {"door_to_balloon", "stroke_door_to_needle"}
    assert data["targets"] == {"urban_arrival_min": 10, "rural_arrival_min": 30}
    assert data["timezone"] == "Asia/Shanghai"


async def test_meta_gives_the_configured_county_timezone(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    config = make_config(tmp_path)
    config["county"]["timezone"] = "Asia/Urumqi"
    client = await aiohttp_client(create_app(config))
    data = await (await client.get("/api/consoles/meta")).json()
    assert data["timezone"] == "Asia/Urumqi"


async def test_features_follow_the_extensions_the_config_enables(aiohttp_client, tmp_path):
    warnings.simplefilter("ignore")
    config = make_config(tmp_path)
    config["service"]["extensions"] = ["geo", "consoles"]
    client = await aiohttp_client(create_app(config))
    have = (await (await client.get("/api/consoles/meta")).json())["features"]
    assert not any(have.values()), have
    r = await client.post("/api/calls/C1/milestones", json={"kind": "door_in"}, headers=auth("dispatcher"))
    assert r.status == 404  # the centers' routes are not served at all
    assert (await client.get("/api/geo/county", headers=auth("dispatcher"))).status == 200


async def test_every_feature_is_on_with_every_extension(client):
    have = (await (await client.get("/api/consoles/meta")).json())["features"]
    assert have and all(have.values()), have


async def test_an_unknown_extension_is_refused_naming_the_setting(tmp_path):
    from dispatch.errors import ValidationError

    config = make_config(tmp_path)
    config["service"]["extensions"] = ["live", "telepathy"]
    with pytest.raises(ValidationError, match="service.extensions: 'telepathy'"):
        create_app(config)


async def test_whoami_names_the_unit_or_hospital(client):
    crew = await (await client.get("/api/consoles/whoami", headers=auth("crew_liushahe"))).json()
    assert crew == {"role": "crew", "name": "liushahe-1", "unit": "liushahe-1", "hospital": None,
                    "hospital_name": None, "may_dispatch": False}
    center = await (await client.get("/api/consoles/whoami", headers=auth("center_renmin"))).json()
    assert center["hospital"] == "renmin" and center["hospital_name"] == "宁乡市人民医院"
    dispatcher = await (await client.get("/api/consoles/whoami", headers=auth("dispatcher"))).json()
    assert dispatcher["may_dispatch"] is True


@pytest.mark.parametrize("path", ["/", "/crew", "/center", "/planner"])
async def test_pages_are_served_with_a_strict_policy(client, path):
    r = await client.get(path)
    text = await r.text()
    assert r.status == 200 and r.content_type == "text/html"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert '<html lang="zh-CN">' in text
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', text):
        assert (await client.get(asset)).status == 200, asset


async def test_vendored_leaflet_is_served_with_its_licence(client):
    r = await client.get("/static/vendor/leaflet/leaflet.js")
    assert r.status == 200 and "javascript" in r.content_type
    assert (STATIC / "vendor" / "leaflet" / "LICENSE").read_text().startswith("BSD 2-Clause")


def test_own_assets_reach_no_other_host():
    own = [p for p in STATIC.rglob("*") if p.suffix in (".html", ".js", ".css") and "vendor" not in p.parts]
    assert own
    for path in own:
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path


def test_every_text_is_in_both_languages():
    source = (STATIC / "common" / "i18n.js").read_text(encoding="utf-8")
    zh, en = source.split("\n  en: {\n")
    key = re.compile(r'^\s+"([a-z0-9_.]+)":', re.M)
    zh_keys, en_keys = key.findall(zh), key.findall(en)
    assert zh_keys and sorted(zh_keys) == sorted(en_keys)
    used = set()
    for path in STATIC.rglob("*"):
        if path.suffix in (".html", ".js") and "vendor" not in path.parts:
            text = path.read_text(encoding="utf-8")
            used |= set(re.findall(r'data-i18n(?:-ph|-title)?="([a-z0-9_.]+)"', text))
            used |= set(re.findall(r'\bt\("([a-z0-9_.]+)"', text))
    assert used - set(zh_keys) == set()


@settings(max_examples=25, deadline=None)
@given(tolerance=st.sampled_from([0.0, 0.00001, 0.00005, 0.0002, 0.001]), major=st.booleans())
def test_roads_draw_each_two_way_road_once_inside_the_network(tiny, tolerance, major):
    _, network = tiny
    features = road_features(network, major_only=major, tolerance_deg=tolerance)
    import numpy as np

    edges = np.arange(network.n_edges)
    once = (network.twin == edges) | (edges < network.twin)
    kept = once & ((network.road_class <= 4) if major else True)
    assert sum(f["properties"]["edges"] for f in features) <= int(kept.sum())
    x0, y0, x1, y1 = network.bbox
    pad = 10.0 ** -COORD_DECIMALS
    for f in features:
        for line in f["geometry"]["coordinates"]:
            assert len(line) >= 2
            for lon, lat in line:
                assert x0 - pad <= lon <= x1 + pad and y0 - pad <= lat <= y1 + pad
                assert round(lon, COORD_DECIMALS) == lon


def test_county_geojson_is_json_and_smaller_gzipped(tiny):
    county, network = tiny
    raw = orjson.dumps(county_geojson(county, network))
    assert len(gzip.compress(raw)) < len(raw)
    assert orjson.loads(raw)["name"] == county.name
