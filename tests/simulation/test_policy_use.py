"""The simulator picks units with the dispatch policy itself; its pre-filter never changes the pick."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch.model import Capability, UnitStatus
from dispatch.policy import Candidate, DispatchConfig, rank_units
from simulation.model import best_option
from simulation.policy_use import _Eta

STATUSES = [UnitStatus.AVAILABLE_AT_STATION, UnitStatus.AVAILABLE_MOBILE, UnitStatus.RETURNING]

unit_rows = st.lists(
    st.tuples(
        # Few distinct times, so that ties (several units at one station) are common.
        st.one_of(st.sampled_from([300.0, 600.0, 660.0, 900.0]), st.floats(min_value=0.0, max_value=4000.0)),
        st.sampled_from(list(Capability)),
        st.sampled_from(STATUSES),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=150, deadline=None)
@given(rows=unit_rows, priority=st.integers(1, 4), margin=st.sampled_from([0.0, 60.0, 300.0, 900.0]))
def test_filtered_best_equals_the_unfiltered_ranking(rows, priority, margin) -> None:
    config = DispatchConfig(preference_margin_s=margin, max_eta_s=None)
    candidates = [Candidate(f"u{i:02d}", cap, status, (112.0, 28.0), "station") for i, (_, cap, status) in enumerate(rows)]
    etas = [_Eta(t, 0.0) for t, _, _ in rows]
    expected = rank_units(priority, candidates, etas, config).best
    options = [(t, status, i) for i, (t, _, status) in enumerate(rows)]
    got = best_option(priority, options, lambda i: candidates[i], config)
    assert got is not None and expected is not None
    unit, travel_s = got
    assert candidates[unit].unit_id == expected.unit_id
    assert travel_s == expected.travel_s


def test_no_option_gives_none() -> None:
    assert best_option(1, [], lambda u: u, DispatchConfig()) is None
