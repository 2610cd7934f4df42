"""The quality report of a chest pain / stroke center over a period: JSON, CSV or a standalone HTML page.

Per audited interval (``centers.targets``): patients it applies to, how many have both times, the
median, the mean, the share meeting the target and the stretch goal, whether the China Chest Pain
Center 75 % rule is met, and a monthly trend. Then the rates the center is audited on: ED bypass of
ambulance primary-PCI patients, pre-hospital ECG transmission of ambulance STEMIs, and the
missing-milestone rate. Events refused when folding the records are listed so nothing disappears.

Months and dates are local (Asia/Shanghai), times in the data UTC.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from centers.errors import ReportError
from centers.intervals import (IntervalResult, compute_intervals, is_primary_pci, is_stemi, is_stroke,
                               site_hospital)
from centers.milestones import MilestoneKind as K
from centers.milestones import PatientRecord, Rejection
from centers.targets import CPC_REQUIRED_SHARE, INTERVALS, IntervalDef, Site

LOCAL_TZ = ZoneInfo("Asia/Shanghai")
FORMATS = ("html", "json", "csv")
# Families that carry CJK glyphs; plots use Chinese labels only when one is installed.
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "WenQuanYi Zen Hei",
                "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC", "AR PL UMing CN")


def reference_time(record: PatientRecord) -> datetime | None:
    """Return the time a patient is dated by: the first exact 120 call, first contact or door-in."""
    times = [t for t in (record.time(k) for k in (K.CALL_120, K.FIRST_MEDICAL_CONTACT, K.DOOR_IN)) if t]
    return min(times) if times else None


def arrived_by_ambulance(record: PatientRecord) -> bool:
    """Return whether the patient came to the first hospital by 120 (not walked in, then transferred)."""
    times = [record.time(k) for k in (K.CALL_120, K.DISPATCH_ORDER, K.UNIT_DEPARTED) if record.has(k)]
    if not times and not any(record.has(k) for k in (K.CALL_120, K.DISPATCH_ORDER, K.UNIT_DEPARTED)):
        return False
    door = record.time(K.DOOR_IN)
    known = [t for t in times if t is not None]
    # A 120 call placed after the first door was the inter-hospital transfer, not the patient's arrival.
    return not (door is not None and known and min(known) > door)


def ed_bypassed(record: PatientRecord) -> bool | None:
    """Return whether the cath lab was activated before the treating door (None when a time is missing)."""
    door = record.time(K.TRANSFER_DOOR_IN) if record.has(K.TRANSFER_DOOR_IN) else record.time(K.DOOR_IN)
    if not record.has(K.CATHLAB_ACTIVATED):
        return False
    activated = record.time(K.CATHLAB_ACTIVATED)
    if activated is None or door is None:
        return None
    return activated < door


def select_patients(records: Iterable[PatientRecord], *, center_id: str | None, start: date,
                    end: date) -> list[PatientRecord]:
    """Return the patients of a center (first or treating hospital) dated within ``start``..``end`` (local)."""
    if end < start:
        raise ReportError(f"period: to {end.isoformat()} is before from {start.isoformat()}; expected from <= to")
    out = []
    for r in records:
        t = reference_time(r)
        if t is None or not start <= t.astimezone(LOCAL_TZ).date() <= end:
            continue
        if center_id is not None and center_id not in {site_hospital(r, s) for s in Site}:
            continue
        out.append(r)
    return sorted(out, key=lambda r: (reference_time(r), r.patient_id))


def _rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 2)


def _summary(values: Sequence[float], d: IntervalDef) -> dict[str, Any]:
    n = len(values)
    share = _rate(sum(v <= d.target_min for v in values), n)
    return {
        "n": n,
        "median_min": _r(statistics.median(values)) if n else None,
        "mean_min": _r(statistics.fmean(values)) if n else None,
        "share_meeting_target": share,
        "share_meeting_stretch": (None if d.stretch_min is None
                                  else _rate(sum(v <= d.stretch_min for v in values), n)),
        "meets_cpc_75": None if share is None else share >= CPC_REQUIRED_SHARE,
        "meets_required_share": None if share is None else share >= d.required_share,
    }


def build_report(records: Iterable[PatientRecord], *, center_id: str | None, start: date, end: date,
                 rejected: Sequence[Rejection] = (), generated_at: datetime | None = None) -> dict[str, Any]:
    """Build the quality report of ``center_id`` (None: every hospital) from ``start`` to ``end``, inclusive.

    Returns a JSON-ready dict; ``render`` turns it into html, json or csv.

    Raises
    ------
    ReportError
        ``end`` is before ``start``.
    """
    patients = select_patients(records, center_id=center_id, start=start, end=end)
    selected = {p.patient_id for p in patients}
    results: dict[str, list[IntervalResult]] = defaultdict(list)
    for p in patients:
        for res in compute_intervals(p):
            if center_id is None or res.hospital_id == center_id:
                results[res.definition.code].append(res)

    intervals = []
    missing_by_kind: Counter[str] = Counter()
    n_applicable = n_missing = 0
    for d in INTERVALS:
        rs = results.get(d.code, [])
        complete = [r for r in rs if r.minutes is not None]
        values = [r.minutes for r in complete]
        n_applicable += len(rs)
        n_missing += len(rs) - len(complete)
        for r in rs:
            missing_by_kind.update(k.value for k in r.missing)
        monthly: dict[str, list[float]] = defaultdict(list)
        for r in complete:
            monthly[r.start_at.astimezone(LOCAL_TZ).strftime("%Y-%m")].append(r.minutes)
        intervals.append({
            "code": d.code, "label_zh": d.label_zh, "label_en": d.label_en,
            "target_min": d.target_min, "stretch_min": d.stretch_min, "required_share": d.required_share,
            "says": d.says, "source": d.source,
            "n_applicable": len(rs), "n_missing": len(rs) - len(complete),
            **_summary(values, d),
            "values_min": sorted(_r(v) for v in values),
            "monthly": [{"month": m, **_summary(v, d)} for m, v in sorted(monthly.items())],
        })

    ppci_ambulance = [p for p in patients if is_primary_pci(p) and arrived_by_ambulance(p)
                      and (center_id is None or site_hospital(p, Site.TREATING_HOSPITAL) == center_id)]
    bypass = [ed_bypassed(p) for p in ppci_ambulance]
    stemi_ambulance = [p for p in patients if p.has(K.STEMI_DIAGNOSED) and arrived_by_ambulance(p)]
    ecg_sent = sum(p.has(K.ECG_TRANSMITTED) for p in stemi_ambulance)
    return {
        "center_id": center_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "generated_at": (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc).isoformat(),
        "patients": len(patients),
        "patients_stemi": sum(is_stemi(p) for p in patients),
        "patients_stroke": sum(is_stroke(p) for p in patients),
        "intervals": intervals,
        "rates": {
            "ed_bypass": {
                "label_en": "ambulance primary-PCI patients who bypassed the ED (cath lab activated before the door)",
                "label_zh": "经救护车入院的直接PCI患者绕行急诊比例",
                "eligible": len(bypass), "count": sum(b is True for b in bypass),
                "unknown": sum(b is None for b in bypass),
                "rate": _rate(sum(b is True for b in bypass), len(bypass)),
            },
            "prehospital_ecg": {
                "label_en": "ambulance STEMIs with a transmitted pre-hospital ECG",
                "label_zh": "经救护车入院的STEMI患者院前心电图传输比例",
                "eligible": len(stemi_ambulance), "count": ecg_sent,
                "rate": _rate(ecg_sent, len(stemi_ambulance)),
            },
            "missing_milestones": {
                "label_en": "audited intervals with a missing or inexact milestone",
                "label_zh": "关键时间节点缺失率",
                "eligible": n_applicable, "count": n_missing, "rate": _rate(n_missing, n_applicable),
                "by_kind": dict(sorted(missing_by_kind.items())),
            },
        },
        "rejected_events": [
            {"id": j.milestone.id, "patient_id": j.milestone.patient_id, "kind": j.milestone.kind.value,
             "message": j.message}
            for j in rejected if j.milestone.patient_id in selected or center_id is None
        ],
    }


def render(report: Mapping[str, Any], fmt: str) -> str:
    """Render a report as ``html``, ``json`` or ``csv`` text."""
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "html":
        return render_html(report)
    raise ReportError(f"format: {fmt!r} is not supported; expected one of {', '.join(FORMATS)}")


def render_json(report: Mapping[str, Any]) -> str:
    """Render the report as indented JSON (UTF-8 text, Chinese kept as is)."""
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


CSV_COLUMNS = ("section", "code", "label_en", "label_zh", "month", "n_applicable", "n", "n_missing", "median_min",
               "mean_min", "target_min", "share_meeting_target", "stretch_min", "share_meeting_stretch",
               "meets_cpc_75", "count", "rate")


def render_csv(report: Mapping[str, Any]) -> str:
    """Render the report as CSV: one row per interval, per interval and month, and per rate."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for iv in report["intervals"]:
        w.writerow({"section": "interval", "month": "all", **iv})
        for m in iv["monthly"]:
            w.writerow({"section": "interval_month", "code": iv["code"], "label_en": iv["label_en"],
                        "label_zh": iv["label_zh"], "target_min": iv["target_min"],
                        "stretch_min": iv["stretch_min"], **m})
    for code, rate in report["rates"].items():
        w.writerow({"section": "rate", "code": code, "label_en": rate["label_en"], "label_zh": rate["label_zh"],
                    "n": rate["eligible"], "count": rate["count"], "rate": rate["rate"]})
    return buf.getvalue()


def cjk_font_family() -> str | None:
    """Return an installed font family with Chinese glyphs, None when there is none."""
    from matplotlib import font_manager

    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((fam for fam in CJK_FAMILIES if fam in names), None)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def plot_distribution(iv: Mapping[str, Any], *, chinese: bool = False) -> str:
    """Return a base64 PNG of an interval's distribution against its target line."""
    from matplotlib.figure import Figure  # the Agg canvas, without pyplot's global state
    from matplotlib.ticker import MaxNLocator

    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    values = iv["values_min"]
    label = iv["label_zh"] if chinese else iv["label_en"]
    if values:
        # 5-minute bins from zero, so that the bars line up with the target and stretch lines.
        top = 5 * (int(max(max(values), iv["target_min"]) * 1.1) // 5 + 1)
        ax.hist(values, bins=range(0, top + 5, 5), color="#4a78b5", edgecolor="white")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    else:
        ax.text(0.5, 0.5, "no data" if not chinese else "无数据", ha="center", va="center", transform=ax.transAxes)
    ax.axvline(iv["target_min"], color="#c0392b", linewidth=2, label=f"target {iv['target_min']:g} min")
    if iv["stretch_min"] is not None:
        ax.axvline(iv["stretch_min"], color="#e67e22", linestyle="--", label=f"stretch {iv['stretch_min']:g} min")
    ax.set_xlabel("分钟" if chinese else "minutes")
    ax.set_ylabel("患者数" if chinese else "patients")
    ax.set_title(f"{label} (n={iv['n']})")
    ax.legend(loc="upper right")
    return _png(fig)


def plot_trend(intervals: Sequence[Mapping[str, Any]], *, chinese: bool = False) -> str:
    """Return a base64 PNG of the monthly median of several intervals with their targets."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.4))
    ax = fig.add_subplot()
    months = sorted({m["month"] for iv in intervals for m in iv["monthly"]})
    drawn = False
    for iv, color in zip(intervals, ("#4a78b5", "#27ae60", "#8e44ad", "#c0392b")):
        pts = [(months.index(m["month"]), m["median_min"]) for m in iv["monthly"]]
        if not pts:
            continue
        drawn = True
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker="o", color=color, label=iv["label_zh"] if chinese else iv["label_en"])
        ax.axhline(iv["target_min"], color=color, linestyle=":", linewidth=1)
    if drawn:
        ax.set_xticks(range(len(months)), months, rotation=30)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncols=3, fontsize="small", frameon=False)
    else:
        ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
    ax.set_ylabel("median, minutes (dotted: target)")
    ax.set_title("Monthly trend")
    return _png(fig)


def render_html(report: Mapping[str, Any]) -> str:
    """Render the report as one standalone HTML page (plots embedded as base64 PNG)."""
    import matplotlib

    family = cjk_font_family()
    chinese = family is not None
    rc = {"font.family": [family, "DejaVu Sans"]} if chinese else {}
    by_code = {iv["code"]: iv for iv in report["intervals"]}
    with matplotlib.rc_context(rc):
        d2b = plot_distribution(by_code["door_to_balloon"], chinese=chinese)
        dnt = plot_distribution(by_code["stroke_door_to_needle"], chinese=chinese)
        trend = plot_trend([by_code[c] for c in ("door_to_balloon", "fmc_to_device_direct", "stroke_door_to_needle")],
                           chinese=chinese)
    e = html.escape

    def cell(v: Any) -> str:
        if v is None:
            return "–"
        if isinstance(v, bool):
            return "✔" if v else "✘"
        return e(str(v))

    def pct(v: float | None) -> str:
        return "–" if v is None else f"{v:.0%}"

    rows = []
    for iv in report["intervals"]:
        rows.append(
            "<tr>" + "".join(f"<td>{x}</td>" for x in (
                f"{e(iv['label_zh'])}<br><small>{e(iv['label_en'])}</small>",
                e(f"≤ {iv['target_min']:g}" + (f" (≤ {iv['stretch_min']:g})" if iv["stretch_min"] else "")),
                iv["n_applicable"], iv["n"], iv["n_missing"],
                cell(iv["median_min"]), cell(iv["mean_min"]),
                pct(iv["share_meeting_target"]),
                cell(iv["meets_cpc_75"]),
                "<br>".join(f"{e(m['month'])}: {m['median_min']} ({m['n']})" for m in iv["monthly"]) or "–",
            )) + "</tr>"
        )
    rate_rows = "".join(
        f"<tr><td>{e(r['label_zh'])}<br><small>{e(r['label_en'])}</small></td><td>{r['count']} / {r['eligible']}"
        f"</td><td>{pct(r['rate'])}</td></tr>"
        for r in report["rates"].values()
    )
    rejected = "".join(
        f"<li><code>{e(j['id'])}</code> ({e(j['patient_id'])}, {e(j['kind'])}): {e(j['message'])}</li>"
        for j in report["rejected_events"]
    ) or "<li>none / 无</li>"
    sources = "".join(
        f"<li><b>{e(iv['label_en'])}</b> ≤ {iv['target_min']:g} min — {e(iv['says'])} <i>{e(iv['source'])}</i></li>"
        for iv in report["intervals"]
    )
    font_note = "" if chinese else (
        "<p class=note>No CJK font is installed on the machine that drew the plots, so their labels are in "
        "English; the tables carry the Chinese names.</p>")
    center = report["center_id"] or "all hospitals / 全部医院"
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>胸痛/卒中中心质控报告 {e(center)} {e(report['from'])}–{e(report['to'])}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;max-width:72em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:.3em .6em;vertical-align:top}}
th{{background:#f2f2f2}}small{{color:#555}}.note{{color:#7a5b00}}img{{max-width:100%}}
</style></head><body>
<h1>胸痛/卒中中心质控报告 · Chest pain / stroke center quality report</h1>
<p>Center / 中心: <b>{e(center)}</b> · {e(report['from'])} – {e(report['to'])} (Asia/Shanghai) ·
patients / 患者 {report['patients']} (STEMI pathway {report['patients_stemi']}, stroke {report['patients_stroke']}) ·
generated {e(report['generated_at'])}</p>
<h2>Intervals / 时间指标</h2>
<table><tr><th>interval</th><th>target, min</th><th>applicable</th><th>with times</th><th>missing</th>
<th>median</th><th>mean</th><th>meeting target</th><th>≥ 75 % rule</th><th>monthly median (n)</th></tr>
{''.join(rows)}</table>
<h2>Rates / 比例</h2><table>{rate_rows}</table>
<h2>Plots / 图</h2>{font_note}
<img alt="door-to-balloon distribution" src="data:image/png;base64,{d2b}">
<img alt="stroke door-to-needle distribution" src="data:image/png;base64,{dnt}">
<img alt="monthly trend" src="data:image/png;base64,{trend}">
<h2>Refused events / 被拒绝的记录</h2><ul>{rejected}</ul>
<h2>Targets and sources / 目标与出处</h2><ul>{sources}</ul>
</body></html>
"""


def parse_date(value: str, name: str) -> date:
    """Parse a ``YYYY-MM-DD`` date argument, naming it on error."""
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError) as e:
        raise ReportError(f"{name}: {value!r} is not a date; expected YYYY-MM-DD") from e
