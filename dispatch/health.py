"""Readiness: may this instance take calls now? Each check with its reason, for a load balancer and an operator.

``GET /api/health`` is liveness (the process answers); ``GET /api/health/ready`` runs `Readiness.check`:

- ``store``: the log answers a read within ``probe_timeout_s``, and the last append did not fail
  (a full disk or a lost database shows here at the first write that meets it);
- ``gps_backlog``: fewer than ``gps.max_backlog_rows`` fixes wait for the store (else the intake
  answers 503 and phones hold their fixes);
- ``bus`` (when ``service.bus`` is set): Redis answers a ping within ``probe_timeout_s``.

The last results are kept for the ``ems_ready{check}`` gauge (1 ready, 0 not), refreshed by each
probe and by a background check every ``interval_s``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from dispatch.bus import LocalBus
from dispatch.metrics import Registry
from dispatch.positions import Live
from dispatch.service import DispatchService
from ems.errors import EmsError

log = logging.getLogger(__name__)

#: How long a probe of the store or the bus may take before the check fails.
PROBE_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check's result."""

    ok: bool
    reason: str

    def json(self) -> dict[str, Any]:
        return {"ok": self.ok, "reason": self.reason}


class Readiness:
    """The readiness checks of one instance (see the module docstring)."""

    def __init__(self, service: DispatchService, live: Live, bus: Any, registry: Registry,
                 probe_timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.service, self.live, self.bus, self.probe_timeout_s = service, live, bus, probe_timeout_s
        self.last: dict[str, Check] = {}
        registry.gauge("ems_ready", "Readiness checks: 1 ready, 0 not (GET /api/health/ready)",
                       lambda: {(name,): float(c.ok) for name, c in self.last.items()}, ["check"])

    async def check(self) -> dict[str, Check]:
        """Run every check now; return them by name (also kept for the gauge)."""
        checks = {"store": await self._store(), "gps_backlog": self._backlog()}
        if type(self.bus) is not LocalBus:
            checks["bus"] = await self._bus()
        self.last = checks
        return checks

    async def _store(self) -> Check:
        try:
            seq = await asyncio.wait_for(self.service.store.last_seq(), self.probe_timeout_s)
        except asyncio.TimeoutError:
            return Check(False, f"store: no answer to a read within {self.probe_timeout_s:g} s")
        except EmsError as e:
            return Check(False, f"store: {e}")
        failure = self.service.write_failure
        if failure is not None:
            at, why = failure
            return Check(False, f"store: the last write failed at {at.isoformat()} ({why}); "
                                "ready again after a write succeeds")
        return Check(True, f"store: answers; log at seq {seq}")

    def _backlog(self) -> Check:
        waiting, most = len(self.live.pending), self.live.config.max_backlog_rows
        if waiting >= most:
            return Check(False, f"gps_backlog: {waiting} fixes wait for the store (limit {most}); "
                                "the intake answers 503")
        return Check(True, f"gps_backlog: {waiting} of {most} rows waiting")

    async def _bus(self) -> Check:
        redis = getattr(self.bus, "redis", None)
        if redis is None:
            return Check(False, "bus: not connected")
        try:
            await asyncio.wait_for(redis.ping(), self.probe_timeout_s)
        except asyncio.TimeoutError:
            return Check(False, f"bus: Redis gave no answer within {self.probe_timeout_s:g} s")
        except Exception as e:  # noqa: BLE001 - redis raises its own and OS errors; both mean "not ready"
            return Check(False, f"bus: {e}")
        return Check(True, "bus: Redis answers")
