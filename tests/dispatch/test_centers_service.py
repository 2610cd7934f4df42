"""The milestone stamper writes a status change and its milestone in ONE append: both or neither."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from centers.milestones import MilestoneKind
from dispatch import events as ev
from dispatch.centers_service import milestone_stamper
from dispatch.model import Capability, UnitStatus
from dispatch.patients import PatientsFold
from dispatch.service import DispatchService, UnitSpec
from dispatch.store import StoreError, open_store
from ems.config import load_config

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=timezone.utc)
UNIT = UnitSpec("u1", "s1", (112.12, 28.0), Capability.ALS)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=30)
        return self.now


class FailingAppends:
    """Wraps a store, records each append's event types; while ``failing``, appends raise as a lost disk would."""

    def __init__(self, store) -> None:
        self.store, self.failing, self.appends = store, False, []

    def __getattr__(self, name):
        return getattr(self.store, name)

    async def append(self, events, **kw):
        self.appends.append([e["type"] for e in events])
        if self.failing:
            raise StoreError("store: disk I/O error (injected)")
        return await self.store.append(events, **kw)


async def _service(tmp_path):
    patients = PatientsFold()
    store = FailingAppends(open_store(None, tmp_path))
    service = DispatchService(store, None, [UNIT], load_config(environ={}), clock=Clock(),
                              side_folds=[patients], reactions=[milestone_stamper(patients)])
    await service.start()
    await service.submit([ev.CallReceived(at=T0, by="dispatcher:a", call_id="C1", location=(112.12, 28.0),
                                          complaint="chest_pain", priority=1, received_at=T0)])
    await service.submit([ev.UnitAssigned(at=T0, by="dispatcher:a", call_id="C1", unit_id="u1")])
    await service.accept("u1", by="crew:u1")
    return service, patients, store


async def test_a_status_change_and_its_milestone_are_one_append(tmp_path):
    service, patients, store = await _service(tmp_path)
    await service.set_status("u1", "on_scene", by="crew:u1")
    assert store.appends[-1] == ["UnitStatusChanged", "MilestoneRecorded"]
    assert patients.has("C1", MilestoneKind.FIRST_MEDICAL_CONTACT)
    await service.close()


async def test_a_failed_append_keeps_neither_the_status_nor_the_milestone(tmp_path):
    service, patients, store = await _service(tmp_path)
    store.failing = True
    with pytest.raises(StoreError):
        await service.set_status("u1", "on_scene", by="crew:u1")
    assert service.state.units["u1"].status is UnitStatus.EN_ROUTE
    assert not patients.has("C1", MilestoneKind.FIRST_MEDICAL_CONTACT)
    await service.close()
    # a fresh service on the same log: the same (neither is there)
    again_patients = PatientsFold()
    again = DispatchService(open_store(None, tmp_path), None, [UNIT], load_config(environ={}),
                            side_folds=[again_patients], reactions=[milestone_stamper(again_patients)])
    await again.start()
    assert again.state.units["u1"].status is UnitStatus.EN_ROUTE
    assert not again_patients.has("C1", MilestoneKind.FIRST_MEDICAL_CONTACT)
    assert again_patients.has("C1", MilestoneKind.UNIT_DEPARTED)
    await again.close()
