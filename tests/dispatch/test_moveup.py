"""The move-up rule: pure proposals, and the simulator carrying them out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch.errors import PolicyError
from dispatch.moveup import IdleUnit, MoveReason, MoveUpConfig, Post, propose_moveup

# Three posts on a line: A -- 600 s -- B -- 900 s -- C.
POS = {"A": 0.0, "B": 600.0, "C": 1500.0}


def travel(a: str, b: str) -> float:
    return abs(POS[a] - POS[b])


POSTS = (Post("A", 3, 0.5), Post("B", 2, 0.3), Post("C", 2, 0.2))


def at(unit: str, home: str, post: str | None = None, *, moving: bool = False) -> IdleUnit:
    return IdleUnit(unit, home, post or home, not moving)


def test_an_empty_post_gets_the_nearest_unit_of_a_post_that_can_spare_one() -> None:
    units = [at("a1", "A"), at("a2", "A"), at("a3", "A"), at("c1", "C"), at("c2", "C")]
    proposals = propose_moveup(POSTS, units, travel)
    assert len(proposals) == 1
    p = proposals[0]
    # B is empty: A is 600 s away, C 900 s, so A gives one (and keeps two).
    assert (p.unit_id, p.from_post, p.to_post, p.travel_time_s, p.reason) == ("a1", "A", "B", 600.0, MoveReason.FILL_EMPTY)


def test_no_post_is_emptied_to_fill_another() -> None:
    units = [at("a1", "A"), at("c1", "C")]
    assert propose_moveup(POSTS, units, travel) == []


def test_a_unit_driving_to_a_post_counts_as_its_cover() -> None:
    units = [at("a1", "A"), at("a2", "A"), at("b1", "B", moving=True), at("c1", "C")]
    assert propose_moveup(POSTS, units, travel) == []


def test_a_covering_unit_goes_home_when_the_post_is_manned_again() -> None:
    units = [at("a1", "A", "B"), at("b1", "B"), at("a2", "A"), at("c1", "C")]
    proposals = propose_moveup(POSTS, units, travel)
    assert [(p.unit_id, p.to_post, p.reason) for p in proposals] == [("a1", "A", MoveReason.RETURN_HOME)]


def test_moves_longer_than_the_limit_are_not_proposed() -> None:
    units = [at("a1", "A"), at("a2", "A"), at("b1", "B"), at("b2", "B")]
    # C is empty; B is 900 s away, A 1500 s.
    assert propose_moveup(POSTS, units, travel, MoveUpConfig(max_travel_s=899.0)) == []
    near = propose_moveup(POSTS, units, travel, MoveUpConfig(max_travel_s=900.0))
    assert [(p.unit_id, p.to_post) for p in near] == [("b1", "C")]


def test_bad_inputs_are_named() -> None:
    with pytest.raises(PolicyError, match="unit x1: post 'Z' is not a post"):
        propose_moveup(POSTS, [IdleUnit("x1", "A", "Z", True)], travel)
    with pytest.raises(PolicyError, match="move_up.max_travel_s must be"):
        MoveUpConfig(max_travel_s=-1.0)
    with pytest.raises(PolicyError, match="unknown key"):
        MoveUpConfig.from_mapping({"max_travel": 3})


@given(
    placement=st.lists(st.tuples(st.sampled_from("ABC"), st.sampled_from("ABC"), st.booleans()), max_size=9),
    limit=st.floats(0.0, 3000.0),
)
def test_proposals_never_empty_a_post_and_move_each_unit_once(placement, limit) -> None:
    units = [IdleUnit(f"u{i}", home, post, waiting) for i, (home, post, waiting) in enumerate(placement)]
    config = MoveUpConfig(max_travel_s=limit)
    proposals = propose_moveup(POSTS, units, travel, config)
    moved = [p.unit_id for p in proposals]
    assert len(moved) == len(set(moved))
    before = {p.id: sum(1 for u in units if u.post == p.id) for p in POSTS}
    after = dict(before)
    by_id = {u.unit_id: u for u in units}
    for p in proposals:
        u = by_id[p.unit_id]
        assert u.at_post and u.post == p.from_post and p.from_post != p.to_post
        assert p.travel_time_s == travel(p.from_post, p.to_post)
        if p.reason is MoveReason.FILL_EMPTY:
            assert p.travel_time_s <= limit
        else:
            assert p.to_post == u.home_post
        after[p.from_post] -= 1
        after[p.to_post] += 1
    for post in POSTS:
        if before[post.id] > 0:
            assert after[post.id] > 0


def test_the_simulator_moves_a_unit_into_an_emptied_station_and_back() -> None:
    from tests.simulation.simhelpers import plan, tiny_scenario

    from dispatch.model import Capability
    from simulation.model import UnitSpec, run_replication

    units = (
        UnitSpec("a1", "A", 0, Capability.ALS),
        UnitSpec("a2", "A", 0, Capability.ALS),
        UnitSpec("b1", "B", 1, Capability.ALS),
        UnitSpec("b2", "B", 1, Capability.ALS),
    )
    scenario = tiny_scenario(units=units)
    scenario = type(scenario)(
        scenario.name, units, scenario.travel, scenario.hospitals,
        config=scenario.config.with_(move_up=MoveUpConfig()),
    )  # fmt: skip
    # Two calls at p2 (300 s from B) take both of B's units; A (1200 s from B) spares one.
    calls = plan([0.0, 10.0], [2, 2], transport=[False, False])
    log: list = []
    result = run_replication(scenario, days=1.0, seed=1, replication=0, plan=calls, log=log)
    moves = [(t, who, what) for t, who, what in log if "move-up" in what]
    assert moves[0] == (10.0, "a1", "move-up to station:B")
    assert result.moves == len(moves) == 2  # to B, and home again once B's own units are back
    assert [(who, what) for _, who, what in moves[1:]] == [("a1", "move-up to station:A")]
    # Without the rule nothing moves.
    plain = run_replication(tiny_scenario(units=units), days=1.0, seed=1, replication=0, plan=calls, log=[])
    assert plain.moves == 0
