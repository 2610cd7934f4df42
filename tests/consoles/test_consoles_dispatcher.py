"""The dispatcher console in Chromium: loads clean, draws the county, takes a call from the keyboard,
shows the ranked units, assigns, and moves the unit marker when a fix is posted."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from tests.consoles.conftest import api, token

pytestmark = [pytest.mark.integration]

FIX = (112.1305, 28.0102)  # a point on the tiny county's road grid, away from every station


def open_dispatcher(console, server, query=""):
    page = console.page
    page.goto(f"{server.url}/?token={token('dispatcher')}{query}")
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_selector("#units li[data-unit]")
    return page


def marker_box(page, unit_id):
    box = page.locator(f".leaflet-marker-icon[data-unit='{unit_id}']").bounding_box()
    assert box is not None, f"no marker for unit {unit_id}"
    return box


def take_call_by_keyboard(page, place="longtian"):
    page.keyboard.press("F2")
    page.keyboard.type(place)
    page.wait_for_selector("#search-results li")
    page.keyboard.press("Enter")
    page.wait_for_selector("#location.set")
    page.keyboard.press("Alt+1")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#recs-list li")


def test_console_loads_clean_and_draws_the_county(console, server):
    page = open_dispatcher(console, server)
    page.wait_for_selector(".leaflet-overlay-pane canvas")
    assert page.locator(".map-hospital").count() == 2
    assert page.locator(".map-station").count() == 3
    assert page.locator(".leaflet-tooltip.place-label").count() >= 2
    assert page.locator("#units li").count() == 4
    assert page.locator(".leaflet-marker-icon[data-unit]").count() == 4
    # the canvas holds the drawn county: some pixels differ from the empty map background
    drawn = page.evaluate("""() => {
        const c = document.querySelector('.leaflet-overlay-pane canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
        return n; }""")
    assert drawn > 1000
    console.shot("dispatcher-empty")
    console.assert_clean()


def test_take_a_call_assign_and_follow_the_unit(console, server):
    page = open_dispatcher(console, server)
    take_call_by_keyboard(page)
    recs = page.locator("#recs-list li")
    assert recs.count() == 4
    first = recs.first.get_attribute("data-unit")
    etas = page.locator("#recs-list .figures b").all_inner_texts()
    assert etas[0] != "—"
    console.shot("dispatcher-recommendations")
    # the recommended unit's button has the focus: one Enter sends it
    assert page.evaluate("() => document.activeElement.dataset.assign") == first
    page.keyboard.press("Enter")
    page.wait_for_selector("#recs", state="hidden")
    call_item = page.locator("#calls li[data-call]")
    call_item.wait_for()
    assert first in call_item.inner_text()
    call_id = call_item.get_attribute("data-call")
    assert server.service.state.calls[call_id].status.value == "assigned"
    # the route and live ETA of the unit appear
    page.wait_for_function(f"() => document.querySelector('[data-eta-unit=\"{first}\"]').textContent.includes(':')")
    before = marker_box(page, first)
    status, answer = api(server, "POST", f"/api/units/{first}/positions", "dispatcher",
                         {"lon": FIX[0], "lat": FIX[1], "timestamp": datetime.now(timezone.utc).isoformat(),
                          "heading_deg": 90.0, "speed_mps": 12.0, "accuracy_m": 8.0})
    assert status == 200 and answer["accepted"] == 1, answer
    page.wait_for_function(
        f"""() => {{ const b = document.querySelector('.leaflet-marker-icon[data-unit="{first}"]').getBoundingClientRect();
                   return Math.abs(b.x - {before['x']}) + Math.abs(b.y - {before['y']}) > 5; }}""", timeout=15000)
    after = marker_box(page, first)
    assert (after["x"], after["y"]) != (before["x"], before["y"])
    assert page.locator(f".leaflet-marker-icon[data-unit='{first}'] .heading").count() == 1
    console.shot("dispatcher-assigned")
    console.assert_clean()


def test_override_needs_a_reason_and_polling_moves_the_marker(console, server):
    # Without the stream (meta says there is none) the console polls the REST API.
    def no_stream(route):
        response = route.fetch()
        meta = response.json()
        meta["features"]["websocket"] = False
        route.fulfill(response=response, body=json.dumps(meta))

    console.page.route("**/api/consoles/meta", no_stream)
    page = open_dispatcher(console, server)
    assert page.locator("#conn").get_attribute("class") == "conn poll"
    take_call_by_keyboard(page)
    second = page.locator("#recs-list li").nth(1)
    unit_id = second.get_attribute("data-unit")
    second.locator("button").click()
    page.wait_for_selector("#override:not(.hidden)")
    page.keyboard.type("推荐车辆正在加油")
    page.keyboard.press("Enter")
    page.wait_for_selector("#recs", state="hidden")
    call_id = page.locator("#calls li[data-call]").get_attribute("data-call")
    assignment = server.service.state.current_assignment(call_id)
    assert assignment.unit_id == unit_id and assignment.override_reason == "推荐车辆正在加油"
    before = marker_box(page, unit_id)
    status, _ = api(server, "POST", f"/api/units/{unit_id}/positions", "dispatcher",
                    {"lon": FIX[0], "lat": FIX[1], "timestamp": datetime.now(timezone.utc).isoformat()})
    assert status == 200
    page.wait_for_function(
        f"""() => {{ const b = document.querySelector('.leaflet-marker-icon[data-unit="{unit_id}"]').getBoundingClientRect();
                   return Math.abs(b.x - {before['x']}) + Math.abs(b.y - {before['y']}) > 5; }}""", timeout=15000)
    console.assert_clean()


def test_english_switch_and_help(console, server):
    page = open_dispatcher(console, server)
    assert page.locator("header .brand span").inner_text() == "宁乡120调度台"
    page.locator("#lang").click()
    assert page.locator("header .brand span").inner_text() == "Ningxiang 120 Dispatch"
    assert page.locator("#units li").first.locator(".st").inner_text() == "At station"
    page.keyboard.press("?")
    assert page.locator("#help").is_visible()
    console.shot("dispatcher-english-help")
    page.keyboard.press("Escape")
    assert not page.locator("#help").is_visible()
    console.assert_clean()
