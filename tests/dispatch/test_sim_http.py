"""The planner's simulations through the service, on the tiny county with SQLite."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import warnings
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.errors import ValidationError
from dispatch.app import create_app
from dispatch.sim_http import (SIMULATIONS, Limits, RunStatus, SimulationRequest, SimulationRun, Simulations,
                               new_run_id, run_to_file, write_json)
from tests.dispatch.service_fixtures import auth, make_config

LAYOUTS = ["centralized", "1+5+N"]
SHORT = {"layouts": LAYOUTS, "days": 1, "replications": 1, "seed": 7}
POLL_LIMIT_S = 180.0  # a bound so that a broken child cannot hang the suite, not a timing claim


@pytest.fixture
def config(tmp_path):
    warnings.simplefilter("ignore")
    return make_config(tmp_path)


@pytest.fixture
async def client(aiohttp_client, config):
    return await aiohttp_client(create_app(config))


@pytest.fixture
async def closed_queue(aiohttp_client, config):
    """A service that accepts no run (queued_runs = 0): every valid request is refused with 429."""
    config["planner"] = {"queued_runs": 0}
    return await aiohttp_client(create_app(config))


async def until_finished(client, run_id):
    """Poll the run until it is done or failed; return its last state and every progress seen."""
    seen = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + POLL_LIMIT_S
    while loop.time() < deadline:
        r = await client.get(f"/api/simulations/{run_id}", headers=auth("planner"))
        assert r.status == 200, await r.text()
        data = await r.json()
        if data["progress"] is not None:
            seen.append(data["progress"])
        if data["status"] in ("done", "failed"):
            return data, seen
        await asyncio.sleep(0.2)
    pytest.fail(f"simulation {run_id} did not finish within {POLL_LIMIT_S} s")


# -- bad input and auth (no run starts) ------------------------------------------------------

async def test_unknown_layouts_are_refused_by_name(client):
    r = await client.post("/api/simulations", json={"layouts": ["centralized", "nowhere", "3+3"]},
                          headers=auth("planner"))
    assert r.status == 400
    data = await r.json()
    assert data["error"] == "unknown_layout"
    assert "'nowhere'" in data["message"] and "'3+3'" in data["message"] and "1+5+N" in data["message"]
    assert "'centralized'" not in data["message"].split("(known")[0]


@pytest.mark.parametrize("body, field", [
    ({"layouts": []}, "layouts"),
    ({"layouts": ["centralized"] * 5}, "layouts"),
    ({"layouts": ["centralized", "centralized"]}, "layouts"),
    ({"layouts": LAYOUTS, "days": 0}, "days"),
    ({"layouts": LAYOUTS, "days": 366}, "days"),
    ({"layouts": LAYOUTS, "replications": 21}, "replications"),
    ({"layouts": LAYOUTS, "replications": 1.5}, "replications"),
    ({"layouts": LAYOUTS, "seed": -1}, "seed"),
    ({"layouts": LAYOUTS, "workers": 8}, "workers"),
    ({"layout": "centralized"}, "layout"),
    ({"layouts": "centralized"}, "layouts"),
])
async def test_bad_bodies_are_answered_with_the_field(client, body, field):
    r = await client.post("/api/simulations", json=body, headers=auth("planner"))
    assert r.status == 400
    assert field in (await r.json())["message"]


async def test_a_body_that_is_not_json_is_refused(client):
    r = await client.post("/api/simulations", data=b"{layouts:", headers=auth("planner"))
    assert r.status == 400 and (await r.json())["error"] == "bad_json"


async def test_only_planners_and_admins_start_and_readers_read(client):
    r = await client.post("/api/simulations", json=SHORT)
    assert r.status == 401
    for who in ("dispatcher", "crew_centre1", "center_renmin"):
        r = await client.post("/api/simulations", json=SHORT, headers=auth(who))
        assert r.status == 403, who
    r = await client.get("/api/simulations", headers=auth("dispatcher"))
    assert r.status == 200 and (await r.json())["simulations"] == []
    r = await client.get("/api/simulations", headers=auth("crew_centre1"))
    assert r.status == 403


async def test_unknown_and_malformed_ids_are_404(client):
    for run_id in ("S20250101T000000Z-abcdef", "..", "nope"):
        for suffix in ("", "/report", "/calls.csv"):
            r = await client.get(f"/api/simulations/{run_id}{suffix}", headers=auth("planner"))
            assert r.status == 404, (run_id, suffix)
            assert (await r.json())["error"] == "not_found"


async def test_a_full_queue_answers_429(closed_queue):
    r = await closed_queue.post("/api/simulations", json=SHORT, headers=auth("planner"))
    assert r.status == 429
    data = await r.json()
    assert data["error"] == "queue_full" and "at most 0" in data["message"]


BODY = st.fixed_dictionaries({}, optional={
    "layouts": st.one_of(st.lists(st.sampled_from(LAYOUTS + ["x", ""]), max_size=6), st.text(max_size=5), st.none()),
    "days": st.one_of(st.integers(-5, 400), st.floats(allow_nan=True), st.booleans(), st.text(max_size=3)),
    "replications": st.one_of(st.integers(-2, 30), st.floats(0, 30), st.none()),
    "seed": st.one_of(st.integers(-(2**40), 2**40), st.text(max_size=3)),
    "move_up": st.one_of(st.booleans(), st.integers(0, 1)),
    "extra": st.integers(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODY)
async def test_any_body_is_answered_as_json_never_a_crash(closed_queue, body):
    r = await closed_queue.post("/api/simulations", data=json.dumps(body), headers=auth("planner"))
    data = await r.json()
    # valid requests meet the closed queue (429); everything else is a 400 naming the field
    assert r.status in (400, 429), (body, data)
    assert data["error"] and ":" in data["message"]


def test_limits_are_checked():
    assert Limits.from_config({}) == Limits(1, 4, 1)
    assert Limits.from_config({"planner": {"concurrent_runs": 2, "queued_runs": 0}}).concurrent_runs == 2
    for bad in ({"concurrent_runs": 0}, {"queued_runs": -1}, {"workers_per_run": "2"}, {"concurrent_runs": True}):
        with pytest.raises(ValidationError, match=f"planner.{next(iter(bad))}"):
            Limits.from_config({"planner": bad})


# -- restart: the directory is read again ----------------------------------------------------

def _stored(root, status, when):
    run = SimulationRun(new_run_id(when), SimulationRequest(tuple(LAYOUTS), 1.0, 1, 1), "planner:p", when, status)
    directory = root / run.id
    directory.mkdir(parents=True)
    write_json(directory / "run.json", run_to_file(run))
    write_json(directory / "status.json", {"status": status.value, "started_at": None, "finished_at": None,
                                           "reason": None})
    return run, directory


def test_load_lists_finished_queues_unstarted_and_fails_interrupted(tmp_path):
    root = tmp_path / "simulations"
    done, done_dir = _stored(root, RunStatus.DONE, datetime(2025, 1, 1, 8, tzinfo=timezone.utc))
    write_json(done_dir / "summary.json", {"layouts": {"centralized": {"metrics": {
        "response_min.mean": {"mean": 12.5}}}}})
    lost, _ = _stored(root, RunStatus.DONE, datetime(2025, 1, 1, 9, tzinfo=timezone.utc))  # no summary.json
    running, _ = _stored(root, RunStatus.RUNNING, datetime(2025, 1, 1, 10, tzinfo=timezone.utc))
    queued, _ = _stored(root, RunStatus.QUEUED, datetime(2025, 1, 1, 11, tzinfo=timezone.utc))
    (root / "not-a-run").mkdir()
    sims = Simulations(root, {}, Limits())
    sims.load()
    assert set(sims.runs) == {done.id, lost.id, running.id, queued.id}
    assert sims.runs[done.id].status is RunStatus.DONE
    assert sims.summary(sims.runs[done.id])["layouts"]["centralized"]["metrics"]["response_min.mean"]["mean"] == 12.5
    assert sims.runs[lost.id].status is RunStatus.FAILED and "summary.json" in sims.runs[lost.id].reason
    assert sims.runs[running.id].status is RunStatus.FAILED and "interrupted" in sims.runs[running.id].reason
    assert sims.queued() == [queued.id]
    # what load decided is on disk, so a second restart agrees
    again = Simulations(root, {}, Limits())
    again.load()
    assert {i: r.status for i, r in again.runs.items()} == {i: r.status for i, r in sims.runs.items()}


# -- real runs (a child process each) --------------------------------------------------------

@pytest.mark.slow
async def test_a_short_comparison_runs_reports_and_is_found_after_a_restart(aiohttp_client, config):
    client = await aiohttp_client(create_app(config))
    r = await client.post("/api/simulations", json=SHORT, headers=auth("planner"))
    assert r.status == 202, await r.text()
    started = await r.json()
    run_id = started["id"]
    assert started["status"] in ("queued", "running") and started["layouts"] == LAYOUTS
    r = await client.get(f"/api/simulations/{run_id}/report", headers=auth("planner"))
    assert r.status == 409 and (await r.json())["error"] == "not_ready"

    data, progress = await until_finished(client, run_id)
    assert data["status"] == "done", data["reason"]
    assert all(p["done"] <= (p["total"] or 0) for p in progress)
    summary = data["summary"]
    assert list(summary["layouts"]) == LAYOUTS
    assert summary["run"]["seed"] == 7 and summary["run"]["simulation"] == run_id
    for name in LAYOUTS:
        assert data["key_figures"][name]["response_mean_min"] == summary["layouts"][name]["metrics"][
            "response_min.mean"]["mean"]
    r = await client.get(data["report_url"], headers=auth("dispatcher"))
    assert r.status == 200 and r.content_type == "text/html"
    html = await r.text()
    assert "centralized vs 1+5+N" in html and "data:image/png;base64," in html
    r = await client.get(data["calls_url"], headers=auth("planner"))
    assert r.status == 200
    rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert {row["layout"] for row in rows} == set(LAYOUTS)
    assert len(rows) == summary["run"]["calls_simulated"]
    await client.close()

    # a new service on the same data directory finds the run again
    again = await aiohttp_client(create_app(config))
    r = await again.get("/api/simulations", headers=auth("planner"))
    listed = (await r.json())["simulations"]
    assert [(s["id"], s["status"]) for s in listed] == [(run_id, "done")]
    r = await again.get(f"/api/simulations/{run_id}/report", headers=auth("planner"))
    assert r.status == 200 and await r.text() == html


@pytest.mark.slow
async def test_a_run_that_fails_says_why(client):
    # Past the HTTP check (which would refuse the name): the child's own error reaches the planner.
    sims = client.server.app[SIMULATIONS]
    run = sims.submit(SimulationRequest(("no-such-layout",), 1.0, 1, 1), "planner:test")
    data, _ = await until_finished(client, run.id)
    assert data["status"] == "failed"
    assert "no-such-layout" in data["reason"]
    assert data["report_url"] is None


@pytest.mark.slow
async def test_stopping_the_service_stops_its_run_and_says_so(aiohttp_client, config):
    client = await aiohttp_client(create_app(config))
    sims = client.server.app[SIMULATIONS]
    r = await client.post("/api/simulations", json=SHORT, headers=auth("planner"))
    run_id = (await r.json())["id"]
    while sims.runs[run_id].status is RunStatus.QUEUED:
        await asyncio.sleep(0.01)
    await client.close()
    again = Simulations(sims.root, config, Limits())
    again.load()
    run = again.runs[run_id]
    assert run.status is RunStatus.FAILED and "interrupted" in run.reason
    assert not (sims.root / run_id / "summary.json").exists()
