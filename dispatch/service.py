"""The dispatch service layer: commands in, events appended and synced, state folded, listeners told.

Asyncio, but no HTTP: `dispatch.http` turns requests into the commands below. Every change is one
event appended to the store (synced to disk) BEFORE the in-memory state moves on and before the
caller is answered, so an acknowledged call survives any crash; start-up replays the log.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
from collections import OrderedDict, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dispatch import events as ev
from dispatch.codec import event_from_dict, event_to_dict, to_dict
from dispatch.errors import (CallStateError, NoAssignmentError, OverrideReasonRequired, RankingStaleError,
                             UnitBusyError, UnknownIdError, ValidationError)
from dispatch.model import ASSIGNABLE_STATUSES, Call, Capability, Point, State, Unit, UnitStatus
from dispatch.policy import DispatchConfig, Ranking, recommend
from dispatch.state import apply, fold
from dispatch.store import StateRow, Store, StoreError, StoreTimeout
from ems.errors import EmsError

log = logging.getLogger(__name__)

SYSTEM = "system"

# A layout station's kind decides its units' capability unless the layout says otherwise: the
# centre and the substations carry doctor-led ALS crews (6 medical staff per substation, seed 000);
# a township emergency point's 2-person crew is taken as BLS.
CAPABILITY_BY_KIND = {"centre": Capability.ALS, "substation": Capability.ALS, "point": Capability.BLS}



class Origin(enum.Enum):
    """Where an event a listener is told of was written."""

    LOCAL = "local"    # by this instance (it announces it to the others)
    REMOTE = "remote"  # by another instance on the shared log, folded here


#: ``listener(seq, event_dict, origin)``, called after the event is durable, in log order.
Listener = Callable[[int, dict[str, Any], Origin], None]
#: Derives events from a batch before it is written, appended in the same transaction:
#: ``reaction(state_after, [(dispatch event dict), ...]) -> side-fold event dicts``.
Reaction = Callable[[State, list[dict[str, Any]]], list[dict[str, Any]]]
#: The cross-instance writer lock (dispatch.bus), or None when this process is the only writer.
WriteGuard = Callable[[], AbstractAsyncContextManager[Any]]
#: Latest position of each unit: ``unit id -> ((lon, lat), at)``, written by the live positions.
Positions = MutableMapping[str, tuple[Point, datetime]]


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
class Shown:
    """A ranked list as this service gave it for a call: what a dispatcher chooses from."""

    id: str
    call_id: str
    ranking: Ranking

    @property
    def best_unit_id(self) -> str | None:
        return self.ranking.best.unit_id if self.ranking.best is not None else None


#: Ranked lists remembered per open call (the newest ones): an assignment names the one it acted on.
SHOWN_PER_CALL = 16


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
    side_folds
        Other domains' events kept in this log (e.g. the centers' patients), replayed with it.
    reactions
        Events derived from each batch and written in its transaction (e.g. the milestones a status
        change stamps): they cannot be lost between a cause and its effect.
    write_guard
        The cross-instance writer lock (`dispatch.bus`); None when this process is the only writer.
    positions
        The latest unit positions, shared with the live positions (`dispatch.positions.Live`) that
        write them; loaded from the store at start.
    """

    def __init__(self, store: Store, router: Any, units: Iterable[UnitSpec], config: dict[str, Any],
                 clock: Callable[[], datetime] = utcnow, *, side_folds: Sequence[SideFold] = (),
                 reactions: Sequence[Reaction] = (), write_guard: WriteGuard | None = None,
                 positions: Positions | None = None) -> None:
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
        self.positions: Positions = positions if positions is not None else {}
        # Several instances on one shared store (dispatch.bus): a lock held across instances while
        # an instance catches up with the log and appends, so every append is checked against the
        # whole log. None: this process is the only writer.
        self.write_guard = write_guard
        self.reactions = tuple(reactions)
        # The log's position: dispatch events and side folds' events share one sequence.
        self.last_seq = 0
        # An append failed: it may be in the log (its commit's reply was lost), so the next write first
        # folds what the log holds.
        self._unsynced = False
        # The last append that failed in the store, (when, why); None once an append succeeds again
        # (readiness: `dispatch.health`).
        self.write_failure: tuple[datetime, str] | None = None
        self.side_folds: dict[str, SideFold] = {t: side for side in side_folds for t in side.types}
        # call id -> the ranked lists given for it, newest last (an assignment names the one it acted on)
        self._shown: dict[str, OrderedDict[str, Shown]] = {}
        self._shown_ids = itertools.count(1)
        # seq of each CallReceived -> its call id: the call a retried request (same idempotency key) made
        self._seq_call: dict[int, str] = {}

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
        """Call ``listener(seq, event_dict, origin)`` after each event is durable; return the unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    # -- the one write path -----------------------------------------------------------------

    async def submit(self, events: EventsOrBuilder, *, key: str | None = None,
                     fingerprint: str | None = None) -> list[int]:
        """Apply events to the state, append them durably, then publish them.

        Parameters
        ----------
        events
            The events, or a function that builds them from ``self.state`` once the write lock is
            held and the state has caught up with the log (needed when an id depends on the state).
        key
            Idempotency key of the batch (a retried request is not appended twice).
        fingerprint
            What identifies the request behind ``key`` (the HTTP edge hashes it): the same key with
            another fingerprint is refused (`dispatch.store.IdempotencyConflict`).

        Raises
        ------
        DispatchError
            An event does not fit the state; nothing is written.
        """
        async with self._write_lock(), (self.write_guard() if self.write_guard is not None else nullcontext()):
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
            if self.reactions and dispatch_events:
                for derived in self._react(state, [d for d, side in zip(dicts, sides) if side is None]):
                    dicts.append(derived)
                    sides.append(self.side_folds[derived["type"]])
            rows = self._state_rows(self.state, state, dispatch_events)
            for side in dict.fromkeys(s for s in sides if s is not None):
                rows += side.rows([d for d, s in zip(dicts, sides) if s is side])
            seqs = await self._append_after_last(dicts, rows, key, fingerprint)
            if seqs and seqs[0] <= self.last_seq:
                return seqs  # a retried request whose events were written before: nothing new
            self.state = state
            self.last_seq = seqs[-1]
            for seq, d, side in zip(seqs, dicts, sides):
                if side is not None:
                    side.apply(seq, d)
                self._index(seq, d)
                for listener in list(self._listeners):
                    listener(seq, d, Origin.LOCAL)
            return seqs

    @asynccontextmanager
    async def _write_lock(self) -> AsyncIterator[None]:
        """Hold the write lock, waiting for it no longer than one store deadline.

        Requests that arrive together while the store hangs queue here; each is answered within
        one deadline (`StoreTimeout`, a 503) instead of waiting for every write ahead of it.
        """
        deadline_s = self.store.deadlines.operation_s
        try:
            await asyncio.wait_for(self._lock.acquire(), deadline_s)
        except asyncio.TimeoutError:
            raise StoreTimeout(f"store: the writes ahead of this one did not finish within {deadline_s:g} s "
                               "(service.store_deadline_s)",
                               operation="write lock", deadline_s=deadline_s) from None
        try:
            yield
        finally:
            self._lock.release()

    def _react(self, state: State, dispatch_dicts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The events the reactions derive from a batch, each checked by its fold (one that does not fit is left out)."""
        out = []
        for reaction in self.reactions:
            for derived in reaction(state, dispatch_dicts):
                side = self.side_folds.get(derived.get("type"))
                if side is None:
                    raise RuntimeError(f"no fold owns derived events of type {derived.get('type')!r}")
                try:
                    side.check(derived)
                except EmsError as e:  # e.g. a milestone recorded by hand later makes this one out of order
                    log.warning("derived %s not recorded: %s", derived.get("type"), e)
                    continue
                out.append(derived)
        return out

    async def _append_after_last(self, dicts: list[dict[str, Any]], rows: list[StateRow],
                                 key: str | None, fingerprint: str | None = None) -> list[int]:
        """Append a batch built on the state at ``last_seq``; after any failure the next write catches up first.

        The store refuses the batch when the log has moved past ``last_seq`` (a `SeqConflict`), and
        a failed append may still be in the log (`StoreAmbiguousError`: its commit's reply was lost);
        either way only the log knows what it holds, so the next write folds it before building.
        """
        try:
            seqs = await self.store.append(dicts, state=rows, key=key, fingerprint=fingerprint,
                                           expected_seq=self.last_seq)
            if seqs and seqs[0] <= self.last_seq:
                return seqs
            if seqs != list(range(self.last_seq + 1, self.last_seq + 1 + len(dicts))):
                raise RuntimeError(f"store numbered events {seqs}, expected to follow {self.last_seq}")
            self.write_failure = None
            return seqs
        except StoreError as e:
            self._unsynced = True
            self.write_failure = (self.clock(), str(e))
            raise
        except BaseException:
            self._unsynced = True
            raise

    @property
    def unsynced(self) -> bool:
        """Whether the last append failed, so the state may lag the log until the next write catches up."""
        return self._unsynced

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
        for listener in list(self._listeners):
            listener(seq, event, Origin.REMOTE)

    def _index(self, seq: int, event: dict[str, Any]) -> None:
        call_id = event.get("call_id")
        if call_id:
            self.history[call_id].append(seq)
            if event.get("type") == "CallReceived":
                self._seq_call[seq] = call_id
            elif self._shown and event.get("type") in ("CallCancelled", "CallClosed"):
                self._shown.pop(call_id, None)

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
                           key: str | None = None, fingerprint: str | None = None) -> tuple[Call, Shown]:
        """Record a 120 call and rank the units that could go (the list the dispatcher is shown)."""
        built: list[str] = []

        def build() -> list[ev.BaseEvent]:
            # under the write lock: the call id is the next one of the log as it stands
            now = self.clock()
            built.append(self.next_call_id(now))
            return [ev.CallReceived(
                at=now, by=by, call_id=built[-1], location=location, complaint=complaint, priority=priority,
                received_at=now, symptom_onset=symptom_onset, caller_phone=caller_phone, notes=notes,
                place_name=place_name)]

        seqs = await self.submit(build, key=key, fingerprint=fingerprint)
        call = self._call_at_seq(seqs[0])
        return call, await self.show(call.id)

    def _call_at_seq(self, seq: int) -> Call:
        """The call an event (a new call, or an earlier request retried with its key) is about."""
        call_id = self._seq_call.get(seq)
        if call_id is None or call_id not in self.state.calls:
            raise CallStateError(f"Idempotency-Key: the earlier request's call (seq {seq}) is not known")
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

    async def show(self, call_id: str) -> Shown:
        """Rank the units for a call and remember the list under an id, for the assignment made from it."""
        ranking = await self.recommendations(call_id)
        shown = Shown(f"R{next(self._shown_ids)}", call_id, ranking)
        lists = self._shown.setdefault(call_id, OrderedDict())
        lists[shown.id] = shown
        while len(lists) > SHOWN_PER_CALL:
            lists.popitem(last=False)
        return shown

    def shown(self, call_id: str, ranking_id: str) -> Shown:
        """Return a list `show` gave for the call, or raise `RankingStaleError` naming it."""
        found = self._shown.get(call_id, {}).get(ranking_id)
        if found is None:
            raise RankingStaleError(f"ranking_id: {ranking_id[:40]!r} is not a ranked list this service holds for "
                                    f"call {call_id}; fetch the recommendations again")
        return found

    async def assign(self, call_id: str, unit_id: str, *, by: str, reason: str | None = None,
                     ranking_id: str | None = None) -> None:
        """Send a unit; when it is not the recommended one, the reason is required and recorded.

        ``ranking_id`` names the ranked list the dispatcher chose from (`show`): its first unit is
        the recommendation recorded and the one an override is measured against. Without it the
        units are ranked again now.
        """
        call = self.get_call(call_id)
        unit = self.get_unit(unit_id)
        if unit.status not in ASSIGNABLE_STATUSES:
            raise UnitBusyError(f"unit_id: unit {unit_id} is {unit.status}, not available")
        if ranking_id is not None:
            recommended = self.shown(call.id, ranking_id).best_unit_id
        else:
            best = (await self.recommendations(call.id)).best
            recommended = best.unit_id if best is not None else None
        if recommended is not None and recommended != unit_id and not (reason and reason.strip()):
            raise OverrideReasonRequired(f"reason: unit {unit_id} is not the recommended {recommended}; give the "
                                         "reason for the override")
        await self.submit([ev.UnitAssigned(at=self.clock(), by=by, call_id=call_id, unit_id=unit_id,
                                           recommended_unit_id=recommended,
                                           override_reason=reason if recommended != unit_id else None)])

    async def accept(self, unit_id: str, *, by: str) -> None:
        unit = self.get_unit(unit_id)
        if unit.current_call is None:
            raise NoAssignmentError(f"unit_id: unit {unit_id} has no assignment to accept")
        await self.submit([ev.AssignmentAccepted(at=self.clock(), by=by, call_id=unit.current_call,
                                                 unit_id=unit_id)])

    async def decline(self, unit_id: str, reason: str, *, by: str) -> None:
        unit = self.get_unit(unit_id)
        if unit.current_call is None:
            raise NoAssignmentError(f"unit_id: unit {unit_id} has no assignment to decline")
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
            raise UnknownIdError(f"call_id: no call {call_id!r}") from None

    def get_unit(self, unit_id: str) -> Unit:
        try:
            return self.state.units[unit_id]
        except KeyError:
            raise UnknownIdError(f"unit_id: no unit {unit_id!r}") from None


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
