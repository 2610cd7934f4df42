"""What one replication produces (`ReplicationResult`) and the codes its per-call columns use.

Status and reason columns hold indices into `STATUS_CODES` and `REASON_CODES`, so that a
replication's calls are plain numeric arrays (`simulation.stats` reads them back).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from centers.destination import ReasonCode
from dispatch.model import UnitStatus

#: The destination policy's reasons, in the order of the ``reason`` column's indices.
REASON_CODES: tuple[ReasonCode, ...] = tuple(ReasonCode)

#: The statuses a unit can be alerted in, in the order of the ``status_at_alert`` column's indices.
STATUS_CODES: tuple[UnitStatus, ...] = (
    UnitStatus.AVAILABLE_AT_STATION,
    UnitStatus.AVAILABLE_MOBILE,
    UnitStatus.RETURNING,
)


@dataclass(frozen=True, eq=False)
class ReplicationResult:
    """What one replication produced: per-call arrays and per-unit times.

    ``calls`` maps a column name to an array with one entry per call kept (after the warm-up);
    see :data:`CALL_COLUMNS`. ``unit_busy_s`` is, per unit, the time spent on jobs (alerted to
    free at the scene or the hospital), ``unit_returning_s`` the time driving back, both over
    the whole run ``horizon_s`` (warm-up included: utilisation is a share of it).
    """

    layout: str
    replication: int
    seed: int
    days: float
    horizon_s: float
    unit_ids: tuple[str, ...]
    unit_busy_s: np.ndarray
    unit_returning_s: np.ndarray
    unit_jobs: np.ndarray
    calls: dict[str, np.ndarray]
    complaints: tuple[str, ...]
    hospital_ids: tuple[str, ...]
    moves: int = 0

    @property
    def n_calls(self) -> int:
        """Number of calls kept."""
        return int(self.calls["t_s"].size)


#: Per-call columns of a `ReplicationResult`. Times in s, NaN where not applicable; ``unit``,
#: ``status_at_alert`` (index into `STATUS_CODES`), ``hospital`` and ``reason`` (index into
#: `REASON_CODES`) are indices, and the last two mean something only where ``transported``.
CALL_COLUMNS = (
    "t_s", "point", "complaint", "priority", "unit", "status_at_alert", "queue_wait_s",
    "call_processing_s", "turnout_s", "travel_s", "response_s", "on_scene_s", "transported",
    "hospital", "transport_s", "handover_s", "reason", "stemi", "fmc_to_device_s", "job_s",
)  # fmt: skip
