from __future__ import annotations

import csv
import json

import pytest
from tests.centers.centers_testlib import FIXTURE

from centers.cli import load_milestones
from centers.errors import ReportError
from ems.cli import main

ARGS = ["centers", "report", "--center", "renmin", "--from", "2024-03-01", "--to", "2024-05-31"]


def test_report_json_to_a_file(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(ARGS + ["--format", "json", "--input", str(FIXTURE), "--out", str(out)]) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["center_id"] == "renmin" and report["patients"] == 6
    assert "6 patients, 2 refused events" in capsys.readouterr().err


def test_report_csv_to_stdout(capsys):
    assert main(ARGS + ["--format", "csv", "--input", str(FIXTURE)]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert any(r["code"] == "door_to_balloon" and r["median_min"] == "40.0" for r in rows)


def test_all_centers(capsys):
    args = ["centers", "report", "--center", "all", "--from", "2024-01-01", "--to", "2024-12-31", "--format", "json"]
    assert main(args + ["--input", str(FIXTURE)]) == 0
    assert json.loads(capsys.readouterr().out)["patients"] == 8


def test_errors_are_answered_not_raised(tmp_path, capsys):
    assert main(ARGS + ["--format", "json", "--data-dir", str(tmp_path)]) == 2
    assert "no service database there" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(FIXTURE.read_text(encoding="utf-8").splitlines()[0] + "\n{not json\n", encoding="utf-8")
    assert main(ARGS + ["--input", str(bad)]) == 2
    assert "line 2: not JSON" in capsys.readouterr().err
    assert main(["centers", "report", "--center", "renmin", "--from", "2024-3-1", "--to", "2024-05-31",
                 "--input", str(FIXTURE)]) == 2
    assert "--from: '2024-3-1' is not a date; expected YYYY-MM-DD" in capsys.readouterr().err


def test_load_milestones_names_the_line_of_a_bad_milestone(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('\n{"id": "x", "patient_id": "p", "kind": "doorin", "recorded_by": {"role": "crew", "id": "c"}, '
                 '"recorded_at": "2024-03-05T02:00:00Z"}\n', encoding="utf-8")
    with pytest.raises(ReportError, match="line 2: kind: 'doorin' is not a milestone kind"):
        load_milestones(f)
    assert len(load_milestones(FIXTURE)) == len(FIXTURE.read_text(encoding="utf-8").splitlines())


@pytest.mark.slow
def test_report_html(tmp_path):
    out = tmp_path / "r.html"
    assert main(ARGS + ["--format", "html", "--input", str(FIXTURE), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")


def test_report_from_the_service_store(tmp_path, capsys):
    """The milestones the service logged (MilestoneRecorded events) give the same report as the file."""
    import asyncio

    from dispatch.store import open_store

    lines = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines() if line.strip()]

    async def write() -> None:
        async with open_store(None, tmp_path) as store:
            await store.append([{"type": "MilestoneRecorded", "call_id": m["patient_id"], "milestone": m}
                                for m in lines])

    asyncio.run(write())
    args = ["centers", "report", "--center", "all", "--from", "2024-01-01", "--to", "2024-12-31", "--format", "json"]
    assert main(args + ["--data-dir", str(tmp_path)]) == 0
    from_store = json.loads(capsys.readouterr().out)
    assert main(args + ["--input", str(FIXTURE)]) == 0
    from_file = json.loads(capsys.readouterr().out)
    assert from_store["patients"] == from_file["patients"] == 8
    assert from_store["intervals"] == from_file["intervals"]
