"""`ems simulate` end to end on a tiny county directory (copied from the geodata fixtures)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ems.cli import main

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore:.*strongly connected components")]
TINY = Path(__file__).resolve().parents[1] / "fixtures" / "geodata" / "tiny"


@pytest.fixture(scope="module")
def county_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("county") / "tiny"
    shutil.copytree(TINY, path, ignore=shutil.ignore_patterns(".ems-cache"))
    return path


def test_compare_writes_summary_calls_and_report(county_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    status = main([
        "simulate", "compare", "centralized", "1+5+N", "--county", str(county_dir), "--days", "2",
        "--replications", "2", "--seed", "3", "--workers", "1", "--quiet", "--out", str(out),
    ])  # fmt: skip
    assert status == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert list(summary["layouts"]) == ["centralized", "1+5+N"]
    assert summary["run"]["replications"] == 2
    assert "1+5+N - centralized" in summary["differences"]
    assert (out / "calls.csv").stat().st_size > 0
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 3
    assert "1+5+N: response mean" in capsys.readouterr().out


def test_single_layout_from_a_file(county_dir: Path, tmp_path: Path) -> None:
    layout = tmp_path / "mine.toml"
    layout.write_text('name = "mine"\n[[station]]\nid = "liushahe"\nambulances = 2\n', encoding="utf-8")
    out = tmp_path / "out"
    status = main([
        "simulate", "--layout", str(layout), "--county", str(county_dir), "--days", "1", "--replications", "1",
        "--workers", "1", "--quiet", "--no-calls", "--no-report", "--out", str(out),
    ])  # fmt: skip
    assert status == 0
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["layouts"]["mine"]["units"] == 2
    assert not (out / "calls.csv").exists()


def test_unknown_layout_is_an_error_message(county_dir: Path, tmp_path: Path, capsys) -> None:
    status = main(["simulate", "--layout", "nope", "--county", str(county_dir), "--out", str(tmp_path), "--quiet"])
    assert status == 2
    assert "layout 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["simulate", "--layout", "1+5+N", "--days", "-3", "--out", "x"],
    ["simulate", "compare", "centralized", "1+5+N", "--replications", "0", "--out", "x"],
    ["plan", "optimize", "--substations", "0", "--out", "x"],
    ["plan", "optimize", "--days", "nan", "--out", "x"],
])
def test_counts_and_durations_are_refused_before_any_work(argv, capsys):
    from ems.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2 and "expected" in capsys.readouterr().err
