"""Summaries of replications: response times, targets, utilisation, queues, STEMI, with 95 % CIs.

Each replication gives one value per metric (its mean, median, 90th percentile ... over its
calls); a layout's figure is the mean of those values over the replications with a 95 %
confidence interval from Student's t (replications are independent; calls within one are not).
Metric names are flat, dotted and carry their unit: ``response_min.urban.p90``,
``within_target.rural``, ``township.<name>.response_min.mean``, ``utilisation.mean`` ...
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats as sps

from simulation.model import REASON_CODES, STATUS_CODES, ReplicationResult, Scenario

# Arrival targets of the county's 1+5+N programme (seed 000): urban 10 min, rural 30 min; the
# defaults of config.toml [targets].
DEFAULT_URBAN_TARGET_MIN = 10.0
DEFAULT_RURAL_TARGET_MIN = 30.0
# FMC-to-device target for primary PCI: 120 min (ACC/AHA 2013, ESC 2017, CN-STEMI 2019; see
# centers.targets).
FMC_TO_DEVICE_TARGET_MIN = 120.0


def _describe(prefix: str, minutes: np.ndarray, out: dict[str, float]) -> None:
    if minutes.size == 0:
        return
    out[f"{prefix}.mean"] = float(minutes.mean())
    out[f"{prefix}.median"] = float(np.median(minutes))
    out[f"{prefix}.p90"] = float(np.percentile(minutes, 90))
    out[f"{prefix}.p95"] = float(np.percentile(minutes, 95))


def replication_metrics(
    result: ReplicationResult,
    scenario: Scenario,
    *,
    urban_target_min: float = DEFAULT_URBAN_TARGET_MIN,
    rural_target_min: float = DEFAULT_RURAL_TARGET_MIN,
) -> dict[str, float]:
    """Return one replication's metrics (flat, dotted names; minutes and shares)."""
    c = result.calls
    points = scenario.travel.points
    out: dict[str, float] = {"calls": float(result.n_calls)}
    response = c["response_s"] / 60.0
    served = np.isfinite(response)
    out["served_share"] = float(served.mean()) if served.size else math.nan
    urban = points.urban[c["point"]]
    _describe("response_min", response[served], out)
    targets = np.where(urban, urban_target_min, rural_target_min)
    for name, mask in (("urban", urban & served), ("rural", ~urban & served)):
        _describe(f"response_min.{name}", response[mask], out)
        if mask.any():
            out[f"within_target.{name}"] = float((response[mask] <= targets[mask]).mean())
    if served.any():
        out["within_target.all"] = float((response[served] <= targets[served]).mean())
    townships = np.array(points.townships, dtype=object)[c["point"]]
    for name in sorted(set(townships.tolist())):
        mask = (townships == name) & served
        if mask.any():
            out[f"township.{name}.calls"] = float(mask.sum())
            out[f"township.{name}.response_min.mean"] = float(response[mask].mean())
            out[f"township.{name}.response_min.p90"] = float(np.percentile(response[mask], 90))
    for key, column in (("travel_min", "travel_s"), ("turnout_min", "turnout_s")):
        values = c[column][served] / 60.0
        if values.size:
            out[f"{key}.mean"] = float(values.mean())
    wait = c["queue_wait_s"][served] / 60.0
    if wait.size:
        out["queue_wait_min.mean"] = float(wait.mean())
        out["queue_wait_min.p95"] = float(np.percentile(wait, 95))
        out["queued_share"] = float((wait > 0).mean())
        if (wait > 0).any():
            out["queue_wait_min.mean_if_queued"] = float(wait[wait > 0].mean())
    status = c["status_at_alert"][served]
    for code, s in enumerate(STATUS_CODES):
        out[f"alerted_while.{s.value}"] = float((status == code).mean()) if status.size else math.nan
    horizon = result.horizon_s
    util = result.unit_busy_s / horizon if horizon > 0 else np.full(len(result.unit_ids), math.nan)
    out["utilisation.mean"] = float(util.mean())
    out["utilisation.max"] = float(util.max())
    for uid, u, ret in zip(result.unit_ids, util, result.unit_returning_s):
        out[f"unit.{uid}.utilisation"] = float(u)
        out[f"unit.{uid}.returning_share"] = float(ret / horizon) if horizon > 0 else math.nan
    transported = c["transported"]
    out["transport_share"] = float(transported.mean()) if transported.size else math.nan
    stemi = c["stemi"] & transported
    out["stemi.calls"] = float(stemi.sum())
    if stemi.any():
        fmc = c["fmc_to_device_s"][stemi] / 60.0
        out["stemi.fmc_to_device_min.mean"] = float(np.nanmean(fmc))
        out["stemi.fmc_to_device_min.p90"] = float(np.nanpercentile(fmc, 90))
        out["stemi.fmc_to_device_within_120_share"] = float(np.nanmean(fmc <= FMC_TO_DEVICE_TARGET_MIN))
        # The layout shows in the time before first medical contact: call answered to device.
        call_to_device = fmc + c["response_s"][stemi] / 60.0
        out["stemi.call_to_device_min.mean"] = float(np.nanmean(call_to_device))
        direct = [i for i, r in enumerate(REASON_CODES) if r.value == "direct_pci"]
        out["stemi.direct_pci_share"] = float(np.isin(c["reason"][stemi], direct).mean())
    return out


def confidence(values: Sequence[float], level: float = 0.95) -> dict[str, Any]:
    """Return the mean of ``values`` (NaN skipped) with a Student-t confidence interval."""
    arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = int(arr.size)
    if n == 0:
        return {"mean": None, "ci95": None, "n": 0}
    mean = float(arr.mean())
    if n == 1:
        return {"mean": mean, "ci95": None, "n": 1}
    half = float(sps.t.ppf(0.5 + level / 2.0, n - 1) * arr.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "ci95": [mean - half, mean + half], "n": n}


def summarise(
    results: Mapping[str, Sequence[ReplicationResult]],
    scenarios: Mapping[str, Scenario],
    *,
    run: Mapping[str, Any] | None = None,
    urban_target_min: float = DEFAULT_URBAN_TARGET_MIN,
    rural_target_min: float = DEFAULT_RURAL_TARGET_MIN,
) -> dict[str, Any]:
    """Return the summary of every layout: each metric's mean and 95 % CI over replications.

    With two or more layouts, ``differences`` gives, for the main metrics, each layout minus
    the first one, paired by replication (common random numbers make the pairing tighter than
    the two intervals).
    """
    per_layout: dict[str, dict[str, list[float]]] = {}
    out: dict[str, Any] = {
        "run": dict(run or {}),
        "targets": {"urban_arrival_min": urban_target_min, "rural_arrival_min": rural_target_min},
        "layouts": {},
    }
    for name, runs in results.items():
        scenario = scenarios[name]
        rows = [
            replication_metrics(r, scenario, urban_target_min=urban_target_min, rural_target_min=rural_target_min)
            for r in runs
        ]
        keys = sorted({k for row in rows for k in row})
        values = {k: [row.get(k, math.nan) for row in rows] for k in keys}
        per_layout[name] = values
        stations = sorted({(u.station_id, u.capability.value) for u in scenario.units})
        out["layouts"][name] = {
            "units": len(scenario.units),
            "stations": [s for s, _ in stations],
            "replications": len(runs),
            "metrics": {k: confidence(v) for k, v in values.items()},
        }
    names = list(results)
    if len(names) > 1:
        base = names[0]
        main = [k for k in per_layout[base] if not k.startswith(("township.", "unit."))]
        out["differences"] = {
            f"{other} - {base}": {
                k: confidence(
                    [a - b for a, b in zip(per_layout[other].get(k, []), per_layout[base][k])]
                )
                for k in main
                if k in per_layout[other]
            }
            for other in names[1:]
        }
    return out


def write_calls_csv(path: str | Path, results: Mapping[str, Sequence[ReplicationResult]], scenarios: Mapping[str, Scenario]) -> int:
    """Write every call of every replication to a CSV file; return the number of rows."""
    header = [
        "layout", "replication", "call", "t_s", "day", "hour", "place_id", "township", "urban", "complaint",
        "priority", "unit_id", "station_id", "status_at_alert", "call_processing_s", "queue_wait_s", "turnout_s",
        "travel_s", "response_s", "on_scene_s", "transported", "hospital_id", "transport_s", "handover_s",
        "destination_reason", "stemi", "fmc_to_device_s",
    ]  # fmt: skip
    rows = 0
    with Path(path).open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for name, runs in results.items():
            scenario = scenarios[name]
            points = scenario.travel.points
            units = scenario.units
            for r in runs:
                c = r.calls
                n = r.n_calls
                for i in range(n):
                    p = int(c["point"][i])
                    u = int(c["unit"][i])
                    h = int(c["hospital"][i])
                    reason = int(c["reason"][i])
                    status = int(c["status_at_alert"][i])
                    t = float(c["t_s"][i])
                    writer.writerow([
                        name, r.replication, i, _num(t), int(t // 86400), int(t % 86400 // 3600), points.ids[p],
                        points.townships[p], int(points.urban[p]), r.complaints[int(c["complaint"][i])],
                        int(c["priority"][i]), units[u].id if u >= 0 else "", units[u].station_id if u >= 0 else "",
                        STATUS_CODES[status].value if status >= 0 else "", _num(c["call_processing_s"][i]),
                        _num(c["queue_wait_s"][i]), _num(c["turnout_s"][i]), _num(c["travel_s"][i]),
                        _num(c["response_s"][i]), _num(c["on_scene_s"][i]), int(c["transported"][i]),
                        r.hospital_ids[h] if h >= 0 else "", _num(c["transport_s"][i]), _num(c["handover_s"][i]),
                        REASON_CODES[reason].value if reason >= 0 else "", int(c["stemi"][i]),
                        _num(c["fmc_to_device_s"][i]),
                    ])  # fmt: skip
                    rows += 1
    return rows


def _num(value: Any) -> str:
    v = float(value)
    return "" if not math.isfinite(v) else f"{v:.1f}"


__all__ = ["confidence", "replication_metrics", "summarise", "write_calls_csv"]
