"""`ems route` on a tiny county directory in the county format."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ems.cli import main

FIXTURE_COUNTY = Path(__file__).resolve().parent.parent / "fixtures" / "routing" / "tinycounty"

pytest.importorskip("geodata.county")

# Reading OSM XML through osmnx takes seconds on first use.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def county_dir(tmp_path_factory) -> str:
    target = tmp_path_factory.mktemp("cli") / "tinycounty"
    shutil.copytree(FIXTURE_COUNTY, target, ignore=shutil.ignore_patterns(".ems-cache"))
    return str(target)


def test_route_between_place_names_prints_distance_and_time(county_dir, capsys):
    assert main(["route", "--from", "甲村", "--to", "yizhen", "--county", county_dir]) == 0
    out = capsys.readouterr().out
    assert "distance_m:" in out and "travel_time_s:" in out and "km" in out and "min" in out
    distance = float(out.split("distance_m:")[1].split()[0])
    assert 1000 < distance < 10_000


def test_route_json_is_a_geojson_feature_and_profiles_differ(county_dir, capsys):
    features = {}
    for profile in ("emergency", "normal"):
        args = ["route", "--from", "112.5512,28.2503", "--to", "乙镇", "--county", county_dir, "--json", "--profile", profile]
        assert main(args) == 0
        features[profile] = json.loads(capsys.readouterr().out)
    feature = features["emergency"]
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "LineString"
    assert feature["geometry"]["coordinates"][0] == pytest.approx([112.5512, 28.25], abs=1e-4)
    props = feature["properties"]
    # lights and sirens are faster; the fastest path may differ (factors differ by road class)
    assert props["travel_time_s"] < features["normal"]["properties"]["travel_time_s"]
    assert props["distance_m"] > 0 and features["normal"]["properties"]["distance_m"] > 0


def test_route_refuses_a_point_outside_the_county(county_dir, capsys):
    assert main(["route", "--from", "112.60,28.2503", "--to", "乙镇", "--county", county_dir]) == 2
    assert "outside the county boundary by" in capsys.readouterr().err


def test_route_refuses_a_bad_hour(county_dir, capsys):
    assert main(["route", "--from", "甲村", "--to", "乙镇", "--county", county_dir, "--hour", "25"]) == 2
    assert "--hour must be 0-23, got 25" in capsys.readouterr().err
