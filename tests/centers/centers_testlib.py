"""Helpers for the centers tests: the fixture file, a milestone factory, a hospital stand-in.

A plain module (not a conftest) with a package-unique name: test directories have no __init__.py.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from centers.milestones import Milestone, MilestoneKind, Recorder, RecorderRole, TimeQuality

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "centers" / "patients.jsonl"
T0 = datetime(2024, 3, 5, 2, 0, tzinfo=timezone.utc)
CREW = Recorder(RecorderRole.CREW, "renmin-1")
STAFF = Recorder(RecorderRole.CENTER_STAFF, "renmin-cpc")
_ids = itertools.count(1)


def ms(kind: str | MilestoneKind, minute: float | None, *, patient: str = "p", corrects: str | None = None,
       retracts: bool = False, hospital: str | None = None, quality: TimeQuality | None = None,
       recorded_minute: float | None = None, by: Recorder = CREW, id: str | None = None) -> Milestone:
    """Return a milestone ``minute`` minutes after T0 (None: not known to the minute)."""
    at = None if minute is None else T0 + timedelta(minutes=minute)
    if quality is None:
        quality = TimeQuality.UNKNOWN if at is None else TimeQuality.EXACT
    rec = T0 + timedelta(minutes=recorded_minute if recorded_minute is not None else max(minute or 0, 0) + 1)
    return Milestone(id=id or f"m{next(_ids)}", patient_id=patient, kind=MilestoneKind.parse(kind), at=at,
                     recorded_by=by, recorded_at=rec, time_quality=quality, corrects=corrects, retracts=retracts,
                     hospital_id=hospital)


@dataclass(frozen=True)
class Hospital:
    """Stands in for geodata.county.Hospital: the attributes the destination policy reads."""

    id: str
    name: str
    capabilities: frozenset[str]
    pci_24_7: bool = False
    lon: float = 112.5
    lat: float = 28.2
