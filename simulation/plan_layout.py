"""Writing an optimised layout as a county layout file (docs/county-format.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulation.plan_problem import PlanProblem

# Staff per ambulance written for the sites the optimiser fills: the base layout's substations
# hold 3 ambulances and 6 staff (published: 5 substations of 3 ambulances and 6 staff).
STAFF_PER_AMBULANCE = 2


@dataclass(frozen=True, slots=True)
class PlannedLayout:
    """A layout produced by the optimiser, ready to write."""

    name: str
    description: str
    problem: PlanProblem = field(repr=False)
    ambulances: Mapping[int, int]
    chosen: tuple[int, ...]


def layout_toml(plan: PlannedLayout, base_layout: Any | None = None) -> str:
    """Return the layout as TOML (docs/county-format.md), readable by ``ems simulate`` and the county loader.

    Fixed sites and chosen substations get ``2`` staff per ambulance; kept points and the base
    layout's staffed points without an ambulance keep their staff. A chosen site that is not a
    substation in the county is written with its coordinates and ``kind = "substation"``.
    """
    sites = plan.problem.sites
    lines = [f"name = {_q(plan.name)}", f"description = {_q(plan.description)}", ""]
    written: set[str] = set()
    order = [j for j, s in enumerate(sites) if s.fixed] + list(plan.chosen)
    order += [j for j in sorted(plan.ambulances) if j not in order]
    for j in order:
        s = sites[j]
        n = int(plan.ambulances.get(j, 0))
        model = s.fixed or j in plan.chosen
        staff = max(s.staff, STAFF_PER_AMBULANCE * n) if model else s.staff
        lines += ["[[station]]", f"id = {_q(s.id)}", f"ambulances = {n}", f"staff = {staff}"]
        if j in plan.chosen and (not s.existing or s.kind != "substation"):
            lines += [f"name = {_q(s.name)}", 'kind = "substation"', f"lon = {s.lon!r}", f"lat = {s.lat!r}"]
        elif not s.existing:
            lines += [f"name = {_q(s.name)}", f"kind = {_q(s.kind)}", f"lon = {s.lon!r}", f"lat = {s.lat!r}"]
        lines.append("")
        written.add(s.id)
    if base_layout is not None:
        for ls in base_layout.stations:
            kind = getattr(ls.station.kind, "value", ls.station.kind)
            if ls.station.id not in written and ls.ambulances == 0 and kind == "point":
                lines += ["[[station]]", f"id = {_q(ls.station.id)}", "ambulances = 0", f"staff = {ls.staff}", ""]
    return "\n".join(lines)


def _q(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


__all__ = ["STAFF_PER_AMBULANCE", "PlannedLayout", "layout_toml"]
