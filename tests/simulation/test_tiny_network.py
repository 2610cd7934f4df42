"""Validation (b): the hand-computable network of conftest.py, event by event.

Hand computation (times in s)
-----------------------------
call0 at 0, p0, transported: a1 360 (300 + 60 turnout) beats b1 960. On scene 360, leaves
960, reaches H at 1080 (p0 -> H 120), free at 1380 after 300 s handover, drives back to A
(H -> A 200), at the station at 1580 unless sent again.

call1 at 1400, p1, not transported: a1 is 20 s into its way back. Carry on: 180 left + A -> p1
600 = 780; turn around: 20 + H -> p1 600 = 620. So 620 + 15 turnout = 635, against b1 660
(600 + 60): a1 goes, on scene at 2035, leaves 2635, back at A at 3235 (p1 -> A 600).

call2 at 1500, p2, not transported: only b1 is free: 300 + 60, on scene 1860, leaves 2460.

call3 at 1600, p0: no unit free, it waits. b1 frees first, at 2460 at p2, and takes it:
carry on 300 + 900 = 1200, turn around p2 -> p0 via the best site (H: 1000 + 120) = 1120; on
scene at 2460 + 15 + 1120 = 3595 after a queue wait of 860.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.simulation.simhelpers import plan, service, tiny_scenario

from dispatch.model import Capability, UnitStatus
from simulation.model import STATUS_CODES, Scenario, UnitSpec, run_replication

TIMES = [0.0, 1400.0, 1500.0, 1600.0]
POINTS = [0, 1, 2, 0]
TRANSPORT = [True, False, False, False]


def _run(scenario: Scenario) -> tuple[dict[str, np.ndarray], list[tuple[float, str, str]]]:
    log: list[tuple[float, str, str]] = []
    result = run_replication(
        scenario, days=1.0, seed=0, replication=0, plan=plan(TIMES, POINTS, transport=TRANSPORT), log=log
    )
    return result.calls, log


def test_units_chosen_and_times_match_the_hand_computation(tiny: Scenario) -> None:
    calls, _ = _run(tiny)
    units = [tiny.units[u].id for u in calls["unit"]]
    assert units == ["a1", "a1", "b1", "b1"]
    np.testing.assert_allclose(calls["travel_s"], [300.0, 620.0, 300.0, 1120.0])
    np.testing.assert_allclose(calls["turnout_s"], [60.0, 15.0, 60.0, 15.0])
    np.testing.assert_allclose(calls["queue_wait_s"], [0.0, 0.0, 0.0, 860.0])
    np.testing.assert_allclose(calls["response_s"], [360.0, 635.0, 360.0, 3595.0 - 1600.0])
    assert [STATUS_CODES[s] for s in calls["status_at_alert"]] == [
        UnitStatus.AVAILABLE_AT_STATION, UnitStatus.RETURNING, UnitStatus.AVAILABLE_AT_STATION, UnitStatus.RETURNING,
    ]
    assert calls["transport_s"][0] == 120.0 and calls["transported"].tolist() == TRANSPORT


def test_event_log_follows_each_unit(tiny: Scenario) -> None:
    _, log = _run(tiny)
    a1 = [(t, what) for t, who, what in log if who == "a1"]
    assert a1 == [
        (0.0, "alerted for call0 (available_at_station, travel 300.0)"),
        (360.0, "on scene call0"),
        (960.0, "transporting call0 to h"),
        (1380.0, "free, returning"),
        (1400.0, "alerted for call1 (returning, travel 620.0)"),
        (2035.0, "on scene call1"),
        (2635.0, "free, returning"),
        (3235.0, "at station"),
    ]
    b1 = [(t, what) for t, who, what in log if who == "b1"]
    assert b1[:4] == [
        (1500.0, "alerted for call2 (available_at_station, travel 300.0)"),
        (1860.0, "on scene call2"),
        (2460.0, "free, returning"),
        (2460.0, "alerted for call3 (returning, travel 1120.0)"),
    ]
    assert (1600.0, "call3", "queued") in log


def test_a_unit_sent_again_never_reaches_its_station_on_the_old_trip(tiny: Scenario) -> None:
    _, log = _run(tiny)
    # a1 would have been back at A at 1580 without call1.
    assert (1580.0, "a1", "at station") not in log


def test_als_preference_sends_a_slower_als_unit_within_the_margin() -> None:
    # b1 becomes BLS: for a priority-1 call at p1 both arrive at 660; the ALS unit a1 leads.
    units = (UnitSpec("b1", "B", 1, Capability.BLS), UnitSpec("a1", "A", 0, Capability.ALS))
    scenario = tiny_scenario(units=units)
    result = run_replication(
        scenario, days=1.0, seed=0, replication=0, plan=plan([0.0], [2], transport=[False], priority=[1])
    )
    # At p2 the BLS unit b1 is 600 s faster, beyond the 300 s margin: it goes.
    assert scenario.units[int(result.calls["unit"][0])].id == "b1"
    result = run_replication(
        scenario, days=1.0, seed=0, replication=0, plan=plan([0.0], [1], transport=[False], priority=[1])
    )
    assert scenario.units[int(result.calls["unit"][0])].id == "a1"


def test_utilisation_counts_alerted_to_free() -> None:
    scenario = tiny_scenario(svc=service())
    result = run_replication(scenario, days=1.0, seed=0, replication=0, plan=plan([0.0], [0], transport=[True]))
    # a1: alerted at 0, free at 1380; then 200 s back to A.
    busy = dict(zip(result.unit_ids, result.unit_busy_s))
    back = dict(zip(result.unit_ids, result.unit_returning_s))
    assert busy == {"a1": 1380.0, "b1": 0.0}
    assert back["a1"] == 200.0
    assert math.isclose(result.horizon_s, 86400.0)


@settings(max_examples=40, deadline=None)
@given(
    calls=st.lists(st.tuples(st.floats(0.0, 20_000.0), st.integers(0, 2), st.booleans(), st.integers(1, 4)),
                   min_size=1, max_size=25),  # fmt: skip
)
def test_response_is_the_sum_of_its_parts_and_travel_comes_from_the_tables(calls) -> None:
    calls = sorted(calls)
    scenario = tiny_scenario(svc=service(processing=30.0))
    p = plan([c[0] for c in calls], [c[1] for c in calls], transport=[c[2] for c in calls],
             priority=[c[3] for c in calls], svc=service(processing=30.0))  # fmt: skip
    c = run_replication(scenario, days=1.0, seed=0, replication=0, plan=p).calls
    assert np.all(np.isfinite(c["response_s"]))
    parts = c["call_processing_s"] + c["queue_wait_s"] + c["turnout_s"] + c["travel_s"]
    np.testing.assert_allclose(c["response_s"], parts, atol=1e-6)
    assert np.all(c["travel_s"] >= 0) and np.all(c["response_s"] >= c["travel_s"])
    # A unit alerted at its station drives the table's time from there.
    at_station = c["status_at_alert"] == STATUS_CODES.index(UnitStatus.AVAILABLE_AT_STATION)
    bases = np.array([u.base_site for u in scenario.units])[c["unit"]]
    table = scenario.travel.site_to_point_s[bases, c["point"]]
    np.testing.assert_array_equal(c["travel_s"][at_station], table[at_station])
