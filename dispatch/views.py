"""How units and rankings look in the API and on the consoles (values in, JSON-ready dicts out)."""

from __future__ import annotations

from typing import Any

from dispatch.codec import to_dict
from dispatch.service import DispatchService


def recommendations_json(ranking: Any) -> list[dict[str, Any]]:
    """Return a ranking's options, best first, as the API shows them."""
    return [{"unit_id": o.unit_id, "eta_s": round(o.eta_s, 1), "distance_m": round(o.distance_m, 1),
             "turnout_s": o.turnout_s, "travel_s": round(o.travel_s, 1), "source": o.source,
             "capability": str(o.capability), "preferred": o.preferred,
             "route": o.route.geojson() if o.route is not None else None} for o in ranking]


def unroutable_json(ranking: Any) -> list[dict[str, Any]]:
    """Return the units a ranking timed from their station instead of their fix, or left out, and why.

    ``source`` is ``"station"`` when the unit was ranked from its station, None when it was left
    out; ``reason`` is a code of `dispatch.policy.UnroutableReason`.
    """
    return [{"unit_id": u.unit_id, "reason": str(u.reason), "message": u.message, "source": u.source,
             "distance_m": round(u.distance_m, 1) if u.distance_m is not None else None}
            for u in ranking.unroutable]


def unit_json(service: DispatchService, unit_id: str) -> dict[str, Any]:
    """Return a unit's dispatch view: its state and last known position (live fields are added by `Live`)."""
    unit = service.state.units[unit_id]
    out = to_dict(unit)
    out["station_location"] = {"lon": unit.station_location[0], "lat": unit.station_location[1]}
    out["device_id"] = unit.device_id or unit.id
    fix = service.positions.get(unit_id)
    out["position"] = {"lon": fix[0][0], "lat": fix[0][1]} if fix else None
    out["position_at"] = fix[1].isoformat() if fix else None
    return out
