"""The optimiser's report: model ranking against simulated ranking, and where they disagree.

A location model ranks layouts by a static figure (coverage, mean travel time) computed as if
every ambulance were always at its station. The simulator runs the same layouts with the live
dispatch rules and common random numbers, where units are busy, calls queue and a call is
served from farther away when the nearest unit is out. This module puts the two side by side:

- ``ranking``: every layout with its model figures and its simulated figures, ranked by the
  simulated metric (``rank_by``, with a 95 % confidence interval);
- ``disagreements``: each pair of optimised layouts the model orders one way and the simulation
  the other, with the paired difference (by replication) and whether it is significant;
- ``busy_units``: per layout, the share of calls within target on static travel (nearest
  station), on the travel of the unit actually sent, and on response time; the first gap is
  what busy units cost (a coverage model cannot see it), the second what call processing and
  turnout cost.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from simulation.model import ReplicationResult, Scenario
from simulation.scenario import nearest_station_s
from simulation.stats import confidence, replication_metrics

# A call served by a unit whose travel exceeds the nearest station's by more than this was not
# served from the nearest station (its units were out): rounding of the travel tables aside.
NOT_NEAREST_MARGIN_S = 60.0


def higher_is_better(metric: str) -> bool:
    """Return True for metrics where a larger value is better (shares within target, served)."""
    return metric.startswith(("within_target", "served_share"))


def busy_unit_figures(
    runs: Sequence[ReplicationResult], scenario: Scenario, urban_target_s: float, rural_target_s: float
) -> dict[str, float]:
    """Return the static vs simulated coverage shares of one layout's calls (all replications pooled)."""
    point = np.concatenate([r.calls["point"] for r in runs]).astype(int)
    travel = np.concatenate([r.calls["travel_s"] for r in runs])
    response = np.concatenate([r.calls["response_s"] for r in runs])
    moves = sum(r.moves for r in runs)
    served = np.isfinite(response)
    if not served.any():
        return {"calls": 0.0}
    target = np.where(scenario.travel.points.urban[point], urban_target_s, rural_target_s)
    nearest = nearest_station_s(scenario)[point]
    p, t, r, tg, nr = point[served], travel[served], response[served], target[served], nearest[served]
    days = sum(run.days for run in runs)
    return {
        "calls": float(served.sum()),
        "static_within_target": float(np.mean(nr <= tg)),
        "travel_within_target": float(np.mean(t <= tg)),
        "response_within_target": float(np.mean(r <= tg)),
        "busy_unit_loss": float(np.mean(nr <= tg) - np.mean(t <= tg)),
        "before_wheels_loss": float(np.mean(t <= tg) - np.mean(r <= tg)),
        "not_from_nearest_share": float(np.mean(t > nr + NOT_NEAREST_MARGIN_S)),
        "extra_travel_min.mean": float(np.mean(np.maximum(t - nr, 0.0)) / 60.0),
        "move_ups_per_day": float(moves / days) if days > 0 else math.nan,
        "points": float(np.unique(p).size),
    }


def compare_plans(
    results: Mapping[str, Sequence[ReplicationResult]],
    scenarios: Mapping[str, Scenario],
    model: Mapping[str, Mapping[str, Any]],
    *,
    rank_by: str = "within_target.all",
    urban_target_s: float = 600.0,
    rural_target_s: float = 1800.0,
) -> dict[str, Any]:
    """Rank the layouts by simulated outcome and set the model's ranking beside it.

    Parameters
    ----------
    results, scenarios
        The simulation runs and scenarios by layout name (common random numbers).
    model
        Layout name -> model figures; ``model_rank`` (1 = the model's best; None for the base
        layout) and ``model_value`` are read, everything else is copied to the output.
    rank_by
        The simulated metric to rank by (a `simulation.stats.replication_metrics` name).
    urban_target_s, rural_target_s
        Arrival targets.

    Returns
    -------
    dict
        ``rank_by``, ``ranking`` (best first), ``disagreements`` and ``busy_units``.
    """
    better_high = higher_is_better(rank_by)
    per_rep: dict[str, list[float]] = {}
    for name, runs in results.items():
        values = []
        for run in runs:
            m = replication_metrics(
                run, scenarios[name], urban_target_min=urban_target_s / 60.0, rural_target_min=rural_target_s / 60.0
            )
            values.append(m.get(rank_by, math.nan))
        per_rep[name] = values
    sim = {name: confidence(v) for name, v in per_rep.items()}

    def sort_key(name: str) -> float:
        mean = sim[name]["mean"]
        if mean is None:
            return math.inf
        return -mean if better_high else mean

    order = sorted(results, key=sort_key)
    busy = {
        name: busy_unit_figures(runs, scenarios[name], urban_target_s, rural_target_s) for name, runs in results.items()
    }
    ranking = []
    for i, name in enumerate(order, start=1):
        entry = {"layout": name, "simulated_rank": i, rank_by: sim[name]}
        entry.update({k: v for k, v in (model.get(name) or {}).items()})
        entry["busy_units"] = busy[name]
        ranking.append(entry)
    disagreements = []
    optimised = sorted((n for n in results if (model.get(n) or {}).get("model_rank") is not None),
                       key=lambda n: model[n]["model_rank"])  # fmt: skip
    for a_i, a in enumerate(optimised):
        for b in optimised[a_i + 1 :]:
            # The model prefers a (lower model rank); does the simulation prefer b?
            diffs = [x - y for x, y in zip(per_rep[b], per_rep[a])]
            d = confidence(diffs)
            if d["mean"] is None:
                continue
            sim_prefers_b = d["mean"] > 0 if better_high else d["mean"] < 0
            model_tie = math.isclose(model[a].get("model_value", 0.0), model[b].get("model_value", 0.0), rel_tol=1e-9)
            if sim_prefers_b:
                ci = d["ci95"]
                disagreements.append({
                    "model_prefers": a,
                    "simulation_prefers": b,
                    "model_values": [model[a].get("model_value"), model[b].get("model_value")],
                    "model_tie": model_tie,
                    f"{rank_by}.difference": d,
                    "significant": bool(ci is not None and (ci[0] > 0 or ci[1] < 0)),
                    "busy_unit_loss": [busy[a].get("busy_unit_loss"), busy[b].get("busy_unit_loss")],
                    "before_wheels_loss": [busy[a].get("before_wheels_loss"), busy[b].get("before_wheels_loss")],
                })  # fmt: skip
    return {"rank_by": rank_by, "ranking": ranking, "disagreements": disagreements, "busy_units": busy}


def _fmt(entry: Any, share: bool) -> str:
    if isinstance(entry, Mapping):
        mean, ci = entry.get("mean"), entry.get("ci95")
    else:
        mean, ci = entry, None
    if mean is None or (isinstance(mean, float) and not math.isfinite(mean)):
        return "–"
    if share:
        return f"{100 * mean:.1f} %" + (f" <small>({100 * ci[0]:.1f}–{100 * ci[1]:.1f})</small>" if ci else "")
    return f"{mean:.2f}" + (f" <small>({ci[0]:.2f}–{ci[1]:.2f})</small>" if ci else "")


def disagreement_text(comparison: Mapping[str, Any]) -> list[str]:
    """Return one sentence per disagreement, for people."""
    rank_by = comparison["rank_by"]
    share = higher_is_better(rank_by)
    out = []
    for d in comparison["disagreements"]:
        diff = d[f"{rank_by}.difference"]
        mean = diff["mean"]
        amount = f"{100 * mean:+.2f} points" if share else f"{mean:+.2f}"
        verdict = "significant" if d["significant"] else "within the noise"
        a_loss, b_loss = d["busy_unit_loss"]
        why = ""
        if a_loss is not None and b_loss is not None and a_loss > b_loss + 0.001:
            why = (f" {d['model_prefers']} loses more to busy units ({100 * a_loss:.1f} % of calls vs "
                   f"{100 * b_loss:.1f} %): the coverage model counts a site as covering whether or not its "
                   f"units are out.")  # fmt: skip
        a_pre, b_pre = d.get("before_wheels_loss", (None, None))
        if a_pre is not None and b_pre is not None and a_pre > b_pre + 0.001:
            why += (f" {d['model_prefers']} loses more to call processing and turnout ({100 * a_pre:.1f} % of calls "
                    f"vs {100 * b_pre:.1f} %): more of its covered demand sits just inside the travel target, "
                    f"which the model counts and the response time misses.")  # fmt: skip
        tie = " (the model scores them equal)" if d["model_tie"] else ""
        out.append(
            f"The model ranks {d['model_prefers']} above {d['simulation_prefers']}{tie}, the simulation the other way "
            f"round: {rank_by} {amount} for {d['simulation_prefers']} ({verdict}).{why}"
        )
    return out


def write_plan_report(
    path: str | Path,
    plan: Mapping[str, Any],
    comparison: Mapping[str, Any],
    results: Mapping[str, Sequence[ReplicationResult]],
    scenarios: Mapping[str, Scenario],
    *,
    boundary: Any = None,
    title: str = "Where the next substations go",
) -> Path:
    """Write the HTML report (ranking table, disagreements, site maps, response-time CDFs)."""
    from simulation.report import _png, cdf_figure, map_figure

    rank_by = comparison["rank_by"]
    share = higher_is_better(rank_by)
    rows = []
    for e in comparison["ranking"]:
        b = e["busy_units"]
        rows.append(
            "<tr>"
            f"<th>{html.escape(e['layout'])}</th><td>{e['simulated_rank']}</td>"
            f"<td>{e.get('model_rank') or '–'}</td><td>{_fmt(e.get('model_value'), False)}</td>"
            f"<td>{_fmt(e.get('model_coverage'), True)}</td><td>{_fmt(e.get('model_expected_coverage'), True)}</td>"
            f"<td>{_fmt(e[rank_by], share)}</td>"
            f"<td>{_fmt(b.get('static_within_target'), True)}</td><td>{_fmt(b.get('travel_within_target'), True)}</td>"
            f"<td>{_fmt(b.get('response_within_target'), True)}</td><td>{_fmt(b.get('not_from_nearest_share'), True)}</td>"
            f"<td>{_fmt(b.get('move_ups_per_day'), False)}</td>"
            "</tr>"
        )
    head = (
        "<tr><th>layout</th><th>simulated rank</th><th>model rank</th><th>model objective</th>"
        "<th>model coverage</th><th>MEXCLP expected coverage</th>"
        f"<th>simulated {html.escape(rank_by)}</th><th>within target: static travel</th>"
        "<th>within target: travel of the unit sent</th><th>within target: response</th>"
        "<th>calls not served from the nearest station</th><th>move-ups a day</th></tr>"
    )
    texts = disagreement_text(comparison) or ["The simulation orders the optimised layouts as the model does."]
    dis = "".join(f"<li>{html.escape(t)}</li>" for t in texts)
    site_rows = []
    for sol in plan.get("solutions", []):
        cells = ", ".join(f"{html.escape(s['id'])} ({s['ambulances']})" for s in sol["stations"] if s["ambulances"])
        site_rows.append(f"<tr><th>{html.escape(sol['layout'])}</th><td style='text-align:left'>{cells}</td></tr>")
    names = [e["layout"] for e in comparison["ranking"]]
    cdf = _png(cdf_figure({n: results[n] for n in names}))
    cmap = _png(map_figure([scenarios[n] for n in names], boundary))
    problem = plan.get("problem", {})
    run = ", ".join(f"{html.escape(str(k))} = {html.escape(str(v))}" for k, v in (plan.get("run") or {}).items())
    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th{{background:#f4f4f4}}small{{color:#666}}img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title)}</h1>
<p>{run}</p>
<p>Model: {html.escape(str(problem.get('objective')))} on {problem.get('sites')} sites and {problem.get('points')}
demand points (base layout {html.escape(str(problem.get('base_layout')))}); the {problem.get('substations')}
substations chosen exactly (HiGHS), ambulances allocated by MEXCLP with busy fraction
{problem.get('busy_fraction')}. Simulated with common random numbers: the same calls and service
times for every layout. Figures in brackets: 95 % confidence intervals over replications.</p>
<h2>Ranking by simulated outcome</h2>
<table>{head}{''.join(rows)}</table>
<h2>Where the model and the simulation disagree</h2><ul>{dis}</ul>
<p>"Static travel" counts a call within target when the nearest station reaches it in time;
"travel of the unit sent" when the unit the dispatch policy actually sent did (the nearest
station's units may be out); "response" adds call processing, queueing and turnout.</p>
<h2>Layouts (ambulances per station)</h2><table>{''.join(site_rows)}</table>
<h2>Sites and expected arrival from the nearest station</h2><img alt="maps" src="data:image/png;base64,{cmap}">
<h2>Response-time distributions</h2><img alt="response time CDF" src="data:image/png;base64,{cdf}">
</body></html>
"""
    path = Path(path)
    path.write_text(doc, encoding="utf-8")
    return path


def write_plan_json(path: str | Path, plan: Mapping[str, Any], comparison: Mapping[str, Any]) -> Path:
    """Write the plan and its comparison as JSON."""
    path = Path(path)
    path.write_text(json.dumps({**plan, "comparison": comparison}, ensure_ascii=False, indent=1, default=_json), encoding="utf-8")
    return path


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


__all__ = ["busy_unit_figures", "compare_plans", "disagreement_text", "higher_is_better", "write_plan_json", "write_plan_report"]
