"""The live positions of one service instance: fixes taken, filtered, announced, stored.

`Live` is held by the application (`dispatch.live` registers its routes and background tasks): a
fix is handled in memory on the request (parse, filter, update the latest position, hand it to the
consoles' next ``positions`` frame); `Live.flush` writes the store every ``flush_interval_s`` (history in
batches; while the backlog is full the intake answers 503, so nothing taken is dropped; a crash loses
what was taken since the last write);
`Live.update_etas` snaps and times units with a destination off the request path, at the county's
local hour, at most once per unit every ``eta_interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dispatch import gps
from dispatch.bus import Bus
from dispatch.errors import BacklogFullError, UnknownDeviceError, ValidationError
from dispatch.gps import Fix, Limits, Reject, Track
from dispatch.metrics import Registry
from dispatch.model import UnitStatus
from dispatch.service import DispatchService, Origin, Positions
from dispatch.views import unit_json
from dispatch.store import PositionRow, StoreError
from dispatch.ws import POSITION_INTERVAL_S, Hub

log = logging.getLogger(__name__)

#: Statuses in which a unit drives to its call, and to the hospital.
TO_CALL = frozenset({UnitStatus.DISPATCHED, UnitStatus.EN_ROUTE})
TO_HOSPITAL = frozenset({UnitStatus.TRANSPORTING})
#: Most fixes held for the store: `gps.max_backlog_rows` may not be set above it (less a batch), so
#: the intake answers 503 before anything would have to be dropped.
MAX_PENDING_ROWS = 200_000
#: Most history rows handed to the store in one call: the store checks each row on the event loop,
#: so a big backlog is written in slices with other work (requests, consoles) between them.
FLUSH_SLICE_ROWS = 5000


@dataclass(frozen=True)
class LiveConfig:
    """The live part's settings: ``[gps]`` and ``[live]`` of config.toml."""

    limits: Limits = field(default_factory=Limits)
    stale_after_s: float = 600.0
    history_days: float = 30.0
    max_backlog_rows: int = 50_000
    flush_interval_s: float = 0.25
    eta_interval_s: float = 5.0
    devices: Mapping[str, str] = field(default_factory=dict)
    osmand_port: int | None = None
    bus: str = ""
    bus_namespace: str = "ems"
    catch_up_interval_s: float = 1.0
    ws_max_events: int = 1000
    ws_replay_events: int = 5000
    ws_ping_interval_s: float = 15.0
    ws_send_timeout_s: float = 10.0
    ws_position_interval_s: float = POSITION_INTERVAL_S

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> LiveConfig:
        """Read ``[gps]``, ``[live]`` and ``[service] bus``."""
        g = config.get("gps", {}) or {}
        lv = config.get("live", {}) or {}
        sv = config.get("service", {}) or {}
        port = g.get("osmand_port")
        return cls(limits=Limits.from_config(config),
                   stale_after_s=float(g.get("stale_after_s", cls.stale_after_s)),
                   history_days=float(g.get("history_days", cls.history_days)),
                   max_backlog_rows=_backlog(g.get("max_backlog_rows", cls.max_backlog_rows)),
                   flush_interval_s=_positive("gps.flush_interval_s", g.get("flush_interval_s", cls.flush_interval_s)),
                   eta_interval_s=float(g.get("eta_interval_s", cls.eta_interval_s)),
                   devices={str(k): str(v) for k, v in (g.get("devices") or {}).items()},
                   osmand_port=int(port) if port else None,
                   bus=str(sv.get("bus", "") or ""),
                   bus_namespace=str(sv.get("bus_namespace", "ems") or "ems"),
                   catch_up_interval_s=float(lv.get("catch_up_interval_s", cls.catch_up_interval_s)),
                   ws_max_events=int(lv.get("ws_max_events", cls.ws_max_events)),
                   ws_replay_events=int(lv.get("ws_replay_events", cls.ws_replay_events)),
                   ws_ping_interval_s=float(lv.get("ws_ping_interval_s", cls.ws_ping_interval_s)),
                   ws_send_timeout_s=float(lv.get("ws_send_timeout_s", cls.ws_send_timeout_s)),
                   ws_position_interval_s=_positive("live.ws_position_interval_s", lv.get(
                       "ws_position_interval_s", cls.ws_position_interval_s)))


def _positive(field: str, raw: Any) -> float:
    """Return a setting that must be a number of seconds > 0, or raise a ValidationError naming it."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = math.nan
    if not value > 0:
        raise ValidationError(field, f"{field}: must be a number of seconds > 0, got {raw!r}")
    return value


def _backlog(raw: Any) -> int:
    """Return ``gps.max_backlog_rows``: a whole number of rows from 1 to what the intake can hold."""
    most = MAX_PENDING_ROWS - gps.MAX_BATCH
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= most:
        raise ValidationError("gps.max_backlog_rows",
                              f"gps.max_backlog_rows: must be a whole number of rows from 1 to {most}, got {raw!r}")
    return raw


@dataclass(slots=True)
class UnitLive:
    """What this instance knows live about one unit (mutable, owned by `Live`)."""

    fix: Fix
    stale: bool = False
    eta_s: float | None = None
    eta_target: str | None = None
    road: tuple[float, float, float] | None = None   # snapped (lon, lat, distance_m)
    eta_due: bool = False          # a new fix since the last ETA
    eta_done_at: float = 0.0       # monotonic time of the last ETA
    local: bool = True             # the fix came to this instance (it computes the ETA)


class Live:
    """The live positions of one service instance (see the module docstring).

    Parameters
    ----------
    service
        The dispatch service: its units, calls and clock (this listens to its events).
    positions
        The latest positions the service ranks units from: written here, on each accepted fix.
    county
        Its hospitals are the destinations of transports (live ETAs); None: no hospital ETAs.
    """

    def __init__(self, service: DispatchService, positions: Positions, county: Any, config: LiveConfig,
                 registry: Registry, bus: Bus) -> None:
        self.service, self.positions, self.county, self.config, self.bus = service, positions, county, config, bus
        self.router = service.router
        self.units: dict[str, UnitLive] = {}
        # What the filter chain knows of each unit (its newest fix taken and the candidates
        # refused since): the newest fix may be newer than the unit's position (history only).
        self.tracks: dict[str, Track] = {}
        self.pending: list[PositionRow] = []             # history rows waiting for the store
        self.pending_latest: dict[str, PositionRow] = {}  # each unit's newest position waiting for it
        self._devices: dict[str, str] | None = None
        self.hub = Hub(service, self.unit_view, max_events=config.ws_max_events,
                       replay_events=config.ws_replay_events, ping_interval_s=config.ws_ping_interval_s,
                       send_timeout_s=config.ws_send_timeout_s,
                       position_interval_s=config.ws_position_interval_s, metrics=registry)
        # The in-process bus has nobody to tell: skip building its messages.
        self._bus_positions = type(bus).publish_position is not Bus.publish_position
        self.accepted = registry.counter("ems_gps_fixes_accepted_total", "GPS fixes accepted, by intake format",
                                         ["source"])
        self.rejected = registry.counter("ems_gps_fixes_rejected_total", "GPS fixes rejected, by reason",
                                         ["reason"])
        self.deferred = registry.counter("ems_gps_fixes_deferred_total",
                                         "GPS fixes answered 503 while the history backlog was full "
                                         "(the device keeps and resends them)", ["source"])
        self._backlogged = False
        self.dropped = registry.counter("ems_gps_rows_dropped_total",
                                        "History rows dropped beyond the pending cap (0 unless misconfigured)")
        self.stale_marked = registry.counter("ems_gps_units_marked_stale_total",
                                             "Units that passed the stale limit")
        self.store_rows = registry.counter("ems_gps_rows_written_total", "Position history rows written")
        self.store_failures = registry.counter("ems_gps_store_failures_total",
                                               "Failed position writes (retried)")
        self.eta_runs = registry.counter("ems_gps_eta_computed_total", "Live ETAs computed")
        self.reanchored = registry.counter("ems_gps_fixes_reanchored_total",
                                           "Fixes taken as a unit's position against its last one, after "
                                           "[gps] reanchor_fixes refused fixes in a row agreed with each other")
        self.clamped = registry.counter("ems_gps_fixes_clamped_total",
                                        "Fixes stamped more than [gps] clock_skew_s ahead of the server clock "
                                        "(within max_future_s), taken at the server's time plus clock_skew_s")
        registry.gauge("ems_gps_pending_rows", "Fixes waiting for the next store write",
                       lambda: {(): float(len(self.pending))})
        registry.gauge("ems_gps_units_stale", "Units currently stale",
                       lambda: {(): float(sum(1 for u in self.service.state.units if self.is_stale(u)))})
        for reason in Reject:
            self.rejected.values.setdefault((reason.value,), 0.0)
        self.rejected.values.setdefault(("unknown_device",), 0.0)
        for source in ("osmand", "osmand_json", "json"):
            self.deferred.values.setdefault((source,), 0.0)
        self._unsubscribe = service.subscribe(self.on_event)

    # -- views --------------------------------------------------------------------------------

    def unit_view(self, unit_id: str) -> dict[str, Any]:
        """Return a unit as the API and the consoles show it: its dispatch view and its live fields."""
        out = unit_json(self.service, unit_id)
        out.update(self.unit_extras(unit_id))
        return out

    def is_stale(self, unit_id: str) -> bool:
        live = self.units.get(unit_id)
        return live is None or live.stale

    def unit_extras(self, unit_id: str) -> dict[str, Any]:
        """Return a unit's live fields for its API view (a unit never heard from is stale)."""
        live = self.units.get(unit_id)
        extras: dict[str, Any] = {"device_id": self.device_of(unit_id), "stale": live is None or live.stale,
                                  "speed_mps": None, "heading_deg": None, "accuracy_m": None,
                                  "battery_pct": None, "eta_s": None, "eta_target": None, "road": None}
        if live is not None:
            f = live.fix
            extras.update(speed_mps=f.speed_mps, heading_deg=f.heading_deg, accuracy_m=f.accuracy_m,
                          battery_pct=f.battery_pct, eta_s=live.eta_s, eta_target=live.eta_target,
                          road=_road_json(live.road))
        return extras

    def position_item(self, unit_id: str, live: UnitLive) -> dict[str, Any]:
        """Return a unit's position as one object of a ``positions`` frame (docs/protocol.md)."""
        item = gps.fix_json(unit_id, live.fix)
        item["stale"], item["eta_s"], item["eta_target"] = live.stale, live.eta_s, live.eta_target
        item["road"] = _road_json(live.road)
        return item

    def announce(self, unit_id: str, live: UnitLive) -> None:
        """Hand a unit's position to the consoles' next frame and, with a bus, to the other instances."""
        if not self.hub.clients and not self._bus_positions:
            return
        item = self.position_item(unit_id, live)
        self.hub.publish_position(unit_id, item)
        if self._bus_positions:
            self.bus.publish_position(unit_id, {"type": "position", **item})

    # -- devices ------------------------------------------------------------------------------

    def device_map(self) -> dict[str, str]:
        """Return ``{device id: unit id}``: config ``[gps.devices]`` over each unit's own device id."""
        if self._devices is None:
            devices = {(u.device_id or u.id): u.id for u in self.service.state.units.values()}
            devices.update({d: u for d, u in self.config.devices.items() if u in self.service.state.units})
            self._devices = devices
        return self._devices

    def device_of(self, unit_id: str) -> str:
        for device, unit in self.config.devices.items():
            if unit == unit_id:
                return device
        unit = self.service.state.units[unit_id]
        return unit.device_id or unit.id

    def unit_of_device(self, device_id: str) -> str:
        unit = self.device_map().get(device_id)
        if unit is None:
            self.rejected.inc("unknown_device")
            raise UnknownDeviceError(f"id: device {device_id[:64]!r} is not mapped to a unit "
                                     "(set a unit's device id or [gps.devices] in config)")
        return unit

    # -- intake -------------------------------------------------------------------------------

    def check_backlog(self, source: str, count: int = 1) -> None:
        """Refuse fixes with 503 while ``max_backlog_rows`` wait for the store (the device resends).

        Nothing taken is ever dropped: when the store is slower than the intake (or down), the
        devices hold the fixes instead (Traccar Client keeps a fix until it is answered 200).
        """
        waiting = len(self.pending)
        if waiting < self.config.max_backlog_rows:
            if self._backlogged:
                self._backlogged = False
                log.warning("position history backlog down to %d rows: taking fixes again", waiting)
            return
        if not self._backlogged:
            self._backlogged = True
            log.warning("position history backlog at %d rows: fixes answered 503 until the store catches up",
                        waiting)
        self.deferred.inc(source, amount=count)
        retry_s = min(60, max(1, math.ceil(self.config.flush_interval_s)))  # the next store write
        raise BacklogFullError(f"history: {waiting} fixes wait for the store; send again in {retry_s} s", retry_s)

    def ingest(self, unit_id: str, fixes: list[Fix], source: str,
               now: datetime | None = None) -> list[Reject | None]:
        """Filter and take a unit's fixes (time order); return each one's reject reason or None.

        A fix is the unit's position (None), kept in the history only (`Reject.OUTDATED`) or not
        taken (any other reason); `gps.decide` tells which, from the unit's track. ``now`` is the
        service clock's time, read here when not given.
        """
        if now is None:
            now = self.service.clock()
        limits = self.config.limits
        outcome: list[Reject | None] = [None] * len(fixes)
        order = sorted(range(len(fixes)), key=lambda i: fixes[i].at) if len(fixes) > 1 else range(len(fixes))
        live = self.units.get(unit_id)
        track = self.tracks.get(unit_id) or Track(live.fix if live is not None else None)
        pending = self.pending
        position: Fix | None = None
        taken = 0
        for i in order:
            decision = gps.decide(fixes[i], track, now, limits)
            track, outcome[i], fix = decision.track, decision.reason, decision.fix
            if decision.reason is not None:
                self.rejected.inc(decision.reason.value)
            if fix is None:
                continue
            if decision.reanchored:
                self.reanchored.inc()
            if decision.clamped:
                self.clamped.inc()
            row = PositionRow(unit_id, fix.at, fix.lon, fix.lat, fix.speed_mps, fix.heading_deg,
                              fix.accuracy_m, fix.altitude_m)
            pending.append(row)
            if decision.reason is None:
                self.pending_latest[unit_id] = row
                position = fix
                taken += 1
        self.tracks[unit_id] = track
        if position is not None:
            self.accepted.inc(source, amount=taken)
            if live is None:
                live = self.units[unit_id] = UnitLive(position)
            else:
                live.fix = position
            live.stale, live.local, live.eta_due = False, True, True
            live.road = None
            self.positions[unit_id] = ((position.lon, position.lat), position.at)
            self.announce(unit_id, live)
        if len(self.pending) > MAX_PENDING_ROWS:
            dropped = len(self.pending) - MAX_PENDING_ROWS
            del self.pending[:dropped]
            self.dropped.inc(amount=dropped)
            log.error("position store unavailable: %d oldest history rows dropped", dropped)
        return outcome

    def apply_remote(self, message: dict[str, Any]) -> None:
        """Take a position message another instance published (already filtered there)."""
        unit_id = message.get("unit_id")
        if unit_id not in self.service.state.units:
            return
        fix = gps.fix_from_json(message)
        live = self.units.get(unit_id)
        if live is not None and fix.at < live.fix.at:
            return
        if live is None:
            live = self.units[unit_id] = UnitLive(fix)
        track = self.tracks.get(unit_id)
        if track is not None and (track.last is None or track.last.at < fix.at):
            self.tracks[unit_id] = Track(fix)  # this instance's filter goes on from the newer fix
        live.fix, live.stale, live.local, live.eta_due = fix, bool(message.get("stale")), False, False
        live.eta_s, live.eta_target = message.get("eta_s"), message.get("eta_target")
        road = message.get("road")
        live.road = (road["lon"], road["lat"], road["distance_m"]) if road else None
        self.positions[unit_id] = ((fix.lon, fix.lat), fix.at)
        self.hub.publish_position(unit_id, self.position_item(unit_id, live))

    def on_event(self, seq: int, event: dict[str, Any], origin: Origin) -> None:
        """Track what the live part depends on: new units, assignments and statuses (a listener)."""
        if event.get("type") == "UnitRegistered":
            self._devices = None
        touched = {event.get("unit_id")}
        call_id = event.get("call_id")
        if call_id:
            current = self.service.state.current_assignment(call_id)
            touched.add(current.unit_id if current else None)
        for unit_id in touched:
            live = self.units.get(unit_id) if unit_id else None
            if live is not None and live.local:
                live.eta_due, live.eta_done_at = True, 0.0

    # -- background work ----------------------------------------------------------------------

    async def flush(self) -> int:
        """Write the waiting fixes to the store (history and latest); return how many history rows were written.

        The latest-position table gets each unit's newest position first (not a history-only
        fix, though newer); history goes in slices of `FLUSH_SLICE_ROWS`. After a failure what is
        not yet written waits for the next try (writing a latest position again is harmless; a
        history row twice is not). A crash loses what waits: at most ``flush_interval_s`` of
        fixes (and the write itself), as docs/protocol.md says.
        """
        if not self.pending and not self.pending_latest:
            return 0
        rows, self.pending = self.pending, []
        latest, self.pending_latest = self.pending_latest, {}
        store = self.service.store
        written = 0
        try:
            if latest:
                await store.upsert_positions(list(latest.values()))
                latest = {}
            for start in range(0, len(rows), FLUSH_SLICE_ROWS):
                await store.append_position_history(rows[start:start + FLUSH_SLICE_ROWS])
                written = min(len(rows), start + FLUSH_SLICE_ROWS)
        except StoreError as e:
            self.store_failures.inc()
            self.store_rows.inc(amount=written)
            self.pending = rows[written:] + self.pending
            self.pending_latest = latest | self.pending_latest  # a position taken meanwhile is newer
            log.error("position store write failed (%d rows kept for the next try): %s", len(rows) - written, e)
            return written
        self.store_rows.inc(amount=len(rows))
        return len(rows)

    async def prune(self) -> int:
        """Delete history older than ``history_days``."""
        cutoff = self.service.clock() - timedelta(days=self.config.history_days)
        return await self.service.store.prune_position_history(cutoff)

    def check_stale(self) -> list[str]:
        """Mark units with no fix for ``stale_after_s`` stale and tell consoles; return them."""
        now = self.service.clock()
        marked = []
        for unit_id, live in self.units.items():
            if not live.stale and gps.age_s(live.fix, now) > self.config.stale_after_s:
                live.stale = True
                marked.append(unit_id)
                self.stale_marked.inc()
                self.hub.publish_unit(unit_id, {"type": "stale", "unit_id": unit_id,
                                                "since": live.fix.at.isoformat()})
        return marked

    def eta_target(self, unit_id: str) -> tuple[str, tuple[float, float]] | None:
        """Return where a unit is heading: ``("call", point)``, ``("hospital", point)`` or None."""
        from dispatch.ws import destination_hospital

        state = self.service.state
        unit = state.units.get(unit_id)
        if unit is None or unit.current_call is None:
            return None
        call = state.calls.get(unit.current_call)
        if call is None:
            return None
        if unit.status in TO_CALL:
            return "call", call.location
        if unit.status in TO_HOSPITAL:
            hospital_id = destination_hospital(self.service.call_extras(call.id))
            for h in getattr(self.county, "hospitals", ()):
                if h.id == hospital_id:
                    return "hospital", (h.lon, h.lat)
        return None

    async def update_etas(self) -> int:
        """Snap and recompute the ETA of units with a new fix and a destination (rate-limited)."""
        if self.router is None:
            return 0
        now = time.monotonic()
        jobs = []
        for unit_id, live in self.units.items():
            if not live.eta_due or not live.local or now - live.eta_done_at < self.config.eta_interval_s:
                continue
            live.eta_due = False
            target = self.eta_target(unit_id)
            if target is None:
                if live.eta_s is not None or live.eta_target is not None:
                    live.eta_s = live.eta_target = None
                    jobs.append((unit_id, live, None, live.fix))
                continue
            live.eta_done_at = now
            jobs.append((unit_id, live, target, live.fix))
        if not jobs:
            return 0
        results = await asyncio.to_thread(self._compute, [(t, f) for _, _, t, f in jobs], self.service.local_hour())
        for (unit_id, live, target, fix), (road, eta) in zip(jobs, results):
            if live.fix is not fix and live.fix.at != fix.at:
                live.eta_due = True  # a newer fix came meanwhile: computed again next round
            live.road = road
            live.eta_target = target[0] if target is not None and eta is not None else None
            live.eta_s = round(eta, 1) if eta is not None else None
            self.eta_runs.inc()
            self.announce(unit_id, live)
        return len(jobs)

    def _compute(self, jobs: list[tuple[Any, Fix]],
                 hour: int) -> list[tuple[tuple[float, float, float] | None, float | None]]:
        from routing.errors import RoutingError

        out = []
        for target, fix in jobs:
            road, eta = None, None
            try:
                snap = self.router.snap(fix.lon, fix.lat)
                road = (snap.lon, snap.lat, snap.distance_m)
                if target is not None:
                    result = self.router.eta_to(target[1], [snap], hour=hour)[0]
                    eta = result.eta_s if result is not None else None
            except RoutingError:
                pass  # off the network or unreachable: no road position, no ETA
            out.append((road, eta))
        return out

    async def load(self) -> None:
        """Take the latest stored positions (start-up): each unit's filter goes on from its position."""
        now = self.service.clock()
        for unit_id, row in (await self.service.store.latest_positions()).items():
            if unit_id in self.service.state.units:
                fix = Fix(row.lon, row.lat, row.at, row.speed_mps, row.heading_deg, row.accuracy_m, row.altitude_m)
                self.units[unit_id] = UnitLive(fix, stale=gps.age_s(fix, now) > self.config.stale_after_s,
                                               eta_due=True)

    def close(self) -> None:
        self._unsubscribe()
        self.hub.close()


def _road_json(road: tuple[float, float, float] | None) -> dict[str, float] | None:
    if road is None:
        return None
    return {"lon": road[0], "lat": road[1], "distance_m": round(road[2], 1)}


__all__ = ["FLUSH_SLICE_ROWS", "MAX_PENDING_ROWS", "Live", "LiveConfig", "UnitLive"]
