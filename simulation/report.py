"""The HTML report: key figures with confidence intervals and three plots per run.

Plots (matplotlib, embedded as PNG so the file stands alone offline): the response-time CDF of
every layout, a map of the county's demand points coloured by the expected arrival time from the
nearest station (one panel per layout), and unit utilisation bars.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulation.model import ReplicationResult, Scenario
from simulation.scenario import nearest_station_s, station_sites

KEY_METRICS = (
    ("calls", "calls per replication", ""),
    ("response_min.mean", "response, mean", "min"),
    ("response_min.median", "response, median", "min"),
    ("response_min.p90", "response, 90th percentile", "min"),
    ("response_min.p95", "response, 95th percentile", "min"),
    ("response_min.urban.mean", "response urban, mean", "min"),
    ("response_min.rural.mean", "response rural, mean", "min"),
    ("within_target.urban", "urban within 10 min", "share"),
    ("within_target.rural", "rural within 30 min", "share"),
    ("queue_wait_min.mean", "queue wait, mean", "min"),
    ("queued_share", "calls that waited for a unit", "share"),
    ("utilisation.mean", "unit utilisation, mean", "share"),
    ("utilisation.max", "unit utilisation, busiest unit", "share"),
    ("stemi.fmc_to_device_min.mean", "STEMI expected FMC to device, mean", "min"),
    ("stemi.fmc_to_device_within_120_share", "STEMI FMC to device within 120 min", "share"),
    ("stemi.call_to_device_min.mean", "STEMI call answered to device, mean", "min"),
)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _fmt(entry: Mapping[str, Any] | None, unit: str) -> str:
    if not entry or entry.get("mean") is None:
        return "–"
    mean, ci = entry["mean"], entry.get("ci95")
    if unit == "share":
        text = f"{100 * mean:.1f} %"
        return text + (f" <small>({100 * ci[0]:.1f}–{100 * ci[1]:.1f})</small>" if ci else "")
    text = f"{mean:.1f}"
    return text + (f" <small>({ci[0]:.1f}–{ci[1]:.1f})</small>" if ci else "")


def cdf_figure(results: Mapping[str, Sequence[ReplicationResult]]) -> Any:
    """Return a figure of the response-time CDF per layout (all replications pooled)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for name, runs in results.items():
        r = np.concatenate([run.calls["response_s"] for run in runs]) / 60.0
        r = np.sort(r[np.isfinite(r)])
        if r.size:
            ax.plot(r, np.arange(1, r.size + 1) / r.size, label=name)
    for target in (10, 30):
        ax.axvline(target, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("response time (min, call answered to unit on scene)")
    ax.set_ylabel("share of calls")
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def map_figure(scenarios: Sequence[Scenario], boundary: Any = None) -> Any:
    """Return a map per layout: demand points coloured by travel time from the nearest station."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(scenarios)
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 5), squeeze=False)
    vmax = max(float(np.nanpercentile(nearest_station_s(s) / 60.0, 99)) for s in scenarios)
    for ax, scenario in zip(axes[0], scenarios):
        points = scenario.travel.points
        minutes = nearest_station_s(scenario) / 60.0
        if boundary is not None:
            for geom in getattr(boundary, "geoms", [boundary]):
                x, y = geom.exterior.xy
                ax.plot(x, y, color="black", lw=0.8)
        sc = ax.scatter(points.lon, points.lat, c=minutes, s=6, cmap="RdYlGn_r", vmin=0, vmax=max(vmax, 1.0))
        sites = station_sites(scenario)
        ax.scatter(
            [scenario.travel.sites[i].lon for i in sites], [scenario.travel.sites[i].lat for i in sites],
            marker="^", s=50, color="blue", edgecolor="white", label="stations",
        )  # fmt: skip
        ax.set_title(f"{scenario.name}: min from the nearest station")
        ax.set_aspect(1.0 / np.cos(np.radians(float(np.mean(points.lat)))))
        ax.legend(loc="lower right", fontsize=8)
        fig.colorbar(sc, ax=ax, shrink=0.8, label="min")
    return fig


def utilisation_figure(summary: Mapping[str, Any], scenarios: Mapping[str, Scenario]) -> Any:
    """Return bars of each unit's utilisation (mean over replications) per layout."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(summary["layouts"])
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 2.6 * len(names)), squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        metrics = summary["layouts"][name]["metrics"]
        ids = [u.id for u in scenarios[name].units]
        values = [100 * (metrics.get(f"unit.{uid}.utilisation", {}).get("mean") or 0.0) for uid in ids]
        ax.bar(range(len(ids)), values, color="tab:blue")
        ax.set_xticks(range(len(ids)), ids, rotation=90, fontsize=7)
        ax.set_ylabel("busy %")
        ax.set_title(f"{name}: unit utilisation (alerted to free)")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def write_report(
    path: str | Path,
    summary: Mapping[str, Any],
    results: Mapping[str, Sequence[ReplicationResult]],
    scenarios: Mapping[str, Scenario],
    *,
    boundary: Any = None,
    title: str = "Ambulance layout simulation",
) -> Path:
    """Write the HTML report to ``path`` and return it."""
    names = list(summary["layouts"])
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    rows = []
    for key, label, unit in KEY_METRICS:
        cells = "".join(f"<td>{_fmt(summary['layouts'][n]['metrics'].get(key), unit)}</td>" for n in names)
        rows.append(f"<tr><th>{html.escape(label)}{' (min)' if unit == 'min' else ''}</th>{cells}</tr>")
    diff_html = ""
    for label, diffs in (summary.get("differences") or {}).items():
        items = "".join(
            f"<tr><th>{html.escape(lbl)}</th><td>{_fmt(diffs.get(key), unit)}</td></tr>"
            for key, lbl, unit in KEY_METRICS if key in diffs
        )  # fmt: skip
        diff_html += f"<h3>{html.escape(label)} (paired by replication)</h3><table>{items}</table>"
    townships = sorted({
        k.split(".")[1] for n in names for k in summary["layouts"][n]["metrics"]
        if k.startswith("township.") and k.endswith(".response_min.mean")
    })  # fmt: skip
    town_rows = "".join(
        f"<tr><th>{html.escape(t)}</th>"
        + "".join(
            f"<td>{_fmt(summary['layouts'][n]['metrics'].get(f'township.{t}.response_min.mean'), 'min')}</td>"
            f"<td>{_fmt(summary['layouts'][n]['metrics'].get(f'township.{t}.response_min.p90'), 'min')}</td>"
            for n in names
        )
        + "</tr>"
        for t in townships
    )
    town_head = "".join(f"<th>{html.escape(n)} mean</th><th>{html.escape(n)} p90</th>" for n in names)
    run = summary.get("run", {})
    run_html = ", ".join(f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in run.items())
    cdf = _png(cdf_figure(results))
    cmap = _png(map_figure([scenarios[n] for n in names], boundary))
    util = _png(utilisation_figure(summary, scenarios))
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th{{background:#f4f4f4}}small{{color:#666}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{run_html}</p>
<p>Each figure is the mean over replications with its 95 % confidence interval in brackets.
Response time runs from the call answered to the unit on scene (call processing, queue wait,
turnout, travel). Layouts share common random numbers: the same calls and service times.</p>
<h2>Key figures</h2>
<table><tr><th></th>{head}</tr>{''.join(rows)}</table>
{diff_html}
<h2>Response-time distribution</h2><img alt="response time CDF" src="data:image/png;base64,{cdf}">
<h2>Expected arrival from the nearest station</h2><img alt="map" src="data:image/png;base64,{cmap}">
<h2>Unit utilisation</h2><img alt="utilisation" src="data:image/png;base64,{util}">
<h2>Response time by township (min)</h2>
<table><tr><th></th>{town_head}</tr>{town_rows}</table>
</body></html>
"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path


__all__ = ["cdf_figure", "map_figure", "utilisation_figure", "write_report"]
