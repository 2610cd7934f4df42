"""`ems geodata`: help, info (text and JSON), import and build-ningxiang, run in process."""

from __future__ import annotations

import json
import shutil
import sys
import types
from pathlib import Path

import pytest

from ems.cli import main
from geodata.county import load_county
from geodata.errors import DisconnectedRoadsWarning

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "geodata"


@pytest.fixture
def tiny_dir(tmp_path: Path) -> Path:
    """A copy of the tiny county (info writes the routing cache beside the roads)."""
    return Path(shutil.copytree(FIXTURES / "tiny", tmp_path / "tiny", ignore=shutil.ignore_patterns(".ems-cache")))


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--help"], "geodata"),
        (["geodata", "--help"], "build-ningxiang"),
        (["geodata", "info", "--help"], "strongly connected"),
        (["geodata", "import", "--help"], "--place"),
        (["geodata", "build-ningxiang", "--help"], "--seed"),
    ],
)
def test_help(argv: list[str], expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert expected in capsys.readouterr().out


def test_geodata_without_subcommand_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geodata"]) == 2
    assert "info" in capsys.readouterr().out


def test_info_json(tiny_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geodata", "info", "--county", str(tiny_dir), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    county = load_county(tiny_dir)
    assert info["name"] == county.name
    network = info["network"]
    assert (network["n_nodes"], network["n_edges"], network["n_components"]) == (6, 18, 1)
    assert network["road_km"] > 0
    x0, y0, x1, y1 = network["bbox"]
    assert x0 < x1 and y0 < y1
    assert info["places"] == {"county": 1, "generated": 1, "town": 3, "village": 5}
    assert (info["hospitals"], info["stations"]) == (len(county.hospitals), len(county.stations))
    layouts = {layout["name"]: layout for layout in info["layouts"]}
    assert layouts["1+5+N"]["ambulances"] == county.layout("1+5+N").ambulances
    assert layouts["centralized"]["stations"] == 1


def test_info_text_and_seam_without_routing(
    tiny_dir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from geodata import info as info_module

    with pytest.warns(DisconnectedRoadsWarning):
        with_routing = info_module._network_stats(load_county(tiny_dir))
    monkeypatch.setitem(sys.modules, "routing.network", None)  # as if routing were absent
    assert main(["geodata", "info", "--county", str(tiny_dir)]) == 0
    out = capsys.readouterr().out
    assert "测试县 (Test county)" in out
    assert f"{with_routing.n_nodes} nodes, {with_routing.n_edges} edges" in out
    assert "1+5+N" in out and "10 (1 county" in out


def test_info_unknown_county(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geodata", "info", "--county", "atlantis"]) == 2
    assert "'atlantis': not an embedded county" in capsys.readouterr().err


def test_import_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "c"
    assert main(["geodata", "import", str(FIXTURES / "osm" / "mixed.osm"), "--out", str(out), "--name", "X"]) == 0
    printed = capsys.readouterr().out
    assert f"county 'X' written to {out}" in printed
    assert "dropped outside the largest strongly connected component: 3 nodes, 3 edges" in printed
    assert load_county(out).name == "X"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["geodata", "import", "--out", "x"], "give PATH or --place NAME"),
        (["geodata", "import", str(FIXTURES / "osm" / "photo.osm"), "--out", "x"], "photo.osm: not OpenStreetMap"),
    ],
)
def test_import_cli_errors(argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_build_ningxiang_calls_the_builder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []

    class Report:
        def summary(self) -> str:
            return "built"

    def build(out_dir, **kwargs):
        calls.append((out_dir, kwargs))
        return Report()

    fake = types.ModuleType("simulation.ningxiang_build.build")
    fake.build = build  # type: ignore[attr-defined]
    fake.DEFAULT_OUT = tmp_path / "ningxiang"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "simulation.ningxiang_build.build", fake)
    monkeypatch.setattr("simulation.ningxiang_build.build", fake, raising=False)
    assert main(["geodata", "build-ningxiang", "--out", str(tmp_path / "nx"), "--seed", "7"]) == 0
    assert capsys.readouterr().out.strip() == "built"
    assert calls == [(tmp_path / "nx", {"progress": True, "seed": 7})]
    calls.clear()
    assert main(["geodata", "build-ningxiang", "--quiet"]) == 0
    assert calls == [(tmp_path / "ningxiang", {"progress": False})]
