"""The embedded Ningxiang county: committed files are consistent; the network loads and calibrates."""

from __future__ import annotations

import csv
import json
import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st_h
from shapely.geometry import shape

from simulation.ningxiang_build.build import DEFAULT_OUT, OUTPUT_FILES, build, read_published_figures
from simulation.ningxiang_build.settlements import bare_town_name, pinyin, village_name
from simulation.ningxiang_build import stations as st
from simulation.ningxiang_build.common import BuildError
from simulation.ningxiang_build.stations import choose_substations

COUNTY = DEFAULT_OUT


def _places() -> list[dict[str, str]]:
    with (COUNTY / "places.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _toml(name: str) -> dict:
    with (COUNTY / name).open("rb") as f:
        return tomllib.load(f)


def _boundary():
    return shape(json.loads((COUNTY / "boundary.geojson").read_text(encoding="utf-8"))["geometry"])


# --- fast: the committed files ---------------------------------------------------------------


def test_every_output_file_is_committed() -> None:
    missing = [name for name in OUTPUT_FILES if not (COUNTY / name).is_file()]
    assert missing == []


def test_places_lie_inside_the_boundary() -> None:
    rows = _places()
    inside = shapely.contains_xy(
        _boundary(), [float(r["lon"]) for r in rows], [float(r["lat"]) for r in rows]
    )
    assert [r["id"] for r, ok in zip(rows, inside, strict=True) if not ok] == []


def test_boundary_has_the_raw_fence_s_points() -> None:
    assert len(_boundary().exterior.coords) == 2333


def test_demand_weights_sum_to_one_and_the_county_row_has_none() -> None:
    rows = _places()
    weights = [float(r["demand_weight"]) for r in rows]
    assert math.isclose(sum(weights), 1.0, abs_tol=1e-9)
    assert all(w > 0 for r, w in zip(rows, weights, strict=True) if r["kind"] != "county")


def test_urban_column_follows_ur_code() -> None:
    for r in _places():
        expected = "1" if r["ur_code"] in ("111", "112", "121", "122") else "0"
        assert r["urban"] == expected, r["id"]


def test_place_ids_are_unique() -> None:
    ids = [r["id"] for r in _places()]
    assert len(ids) == len(set(ids))


def test_real_places_are_all_there_and_zifu_is_estimated() -> None:
    rows = _places()
    towns = {r["name"]: r for r in rows if r["kind"] == "town"}
    assert len(towns) == 29
    assert towns["资福镇"]["source"] == "estimated"
    assert sum(1 for r in rows if r["kind"] == "village") == 26
    assert towns["流沙河镇"]["name_pinyin"] == "liushahezhen"
    assert towns["流沙河镇"]["id"] == "liushahe"
    assert {towns[n]["ur_code"] for n in ("玉潭街道", "白马桥街道", "历经铺街道", "城郊街道")} == {"111"}


def test_generated_settlements_are_a_few_thousand() -> None:
    n = sum(1 for r in _places() if r["kind"] == "generated")
    assert 1000 <= n <= 6000


def test_facility_ids_are_unique_and_stations_name_known_hospitals() -> None:
    data = _toml("facilities.toml")
    hospital_ids = [h["id"] for h in data["hospital"]]
    station_ids = [s["id"] for s in data["station"]]
    assert len(hospital_ids) == len(set(hospital_ids))
    assert len(station_ids) == len(set(station_ids))
    assert {s["hospital"] for s in data["station"]} <= set(hospital_ids)


def test_people_s_hospital_is_the_pci_and_stroke_centre() -> None:
    renmin = next(h for h in _toml("facilities.toml")["hospital"] if h["id"] == "renmin")
    assert {"pci", "thrombectomy", "thrombolysis", "dispatch_centre"} <= set(renmin["capabilities"])
    assert renmin["pci_24_7"] is True
    assert renmin["assumed"] is False


def test_assumed_capabilities_carry_a_note() -> None:
    for h in _toml("facilities.toml")["hospital"]:
        if h["assumed"]:
            assert h["note"], h["id"]


def test_layouts_hold_the_published_32_ambulances() -> None:
    total = read_published_figures()["network"]["ambulances_total"]
    for name in ("centralized", "1+5+N"):
        layout = _toml(f"layouts/{name}.toml")
        assert sum(s["ambulances"] for s in layout["station"]) == total, name


def test_one_five_n_has_five_substations_of_three_including_liushahe() -> None:
    kinds = {s["id"]: s["kind"] for s in _toml("facilities.toml")["station"]}
    layout = _toml("layouts/1+5+N.toml")["station"]
    subs = [s for s in layout if kinds[s["id"]] == "substation"]
    assert len(subs) == 5
    assert all(s["ambulances"] == 3 and s["staff"] == 6 for s in subs)
    assert "liushahe" in {s["id"] for s in subs}
    points = [s for s in layout if kinds[s["id"]] == "point"]
    assert points and all(s["staff"] == 2 for s in points)
    assert sum(s["staff"] for s in layout) == read_published_figures()["network"]["medical_staff_total"]


def test_the_project_s_county_loader_accepts_the_directory() -> None:
    from geodata.county import load_county

    county = load_county(COUNTY)
    assert county.layout("1+5+N").ambulances == 32


def test_names_and_pinyin() -> None:
    assert pinyin("流沙河镇") == "liushahezhen"
    assert pinyin(bare_town_name("流沙河镇")) == "liushahe"
    assert bare_town_name("玉潭街道") == "玉潭"
    assert village_name("珊瑚村委会") == "珊瑚村"
    assert village_name("文中社区居委会") == "文中社区"


def test_one_five_n_has_one_substation_per_block_and_no_ambulance_at_the_points() -> None:
    stations = {s["id"]: s for s in _toml("facilities.toml")["station"]}
    layout = {s["id"]: s for s in _toml("layouts/1+5+N.toml")["station"]}
    subs = {i for i in layout if stations[i]["kind"] == "substation"}
    for block, towns in st.SUBSTATION_BLOCKS.items():
        assert len(subs & {st.station_id(t) for t in towns}) == 1, block
    assert layout["renmin"]["ambulances"] == st.AMBULANCES_TOTAL - st.SUBSTATIONS * st.SUBSTATION_AMBULANCES
    assert all(layout[i]["ambulances"] == 0 for i in layout if stations[i]["kind"] == "point")


def test_substation_blocks_are_disjoint_rural_seats_and_hold_liushahe() -> None:
    from simulation.ningxiang_build.raw import read_raw

    seats = {t.name for t in st.rural_seats(read_raw())}
    members = [t for towns in st.SUBSTATION_BLOCKS.values() for t in towns]
    assert len(members) == len(set(members))
    assert set(members) <= seats
    assert st.NAMED_SUBSTATION_TOWN in members
    assert len(st.SUBSTATION_BLOCKS) == st.SUBSTATIONS


# Three demand points; candidates a, b (block 1) and c, d (block 2); the base station is far.
_CAND = {
    "a": np.array([0.0, 9.0, 9.0]), "b": np.array([9.0, 0.0, 9.0]),
    "c": np.array([9.0, 9.0, 0.0]), "d": np.array([9.0, 9.0, 1.0]),
}  # fmt: skip
_BASE = np.full(3, 20.0)
_W = np.array([1.0, 5.0, 3.0])


def test_choose_substations_is_the_p_median_when_the_misfit_is_flat() -> None:
    choice = choose_substations({"1": ["a", "b"], "2": ["c", "d"]}, set(), _BASE, _CAND, _W,
                                slack=0.0, misfit=lambda t: 0.0)  # fmt: skip
    assert choice.substations == ("b", "c")
    assert choice.mean_time_s == pytest.approx(9.0 / 9.0)
    assert choice.best_mean_time_s == choice.mean_time_s


def test_choose_substations_takes_the_best_fit_within_the_slack_only() -> None:
    # The misfit prefers d to c (b, d costs 12/9 against 9/9 for b, c: 33 % more).
    prefer_d = lambda t: float(abs(t[2] - 1.0))  # noqa: E731
    blocks = {"1": ["a", "b"], "2": ["c", "d"]}
    tight = choose_substations(blocks, set(), _BASE, _CAND, _W, slack=0.10, misfit=prefer_d)
    loose = choose_substations(blocks, set(), _BASE, _CAND, _W, slack=0.50, misfit=prefer_d)
    assert tight.substations == ("b", "c")
    assert loose.substations == ("b", "d")
    assert loose.mean_time_s == pytest.approx(12.0 / 9.0)
    assert loose.best_mean_time_s == pytest.approx(1.0)


def test_choose_substations_keeps_a_fixed_candidate_in_its_block() -> None:
    choice = choose_substations({"1": ["a", "b"], "2": ["c", "d"]}, {"a"}, _BASE, _CAND, _W,
                                slack=0.0, misfit=lambda t: 0.0)  # fmt: skip
    assert choice.substations == ("a", "c")


@pytest.mark.parametrize(
    ("blocks", "fixed"),
    [({"1": ["a"], "2": ["a", "c"]}, set()), ({"1": []}, set()), ({"1": ["a", "b"]}, {"a", "b"})],
)
def test_choose_substations_rejects_bad_blocks(blocks, fixed) -> None:
    with pytest.raises(BuildError):
        choose_substations(blocks, fixed, _BASE, _CAND, _W, slack=0.05, misfit=lambda t: 0.0)


@given(st_h.lists(st_h.floats(0.0, 3600.0), min_size=4, max_size=4), st_h.floats(0.0, 1.0))
def test_the_chosen_layout_is_within_the_slack_of_the_best(times, slack) -> None:
    cand = {k: v + np.array(times[:3]) for k, v in _CAND.items()}
    choice = choose_substations({"1": ["a", "b"], "2": ["c", "d"]}, set(), _BASE, cand, _W,
                                slack=slack, misfit=lambda t: float(t.max()))  # fmt: skip
    assert choice.mean_time_s <= choice.best_mean_time_s * (1.0 + slack) + 1e-9
    assert 1 <= choice.near_optimal <= 4


# --- slow: the road network through osmnx, and determinism --------------------------------------


@pytest.fixture(scope="module")
def loaded():
    from simulation.ningxiang_build.evaluate import load_osm

    return load_osm(COUNTY / "roads.osm.bz2")


@pytest.mark.slow
def test_network_is_county_sized_and_strongly_connected(loaded) -> None:
    from simulation.ningxiang_build.evaluate import strongly_connected_components

    graph, n_nodes, _, n_intersections = loaded
    assert n_nodes >= 15_000
    assert n_intersections >= 15_000
    assert strongly_connected_components(graph) == 1


@pytest.mark.slow
def test_published_trips_within_15_percent(loaded) -> None:
    from ems.config import load_config, section
    from simulation.ningxiang_build.build import TRIP_TOLERANCE, _calibrate
    from simulation.ningxiang_build.common import LocalProjection
    from simulation.ningxiang_build.evaluate import PathLengths, Snapper
    from simulation.ningxiang_build.params import RoadParams
    from simulation.ningxiang_build.raw import read_raw

    graph, *_ = loaded
    weight = graph.emergency_time_s(section(load_config(), "routing.emergency_speed_factor"))
    p = RoadParams()
    rows = _calibrate(read_raw(), graph, weight, PathLengths(graph, weight), Snapper(graph, LocalProjection(p.lon0, p.lat0)))
    assert len(rows) == 3
    for r in rows:
        assert r.within(TRIP_TOLERANCE), (r.origin, r.destination, r.distance_error, r.time_error)


@pytest.mark.slow
def test_detour_ratio_of_settlement_pairs(loaded) -> None:
    from ems.config import load_config, section
    from simulation.ningxiang_build.build import _detours
    from simulation.ningxiang_build.common import LocalProjection
    from simulation.ningxiang_build.evaluate import PathLengths, Snapper
    from simulation.ningxiang_build.params import RoadParams
    from simulation.ningxiang_build.settlements import PlaceRow

    graph, *_ = loaded
    weight = graph.emergency_time_s(section(load_config(), "routing.emergency_speed_factor"))
    places = tuple(
        PlaceRow(r["id"], r["name"], r["name_pinyin"], r["kind"], r["township"], float(r["lon"]),
                 float(r["lat"]), int(r["ur_code"]) if r["ur_code"] else None,
                 float(r["demand_weight"]), r["source"])
        for r in _places()
    )  # fmt: skip
    p = RoadParams()
    median, _, pairs = _detours(places, graph, weight, PathLengths(graph, weight),
                                Snapper(graph, LocalProjection(p.lon0, p.lat0)), seed=7)  # fmt: skip
    assert pairs > 1000
    assert 1.15 <= median <= 1.35


@pytest.mark.slow
def test_rebuild_gives_byte_identical_files(tmp_path: Path) -> None:
    out = tmp_path / "ningxiang"
    report = build(out, progress=False)
    different = [
        name for name in OUTPUT_FILES if (out / name).read_bytes() != (COUNTY / name).read_bytes()
    ]
    assert different == []
    assert json.loads(json.dumps(report.as_dict()))["seed"] == report.seed
