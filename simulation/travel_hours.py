"""Travel tables by local hour: one travel model per distinct time-of-day factor.

The routing engine multiplies travel times on urban edges by ``[routing.time_of_day_factor]``
of the local hour (`routing.profiles.SpeedProfile.hour_factor`; every edge is urban when the
router is given no urban area). The simulator builds one `simulation.travel.TravelModel` per
distinct factor, the off-peak table (factor 1.0) first: with ``config.toml``'s four peak hours
(7 and 18 at 1.15, 8 and 17 at 1.25) that is three tables, built once before a run.

A trip is timed on the table of the local hour at which its unit starts driving (the simulated
clock counts seconds from midnight of day 0, local time, as the hourly call profile does) and
keeps that table to its end, even when it runs into the next hour: a response drive starts
after the turnout, a transport when the unit leaves the scene, a drive back when the unit is
freed, a move-up when it is re-posted. A unit sent again on its way back is placed on its trip
as timed by the trip's own table and timed from there on the table of the new drive (see
:meth:`HourlyTravel.elapsed_on`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from simulation.demand import HOUR_S
from simulation.errors import ScenarioError
from simulation.travel import DemandPoints, Site, TravelModel, network_travel

if TYPE_CHECKING:
    from routing.engine import Router

HOURS = 24


def factor_hours(time_of_day_factor: Mapping[int, float]) -> dict[float, tuple[int, ...]]:
    """Group the local hours 0-23 by their time-of-day factor.

    Parameters
    ----------
    time_of_day_factor
        Hour -> factor (`routing.profiles.SpeedProfile.time_of_day_factor`); hours absent use 1.0.

    Returns
    -------
    dict
        Factor -> its hours in increasing order: 1.0 first (with no hours when every hour has
        another factor), then the other factors in increasing order.

    Raises
    ------
    ScenarioError
        An hour is not 0-23 or a factor is not a finite number > 0.
    """
    for hour in time_of_day_factor:
        if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour < HOURS:
            raise ScenarioError(f"time-of-day factor: hour must be an integer 0-23, got {hour!r}")
    hours: dict[float, list[int]] = {1.0: []}
    for hour in range(HOURS):
        hours.setdefault(_factor(hour, time_of_day_factor.get(hour, 1.0)), []).append(hour)
    return {f: tuple(hours[f]) for f in sorted(hours, key=lambda f: (f != 1.0, f))}


def _factor(hour: int, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ScenarioError(f"time-of-day factor of hour {hour} must be a finite number > 0, got {value!r}")
    return float(value)


@dataclass(frozen=True, eq=False)
class HourlyTravel:
    """The travel models of one scenario by local hour.

    Attributes
    ----------
    tables
        One travel model per distinct time-of-day factor, the off-peak one (factor 1.0) first.
        They share the sites and the demand points.
    factors
        The factor of each table (``factors[0] == 1.0``).
    hour_table
        Per local hour 0-23, the index of its table.
    """

    tables: tuple[TravelModel, ...]
    factors: tuple[float, ...]
    hour_table: tuple[int, ...]

    def __post_init__(self) -> None:
        tables, factors, hour_table = tuple(self.tables), tuple(self.factors), tuple(self.hour_table)
        if not tables or len(factors) != len(tables):
            raise ScenarioError(
                f"hourly travel: one factor per table is needed, got {len(factors)} factors for {len(tables)} tables"
            )
        if factors[0] != 1.0 or len(set(factors)) != len(factors):
            raise ScenarioError(f"hourly travel: factors must be distinct, 1.0 first, got {list(factors)}")
        if len(hour_table) != HOURS or any(
            isinstance(k, bool) or not isinstance(k, int) or not 0 <= k < len(tables) for k in hour_table
        ):
            raise ScenarioError(
                f"hourly travel: hour_table must give 24 table indices 0-{len(tables) - 1}, got {list(hour_table)}"
            )
        base = tables[0]
        site_ids = [s.id for s in base.sites]
        for k, table in enumerate(tables[1:], start=1):
            if [s.id for s in table.sites] != site_ids or table.points.ids != base.points.ids:
                raise ScenarioError(
                    f"hourly travel: the table of factor {factors[k]} must have the sites and demand points "
                    "of the off-peak one"
                )
        object.__setattr__(self, "tables", tables)
        object.__setattr__(self, "factors", factors)
        object.__setattr__(self, "hour_table", hour_table)

    @classmethod
    def single(cls, travel: TravelModel) -> HourlyTravel:
        """Return one travel model for every hour (no time-of-day factor)."""
        return cls((travel,), (1.0,), (0,) * HOURS)

    @classmethod
    def from_tables(cls, tables: Mapping[float, TravelModel], time_of_day_factor: Mapping[int, float]) -> HourlyTravel:
        """Return the hourly travel of ``time_of_day_factor`` from its models by factor.

        Raises
        ------
        ScenarioError
            ``tables`` lacks 1.0 or a configured factor, or holds one no hour has (besides 1.0).
        """
        by_factor = factor_hours(time_of_day_factor)
        if set(tables) != set(by_factor):
            raise ScenarioError(
                f"hourly travel: tables are needed for the factors {sorted(by_factor)}, got {sorted(tables)}"
            )
        hour_table = [0] * HOURS
        for k, hours in enumerate(by_factor.values()):
            for hour in hours:
                hour_table[hour] = k
        return cls(tuple(tables[f] for f in by_factor), tuple(by_factor), tuple(hour_table))

    @property
    def base(self) -> TravelModel:
        """The off-peak travel model (factor 1.0)."""
        return self.tables[0]

    def table_at(self, t_s: float) -> int:
        """Return the index of the table of the local hour at ``t_s`` (s since midnight of day 0)."""
        return self.hour_table[int(t_s // HOUR_S) % HOURS]

    def elapsed_on(
        self,
        trip_table: int,
        table: int,
        origin_site: int | None,
        origin_point: int | None,
        base: int,
        elapsed_s: float,
    ) -> float:
        """Return the time into a return trip on ``table`` where ``elapsed_s`` on ``trip_table`` left the unit.

        A unit sent again on its way back was timed on its trip's table; its new drive is timed
        on the table of the hour it starts. Where the factor applies to every edge the share of
        the trip's time is the share of its road, so the unit is placed where it is; otherwise
        the place is approximate (the trip's urban and rural stretches do not scale alike).
        """
        if trip_table == table:
            return elapsed_s
        total = self.tables[trip_table].trip_time_s(origin_site, origin_point, base)
        other = self.tables[table].trip_time_s(origin_site, origin_point, base)
        if not (0.0 < total < math.inf and other < math.inf):
            return elapsed_s
        return min(max(elapsed_s, 0.0), total) / total * other


def hourly_network_travel(
    router: Router,
    points: DemandPoints,
    sites: Sequence[Site],
    *,
    return_sites: Sequence[int] = (),
    landmarks: int = 150,
) -> HourlyTravel:
    """Build, on the routing engine, one travel model per distinct time-of-day factor of ``router``.

    The off-peak model is :func:`simulation.travel.network_travel` with no hour (the tables the
    simulator had before it knew the hour); each other factor's is built at the first hour that
    has it. Parameters as for :func:`simulation.travel.network_travel`.

    Raises
    ------
    SnapError
        A point or a site is too far from any road.
    """
    by_factor = factor_hours(router.speed.time_of_day_factor)
    tables = {
        factor: network_travel(
            router, points, sites, return_sites=return_sites, landmarks=landmarks,
            hour=None if factor == 1.0 else hours[0],
        )
        for factor, hours in by_factor.items()
    }  # fmt: skip
    return HourlyTravel.from_tables(tables, router.speed.time_of_day_factor)


__all__ = ["HourlyTravel", "factor_hours", "hourly_network_travel"]
