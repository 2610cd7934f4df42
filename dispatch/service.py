"""The dispatch service layer: commands in, events appended and synced, state folded, listeners told.

Asyncio, but no HTTP: `dispatch.http` turns requests into the commands below. Every change is one
event appended to the store (synced to disk) BEFORE the in-memory state moves on and before the
caller is answered, so an acknowledged call survives any crash; start-up replays the log.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch import events as ev
from dispatch.codec import event_from_dict, event_to_dict, to_dict
from dispatch.errors import ValidationError
from dispatch.errors_http import ApiError
from dispatch.model import ASSIGNABLE_STATUSES, Call, Capability, Point, State, Unit, UnitStatus
from dispatch.policy import DispatchConfig, Ranking, recommend
from dispatch.state import apply, fold
from dispatch.store import StateRow, Store

log = logging.getLogger(__name__)

SYSTEM = "system"

# A layout station's kind decides its units' capability unless the layout says otherwise: the
# centre and the substations carry doctor-led ALS crews (6 medical staff per substation, seed 000);
# a township emergency point's 2-person crew is taken as BLS.
CAPABILITY_BY_KIND = {"centre": Capability.ALS, "substation": Capability.ALS, "point": Capability.BLS}

Listener = Callable[[int, dict[str, Any]], None]


class SideFold(Protocol):
    """Events of another domain kept in the same log (e.g. the centers' milestones).

    ``types`` are the event ``type`` values it owns. ``check(event)`` refuses an event that does
    not fit (an `EmsError` subclass) before anything is written; ``apply(seq, event)`` folds it
    in, on submit, replay and catch-up; ``rows(events)`` are the current-state rows written with
    them; ``call_extras(call_id)`` adds fields to a call's view (e.g. its destination).
    """

    types: frozenset[str]

    def check(self, event: dict[str, Any]) -> None: ...

    def apply(self, seq: int, event: dict[str, Any]) -> None: ...

    def rows(self, events: list[dict[str, Any]]) -> list[StateRow]: ...

    def call_extras(self, call_id: str) -> dict[str, Any]: ...


#: Events to submit, or a function building them from the state current under the write lock.
EventsOrBuilder = list[ev.BaseEvent] | Callable[[], list[ev.BaseEvent]]


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """A unit to register at first start, from the station layout."""

    unit_id: str
    station_id: str
    station_location: Point
    capability: Capability
    device_id: str | None = None


def county_timezone(config: dict[str, Any]) -> ZoneInfo:
    """Return ``[county] timezone`` (IANA name, ``Asia/Shanghai`` by default) or raise naming it."""
    name = (config.get("county", {}) or {}).get("timezone", "Asia/Shanghai")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError("county.timezone", f"county.timezone: not an IANA time zone name "
                                                 f"(e.g. Asia/Shanghai), got {name!r}") from None


class DispatchService:
    """Owns the dispatch state; the only writer of the event log.

    Parameters
    ----------
    store
        The event store (opened by `start`).
    router
        The routing engine (`routing.engine.Router`): ETAs for recommendations.
    units
        The fleet to register on first start (ignored when the log already holds units).
    config
        The loaded ``config.toml``.
    clock
        Returns the current UTC time (tests pass a fake).
    """

    def __init__(self, store: Store, router: Any, units: Iterable[UnitSpec], config: dict[str, Any],
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.router = router
        self.unit_specs = tuple(units)
        self.config = config
        self.policy_config = DispatchConfig.from_config(config)
        self.timezone = county_timezone(config)
        self.clock = clock
        self.state = State()
        self._lock = asyncio.Lock()
        self._listeners: list[Listener] = []
        # call id -> the sequence numbers of its events, for GET /api/calls/{id} (the bodies stay in
        # the store: a year of calls would otherwise hold ~130 MB of event dicts)
        self.history: dict[str, list[int]] = defaultdict(list)
        self.positions: dict[str, tuple[Point, datetime]] = {}
        # Several instances on one shared store (dispatch.bus): a lock held across instances while
        # an instance catches up with the log and appends, so every append is checked against the
        # whole log. None: this process is the only writer.
        self.write_guard: Callable[[], AbstractAsyncContextManager[Any]] | None = None
        # Extra fields of a unit as the API shows it (live position data: dispatch.positions).
        self.unit_extras: Callable[[str], dict[str, Any]] | None = None
        # True while listeners are told of an event another instance wrote (not to announce it again)
        self.folding_remote = False
        # The log's position: dispatch events and side folds' events share one sequence.
        self.last_seq = 0
        # An append failed: it may be in the log (its commit's reply was lost), so the next write first
        # folds what the log holds.
        self._unsynced = False
        self.side_folds: dict[str, SideFold] = {}
        # seq of each CallReceived -> its call id: the call a retried request (same idempotency key) made
        self._seq_call: dict[int, str] = {}

    def add_fold(self, side: SideFold) -> None:
        """Keep another domain's events in this log (before `start`, so they are replayed too)."""
        for t in side.types:
            self.side_folds[t] = side

    def call_extras(self, call_id: str) -> dict[str, Any]:
        """Return the side folds' fields of a call's view (e.g. its destination), without the call itself."""
        out: dict[str, Any] = {}
        for side in dict.fromkeys(self.side_folds.values()):
            out.update(side.call_extras(call_id))
        return out

    def call_view(self, call: Call) -> dict[str, Any]:
        """Return a call as the API and the consoles show it (with the side folds' fields)."""
        out = call_json(self.state, call)
        out.update(self.call_extras(call.id))
        return out

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, rebuild the state by replaying the log, register the fleet if new."""
        await self.store.open()
        logged = []
        async for item in self.store.iter_events():
            side = self.side_folds.get(item.event.get("type"))
            if side is not None:
                side.apply(item.seq, item.event)
            else:
                logged.append((item.seq, event_from_dict(item.event)))
            self._index(item.seq, item.event)
            self.last_seq = item.seq
        self.state = fold(logged)
        for unit_id, row in (await self.store.latest_positions()).items():
            self.positions[unit_id] = ((row.lon, row.lat), row.at)
        new = [s for s in self.unit_specs if s.unit_id not in self.state.units]
        if new:
            now = self.clock()
            await self.submit([ev.UnitRegistered(at=now, by=SYSTEM, unit_id=s.unit_id, station_id=s.station_id,
                                                 station_location=s.station_location, capability=s.capability,
                                                 device_id=s.device_id) for s in new])
        log.info("dispatch state rebuilt from %d events: %d calls, %d units",
                 self.last_seq, len(self.state.calls), len(self.state.units))

    async def close(self) -> None:
        await self.store.close()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(seq, event_dict)`` after each event is durable; return the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- the one write path -----------------------------------------------------------------

    async def submit(self, events: EventsOrBuilder, *, key: str | None = None) -> list[int]:
        """Apply events to the state, append them durably, then publish them.

        Parameters
        ----------
        events
            The events, or a function that builds them from ``self.state`` once the write lock is
            held and the state has caught up with the log (needed when an id depends on the state).
        key
            Idempotency key of the batch (a retried request is not appended twice).

        Raises
        ------
        DispatchError
            An event does not fit the state; nothing is written.
        """
        async with self._lock, (self.write_guard() if self.write_guard is not None else nullcontext()):
            if self.write_guard is not None or self._unsynced:
                await self._catch_up_locked()
                self._unsynced = False
            if callable(events):
                events = events()
            if not events:
                return []
            state = self.state
            dicts, sides, dispatch_events = [], [], []
            for i, event in enumerate(events, 1):
                if isinstance(event, dict):
                    side = self.side_folds.get(event.get("type"))
                    if side is None:
                        raise RuntimeError(f"no fold owns events of type {event.get('type')!r}")
                    side.check(event)
                    dicts.append(event)
                    sides.append(side)
                else:
                    state = apply(state, event, seq=self.last_seq + i)
                    dispatch_events.append(event)
                    dicts.append(event_to_dict(event))
                    sides.append(None)
            rows = self._state_rows(self.state, state, dispatch_events)
            for side in dict.fromkeys(s for s in sides if s is not None):
                rows += side.rows([d for d, s in zip(dicts, sides) if s is side])
            seqs = await self._append_after_last(dicts, rows, key)
            if seqs and seqs[0] <= self.last_seq:
                return seqs  # a retried request whose events were written before: nothing new
            self.state = state
            self.last_seq = seqs[-1]
            for seq, d, side in zip(seqs, dicts, sides):
                if side is not None:
                    side.apply(seq, d)
                self._index(seq, d)
                for listener in list(self._listeners):
                    listener(seq, d)
            return seqs

    async def _append_after_last(self, dicts: list[dict[str, Any]], rows: list[StateRow],
                                 key: str | None) -> list[int]:
        """Append a batch built on the state at ``last_seq``; after any failure the next write catches up first.

        The store refuses the batch when the log has moved past ``last_seq`` (a `SeqConflict`), and
        a failed append may still be in the log (`StoreAmbiguousError`: its commit's reply was lost);
        either way only the log knows what it holds, so the next write folds it before building.
        """
        try:
            seqs = await self.store.append(dicts, state=rows, key=key, expected_seq=self.last_seq)
            if seqs and seqs[0] <= self.last_seq:
                return seqs
            if seqs != list(range(self.last_seq + 1, self.last_seq + 1 + len(dicts))):
                raise RuntimeError(f"store numbered events {seqs}, expected to follow {self.last_seq}")
            return seqs
        except BaseException:
            self._unsynced = True
            raise

    async def catch_up(self) -> int:
        """Fold the events other instances appended to the shared log; return how many were folded."""
        async with self._lock:
            return await self._catch_up_locked()

    async def _catch_up_locked(self) -> int:
        folded = 0
        async for item in self.store.iter_events(self.last_seq):
            self._fold_one(item.seq, item.event)
            folded += 1
        return folded

    async def fold_remote(self, seq: int, event: dict[str, Any]) -> int:
        """Fold an event another instance announced (seq order; a gap is filled from the store).

        Returns the number of events folded (0 when ``seq`` was already folded).
        """
        async with self._lock:
            if seq <= self.last_seq:
                return 0
            if seq == self.last_seq + 1:
                self._fold_one(seq, event)
                return 1
            return await self._catch_up_locked()

    def _fold_one(self, seq: int, event: dict[str, Any]) -> None:
        if seq != self.last_seq + 1:
            raise RuntimeError(f"event seq {seq} does not follow the log's seq {self.last_seq}")
        side = self.side_folds.get(event.get("type"))
        if side is not None:
            side.apply(seq, event)
        else:
            self.state = apply(self.state, event_from_dict(event), seq=seq)
        self.last_seq = seq
        self._index(seq, event)
        self.folding_remote = True
        try:
            for listener in list(self._listeners):
                listener(seq, event)
        finally:
            self.folding_remote = False

    def _index(self, seq: int, event: dict[str, Any]) -> None:
        call_id = event.get("call_id")
        if call_id:
            self.history[call_id].append(seq)
            if event.get("type") == "CallReceived":
                self._seq_call[seq] = call_id

    @staticmethod
    def _state_rows(before: State, after: State, events: list[ev.BaseEvent]) -> list[StateRow]:
        """Rows of every call and unit the events touched, directly or through each other."""
        calls, units = set(), set()
        for e in events:
            if getattr(e, "call_id", None):
                calls.add(e.call_id)
            if getattr(e, "unit_id", None):
                units.add(e.unit_id)
        # a call's events move its unit (cancel, close) ...
        for call_id in list(calls):
            history = after.assignments.get(call_id) or ()
            if history:
                units.add(history[-1].unit_id)
        # ... and a unit's events move the call it held (finishing it, a breakdown) or now holds
        for unit_id in list(units):
            for state in (before, after):
                unit = state.units.get(unit_id)
                if unit is not None and unit.current_call:
                    calls.add(unit.current_call)
        rows = [StateRow("call", c, call_row(after, after.calls[c])) for c in sorted(calls)]
        rows += [StateRow("unit", u, to_dict(after.units[u])) for u in sorted(units)]
        return rows

    # -- commands ---------------------------------------------------------------------------

    def next_call_id(self, now: datetime) -> str:
        return f"C{now.strftime('%Y%m%d')}-{len(self.state.calls) + 1:05d}"

    async def receive_call(self, *, location: Point, complaint: str, priority: int, by: str,
                           symptom_onset: datetime | None = None, caller_phone: str | None = None,
                           notes: str = "", place_name: str | None = None,
                           key: str | None = None) -> tuple[Call, Ranking]:
        """Record a 120 call and rank the units that could go."""
        built: list[str] = []

        def build() -> list[ev.BaseEvent]:
            # under the write lock: the call id is the next one of the log as it stands
            now = self.clock()
            built.append(self.next_call_id(now))
            return [ev.CallReceived(
                at=now, by=by, call_id=built[-1], location=location, complaint=complaint, priority=priority,
                received_at=now, symptom_onset=symptom_onset, caller_phone=caller_phone, notes=notes,
                place_name=place_name)]

        seqs = await self.submit(build, key=key)
        call = self._call_at_seq(seqs[0])
        return call, await self.recommendations(call.id)

    def _call_at_seq(self, seq: int) -> Call:
        """The call an event (a new call, or an earlier request retried with its key) is about."""
        call_id = self._seq_call.get(seq)
        if call_id is None or call_id not in self.state.calls:
            raise ApiError(409, "conflict", f"idempotency key: the earlier request's call (seq {seq}) is not known")
        return self.state.calls[call_id]

    async def call_history(self, call_id: str) -> list[dict[str, Any]]:
        """Return a call's events in log order, each with its ``seq`` (read from the store)."""
        logged = await self.store.events_at(self.history.get(call_id, []))
        return [dict(item.event, seq=item.seq) for item in logged]

    def local_hour(self, at: datetime | None = None) -> int:
        """Return the county's local hour (0-23) now or at ``at``: the routing time-of-day factor's key."""
        return (at or self.clock()).astimezone(self.timezone).hour

    async def recommendations(self, call_id: str) -> Ranking:
        """Rank the available units for a call by road ETA plus turnout (ONE bounded search).

        Times are driven at the local hour's time-of-day factor (``[routing.time_of_day_factor]``).
        """
        call = self.get_call(call_id)
        state, now = self.state, self.clock()
        return await asyncio.to_thread(recommend, call, state.units.values(), self.router, now=now,
                                       config=self.policy_config, positions=self.positions,
                                       hour=self.local_hour(now))

    async def assign(self, call_id: str, unit_id: str, *, by: str, reason: str | None = None) -> None:
        """Send a unit; when it is not the recommended one, the reason is required and recorded."""
        call = self.get_call(call_id)
        unit = self.get_unit(unit_id)
        if unit.status not in ASSIGNABLE_STATUSES:
            raise ApiError(409, "unit_busy", f"unit_id: unit {unit_id} is {unit.status}, not available")
        ranking = await self.recommendations(call.id)
        best = ranking.best
        recommended = best.unit_id if best is not None else None
        if recommended is not None and recommended != unit_id and not (reason and reason.strip()):
            raise ApiError(400, "reason_required",
                           f"reason: unit {unit_id} is not the recommended {recommended}; give the reason "
                           "for the override")
        await self.submit([ev.UnitAssigned(at=self.clock(), by=by, call_id=call_id, unit_id=unit_id,
                                           recommended_unit_id=recommended,
                                           override_reason=reason if recommended != unit_id else None)])

    async def accept(self, unit_id: str, *, by: str) -> None:
        unit = self.get_unit(unit_id)
        if unit.current_call is None:
            raise ApiError(409, "no_assignment", f"unit_id: unit {unit_id} has no assignment to accept")
        await self.submit([ev.AssignmentAccepted(at=self.clock(), by=by, call_id=unit.current_call,
                                                 unit_id=unit_id)])

    async def decline(self, unit_id: str, reason: str, *, by: str) -> None:
        unit = self.get_unit(unit_id)
        if unit.current_call is None:
            raise ApiError(409, "no_assignment", f"unit_id: unit {unit_id} has no assignment to decline")
        await self.submit([ev.AssignmentDeclined(at=self.clock(), by=by, call_id=unit.current_call,
                                                 unit_id=unit_id, reason=reason)])
        await self._offer_queue()

    async def set_status(self, unit_id: str, status: str, *, by: str, reason: str | None = None) -> None:
        self.get_unit(unit_id)
        await self.submit([ev.UnitStatusChanged(at=self.clock(), by=by, unit_id=unit_id,
                                                status=UnitStatus(status), reason=reason)])
        await self._offer_queue()

    async def cancel(self, call_id: str, reason: str, *, by: str) -> None:
        self.get_call(call_id)
        await self.submit([ev.CallCancelled(at=self.clock(), by=by, call_id=call_id, reason=reason)])
        await self._offer_queue()

    async def close_call(self, call_id: str, *, by: str, reason: str | None = None) -> None:
        self.get_call(call_id)
        await self.submit([ev.CallClosed(at=self.clock(), by=by, call_id=call_id, reason=reason)])
        await self._offer_queue()

    async def _offer_queue(self) -> None:
        """Offer waiting calls (priority, then age) to units that are free, best ETA first.

        The offer is an assignment by ``system`` that the crew accepts or declines like any other;
        a decline puts the call back at the head of its priority, and it is not offered again to a
        unit that declined it.
        """
        while self.state.queue:
            call = self.state.calls[self.state.queue[0]]
            declined = {a.unit_id for a in self.state.assignments.get(call.id, ()) if a.declined_at}
            ranking = await self.recommendations(call.id)
            best = next((o for o in ranking if o.unit_id not in declined), None)
            if best is None:
                return  # it waits; the dispatcher may still send a unit that declined it

            def offer(call_id: str = call.id, unit_id: str = best.unit_id) -> list[ev.BaseEvent]:
                # under the write lock: while the ranking was computed a dispatcher may have sent
                # this call a unit, or sent the unit elsewhere; then nothing is offered
                unit = self.state.units.get(unit_id)
                if call_id not in self.state.queue or unit is None or not unit.assignable:
                    return []
                return [ev.UnitAssigned(at=self.clock(), by=SYSTEM, call_id=call_id, unit_id=unit_id,
                                        recommended_unit_id=unit_id)]

            await self.submit(offer)

    # -- queries ----------------------------------------------------------------------------

    def get_call(self, call_id: str) -> Call:
        try:
            return self.state.calls[call_id]
        except KeyError:
            raise ApiError(404, "not_found", f"call_id: no call {call_id!r}") from None

    def get_unit(self, unit_id: str) -> Unit:
        try:
            return self.state.units[unit_id]
        except KeyError:
            raise ApiError(404, "not_found", f"unit_id: no unit {unit_id!r}") from None


def call_row(state: State, call: Call) -> dict[str, Any]:
    """Return a call with its assignments: the current-state table's row (nothing derived from other calls)."""
    out = to_dict(call)
    out["location"] = {"lon": call.location[0], "lat": call.location[1]}
    current = state.current_assignment(call.id)
    out["assignment"] = to_dict(current) if current is not None else None
    out["assignments"] = [to_dict(a) for a in state.assignments.get(call.id, ())]
    return out


def call_json(state: State, call: Call) -> dict[str, Any]:
    """Return a call as the API shows it: its row and its place in the queue."""
    out = call_row(state, call)
    out["queue_position"] = state.queue.index(call.id) + 1 if call.id in state.queue else None
    return out
