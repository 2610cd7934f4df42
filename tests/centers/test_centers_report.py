from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timezone

import pytest
from tests.centers.centers_testlib import FIXTURE

from centers.errors import ReportError
from centers.milestones import Milestone, fold_patients
from centers.report import build_report, render, render_csv, render_html, render_json

GENERATED = datetime(2024, 6, 1, tzinfo=timezone.utc)


def folded():
    return fold_patients(Milestone.from_dict(json.loads(line)) for line in FIXTURE.read_text(encoding="utf-8").splitlines())


def renmin_report(start=date(2024, 3, 1), end=date(2024, 5, 31), center="renmin"):
    f = folded()
    return build_report(f.records.values(), center_id=center, start=start, end=end, rejected=f.rejected,
                        generated_at=GENERATED)


def interval(report, code):
    return next(iv for iv in report["intervals"] if iv["code"] == code)


def test_door_to_balloon_by_hand():
    # renmin, March-May: p1 25, p2 95, p3 25 (from the receiving door), p6 55 -> median 40, mean 50, 3/4 <= 90.
    d2b = interval(renmin_report(), "door_to_balloon")
    assert d2b["values_min"] == [25, 25, 55, 95]
    assert (d2b["n"], d2b["median_min"], d2b["mean_min"]) == (4, 40, 50)
    assert (d2b["share_meeting_target"], d2b["meets_cpc_75"]) == (0.75, True)
    assert d2b["share_meeting_stretch"] == 0.75
    # March: p1 25, p2 95 -> median 60; April: p3 25, p6 55 -> median 40.
    assert [(m["month"], m["n"], m["median_min"]) for m in d2b["monthly"]] == [("2024-03", 2, 60), ("2024-04", 2, 40)]


def test_other_intervals_by_hand():
    r = renmin_report()
    # order -> departs at renmin-first patients: p1 2, p2 4, p4 2, p5 1, p6 1 (p3's first hospital is Liushahe).
    o2d = interval(r, "order_to_departure")
    assert (o2d["n"], o2d["median_min"], o2d["mean_min"], o2d["share_meeting_target"]) == (5, 2, 2, 0.8)
    assert o2d["meets_cpc_75"] is True and o2d["meets_required_share"] is False  # the 3-minute goal wants 95 %
    fmc = interval(r, "fmc_to_device_direct")  # p1 60, p6 88, p2 130
    assert (fmc["median_min"], fmc["share_meeting_target"], fmc["meets_cpc_75"]) == (88, 0.6667, False)
    assert interval(r, "fmc_to_device_transfer")["values_min"] == [115]
    assert interval(r, "door_in_door_out")["n_applicable"] == 0  # p3's DIDO belongs to Liushahe
    dnt = interval(r, "stroke_door_to_needle")  # p4 40, p5 50 (after the correction)
    assert (dnt["mean_min"], dnt["share_meeting_target"], dnt["share_meeting_stretch"]) == (45, 1.0, 0.5)
    ct = interval(r, "stroke_door_to_ct")
    assert (ct["n_applicable"], ct["n"], ct["n_missing"]) == (2, 1, 1)


def test_rates_by_hand():
    rates = renmin_report()["rates"]
    # Ambulance primary PCI at renmin: p1 (activated before the door), p2 (after), p6 (never) -> 1/3.
    assert (rates["ed_bypass"]["count"], rates["ed_bypass"]["eligible"]) == (1, 3)
    # Ambulance STEMIs: p1 sent an ECG, p2 and p6 did not (p3 walked in first).
    assert (rates["prehospital_ecg"]["count"], rates["prehospital_ecg"]["eligible"]) == (1, 3)
    # 31 applicable intervals, 2 missing (p5's CT, p6's wire).
    miss = rates["missing_milestones"]
    assert (miss["count"], miss["eligible"], miss["rate"]) == (2, 31, round(2 / 31, 4))
    assert miss["by_kind"] == {"head_ct_start": 1, "wire_crossing": 1}


def test_refused_events_are_reported():
    ids = [j["id"] for j in renmin_report()["rejected_events"]]
    assert ids == ["p6-09", "p6-10"]


def test_center_and_local_date_filters():
    assert renmin_report()["patients"] == 6
    zhongyi = renmin_report(center="zhongyi")
    assert zhongyi["patients"] == 1 and interval(zhongyi, "door_to_balloon")["values_min"] == [70]
    assert zhongyi["rejected_events"] == []
    # p8 is at 17:00 UTC on 31 May: 1 June in Ningxiang.
    assert renmin_report(end=date(2024, 6, 1))["patients"] == 7
    assert renmin_report(start=date(2024, 6, 1), end=date(2024, 6, 1))["patients"] == 1
    everyone = renmin_report(center=None)
    assert everyone["patients"] == 7
    assert interval(everyone, "door_in_door_out")["values_min"] == [40]


def test_period_must_be_ordered():
    with pytest.raises(ReportError, match="to 2024-03-01 is before from 2024-05-31"):
        renmin_report(start=date(2024, 5, 31), end=date(2024, 3, 1))


def test_json_and_csv_renderings():
    r = renmin_report()
    assert json.loads(render_json(r)) == r
    assert "派车至出车" in render_json(r)
    rows = list(csv.DictReader(io.StringIO(render_csv(r))))
    d2b = [row for row in rows if row["code"] == "door_to_balloon"]
    assert [(row["section"], row["month"], row["median_min"]) for row in d2b] == [
        ("interval", "all", "40.0"), ("interval_month", "2024-03", "60.0"), ("interval_month", "2024-04", "40.0")]
    assert {row["code"] for row in rows if row["section"] == "rate"} == {"ed_bypass", "prehospital_ecg", "missing_milestones"}
    with pytest.raises(ReportError, match="format: 'pdf' is not supported"):
        render(r, "pdf")


@pytest.mark.slow
def test_html_stands_alone_with_embedded_plots():
    page = render_html(renmin_report())
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert "进门至球囊扩张" in page and "p6-09" in page
