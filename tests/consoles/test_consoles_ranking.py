"""The dispatcher console assigns from the ranking it showed: the list's ranking_id goes with the
unit (the reason only for another unit than the list's first), and a ranking the service calls
stale is ranked again, shown, and the dispatcher asked to choose again."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.consoles.conftest import api
from tests.consoles.test_consoles_dispatcher import open_dispatcher, take_call_by_keyboard

pytestmark = [pytest.mark.integration]

STALE_ZH = "推荐列表已变化：请在新列表中重新选择车辆。"
FAR = (112.10, 27.98)  # on the tiny county's roads, in its south-west: ranked after the stations' units


def is_post(path_end: str):
    return lambda r: r.method == "POST" and r.url.endswith(path_end)


def with_ranking_id(ranking_id: str, method: str):
    """A route handler answering ``method``'s ranking with ``ranking_id`` in place of the service's."""
    def handler(route: Any) -> None:
        if route.request.method != method:
            route.continue_()
            return
        response = route.fetch()
        answer = response.json()
        answer["ranking_id"] = ranking_id
        route.fulfill(response=response, body=json.dumps(answer))
    return handler


def test_the_console_sends_the_ranking_it_showed(console, server):
    page = open_dispatcher(console, server)
    sent: list[dict] = []

    def assigned(route: Any) -> None:  # answered here: the service need not know these lists
        sent.append(route.request.post_data_json)
        route.fulfill(status=200, content_type="application/json", body="{}")

    page.route("**/api/calls", with_ranking_id("list-a", "POST"))
    page.route("**/api/calls/*/recommendations", with_ranking_id("list-b", "GET"))
    page.route("**/api/calls/*/assign", assigned)
    take_call_by_keyboard(page)
    first = page.locator("#recs-list li").first.get_attribute("data-unit")
    page.keyboard.press("Enter")  # the first unit's button has the focus
    page.wait_for_selector("#recs", state="hidden")
    assert sent == [{"unit_id": first, "ranking_id": "list-a"}]
    # the call is still queued (the assignment above was answered here): rank it again, override
    call = page.locator("#calls li[data-call]")
    call.locator("button[data-op='rank']").click()
    page.wait_for_selector("#recs:not(.hidden) #recs-list li")
    best, second = (page.locator("#recs-list li").nth(i).get_attribute("data-unit") for i in (0, 1))
    page.locator("#recs-list li").nth(1).locator("button").click()
    page.locator("#override-reason").fill("推荐车辆正在加油")
    page.locator("#override-go").click()
    page.wait_for_selector("#recs", state="hidden")
    assert best != second
    assert sent[1] == {"unit_id": second, "ranking_id": "list-b", "reason": "推荐车辆正在加油"}
    console.assert_clean()


def test_a_stale_ranking_is_ranked_again_and_the_dispatcher_asked_to_choose_again(console, server):
    page = open_dispatcher(console, server)
    sent: list[dict] = []

    def stale_once(route: Any) -> None:
        sent.append(route.request.post_data_json)
        if len(sent) == 1:
            route.fulfill(status=409, content_type="application/json",
                          body=json.dumps({"error": "ranking_stale", "message": "the ranking changed"}))
        else:
            route.continue_()

    page.route("**/api/calls/*/assign", stale_once)
    take_call_by_keyboard(page)
    with page.expect_response(lambda r: r.url.endswith("/recommendations")) as again:
        page.keyboard.press("Enter")
    page.wait_for_selector("#recs-notice:not(.hidden)")
    assert page.locator("#recs-notice").inner_text() == STALE_ZH
    console.shot("dispatcher-ranking-stale")
    assert page.locator("#recs-list li").count() == 4
    assert page.locator("#override").is_hidden()
    ranked = again.value.json()
    first = ranked["recommendations"][0]["unit_id"]
    assert page.locator("#recs-list li").first.get_attribute("data-unit") == first
    # focus is on the new list's first unit: Enter sends it, from that list
    with page.expect_request(is_post("/assign")):
        page.keyboard.press("Enter")
    page.wait_for_selector("#recs", state="hidden")
    assert sent[1].get("ranking_id") == ranked.get("ranking_id") and "reason" not in sent[1]
    call_id = page.locator("#calls li[data-call]").get_attribute("data-call")
    assert server.service.state.current_assignment(call_id).unit_id == first
    # the one error line is the browser's note of the 409 answered above
    assert len(console.errors) == 1 and "409" in console.errors[0], console.errors


def created_call(response: Any) -> bool:
    return response.request.method == "POST" and response.url.endswith("/api/calls")


def fix(server: Any, unit_id: str, lon: float, lat: float, minutes_ago: float = 0.0) -> None:
    at = datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)
    status, answer = api(server, "POST", f"/api/units/{unit_id}/positions", "dispatcher",
                         {"lon": lon, "lat": lat, "timestamp": at.isoformat()})
    assert status == 200 and answer["accepted"] == 1, answer


def test_the_service_records_the_shown_best_though_a_fresh_ranking_differs(console, server):
    # centre-2 drives in the county's south-west, far from Longtian (a fix 8 minutes old, still fresh)
    status, answer = api(server, "POST", "/api/units/centre-2/status", "dispatcher", {"status": "available_mobile"})
    assert status == 200, answer
    fix(server, "centre-2", *FAR, minutes_ago=8)
    page = open_dispatcher(console, server)
    with page.expect_response(created_call) as created:
        take_call_by_keyboard(page)
    answer = created.value.json()
    assert isinstance(answer.get("ranking_id"), str) and answer["ranking_id"]
    shown = page.locator("#recs-list li").evaluate_all("(items) => items.map((li) => li.dataset.unit)")
    best = shown[0]
    assert best != "centre-2" and "centre-2" in shown
    # then centre-2 reaches the scene: ranked now, it comes first
    scene = answer["call"]["location"]
    fix(server, "centre-2", scene["lon"], scene["lat"])
    status, fresh = api(server, "GET", f"/api/calls/{answer['id']}/recommendations", "dispatcher")
    assert status == 200 and fresh["recommendations"][0]["unit_id"] == "centre-2", fresh
    # the dispatcher sends the first unit of the list on the screen: no override
    with page.expect_request(is_post("/assign")) as sent:
        page.keyboard.press("Enter")
    assert sent.value.post_data_json == {"unit_id": best, "ranking_id": answer["ranking_id"]}
    page.wait_for_selector("#recs", state="hidden")
    assignment = server.service.state.current_assignment(answer["id"])
    assert (assignment.unit_id, assignment.recommended_unit_id, assignment.override_reason) == (best, best, None)
    console.assert_clean()


def test_an_override_is_measured_against_the_list_shown(console, server):
    page = open_dispatcher(console, server)
    with page.expect_response(created_call) as created:
        take_call_by_keyboard(page)
    answer = created.value.json()
    best, second = (page.locator("#recs-list li").nth(i).get_attribute("data-unit") for i in (0, 1))
    page.locator("#recs-list li").nth(1).locator("button").click()
    page.locator("#override-reason").fill("推荐车辆正在加油")
    with page.expect_request(is_post("/assign")) as sent:
        page.locator("#override-go").click()
    assert sent.value.post_data_json == {"unit_id": second, "ranking_id": answer["ranking_id"],
                                         "reason": "推荐车辆正在加油"}
    page.wait_for_selector("#recs", state="hidden")
    assignment = server.service.state.current_assignment(answer["id"])
    assert (assignment.unit_id, assignment.recommended_unit_id, assignment.override_reason) == \
        (second, best, "推荐车辆正在加油")
    console.assert_clean()
