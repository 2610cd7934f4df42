"""The planner's simulations through the service: start a layout comparison, follow it, read its report.

Routes (an extension of `dispatch.http`):

- ``POST /api/simulations`` (planner, admin) queue a comparison of 1-4 of the county's layouts
  (``days`` 1-365, ``replications`` 1-20, ``seed``, ``move_up``); answers 202 with the run's id, 429
  when the queue is full;
- ``GET /api/simulations`` the runs, newest first, with status and progress;
- ``GET /api/simulations/{sim_id}`` one run; once done, its ``summary`` (``summary.json`` of
  docs/simulation.md);
- ``GET /api/simulations/{sim_id}/report`` the HTML report, ``.../calls.csv`` the per-call CSV
  (409 until the run is done).

Each run is a child process (``python -m dispatch.sim_http RUN_DIR``, the config on its stdin) so
the event loop never waits on the simulator; at most ``[planner] concurrent_runs`` (default 1) run
at once, each on ``[planner] workers_per_run`` processes (default 1), and at most
``[planner] queued_runs`` (default 4) wait. A run lives in ``<data_dir>/simulations/<id>/``:
``run.json`` (what was asked, by whom, when), ``status.json`` (written by the service),
``progress.json`` and ``outcome.json`` (written by the child), ``run.log`` (the child's stderr) and
the simulator's ``summary.json``, ``calls.csv``, ``report.html``. At start-up the directory is read
again: finished runs are listed, runs that never started are queued again, and runs the service
stopped in the middle are marked failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import os
import re
import secrets
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from dispatch.auth import Role
from dispatch.errors import ValidationError
from dispatch.errors_http import ApiError, bad_request, not_found
from dispatch.http import json_response, principal
from dispatch.routes import RouteTable
from dispatch.runtime import RUNTIME, Extension, Runtime

log = logging.getLogger(__name__)

STARTERS = {Role.PLANNER, Role.ADMIN}
READERS = {Role.PLANNER, Role.ADMIN, Role.DISPATCHER}
MAX_LAYOUTS = 4
MAX_DAYS = 365
MAX_REPLICATIONS = 20
# Lines of the child's stderr quoted when it dies without saying why.
LOG_TAIL_LINES = 3

SIMULATION_BODY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["layouts"],
    "properties": {
        "layouts": {"type": "array", "minItems": 1, "maxItems": MAX_LAYOUTS,
                    "items": {"type": "string", "minLength": 1, "maxLength": 100},
                    "description": "names of the county's layouts (GET /api/layouts), each once; "
                                   "differences are against the first"},
        "days": {"type": "number", "minimum": 1, "maximum": MAX_DAYS, "description": "days per replication (30)"},
        "replications": {"type": "integer", "minimum": 1, "maximum": MAX_REPLICATIONS,
                         "description": "replications (5)"},
        "seed": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1,
                 "description": "seed of the random streams (1)"},
        "move_up": {"type": "boolean", "description": "re-post idle units to emptied stations (false)"},
    },
}
RUN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "id": {"type": "string"}, "status": {"type": "string", "enum": ["queued", "running", "done", "failed"]},
    "layouts": {"type": "array", "items": {"type": "string"}}, "days": {"type": "number"},
    "replications": {"type": "integer"}, "seed": {"type": "integer"}, "move_up": {"type": "boolean"},
    "by": {"type": "string"}, "created_at": {"type": "string"}, "started_at": {"type": ["string", "null"]},
    "finished_at": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]},
    "queue_position": {"type": ["integer", "null"]},
    "progress": {"type": ["object", "null"], "description": "phase (preparing, simulating, writing), done, total"},
    "report_url": {"type": ["string", "null"]}, "calls_url": {"type": ["string", "null"]},
    "key_figures": {"type": ["object", "null"], "description": "per layout: response mean and p90 (min), "
                                                                "share within target"},
    "summary": {"type": "object", "description": "summary.json (GET of one run, when done)"}}}

_ID = re.compile(r"^S\d{8}T\d{6}Z-[0-9a-f]{6}$")


class RunStatus(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class SimulationRequest:
    """What a planner asked for (already checked against the county)."""

    layouts: tuple[str, ...]
    days: float
    replications: int
    seed: int
    move_up: bool = False


@dataclass(frozen=True, slots=True)
class SimulationRun:
    """One run: the request and where it stands."""

    id: str
    request: SimulationRequest
    by: str
    created_at: datetime
    status: RunStatus = RunStatus.QUEUED
    started_at: datetime | None = None
    finished_at: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Limits:
    """How many runs at once, how many waiting, and the processes each run uses."""

    concurrent_runs: int = 1
    queued_runs: int = 4
    workers_per_run: int = 1

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Limits:
        """Read ``[planner]``; every value must be an integer >= 1 (``queued_runs`` >= 0)."""
        section = config.get("planner") or {}
        values = {}
        for field in dataclasses.fields(cls):
            value = section.get(field.name, field.default)
            least = 0 if field.name == "queued_runs" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ValidationError(f"planner.{field.name}",
                                      f"planner.{field.name}: must be an integer >= {least}, got {value!r}")
            values[field.name] = value
        return cls(**values)


# -- files --------------------------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` atomically (a reader never sees half a file)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    """Return the JSON in ``path``, or None when it is missing or unreadable."""
    try:
        return orjson.loads(path.read_bytes())
    except (FileNotFoundError, orjson.JSONDecodeError):
        return None


def new_run_id(now: datetime) -> str:
    """Return a fresh run id that sorts by creation time (``S20250101T080000Z-1a2b3c``)."""
    return f"S{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def run_to_file(run: SimulationRun) -> dict[str, Any]:
    req = run.request
    return {"id": run.id, "layouts": list(req.layouts), "days": req.days, "replications": req.replications,
            "seed": req.seed, "move_up": req.move_up, "by": run.by, "created_at": _iso(run.created_at)}


def run_from_files(directory: Path) -> SimulationRun | None:
    """Read a run back from its directory, or None when ``run.json`` is missing or malformed."""
    data = read_json(directory / "run.json")
    if not isinstance(data, dict) or data.get("id") != directory.name:
        return None
    try:
        request = SimulationRequest(tuple(data["layouts"]), float(data["days"]), int(data["replications"]),
                                    int(data["seed"]), bool(data.get("move_up", False)))
        run = SimulationRun(data["id"], request, str(data["by"]), datetime.fromisoformat(data["created_at"]))
    except (KeyError, TypeError, ValueError):
        return None
    status = read_json(directory / "status.json") or {}
    try:
        state = RunStatus(status.get("status", "queued"))
    except ValueError:
        state = RunStatus.QUEUED
    return dataclasses.replace(run, status=state, started_at=_parse_time(status.get("started_at")),
                               finished_at=_parse_time(status.get("finished_at")), reason=status.get("reason"))


# -- the runs -----------------------------------------------------------------------------------

class Simulations:
    """The runs of this service: queue, child processes, and their directories."""

    def __init__(self, root: Path, config: dict[str, Any], limits: Limits) -> None:
        self.root = root
        self.config = config
        self.limits = limits
        self.runs: dict[str, SimulationRun] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._summaries: dict[str, dict[str, Any]] = {}

    def directory(self, run_id: str) -> Path:
        return self.root / run_id

    # start-up and shutdown

    def load(self) -> None:
        """Read the runs already on disk: list the finished, queue the unstarted, fail the interrupted."""
        if not self.root.is_dir():
            return
        for directory in sorted(self.root.iterdir()):
            if not (directory.is_dir() and _ID.match(directory.name)):
                continue
            run = run_from_files(directory)
            if run is None:
                log.warning("simulations: %s has no readable run.json; left alone", directory)
                continue
            if run.status is RunStatus.RUNNING:
                run = self._set(dataclasses.replace(
                    run, status=RunStatus.FAILED, finished_at=_now(),
                    reason="interrupted: the service stopped during the run; start it again"))
            elif run.status is RunStatus.DONE and not (directory / "summary.json").is_file():
                run = self._set(dataclasses.replace(run, status=RunStatus.FAILED,
                                                    reason="summary.json: missing from the finished run's directory"))
            self.runs[run.id] = run
            if run.status is RunStatus.QUEUED:
                self._queue.put_nowait(run.id)

    def start(self) -> None:
        """Start the tasks that take runs off the queue."""
        self._workers = [asyncio.create_task(self._work(), name=f"simulations-{i}")
                         for i in range(self.limits.concurrent_runs)]

    async def close(self) -> None:
        """Stop the tasks; a run in progress is stopped and marked failed."""
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers = []

    # requests

    def queued(self) -> list[str]:
        """Return the ids waiting, oldest first."""
        return sorted((r.id for r in self.runs.values() if r.status is RunStatus.QUEUED),
                      key=lambda i: self.runs[i].created_at)

    def submit(self, request: SimulationRequest, by: str) -> SimulationRun:
        """Queue a run.

        Raises
        ------
        ApiError
            429 when ``queued_runs`` runs are already waiting.
        """
        waiting = len(self.queued())
        if waiting >= self.limits.queued_runs:
            raise ApiError(429, "queue_full", f"simulations: {waiting} runs are already waiting (at most "
                                              f"{self.limits.queued_runs}); start this one when one has finished")
        now = _now()
        run = SimulationRun(new_run_id(now), request, by, now)
        directory = self.directory(run.id)
        directory.mkdir(parents=True)
        write_json(directory / "run.json", run_to_file(run))
        self._set(run)
        self._queue.put_nowait(run.id)
        return run

    def get(self, run_id: str) -> SimulationRun:
        """Return the run, or raise a 404 naming the id."""
        run = self.runs.get(run_id) if _ID.match(run_id) else None
        if run is None:
            raise not_found(f"sim_id: no simulation {run_id!r}")
        return run

    def progress(self, run: SimulationRun) -> dict[str, Any] | None:
        """Return what the child last reported (phase, done, total), while it runs."""
        if run.status is not RunStatus.RUNNING:
            return None
        data = read_json(self.directory(run.id) / "progress.json")
        return data if isinstance(data, dict) else {"phase": "starting", "done": 0, "total": None}

    def summary(self, run: SimulationRun) -> dict[str, Any] | None:
        """Return the run's ``summary.json`` (read once), when it is done."""
        if run.status is not RunStatus.DONE:
            return None
        if run.id not in self._summaries:
            data = read_json(self.directory(run.id) / "summary.json")
            if not isinstance(data, dict):
                return None
            self._summaries[run.id] = data
        return self._summaries[run.id]

    # running

    def _set(self, run: SimulationRun) -> SimulationRun:
        self.runs[run.id] = run
        write_json(self.directory(run.id) / "status.json",
                   {"status": run.status.value, "started_at": _iso(run.started_at),
                    "finished_at": _iso(run.finished_at), "reason": run.reason})
        return run

    async def _work(self) -> None:
        while True:
            run_id = await self._queue.get()
            run = self.runs.get(run_id)
            if run is None or run.status is not RunStatus.QUEUED:
                continue
            run = self._set(dataclasses.replace(run, status=RunStatus.RUNNING, started_at=_now()))
            try:
                ok, reason = await self._run_child(run)
            except asyncio.CancelledError:
                self._set(dataclasses.replace(run, status=RunStatus.FAILED, finished_at=_now(),
                                              reason="interrupted: the service stopped during the run; start it again"))
                raise
            except OSError as e:
                ok, reason = False, f"simulation process: could not start ({e})"
            except Exception as e:
                # A bug here must not stop the queue: the run fails with the reason, the traceback is logged.
                log.exception("simulation %s: the service failed to run it", run.id)
                ok, reason = False, f"internal error: {type(e).__name__}: {e}"
            status = RunStatus.DONE if ok else RunStatus.FAILED
            self._set(dataclasses.replace(run, status=status, finished_at=_now(), reason=reason))
            log.info("simulation %s %s%s", run.id, status.value, f": {reason}" if reason else "")

    async def _run_child(self, run: SimulationRun) -> tuple[bool, str | None]:
        """Run the simulator in a child process; return (done, reason when not)."""
        from ems.config import PROJECT_ROOT

        directory = self.directory(run.id)
        payload = orjson.dumps({"config": self.config, "workers": self.limits.workers_per_run}, default=str)
        with open(directory / "run.log", "wb") as stderr:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "dispatch.sim_http", str(directory), cwd=str(PROJECT_ROOT),
                stdin=asyncio.subprocess.PIPE, stdout=stderr, stderr=stderr)
            try:
                await proc.communicate(payload)
            finally:
                if proc.returncode is None:  # cancelled: the service is stopping
                    proc.kill()
                    await asyncio.shield(proc.wait())
        outcome = read_json(directory / "outcome.json")
        if proc.returncode == 0 and isinstance(outcome, dict) and outcome.get("ok"):
            return True, None
        if isinstance(outcome, dict) and outcome.get("reason"):
            return False, str(outcome["reason"])
        tail = (directory / "run.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()
        last = " | ".join(tail[-LOG_TAIL_LINES:]) if tail else "no output"
        return False, f"simulation process: ended with exit code {proc.returncode} ({last})"


# -- JSON ---------------------------------------------------------------------------------------

KEY_FIGURES = {"response_mean_min": "response_min.mean", "response_p90_min": "response_min.p90",
               "within_target_share": "within_target.all"}


def key_figures(summary: dict[str, Any] | None) -> dict[str, dict[str, float | None]] | None:
    """Return per layout the few figures a list shows (means over replications)."""
    if not summary:
        return None
    out = {}
    for name, layout in (summary.get("layouts") or {}).items():
        metrics = layout.get("metrics") or {}
        out[name] = {k: (metrics.get(m) or {}).get("mean") for k, m in KEY_FIGURES.items()}
    return out


def run_json(sims: Simulations, run: SimulationRun, *, with_summary: bool = False) -> dict[str, Any]:
    req = run.request
    queued = sims.queued()
    done = run.status is RunStatus.DONE
    summary = sims.summary(run)
    out = {"id": run.id, "status": run.status.value, "layouts": list(req.layouts), "days": req.days,
           "replications": req.replications, "seed": req.seed, "move_up": req.move_up, "by": run.by,
           "created_at": _iso(run.created_at), "started_at": _iso(run.started_at),
           "finished_at": _iso(run.finished_at), "reason": run.reason,
           "queue_position": queued.index(run.id) + 1 if run.id in queued else None,
           "progress": sims.progress(run),
           "report_url": f"/api/simulations/{run.id}/report" if done else None,
           "calls_url": f"/api/simulations/{run.id}/calls.csv" if done else None,
           "key_figures": key_figures(summary)}
    if with_summary and summary is not None:
        out["summary"] = summary
    return out


# -- routes -------------------------------------------------------------------------------------

SIMULATIONS = web.AppKey("simulations", Simulations)

routes = RouteTable()


def check_request(body: dict[str, Any], county: Any) -> SimulationRequest:
    """Turn a validated body into a request; unknown or repeated layouts are a 400 naming them."""
    names = list(body["layouts"])
    known = sorted(county.layouts) if county is not None else []
    unknown = [n for n in names if n not in known]
    if unknown:
        raise bad_request(f"layouts: {', '.join(map(repr, unknown))} "
                          f"{'is not a layout' if len(unknown) == 1 else 'are not layouts'} of this county "
                          f"(known: {', '.join(known)})", "unknown_layout")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise bad_request(f"layouts: each layout once, got {', '.join(map(repr, repeated))} more than once")
    return SimulationRequest(tuple(names), float(body.get("days", 30)), int(body.get("replications", 5)),
                             int(body.get("seed", 1)), bool(body.get("move_up", False)))


@routes.route("POST", "/api/simulations", tag="simulation", roles=STARTERS, body=SIMULATION_BODY, status=202,
           response=RUN_SCHEMA,
           summary="Start a comparison of the county's layouts (queued; 429 when the queue is full)")
async def start_simulation(request: web.Request, body: dict[str, Any]) -> web.Response:
    sims = request.app[SIMULATIONS]
    run = sims.submit(check_request(body, request.app[RUNTIME].county), principal(request).by)
    return json_response(run_json(sims, run), 202)


@routes.route("GET", "/api/simulations", tag="simulation", roles=READERS,
           summary="The simulations, newest first, with status and progress")
async def list_simulations(request: web.Request) -> web.Response:
    sims = request.app[SIMULATIONS]
    runs = sorted(sims.runs.values(), key=lambda r: (r.created_at, r.id), reverse=True)
    return json_response({"simulations": [run_json(sims, r) for r in runs],
                          "limits": dataclasses.asdict(sims.limits)})


@routes.route("GET", "/api/simulations/{sim_id}", tag="simulation", roles=READERS, response=RUN_SCHEMA,
           summary="One simulation: status, progress, the reason it failed, its summary when done")
async def get_simulation(request: web.Request) -> web.Response:
    sims = request.app[SIMULATIONS]
    return json_response(run_json(sims, sims.get(request.match_info["sim_id"]), with_summary=True))


def finished_file(request: web.Request, name: str, content_type: str) -> web.FileResponse:
    sims = request.app[SIMULATIONS]
    run = sims.get(request.match_info["sim_id"])
    if run.status is not RunStatus.DONE:
        raise ApiError(409, "not_ready", f"sim_id: simulation {run.id} is {run.status.value}, not done")
    path = sims.directory(run.id) / name
    if not path.is_file():
        raise not_found(f"sim_id: simulation {run.id} has no {name}")
    return web.FileResponse(path, headers={"Content-Type": content_type, "Cache-Control": "private, max-age=3600"})


@routes.route("GET", "/api/simulations/{sim_id}/report", tag="simulation", roles=READERS,
           response={"type": "string", "description": "text/html"},
           summary="The simulation's HTML report (stands alone: plots embedded)")
async def simulation_report(request: web.Request) -> web.StreamResponse:
    response = finished_file(request, "report.html", "text/html; charset=utf-8")
    # The report is the simulator's own HTML: no scripts, plots as data: images.
    response.headers["Content-Security-Policy"] = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
                                                   "frame-ancestors 'self'")
    return response


@routes.route("GET", "/api/simulations/{sim_id}/calls.csv", tag="simulation", roles=READERS,
           response={"type": "string", "description": "text/csv"},
           summary="Every simulated call of the run as CSV (docs/simulation.md)")
async def simulation_calls(request: web.Request) -> web.StreamResponse:
    response = finished_file(request, "calls.csv", "text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{request.match_info["sim_id"]}-calls.csv"'
    return response


@contextlib.asynccontextmanager
async def lifespan(app: web.Application, rt: Runtime) -> AsyncIterator[None]:
    """Read the runs on disk and take runs off the queue while the service runs."""
    from dispatch.bootstrap import data_dir_of

    config = dict(rt.config)
    sims = Simulations(data_dir_of(config) / "simulations", config, Limits.from_config(config))
    await asyncio.to_thread(sims.load)
    app[SIMULATIONS] = sims
    sims.start()
    try:
        yield
    finally:
        await sims.close()


EXTENSION = Extension("simulations", routes, features=("simulations",), lifespan=lifespan)


# -- the child process --------------------------------------------------------------------------

def run_simulation(directory: Path, config: dict[str, Any], *, workers: int = 1) -> None:
    """Run the comparison described by ``directory/run.json``; write its outputs and progress there.

    Parameters
    ----------
    directory
        The run's directory; ``progress.json`` is rewritten as replications finish, then
        ``summary.json``, ``calls.csv`` and ``report.html`` are written.
    config
        The service's configuration (``[county]``, ``[simulation]``, ``[routing]``, ``[dispatch]``,
        ``[targets]``).
    workers
        Processes for the replications (1: in this process).

    Raises
    ------
    EmsError
        The county, a layout or the simulation settings cannot be used.
    """
    from geodata.county import load_county
    from simulation.overrides import with_move_up
    from simulation.report import write_report
    from simulation.runner import run_scenarios
    from simulation.scenario import build_scenarios, resolve_layout
    from simulation.stats import summarise, write_calls_csv

    asked = orjson.loads((directory / "run.json").read_bytes())
    names, days = asked["layouts"], float(asked["days"])
    replications, seed = int(asked["replications"]), int(asked["seed"])
    config = with_move_up(config, bool(asked.get("move_up")))
    total = len(names) * replications
    progress = {"phase": "preparing", "done": 0, "total": total}
    write_json(directory / "progress.json", progress)
    started = time.perf_counter()
    county = load_county((config.get("county") or {}).get("name", "ningxiang"))
    layouts = [resolve_layout(county, n) for n in names]
    scenarios = build_scenarios(county, layouts, config=config)
    prepared = time.perf_counter()
    progress["phase"] = "simulating"
    write_json(directory / "progress.json", progress)

    def tick(_: Any) -> None:
        progress["done"] += 1
        write_json(directory / "progress.json", progress)

    results = run_scenarios(scenarios, days=days, replications=replications, seed=seed, workers=workers,
                            on_result=tick)
    finished = time.perf_counter()
    progress["phase"] = "writing"
    write_json(directory / "progress.json", progress)
    by_name = {s.name: s for s in scenarios}
    targets = config.get("targets") or {}
    run = {"county": county.name, "layouts": [s.name for s in scenarios], "days": days, "replications": replications,
           "seed": seed, "move_up": bool(asked.get("move_up")), "calls_per_day": scenarios[0].config.calls_per_day,
           "calls_simulated": sum(r.n_calls for runs in results.values() for r in runs),
           "prepare_s": round(prepared - started, 1), "simulate_s": round(finished - prepared, 1),
           "demand": "places.csv demand_weight", "simulation": asked["id"], "by": asked["by"]}
    summary = summarise(results, by_name, run=run,
                        urban_target_min=float(targets.get("urban_arrival_min", 10)),
                        rural_target_min=float(targets.get("rural_arrival_min", 30)))
    write_calls_csv(directory / "calls.csv", results, by_name)
    title = "Layout comparison: " + " vs ".join(names) if len(names) > 1 else f"Layout {names[0]}"
    write_report(directory / "report.html", summary, results, by_name, boundary=county.boundary, title=title)
    # summary.json last: its presence means every output is complete.
    (directory / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")


def main(argv: list[str]) -> int:
    """Run one simulation in this process: ``python -m dispatch.sim_http RUN_DIR`` (config JSON on stdin)."""
    from ems.errors import EmsError

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    directory = Path(argv[0])
    payload = orjson.loads(sys.stdin.buffer.read())
    try:
        run_simulation(directory, payload["config"], workers=int(payload.get("workers", 1)))
    except EmsError as e:
        write_json(directory / "outcome.json", {"ok": False, "reason": str(e)})
        print(f"simulation: {e}", file=sys.stderr)
        return 2
    except Exception as e:
        # A bug, not bad input: its traceback goes to run.log, its one-line reason to the planner.
        write_json(directory / "outcome.json", {"ok": False, "reason": f"internal error: {type(e).__name__}: {e}"})
        raise
    write_json(directory / "outcome.json", {"ok": True, "reason": None})
    return 0


__all__ = ["Simulations", "SimulationRun", "SimulationRequest", "RunStatus", "Limits", "SIMULATIONS",
           "run_simulation", "check_request", "EXTENSION", "lifespan"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

