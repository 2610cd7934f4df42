"""The dispatcher sees why a unit was timed from its station: its GPS fix is far off the roads."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.consoles.conftest import api
from tests.consoles.test_consoles_dispatcher import open_dispatcher, take_call_by_keyboard

pytestmark = [pytest.mark.integration]

OFF_ROAD = (112.382, 28.002)  # about 24 km east of the tiny county's roads


def test_a_unit_with_a_fix_off_the_roads_is_ranked_from_its_station_and_the_console_says_why(console, server):
    status, answer = api(server, "GET", "/api/units", "dispatcher")
    unit = next(u["id"] for u in answer["units"] if u["status"] == "available_at_station")
    assert api(server, "POST", f"/api/units/{unit}/status", "dispatcher", {"status": "available_mobile"})[0] == 200
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    status, taken = api(server, "POST", f"/api/units/{unit}/positions", "dispatcher",
                        {"fixes": [{"lon": OFF_ROAD[0], "lat": OFF_ROAD[1], "timestamp": now, "accuracy_m": 8.0}]})
    assert status == 200 and taken["accepted"] == 1, taken
    page = open_dispatcher(console, server)
    take_call_by_keyboard(page)
    page.wait_for_selector("#recs:not(.hidden) #recs-list li")
    note = page.locator("#recs-note")
    note.wait_for(state="visible")
    assert f"{unit} GPS定位离道路" in note.inner_text() and "按站点计时" in note.inner_text()
    assert page.locator(f"#recs-list li[data-unit='{unit}']").count() == 1  # still ranked, from its station
