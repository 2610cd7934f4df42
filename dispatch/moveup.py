"""Move-up: when a station empties, propose re-posting the nearest idle unit to it.

A pure rule, like the dispatch policy: values in, proposals out, no clock and no I/O. The
simulator calls it after every change of the fleet (``[simulation] move_up``, ``ems simulate
--move-up``); it takes plain values, so the live service can call it on its own state too.

The rule (JEMSS calls such rules move-up policies; this one is a nearest-idle-unit rule rather
than a compliance table):

1. **Return home.** A unit waiting at a post other than its home post goes home when the post it
   covers has another unit waiting there again (its cover is no longer needed).
2. **Fill an empty post.** A post that holds at least ``min_home_units`` ambulances in the layout
   (the centre and the substations, not the one-ambulance points) and has no idle unit waiting
   at it or driving to it is *empty*. Empty posts are served in order of their demand weight
   (heaviest first); each receives the idle unit waiting at another post that reaches it
   fastest, provided that post keeps at least ``min_left_at_donor`` units and the drive takes
   no more than ``max_travel_s``. Units on their way somewhere are never moved.

Each unit is moved at most once per evaluation; the proposals never empty a post.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dispatch.errors import PolicyError


class MoveReason(StrEnum):
    """Why a unit is proposed for a move."""

    FILL_EMPTY = "fill_empty"
    RETURN_HOME = "return_home"


@dataclass(frozen=True, slots=True)
class Post:
    """A station units wait at.

    Attributes
    ----------
    id
        The station (or any stable id shared with `IdleUnit`).
    home_units
        Ambulances the layout bases there.
    demand_weight
        How much it matters that the post is manned (e.g. the share of calls it is the nearest
        post for); empty posts are filled heaviest first.
    """

    id: str
    home_units: int
    demand_weight: float = 0.0


@dataclass(frozen=True, slots=True)
class IdleUnit:
    """A unit that can be moved or sent: waiting at a post or driving to one.

    Attributes
    ----------
    unit_id
        The unit.
    home_post
        The post the layout bases it at.
    post
        The post it waits at or drives to; None when it is free elsewhere with no post to go to.
    at_post
        True when it is waiting at ``post`` (False: on its way).
    """

    unit_id: str
    home_post: str
    post: str | None
    at_post: bool


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed re-posting: ``unit_id`` drives from ``from_post`` to ``to_post``."""

    unit_id: str
    from_post: str
    to_post: str
    travel_time_s: float
    reason: MoveReason


@dataclass(frozen=True, slots=True)
class MoveUpConfig:
    """Settings of the move-up rule.

    Attributes
    ----------
    max_travel_s
        Longest drive a move may take (s). ASSUMPTION: 30 min, the rural arrival target of the
        county's 1+5+N programme; a post farther away than that is no help to the empty one.
    min_left_at_donor
        Units a post must keep waiting after giving one away.
    min_home_units
        Only posts with at least this many ambulances in the layout are refilled (2: the centre
        and the substations; 1 would also refill the one-ambulance points).
    """

    max_travel_s: float = 1800.0
    min_left_at_donor: int = 1
    min_home_units: int = 2

    def __post_init__(self) -> None:
        t = self.max_travel_s
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t >= 0 or math.isnan(t):
            raise PolicyError(f"move_up.max_travel_s must be a number of seconds >= 0, got {t!r}")
        for name in ("min_left_at_donor", "min_home_units"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PolicyError(f"move_up.{name} must be an integer >= 1, got {value!r}")

    @classmethod
    def from_mapping(cls, data: object) -> MoveUpConfig:
        """Build from a ``[simulation.move_up]`` / ``[dispatch.move_up]`` table.

        Raises
        ------
        PolicyError
            Not a table, an unknown key or a bad value; the message names it.
        """
        if not isinstance(data, dict):
            raise PolicyError(f"move_up must be true, false or a table, got {data!r}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise PolicyError(
                f"move_up: unknown key(s) {', '.join(unknown)}; expected {', '.join(cls.__dataclass_fields__)}"
            )
        return cls(**data)


TravelTime = Callable[[str, str], "float | None"]


def propose_moveup(
    posts: Sequence[Post],
    units: Sequence[IdleUnit],
    travel_time_s: TravelTime,
    config: MoveUpConfig | None = None,
) -> list[Proposal]:
    """Propose the re-postings that keep the busy posts manned.

    Parameters
    ----------
    posts
        The layout's posts (ids unique).
    units
        The idle units (waiting at a post or driving to one). Busy units are left out.
    travel_time_s
        ``travel_time_s(from_post, to_post)``: the drive in seconds, None when unreachable.
    config
        The rule's settings (defaults when None).

    Returns
    -------
    list of Proposal
        Returns home first, then fills in order of the empty posts' demand weight; each unit
        at most once.

    Raises
    ------
    PolicyError
        Duplicate post or unit ids, or a unit whose post or home is not a post.
    """
    config = config or MoveUpConfig()
    by_id = {p.id: p for p in posts}
    if len(by_id) != len(posts):
        raise PolicyError(f"posts: ids must be unique, got {[p.id for p in posts]!r}")
    seen: set[str] = set()
    for u in units:
        if u.unit_id in seen:
            raise PolicyError(f"units: unit {u.unit_id!r} appears twice")
        seen.add(u.unit_id)
        for name, post in (("home_post", u.home_post), ("post", u.post)):
            if post is not None and post not in by_id:
                raise PolicyError(f"unit {u.unit_id}: {name} {post!r} is not a post (known: {', '.join(sorted(by_id))})")
    waiting: dict[str, list[IdleUnit]] = {p.id: [] for p in posts}
    covering = {p.id: 0 for p in posts}  # units waiting at or driving to each post
    for u in units:
        if u.post is not None:
            covering[u.post] += 1
            if u.at_post:
                waiting[u.post].append(u)
    for group in waiting.values():
        group.sort(key=lambda u: u.unit_id)

    proposals: list[Proposal] = []
    moved: set[str] = set()

    def move(u: IdleUnit, to: str, t: float, reason: MoveReason) -> None:
        assert u.post is not None
        proposals.append(Proposal(u.unit_id, u.post, to, t, reason))
        moved.add(u.unit_id)
        waiting[u.post].remove(u)
        covering[u.post] -= 1
        covering[to] += 1

    for post_id in sorted(waiting):
        for u in list(waiting[post_id]):
            if u.home_post != post_id and covering[post_id] >= 2:
                t = travel_time_s(post_id, u.home_post)
                if t is not None and math.isfinite(t):
                    move(u, u.home_post, float(t), MoveReason.RETURN_HOME)

    empty = [
        p for p in posts
        if p.home_units >= config.min_home_units and covering[p.id] == 0
    ]  # fmt: skip
    empty.sort(key=lambda p: (-p.demand_weight, p.id))
    for target in empty:
        best: tuple[float, str, IdleUnit] | None = None
        for donor, group in waiting.items():
            if donor == target.id or len(group) - 1 < config.min_left_at_donor:
                continue
            if covering[donor] - 1 < config.min_left_at_donor:
                continue
            t = travel_time_s(donor, target.id)
            if t is None or not math.isfinite(t) or t > config.max_travel_s:
                continue
            # The fastest drive; ties go to the lowest unit id.
            for u in group:
                if u.unit_id in moved:
                    continue
                key = (float(t), u.unit_id)
                if best is None or key < (best[0], best[1]):
                    best = (float(t), u.unit_id, u)
        if best is not None:
            move(best[2], target.id, best[0], MoveReason.FILL_EMPTY)
    return proposals


__all__ = ["IdleUnit", "MoveReason", "MoveUpConfig", "Post", "Proposal", "propose_moveup"]
