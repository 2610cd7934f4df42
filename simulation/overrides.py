"""What a run request changes in the configuration it runs with.

`ems simulate`, `ems plan optimize` and the HTTP edge's planner runs (dispatch/sim_http.py) take the
same request fields; each is turned into the configuration here, once, so the three agree.
"""

from __future__ import annotations

from typing import Any


def with_move_up(config: dict[str, Any], move_up: bool) -> dict[str, Any]:
    """Return ``config`` with ``[simulation] move_up`` switched on when ``move_up`` (a table given stays)."""
    if not move_up:
        return config
    section = dict(config.get("simulation") or {})
    if not isinstance(section.get("move_up"), dict):
        section["move_up"] = True
    return {**config, "simulation": section}
