"""The twin: a simulated county that drives a running dispatch service through its real API.

A dispatcher places the calls the demand model draws (`simulation.demand.plan_calls`: the same
arrival profile, call locations, complaint mix and service times as the planner's simulator) and
sends the recommended unit; each ambulance's crew, holding its own crew token, accepts, drives
the road route posting GPS fixes to ``/osmand`` as Traccar Client does, reports its statuses,
records chest pain and stroke milestones (uploading an ECG for STEMIs whose cath lab is activated
from the field), takes the patient to the hospital the centers' policy chooses, and drives back.

Time runs ``speed`` times faster than the wall clock: a 900 s on-scene time lasts 90 s at speed
10. Everything the service records is stamped by its own clock (fixes with the wall-clock time), so
a twin run looks like a shift played fast. Consecutive fixes are therefore ``speed`` times farther
apart than a real ambulance could drive: the service's ``gps.max_speed_kph`` must allow for it
(`service_config_for_twin`); the twin checks after each leg that its fixes were taken and says so
loudly when they were not.

The crews act by their unit's status as the service reports it, so a twin started on a service
with units mid-job carries the jobs on, and a dispatcher may override it at any time (reassign,
cancel, put a unit out of service): a 409 makes the crew read its unit again and act on that.
See docs/twin.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import time
import tomllib
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from dispatch.gps import KNOT_MPS, distance_m
from dispatch.model import Complaint, UnitStatus
from routing.errors import RoutingError
from simulation.config import SimulationConfig
from simulation.demand import DAY_S, CallPlan, county_demand, plan_calls
from simulation.errors import SimulationError
from simulation.travel import DemandPoints

log = logging.getLogger(__name__)

UTC = timezone.utc
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
#: Traccar Client stamps fixes in whole epoch seconds: two fixes of a unit are at least this far
#: apart on the wall clock, or the second would be a duplicate.
MIN_FIX_GAP_WALL_S = 1.0
#: Reported accuracy of a fix (m): a phone's GNSS under open sky.
FIX_ACCURACY_M = 8.0
#: Speed used when no route can be had (straight line), m/s (36 km/h).
FALLBACK_SPEED_MPS = 10.0
#: Calls a bounded run waits for at most, after the last was placed, for the units to come home
#: (in simulated seconds: a long transport plus handover plus the drive back).
DRAIN_SIM_S = 6 * 3600.0
#: Stroke screening values given to the centers' destination policy; the same as the planner's
#: simulator (simulation/model.py): RACE 6 is LVO-positive (RACE >= 5, Pérez de la Ossa et al.,
#: Stroke 2014), 2 is not; last known well 1.5 h ago is inside any thrombolysis window (4.5 h), 30 h
#: ago outside every window.
RACE_LVO, RACE_NO_LVO = 6, 2
LKW_IN_WINDOW_S, LKW_OUT_S = 1.5 * 3600.0, 30 * 3600.0
#: The first ECG within 10 minutes of first medical contact (ESC 2017 STEMI guideline; the
#: Chinese chest pain center standard uses the same target): drawn uniform in 2-8 min on scene.
FIRST_ECG_S = (120.0, 480.0)
# Statuses in which a crew has nothing to do until the service tells it otherwise.
IDLE = frozenset({UnitStatus.AVAILABLE_AT_STATION, UnitStatus.OUT_OF_SERVICE})
CARDIO_STROKE = frozenset({Complaint.CHEST_PAIN, Complaint.STROKE})


class TwinError(SimulationError):
    """The twin cannot start (token file, service unreachable) or was misconfigured."""


class TwinHttpError(TwinError):
    """The service answered a request with an error status.

    Attributes
    ----------
    status
        The HTTP status; ``code`` and ``message`` are the service's JSON error fields.
    """

    def __init__(self, method: str, path: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


# -- pure helpers --------------------------------------------------------------------------------

def bearing_deg(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Return the initial great-circle bearing from ``a`` to ``b`` (``(lon, lat)``), degrees 0-360 from north."""
    lon1, lat1, lon2, lat2 = map(math.radians, (a[0], a[1], b[0], b[1]))
    dl = lon2 - lon1
    x = math.sin(dl) * math.cos(lat2)
    y = math.cos(lat1) * math.sin(lat2) - math.sin(lat1) * math.cos(lat2) * math.cos(dl)
    return math.degrees(math.atan2(x, y)) % 360.0


@dataclass(frozen=True)
class Track:
    """A polyline to drive along, WGS84 ``(lon, lat)`` vertices with their distances from the start.

    Attributes
    ----------
    coords
        The vertices, at least one.
    cum_m
        Distance along the line to each vertex (m), starting at 0.
    """

    coords: tuple[tuple[float, float], ...]
    cum_m: tuple[float, ...]

    @classmethod
    def of(cls, coords: Sequence[Sequence[float]]) -> Track:
        """Build a track from ``(lon, lat)`` vertices.

        Raises
        ------
        TwinError
            ``coords`` is empty or a vertex is not a finite ``(lon, lat)`` pair.
        """
        points = []
        for i, c in enumerate(coords):
            if len(c) < 2 or not all(math.isfinite(float(v)) for v in c[:2]):
                raise TwinError(f"route coordinates[{i}]: expected a finite (lon, lat) pair, got {c!r}")
            points.append((float(c[0]), float(c[1])))
        if not points:
            raise TwinError("route coordinates: expected at least one (lon, lat) vertex, got none")
        cum = [0.0]
        for p, q in zip(points, points[1:]):
            cum.append(cum[-1] + distance_m(p[0], p[1], q[0], q[1]))
        return cls(tuple(points), tuple(cum))

    @property
    def length_m(self) -> float:
        """Return the length of the track (m)."""
        return self.cum_m[-1]

    @property
    def end(self) -> tuple[float, float]:
        """Return the last vertex."""
        return self.coords[-1]

    def at(self, along_m: float) -> tuple[float, float, float]:
        """Return ``(lon, lat, bearing_deg)`` at ``along_m`` metres from the start (clamped to the track)."""
        if len(self.coords) == 1:
            return self.coords[0][0], self.coords[0][1], 0.0
        d = min(max(along_m, 0.0), self.length_m)
        i = int(np.searchsorted(self.cum_m, d, side="right")) - 1
        i = min(max(i, 0), len(self.coords) - 2)
        # skip zero-length segments so the bearing is that of a real piece of road
        j = i
        while j < len(self.coords) - 2 and self.cum_m[j + 1] - self.cum_m[j] <= 0.0:
            j += 1
        a, b = self.coords[j], self.coords[j + 1]
        seg = self.cum_m[j + 1] - self.cum_m[j]
        f = 0.0 if seg <= 0.0 else min(max((d - self.cum_m[j]) / seg, 0.0), 1.0)
        return a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, bearing_deg(a, b)


def osmand_params(device_id: str, lon: float, lat: float, at_s: int, *, speed_mps: float, bearing: float,
                  accuracy_m: float = FIX_ACCURACY_M, battery_pct: float = 100.0) -> dict[str, str]:
    """Return a fix as Traccar Client sends it over the OsmAnd protocol (query string fields).

    ``speed`` is in knots and ``timestamp`` in whole epoch seconds, as the app sends them.
    """
    return {"id": device_id, "lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "timestamp": str(int(at_s)),
            "speed": f"{speed_mps / KNOT_MPS:.2f}", "bearing": f"{bearing % 360.0:.1f}",
            "altitude": "0", "accuracy": f"{accuracy_m:.1f}", "batt": f"{battery_pct:.0f}"}


def ecg_png(width: int = 200, height: int = 60) -> bytes:
    """Return a small greyscale PNG of a synthetic ECG trace (a stand-in for the monitor's export)."""
    rows = [bytearray([255] * width) for _ in range(height)]
    base = height * 2 // 3
    for x in range(width):
        phase = x % 50
        # P wave, QRS spike, T wave of one beat every 50 px
        y = base - (4 if 8 <= phase < 14 else 0) - (30 if phase == 20 else 0) + (8 if phase == 22 else 0) \
            - (7 if 30 <= phase < 40 else 0)
        rows[max(0, min(height - 1, y))][x] = 0
    raw = b"".join(b"\x00" + bytes(r) for r in rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


# -- tokens ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TwinTokens:
    """The tokens the twin acts with: a dispatcher's and one crew token per unit."""

    dispatcher: str
    crews: Mapping[str, str]


def read_tokens(path: Path) -> TwinTokens:
    """Read a token file (dispatch/auth.py format): the first dispatcher (or admin) token and the crews'.

    Raises
    ------
    TwinError
        The file is missing or not TOML, or holds no dispatcher or admin token.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise TwinError(f"token file {path}: not found (ems serve writes var/tokens.toml on first start)") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise TwinError(f"token file {path}: not valid TOML ({e})") from e
    entries = [e for e in data.get("token", []) if isinstance(e, dict) and isinstance(e.get("value"), str)]
    dispatcher = next((e["value"] for e in entries if e.get("role") == "dispatcher"), None) or \
        next((e["value"] for e in entries if e.get("role") == "admin"), None)
    if dispatcher is None:
        raise TwinError(f"token file {path}: expected a [[token]] with role = \"dispatcher\" (or admin), found none")
    crews: dict[str, str] = {}
    for e in entries:
        if e.get("role") == "crew" and isinstance(e.get("unit"), str):
            crews.setdefault(e["unit"], e["value"])
    return TwinTokens(dispatcher, crews)


# -- calls -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TwinCall:
    """One call of the twin and what will happen on it (drawn up front, as the simulator does).

    ``t_s`` is simulated seconds since the start of the run.
    """

    t_s: float
    location: tuple[float, float]
    place_name: str
    complaint: Complaint
    priority: int
    transport: bool
    stemi: bool
    cathlab_from_field: bool
    lvo: bool
    lkw_in_window: bool
    call_processing_s: float
    on_scene_s: float
    handover_s: float
    turnout_s: Mapping[UnitStatus, float]


def twin_sim_config(config: Mapping[str, Any], calls_per_hour: float | None = None) -> SimulationConfig:
    """Return the simulator's settings for the twin; ``calls_per_hour`` replaces the daily profile by a flat rate.

    Raises
    ------
    TwinError
        ``calls_per_hour`` is not a positive number.
    """
    sim = SimulationConfig.from_config(config)
    if calls_per_hour is None:
        return sim
    if not (math.isfinite(calls_per_hour) and calls_per_hour > 0):
        raise TwinError(f"calls_per_hour must be a number > 0, got {calls_per_hour!r}")
    return sim.with_(calls_per_day=calls_per_hour * 24.0, hourly_profile=(1.0,) * 24, weekday_factor=(1.0,) * 7)


def _call_of(plan: CallPlan, points: DemandPoints, i: int, t_s: float) -> TwinCall:
    p = int(plan.point[i])
    return TwinCall(
        t_s=t_s, location=(float(points.lon[p]), float(points.lat[p])), place_name=points.names[p],
        complaint=plan.complaints[int(plan.complaint[i])], priority=int(plan.priority[i]),
        transport=bool(plan.transport[i]), stemi=bool(plan.stemi[i]),
        cathlab_from_field=bool(plan.cathlab_from_field[i]), lvo=bool(plan.lvo[i]),
        lkw_in_window=bool(plan.lkw_in_window[i]), call_processing_s=float(plan.call_processing_s[i]),
        on_scene_s=float(plan.on_scene_s[i]), handover_s=float(plan.handover_s[i]),
        turnout_s={s: float(v[i]) for s, v in plan.turnout_s.items()})


def call_stream(sim: SimulationConfig, points: DemandPoints, *, seed: int, start_of_day_s: float,
                first_now: bool = True) -> Iterator[TwinCall]:
    """Yield the twin's calls forever, in time order.

    Day ``k`` of the run is replication ``k`` of `plan_calls` (seeded by ``seed``), so the calls
    follow the same hourly and weekday profile, places and mix as the simulator's.

    Parameters
    ----------
    start_of_day_s
        Local time of day (s) at which the run starts: calls of day 0 before it are skipped.
    first_now
        Move the first call to the start of the run (the county is busy at once).
    """
    day = 0
    first = first_now
    while True:
        plan = plan_calls(sim, points, days=1.0, seed=seed, replication=day)
        for i in range(plan.n):
            t = day * DAY_S + float(plan.t_s[i]) - start_of_day_s
            if t < 0:
                continue
            yield _call_of(plan, points, i, 0.0 if first else t)
            first = False
        day += 1


def draw_call(sim: SimulationConfig, complaint: Complaint, location: tuple[float, float],
              rng: np.random.Generator) -> TwinCall:
    """Draw what happens on a call the twin did not place (a dispatcher's), by its complaint."""
    spec = sim.complaints.get(complaint) or next(iter(sim.complaints.values()))
    u = rng.uniform(size=5)
    service = sim.service
    stemi = complaint is Complaint.CHEST_PAIN and bool(u[1] < spec.stemi)

    def one(dist: Any) -> float:
        return float(dist.sample(rng, 1)[0])

    return TwinCall(t_s=0.0, location=location, place_name="", complaint=complaint, priority=2,
                    transport=bool(u[0] < spec.transport), stemi=stemi,
                    cathlab_from_field=stemi and bool(u[2] < spec.cathlab_from_field),
                    lvo=complaint is Complaint.STROKE and bool(u[3] < spec.lvo),
                    lkw_in_window=complaint is Complaint.STROKE and bool(u[4] < spec.lkw_in_window),
                    call_processing_s=one(service.call_processing), on_scene_s=one(service.on_scene),
                    handover_s=one(service.handover),
                    turnout_s={s: one(d) for s, d in service.turnout.items()})


def service_config_for_twin(config: dict[str, Any], speed: float) -> dict[str, Any]:
    """Return ``config`` with the GPS jump limit widened for a twin running ``speed`` times faster.

    Fixes are stamped with the wall clock while the ambulances drive ``speed`` times faster, so the
    speed implied between two fixes is ``speed`` times the driven speed: ``gps.max_speed_kph`` is
    multiplied by ``speed`` (never lowered).
    """
    gps = dict(config.get("gps", {}) or {})
    limit = float(gps.get("max_speed_kph", 250.0))
    gps["max_speed_kph"] = max(limit, limit * float(speed))
    return {**config, "gps": gps}


# -- options and report --------------------------------------------------------------------------------

@dataclass(frozen=True)
class TwinOptions:
    """How the twin runs.

    Attributes
    ----------
    url
        The service, e.g. ``http://127.0.0.1:8120``.
    token_file
        The service's token file (a dispatcher token and one crew token per unit it drives).
    speed
        Simulated seconds per wall-clock second.
    calls_per_hour
        A flat call rate; None: the config's daily profile (``[simulation] calls_per_day``).
    duration_s
        Stop after this many wall-clock seconds; None: no limit.
    calls
        Stop after this many calls were placed and every unit came home; None: no limit.
    seed
        Seed of the call streams and the crews' draws.
    fix_interval_s
        Simulated seconds between two fixes of a moving unit (at least one wall second apart).
    poll_interval_s
        Wall seconds between two reads of the units' statuses.
    first_call_now
        Place the first call at once.
    """

    url: str
    token_file: Path
    speed: float = 10.0
    calls_per_hour: float | None = None
    duration_s: float | None = None
    calls: int | None = None
    seed: int = 1
    fix_interval_s: float = 5.0
    poll_interval_s: float = 0.5
    first_call_now: bool = True

    def __post_init__(self) -> None:
        for name in ("speed", "fix_interval_s", "poll_interval_s"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise TwinError(f"{name} must be a number > 0, got {value!r}")
        if self.duration_s is not None and not self.duration_s > 0:
            raise TwinError(f"duration_s must be > 0 seconds, got {self.duration_s!r}")
        if self.calls is not None and (not isinstance(self.calls, int) or self.calls < 0):
            raise TwinError(f"calls must be an integer >= 0, got {self.calls!r}")


@dataclass(frozen=True)
class TwinReport:
    """What a twin run did (counts), and the problems it met."""

    wall_s: float
    sim_s: float
    calls_placed: int
    calls_assigned: int
    calls_finished: int
    fixes_posted: int
    legs_with_fixes_not_taken: int
    statuses_posted: int
    milestones_posted: int
    ecgs_uploaded: int
    destinations_asked: int
    conflicts: int
    errors: int

    def to_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-ready dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class _Counts:
    calls_placed: int = 0
    calls_assigned: int = 0
    calls_finished: int = 0
    fixes_posted: int = 0
    legs_with_fixes_not_taken: int = 0
    statuses_posted: int = 0
    milestones_posted: int = 0
    ecgs_uploaded: int = 0
    destinations_asked: int = 0
    conflicts: int = 0
    errors: int = 0


@dataclass
class _Crew:
    """One unit's crew: where it is and what it knows (mutable, owned by its task)."""

    unit_id: str
    token: str
    device_id: str
    station: tuple[float, float]
    position: tuple[float, float]
    status: UnitStatus
    call_id: str | None = None
    prior_status: UnitStatus = UnitStatus.AVAILABLE_AT_STATION
    last_fix_s: int = 0
    local_update: float = 0.0            # monotonic time of the last state taken from our own request
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    warned_fixes: bool = False


# -- the twin --------------------------------------------------------------------------------------------

class Twin:
    """A simulated county driving one service (see the module docstring)."""

    def __init__(self, options: TwinOptions, *, config: Mapping[str, Any], county: Any, router: Any) -> None:
        self.options, self.config, self.county, self.router = options, config, county, router
        self.sim = twin_sim_config(config, options.calls_per_hour)
        self.points = county_demand(county.places)
        self.tokens = read_tokens(options.token_file)
        self.rng = np.random.default_rng(np.random.SeedSequence([int(options.seed), 7_001]))
        self.counts = _Counts()
        self.crews: dict[str, _Crew] = {}
        self.plans: dict[str, TwinCall] = {}
        self.placed: list[str] = []
        self.session: Any = None
        self._t0 = time.monotonic()
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- clock ---------------------------------------------------------------------------------

    def sim_now_s(self) -> float:
        """Return simulated seconds since the start of the run."""
        return (time.monotonic() - self._t0) * self.options.speed

    async def sleep(self, sim_s: float) -> None:
        """Wait ``sim_s`` simulated seconds."""
        await asyncio.sleep(max(0.0, sim_s) / self.options.speed)

    # -- HTTP ----------------------------------------------------------------------------------

    async def request(self, method: str, path: str, token: str | None, *, json: Any = None,
                      data: bytes | None = None, params: Mapping[str, str] | None = None,
                      content_type: str | None = None) -> Any:
        """Call the service; return the JSON body (None when empty).

        Raises
        ------
        TwinHttpError
            The service answered 4xx or 5xx.
        """
        headers = {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        async with self.session.request(method, self.options.url.rstrip("/") + path, json=json, data=data,
                                        params=params, headers=headers) as response:
            body = await response.read()
            if response.status >= 400:
                try:
                    err = await response.json(content_type=None)
                except ValueError:
                    err = {}
                err = err if isinstance(err, dict) else {}
                raise TwinHttpError(method, path, response.status, str(err.get("error", "http_error")),
                                    str(err.get("message", body[:200].decode("utf-8", "replace"))))
            if not body:
                return None
            try:
                return await response.json(content_type=None)
            except ValueError:
                return None

    # -- start-up ------------------------------------------------------------------------------

    async def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the service answers ``/api/health``.

        Raises
        ------
        TwinError
            No answer within ``timeout_s``.
        """
        import aiohttp

        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                await self.request("GET", "/api/health", None)
                return
            except (aiohttp.ClientError, TwinHttpError, OSError) as e:
                last = e
            await asyncio.sleep(0.5)
        raise TwinError(f"url: {self.options.url} did not answer /api/health within {timeout_s:.0f} s ({last})")

    async def load_crews(self) -> None:
        """Read the units and make a crew for each unit the token file has a crew token for."""
        units = (await self.request("GET", "/api/units", self.tokens.dispatcher))["units"]
        missing = []
        for u in units:
            token = self.tokens.crews.get(u["id"])
            if token is None:
                missing.append(u["id"])
                continue
            station = (float(u["station_location"]["lon"]), float(u["station_location"]["lat"]))
            pos = u.get("position")
            position = (float(pos["lon"]), float(pos["lat"])) if pos else station
            self.crews[u["id"]] = _Crew(u["id"], token, str(u.get("device_id") or u["id"]), station, position,
                                        UnitStatus(u["status"]), u.get("current_call"))
        if missing:
            log.warning("twin: no crew token for unit(s) %s in %s: they are left to the dispatcher",
                        ", ".join(missing), self.options.token_file)
        if not self.crews:
            raise TwinError(f"token file {self.options.token_file}: no crew token for any unit of the service")

    # -- the run -------------------------------------------------------------------------------

    async def run(self) -> TwinReport:
        """Run until the bound of the options (or for ever); return what was done."""
        import aiohttp

        self._t0 = time.monotonic()
        timeout = aiohttp.ClientTimeout(total=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            self.session = session
            await self.wait_ready()
            await self.load_crews()
            log.info("twin: driving %d units of %s at speed %g", len(self.crews), self.options.url,
                     self.options.speed)
            workers = [self._spawn(self.watch(), "twin-watch")]
            workers += [self._spawn(self.crew_loop(c), f"twin-crew-{c.unit_id}") for c in self.crews.values()]
            main = asyncio.ensure_future(self.dispatch_calls())
            try:
                await asyncio.wait_for(main, self.options.duration_s)
            except asyncio.TimeoutError:
                pass
            finally:
                main.cancel()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(main, *self._tasks, return_exceptions=True)
        c = self.counts
        return TwinReport(wall_s=round(time.monotonic() - self._t0, 2), sim_s=round(self.sim_now_s(), 1),
                          **{k: getattr(c, k) for k in c.__dataclass_fields__})

    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.counts.errors += 1
            log.error("twin: task %s failed", task.get_name(), exc_info=task.exception())

    # -- the dispatcher ------------------------------------------------------------------------

    async def dispatch_calls(self) -> None:
        """Place the calls as their time comes; in a bounded run, then wait for the units to come home."""
        now_local = datetime.now(LOCAL_TZ)
        start_of_day_s = now_local.hour * 3600.0 + now_local.minute * 60.0 + now_local.second
        stream = call_stream(self.sim, self.points, seed=self.options.seed, start_of_day_s=start_of_day_s,
                             first_now=self.options.first_call_now)
        handlers = []
        for call in stream:
            if self.options.calls is not None and self.counts.calls_placed >= self.options.calls:
                break
            await self.sleep(call.t_s - self.sim_now_s())
            self.counts.calls_placed += 1
            handlers.append(self._spawn(self.take_call(call), "twin-call"))
        await asyncio.gather(*handlers, return_exceptions=True)
        await self.drain()

    async def take_call(self, call: TwinCall) -> None:
        """Take one call: place it, process it, send the recommended unit."""
        body = {"location": {"lon": call.location[0], "lat": call.location[1]}, "complaint": call.complaint.value,
                "priority": call.priority, "notes": "simulated call (ems twin)"}
        if call.place_name:
            body["place_name"] = call.place_name
        try:
            created = await self.request("POST", "/api/calls", self.tokens.dispatcher, json=body)
        except TwinHttpError as e:
            self.counts.errors += 1
            log.error("twin: call not taken: %s", e)
            return
        call_id = created["id"]
        self.plans[call_id] = call
        self.placed.append(call_id)
        log.info("twin: call %s: %s, priority %d, at %s", call_id, call.complaint.value, call.priority,
                 call.place_name or call.location)
        await self.sleep(call.call_processing_s)
        for attempt in range(3):
            current = await self.request("GET", f"/api/calls/{call_id}", self.tokens.dispatcher)
            if current["status"] != "queued":
                return  # a dispatcher (or the queue) already sent a unit, or cancelled the call
            recs = (await self.request("GET", f"/api/calls/{call_id}/recommendations", self.tokens.dispatcher))
            options = recs.get("recommendations") or []
            if not options:
                log.info("twin: call %s waits in the queue: no unit free", call_id)
                return  # the service offers it to the next unit that comes free
            unit_id = options[0]["unit_id"]
            try:
                await self.request("POST", f"/api/calls/{call_id}/assign", self.tokens.dispatcher,
                                   json={"unit_id": unit_id})
                self.counts.calls_assigned += 1
                log.info("twin: call %s: sent %s (ETA %.0f s)", call_id, unit_id, options[0]["eta_s"])
                return
            except TwinHttpError as e:
                if e.status not in (400, 409):
                    raise
                # the unit was taken meanwhile, or the ranking changed: read the state again
                self.counts.conflicts += 1
                log.info("twin: assigning %s to %s: %s; trying again", unit_id, call_id, e.message)
        log.warning("twin: call %s left in the queue after 3 attempts to assign it", call_id)

    async def drain(self) -> None:
        """Wait until every placed call has ended and every crew is idle (bounded runs)."""
        deadline = time.monotonic() + DRAIN_SIM_S / self.options.speed
        while time.monotonic() < deadline:
            await asyncio.sleep(max(self.options.poll_interval_s, 0.2))
            try:
                open_ids = {c["id"] for c in (await self.request(
                    "GET", "/api/calls", self.tokens.dispatcher, params={"status": "open"}))["calls"]}
            except TwinHttpError as e:
                self.counts.errors += 1
                log.error("twin: reading the open calls: %s", e)
                continue
            self.counts.calls_finished = sum(1 for c in self.placed if c not in open_ids)
            if not (open_ids & set(self.placed)) and all(c.status in IDLE for c in self.crews.values()):
                return
        log.warning("twin: %d call(s) still open when the run ended",
                    len(self.placed) - self.counts.calls_finished)

    # -- the units' statuses -------------------------------------------------------------------

    async def watch(self) -> None:
        """Read every unit's status; tell a crew when the service changed it (an assignment, an override)."""
        while True:
            sent = time.monotonic()
            try:
                units = (await self.request("GET", "/api/units", self.tokens.dispatcher))["units"]
            except TwinHttpError as e:
                self.counts.errors += 1
                log.error("twin: reading the units: %s", e)
                units = []
            for u in units:
                crew = self.crews.get(u["id"])
                if crew is None or crew.local_update > sent:
                    continue  # our own request answered a newer state than this read
                self._take_state(crew, u, local=False)
            await asyncio.sleep(self.options.poll_interval_s)

    def _take_state(self, crew: _Crew, unit: Mapping[str, Any], *, local: bool) -> None:
        status, call_id = UnitStatus(unit["status"]), unit.get("current_call")
        if local:
            crew.local_update = time.monotonic()
        if status is not crew.status or call_id != crew.call_id:
            if status is UnitStatus.DISPATCHED and crew.status is not UnitStatus.DISPATCHED:
                crew.prior_status = crew.status
            crew.status, crew.call_id = status, call_id
            if not local:
                crew.changed.set()  # the service changed the unit: wake the crew

    async def refresh(self, crew: _Crew) -> None:
        """Read the crew's own unit again."""
        self._take_state(crew, await self.request("GET", f"/api/units/{crew.unit_id}", crew.token), local=True)

    async def post_status(self, crew: _Crew, status: UnitStatus) -> None:
        """Report a status with the crew's token."""
        unit = await self.request("POST", f"/api/units/{crew.unit_id}/status", crew.token,
                                  json={"status": status.value})
        self.counts.statuses_posted += 1
        self._take_state(crew, unit, local=True)

    # -- the crews -----------------------------------------------------------------------------

    async def crew_loop(self, crew: _Crew) -> None:
        """Act on the unit's status, for ever; errors are reported and the crew carries on."""
        import aiohttp

        placed = False
        while True:
            crew.changed.clear()
            try:
                if not placed:
                    await self.post_fix(crew, crew.position, speed_mps=0.0, bearing=0.0)  # on the map at once
                    placed = True
                await self.act(crew)
            except TwinHttpError as e:
                if e.status == 409:
                    self.counts.conflicts += 1
                    log.info("twin: %s: %s; reading the unit again", crew.unit_id, e.message)
                else:
                    self.counts.errors += 1
                    log.error("twin: %s: %s", crew.unit_id, e)
                    await asyncio.sleep(1.0)
                await self._refresh_quietly(crew)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
                self.counts.errors += 1
                log.error("twin: %s: the service did not answer: %r", crew.unit_id, e)
                await asyncio.sleep(1.0)
                await self._refresh_quietly(crew)

    async def _refresh_quietly(self, crew: _Crew) -> None:
        import aiohttp

        try:
            await self.refresh(crew)
        except (TwinHttpError, aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
            self.counts.errors += 1
            log.error("twin: %s: reading the unit: %s", crew.unit_id, e)

    def plan_for(self, call_id: str, complaint: Complaint, location: tuple[float, float]) -> TwinCall:
        """Return the call's drawn future (drawn now for a call the twin did not place)."""
        plan = self.plans.get(call_id)
        if plan is None:
            plan = self.plans[call_id] = draw_call(self.sim, complaint, location, self.rng)
        return plan

    async def call_info(self, call_id: str) -> tuple[TwinCall, tuple[float, float]]:
        """Return the call's plan and location."""
        plan = self.plans.get(call_id)
        if plan is not None:
            return plan, plan.location
        call = await self.request("GET", f"/api/calls/{call_id}", self.tokens.dispatcher)
        location = (float(call["location"]["lon"]), float(call["location"]["lat"]))
        return self.plan_for(call_id, Complaint(call["complaint"]), location), location

    async def act(self, crew: _Crew) -> None:
        """Do the next step of the unit's job by its status."""
        s = crew.status
        if s in IDLE:
            await crew.changed.wait()
        elif s is UnitStatus.DISPATCHED:
            await self.accept(crew)
        elif s is UnitStatus.EN_ROUTE:
            await self.drive_to_scene(crew)
        elif s is UnitStatus.ON_SCENE:
            await self.on_scene(crew)
        elif s is UnitStatus.TRANSPORTING:
            await self.transport(crew)
        elif s is UnitStatus.AT_HOSPITAL:
            await self.handover(crew)
        else:  # returning, available_mobile
            await self.drive_home(crew)

    async def accept(self, crew: _Crew) -> None:
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.call_info(call_id)
        turnout = plan.turnout_s.get(crew.prior_status) or plan.turnout_s.get(UnitStatus.AVAILABLE_MOBILE, 15.0)
        if not await self.wait_unless_changed(crew, turnout):
            return
        unit = await self.request("POST", f"/api/units/{crew.unit_id}/accept", crew.token, json={})
        self.counts.statuses_posted += 1
        self._take_state(crew, unit, local=True)

    async def drive_to_scene(self, crew: _Crew) -> None:
        call_id = crew.call_id
        assert call_id is not None
        plan, location = await self.call_info(call_id)
        track, travel_s = None, None
        route = await self.request("GET", f"/api/units/{crew.unit_id}/route", crew.token)
        if route.get("route") and route.get("travel_s"):
            track = Track.of([crew.position, *route["route"]["geometry"]["coordinates"], location])
            travel_s = float(route["travel_s"])
        elif route.get("problem"):
            log.warning("twin: %s: the service gave no route (%s); routing locally", crew.unit_id, route["problem"])
        if track is None:
            track, travel_s = await self.local_route(crew.position, location)
        if await self.drive(crew, track, travel_s, UnitStatus.EN_ROUTE):
            await self.post_status(crew, UnitStatus.ON_SCENE)

    async def on_scene(self, crew: _Crew) -> None:
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.call_info(call_id)
        spent: float | None = 0.0
        if plan.complaint in CARDIO_STROKE:
            spent = await self.assess(crew, call_id, plan)
            if spent is None:
                return
        if not await self.wait_unless_changed(crew, plan.on_scene_s - spent):
            return
        if plan.transport:
            await self.post_status(crew, UnitStatus.TRANSPORTING)
        else:
            await self.post_status(crew, UnitStatus.RETURNING)  # finishes the call

    async def assess(self, crew: _Crew, call_id: str, plan: TwinCall) -> float | None:
        """Record the crew's chest pain or stroke milestones; return the simulated seconds spent (None: interrupted)."""
        ecg_s = float(self.rng.uniform(*FIRST_ECG_S))
        ecg_s = min(ecg_s, max(plan.on_scene_s - 60.0, 0.0))
        if not await self.wait_unless_changed(crew, ecg_s):
            return None
        path = f"/api/calls/{call_id}/milestones"
        if plan.complaint is Complaint.CHEST_PAIN:
            await self.milestone(crew, path, "first_ecg")
            if plan.stemi:
                await self.milestone(crew, path, "stemi_suspected")
                if plan.cathlab_from_field:
                    # the transmitted ECG is what the cath lab is activated on
                    await self.request("POST", f"/api/calls/{call_id}/ecg", crew.token, data=ecg_png(),
                                       content_type="image/png")
                    self.counts.ecgs_uploaded += 1
                    await self.milestone(crew, path, "cathlab_activated")
        else:
            lkw = datetime.now(UTC) - timedelta(seconds=LKW_IN_WINDOW_S if plan.lkw_in_window else LKW_OUT_S)
            await self.milestone(crew, path, "last_known_well", at=lkw)
            if plan.lvo or plan.lkw_in_window:
                # a positive screen the crew calls ahead about: a time-critical stroke
                await self.milestone(crew, path, "stroke_suspected")
        return ecg_s

    async def milestone(self, crew: _Crew, path: str, kind: str, at: datetime | None = None) -> None:
        body: dict[str, Any] = {"kind": kind}
        if at is not None:
            body["at"] = at.isoformat()
        await self.request("POST", path, crew.token, json=body)
        self.counts.milestones_posted += 1

    async def destination(self, crew: _Crew, call_id: str, plan: TwinCall) -> tuple[float, float]:
        """Return where the patient goes: the centers' choice for chest pain and stroke, else the nearest ED."""
        hospitals = {h.id: (h.lon, h.lat) for h in self.county.hospitals}
        if plan.complaint in CARDIO_STROKE:
            patient = await self.request("GET", f"/api/calls/{call_id}/patient", crew.token)
            chosen = patient.get("destination")
            if chosen is None:
                body: dict[str, Any] = {}
                if plan.complaint is Complaint.CHEST_PAIN:
                    body = {"stemi": plan.stemi, "field_cathlab_activated": plan.cathlab_from_field}
                else:
                    lkw = datetime.now(UTC) - timedelta(seconds=LKW_IN_WINDOW_S if plan.lkw_in_window else LKW_OUT_S)
                    body = {"befast_positive": True, "race_score": RACE_LVO if plan.lvo else RACE_NO_LVO,
                            "last_known_well": lkw.isoformat()}
                chosen = (await self.request("POST", f"/api/calls/{call_id}/destination", crew.token,
                                             json=body)).get("destination")
                self.counts.destinations_asked += 1
            if chosen and chosen.get("hospital_id") in hospitals:
                return hospitals[chosen["hospital_id"]]
            log.warning("twin: %s: no destination for %s; nearest hospital", crew.unit_id, call_id)
        return await asyncio.to_thread(self.nearest_hospital, crew.position)

    def nearest_hospital(self, origin: tuple[float, float]) -> tuple[float, float]:
        """Return the hospital with an emergency department nearest by road (any hospital when none has one)."""
        hospitals = list(self.county.hospitals)
        with_ed = [h for h in hospitals if "ed" in h.capabilities] or hospitals
        if not with_ed:
            raise TwinError(f"county {self.county.name}: has no hospital to take a patient to")
        best, best_s = with_ed[0], math.inf
        for h in with_ed:
            try:
                t = self.router.route(origin, (h.lon, h.lat)).travel_time_s
            except RoutingError:  # unreachable or off the network: timed as the crow flies
                t = distance_m(origin[0], origin[1], h.lon, h.lat) / FALLBACK_SPEED_MPS
            if t < best_s:
                best, best_s = h, t
        return best.lon, best.lat

    async def transport(self, crew: _Crew) -> None:
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.call_info(call_id)
        target = await self.destination(crew, call_id, plan)
        track, travel_s = await self.local_route(crew.position, target)
        if await self.drive(crew, track, travel_s, UnitStatus.TRANSPORTING):
            await self.post_status(crew, UnitStatus.AT_HOSPITAL)

    async def handover(self, crew: _Crew) -> None:
        call_id = crew.call_id
        assert call_id is not None
        plan, _ = await self.call_info(call_id)
        if await self.wait_unless_changed(crew, plan.handover_s):
            await self.post_status(crew, UnitStatus.RETURNING)

    async def drive_home(self, crew: _Crew) -> None:
        if crew.status is UnitStatus.AVAILABLE_MOBILE:
            await self.post_status(crew, UnitStatus.RETURNING)
        track, travel_s = await self.local_route(crew.position, crew.station)
        if await self.drive(crew, track, travel_s, UnitStatus.RETURNING):
            await self.post_status(crew, UnitStatus.AVAILABLE_AT_STATION)

    # -- moving ----------------------------------------------------------------------------------

    async def local_route(self, a: tuple[float, float], b: tuple[float, float]) -> tuple[Track, float]:
        """Return the road route from ``a`` to ``b`` (a straight line when the router has none)."""
        try:
            route = await asyncio.to_thread(self.router.route, a, b)
            coords = list(route.line.coords)
            return Track.of([a, *coords, b]), float(route.travel_time_s)
        except RoutingError as e:  # off the network or no path: the crew still gets there
            log.warning("twin: no road route from %s to %s (%s); driving straight", a, b, e)
            track = Track.of([a, b])
            return track, track.length_m / FALLBACK_SPEED_MPS

    async def wait_unless_changed(self, crew: _Crew, sim_s: float) -> bool:
        """Wait ``sim_s`` simulated seconds; return False when the service changed the unit meanwhile."""
        status, call_id = crew.status, crew.call_id
        try:
            await asyncio.wait_for(crew.changed.wait(), max(0.0, sim_s) / self.options.speed)
        except asyncio.TimeoutError:
            pass
        return crew.status is status and crew.call_id == call_id

    async def drive(self, crew: _Crew, track: Track, travel_s: float, status: UnitStatus) -> bool:
        """Drive along ``track`` in ``travel_s`` simulated seconds posting fixes; False when interrupted."""
        call_id = crew.call_id
        speed_mps = track.length_m / travel_s if travel_s > 0 else 0.0
        step_s = max(self.options.fix_interval_s, MIN_FIX_GAP_WALL_S * self.options.speed)
        posted_at: int | None = None
        t = 0.0
        while t < travel_s:
            dt = min(step_s, travel_s - t)
            try:
                await asyncio.wait_for(crew.changed.wait(), dt / self.options.speed)
            except asyncio.TimeoutError:
                pass
            if crew.status is not status or crew.call_id != call_id:
                return False  # reassigned, stood down or put out of service: the loop acts on the new state
            t += dt
            lon, lat, bearing = track.at(speed_mps * t)
            crew.position = (lon, lat)
            moving = t < travel_s
            posted_at = await self.post_fix(crew, crew.position, speed_mps=speed_mps if moving else 0.0,
                                            bearing=bearing)
        crew.position = track.end
        if posted_at is not None:
            await self.check_fixes_taken(crew, posted_at)
        return True

    async def post_fix(self, crew: _Crew, position: tuple[float, float], *, speed_mps: float,
                       bearing: float) -> int:
        """Post one fix to ``/osmand`` stamped with the wall clock (whole seconds); return its time."""
        now = time.time()
        if int(now) <= crew.last_fix_s:  # the same second as the last fix: Traccar would send it later
            await asyncio.sleep(crew.last_fix_s + 1 - now)
        at_s = max(int(time.time()), crew.last_fix_s + 1)
        crew.last_fix_s = at_s
        await self.request("POST", "/osmand", None,
                           params=osmand_params(crew.device_id, position[0], position[1], at_s,
                                                speed_mps=speed_mps, bearing=bearing))
        self.counts.fixes_posted += 1
        return at_s

    async def check_fixes_taken(self, crew: _Crew, at_s: int) -> None:
        """Check that the service holds the leg's last fix; say loudly when it does not."""
        unit = await self.request("GET", f"/api/units/{crew.unit_id}", crew.token)
        taken = unit.get("position_at")
        if taken is not None and datetime.fromisoformat(taken) >= datetime.fromtimestamp(at_s, UTC):
            return
        self.counts.legs_with_fixes_not_taken += 1
        if not crew.warned_fixes:
            crew.warned_fixes = True
            log.error("twin: %s: the service did not take the fix of %s (it holds %s): GPS filter? At speed %g "
                      "the service needs gps.max_speed_kph >= %g (EMS__GPS__MAX_SPEED_KPH)", crew.unit_id,
                      datetime.fromtimestamp(at_s, UTC).isoformat(), taken, self.options.speed,
                      250.0 * self.options.speed)


# -- entry points ----------------------------------------------------------------------------------------

async def run_twin(options: TwinOptions, *, config: Mapping[str, Any], county: Any = None,
                   router: Any = None) -> TwinReport:
    """Run the twin against the service at ``options.url``.

    Parameters
    ----------
    options
        The run's settings.
    config
        The loaded config (``[simulation]`` for the demand and service times, ``[county]``).
    county, router
        The county and its `routing.engine.Router` (the service's own when run inside it); loaded
        from ``config`` when None.

    Raises
    ------
    TwinError
        The token file cannot be used or the service does not answer.
    """
    if county is None or router is None:
        county, router = await asyncio.to_thread(load_county_router, config)
    return await Twin(options, config=config, county=county, router=router).run()


def load_county_router(config: Mapping[str, Any]) -> tuple[Any, Any]:
    """Load the config's county and a router on its road network (blocking: seconds)."""
    from geodata.county import load_county
    from routing.engine import Router
    from routing.network import load_network

    county = load_county((config.get("county") or {}).get("name", "ningxiang"))
    return county, Router(load_network(county), config=dict(config), boundary=None)


def serve_twin_ctx(config: Mapping[str, Any], speed: float, *, calls_per_hour: float | None = None,
                   seed: int = 1) -> Callable[[Any], AsyncIterator[None]]:
    """Return an aiohttp ``cleanup_ctx`` that runs the twin inside ``ems serve`` once the service listens.

    It uses the service's own county, router and token file (the demo one unless ``--token-file``).
    """
    from dispatch.http import RUNTIME

    service = config.get("service", {}) or {}
    host = str(service.get("host", "127.0.0.1"))
    host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    url = f"http://{host}:{int(service.get('port', 8120))}"

    async def ctx(app: Any) -> AsyncIterator[None]:
        runtime = app[RUNTIME]
        options = TwinOptions(url=url, token_file=Path(runtime["token_path"]), speed=speed,
                              calls_per_hour=calls_per_hour, seed=seed)
        twin = Twin(options, config=config, county=runtime["county"], router=runtime["router"])

        async def run() -> None:
            try:
                await twin.run()
            except TwinError as e:
                log.error("twin stopped: %s", e)

        task = asyncio.ensure_future(run())
        print(f"ems: the twin drives the county at speed {speed:g} (turn it off: ems serve without --twin, "
              "make run TWIN=0)", flush=True)
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    return ctx


__all__ = ["Twin", "TwinOptions", "TwinReport", "TwinCall", "TwinTokens", "TwinError", "TwinHttpError", "Track",
           "run_twin", "serve_twin_ctx", "service_config_for_twin", "read_tokens", "call_stream", "draw_call",
           "osmand_params", "bearing_deg", "ecg_png", "twin_sim_config", "load_county_router"]
